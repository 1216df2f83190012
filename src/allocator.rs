//! How the binary's allocator (mimalloc) hands memory back to the system.
//!
//! mimalloc returns freed pages to the kernel ("purges" them) a second after they were freed.
//! A run that frees and allocates all the time (every piece of input is parsed into fresh
//! records; under `--max-memory` folded clusters are freed and new ones made) then has the
//! kernel zero the same memory again and again: on the 200,000-line log of 8 KB paths that was
//! a third of the run's CPU, in the kernel. With purging delayed by 10 s, freed
//! memory is reused while the run is busy, and still handed back once the run goes quiet (a
//! `--follow` run between bursts). Figures in `docs/performance.md`.
//!
//! The only `unsafe` code of the crate: mimalloc's options are set through its C interface.
#![allow(unsafe_code)]

/// mimalloc's `mi_option_purge_delay`: the same in mimalloc v2 and v3 (the enum's sixteenth
/// member), which `libmimalloc-sys` does not name. The test below checks it against the
/// environment variable mimalloc reads for that option.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// How long freed memory stays with the process before it is handed back (ms).
const PURGE_DELAY_MS: i64 = 10_000;

/// The environment variable an operator sets to choose the delay instead (mimalloc's own).
const PURGE_DELAY_VAR: &str = "MIMALLOC_PURGE_DELAY";

/// Delays purging by 10 s, unless `MIMALLOC_PURGE_DELAY` says otherwise. Called
/// first thing by the binary; it only matters where mimalloc is the global allocator.
pub fn delay_purging() {
    if std::env::var_os(PURGE_DELAY_VAR).is_none() {
        // SAFETY: `mi_option_set` takes any option number and value; it writes mimalloc's
        // option table, which the allocator reads with atomic loads.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS as std::ffi::c_long) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The purge delay mimalloc uses now (ms).
    fn purge_delay() -> i64 {
        // SAFETY: reads mimalloc's option table.
        #[allow(clippy::useless_conversion)] // `c_long` is `i64` only on some targets
        i64::from(unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) })
    }

    /// Run in a child process with `MIMALLOC_PURGE_DELAY` set: mimalloc reads its options from
    /// the environment, so the option number is right exactly when it reads that value back.
    #[test]
    fn option_number_is_the_purge_delay_child() {
        let Ok(want) = std::env::var(PURGE_DELAY_VAR) else { return };
        assert_eq!(purge_delay().to_string(), want);
        delay_purging();
        assert_eq!(purge_delay().to_string(), want, "an operator's setting is kept");
    }

    #[test]
    fn option_number_is_the_purge_delay() {
        let me = std::env::current_exe().expect("the test binary");
        for value in ["4321", "-1"] {
            let out = std::process::Command::new(&me)
                .args(["--exact", "allocator::tests::option_number_is_the_purge_delay_child", "--nocapture"])
                .env(PURGE_DELAY_VAR, value)
                .output()
                .expect("the test binary runs");
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(out.status.success(), "{value}: {stdout}{}", String::from_utf8_lossy(&out.stderr));
            assert!(stdout.contains("1 passed"), "the child test ran: {stdout}");
        }
    }

    #[test]
    fn purging_is_delayed() {
        if std::env::var_os(PURGE_DELAY_VAR).is_some() {
            return;
        }
        delay_purging();
        assert_eq!(purge_delay(), PURGE_DELAY_MS);
    }
}
