//! Helpers shared by the end-to-end tests.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

/// The binary under test, without a `COLUMNS` from the caller's environment (tables keep their
/// natural widths unless a test sets it).
pub fn bin() -> Command {
    let mut cmd = Command::cargo_bin("nginx-forensics").unwrap();
    cmd.env_remove("COLUMNS");
    cmd
}

/// A file or directory under `sample-logs/`.
pub fn sample(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-logs").join(name)
}

/// What a run printed and returned.
pub struct Run {
    pub report: Value,
    pub stdout: Vec<u8>,
    pub stderr: String,
    pub code: i32,
}

/// Runs the binary with `--format json` plus `args`, feeding `stdin`.
pub fn run_json(args: &[&str], stdin: Option<Vec<u8>>) -> Run {
    let mut cmd = bin();
    cmd.arg("--format").arg("json").args(args);
    cmd.write_stdin(stdin.unwrap_or_default());
    let out = cmd.output().unwrap();
    let report = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    Run {
        report,
        stdout: out.stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        code: out.status.code().unwrap_or(-1),
    }
}

/// `summary.inputs[i]`.
pub fn input(report: &Value, i: usize) -> &Value {
    &report["summary"]["inputs"][i]
}

/// The `(lines, parsed, malformed, skipped_lines)` of a summary or input object.
pub fn counts(v: &Value) -> (u64, u64, u64, u64) {
    let n = |k: &str| v[k].as_u64().unwrap();
    (n("lines"), n("parsed"), n("malformed"), n("skipped_lines"))
}
