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

/// Runs the binary with `args`, reads the first bytes of its output and closes the pipe, as
/// `| head -1` does while it is still writing: its exit code and what it said on stderr.
pub fn read_a_little_then_close(args: &[&std::ffi::OsStr]) -> (Option<i32>, String) {
    use std::io::Read;
    use std::process::{Command as StdCommand, Stdio};
    let mut child = StdCommand::new(env!("CARGO_BIN_EXE_nginx-forensics"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 16];
    stdout.read_exact(&mut first).unwrap();
    drop(stdout);
    let out = child.wait_with_output().unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
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
