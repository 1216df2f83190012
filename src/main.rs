//! The `nginx-forensics` binary: flags in, exit code out; the work is in the library.

use std::io::{self, IsTerminal};
use std::process::ExitCode;

use clap::Parser;
use nginx_forensics::app::{self, Exit};
use nginx_forensics::cli::{Cli, Environment};

/// mimalloc: a log of unique keys makes a cluster, and two small allocations, per line; under
/// `--max-memory` most are freed again by whichever worker merges, and glibc's allocator spent
/// 40 % of such a run freeing them across threads (figures in `docs/performance.md`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    nginx_forensics::allocator::delay_purging();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
        }
    };
    let stdout_is_terminal = io::stdout().is_terminal();
    let env = Environment {
        stdin_is_terminal: io::stdin().is_terminal(),
        stdout_is_terminal,
        stderr_is_terminal: io::stderr().is_terminal(),
        no_color: std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()),
        now_ms: chrono::Utc::now().timestamp_millis(),
        columns: columns(stdout_is_terminal),
    };
    let config = match cli.into_config(&env) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("nginx-forensics: {e}");
            return ExitCode::from(Exit::Usage as u8);
        }
    };
    match app::run(&config, &mut io::stderr()) {
        Ok(exit) => ExitCode::from(exit as u8),
        // `| head` closing the pipe is not a failure.
        Err(e)
            if e.chain().any(|c| {
                c.downcast_ref::<io::Error>().is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
            }) =>
        {
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("nginx-forensics: {e:#}");
            ExitCode::from(Exit::Error as u8)
        }
    }
}

/// The width the table report should fit: `COLUMNS` when set to a number, else the terminal's
/// width when stdout is one.
fn columns(stdout_is_terminal: bool) -> Option<usize> {
    if let Some(n) = std::env::var("COLUMNS").ok().and_then(|c| c.trim().parse::<usize>().ok()) {
        return (n > 0).then_some(n);
    }
    if !stdout_is_terminal {
        return None;
    }
    #[cfg(target_os = "linux")]
    {
        rustix::termios::tcgetwinsize(io::stdout()).ok().map(|w| usize::from(w.ws_col)).filter(|&w| w > 0)
    }
    #[cfg(not(target_os = "linux"))]
    {
        None
    }
}
