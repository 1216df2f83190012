//! End-to-end tests of the binary on `sample-logs/`, and property tests of the library.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test helper that fails should fail the test loudly"
)]

mod cli;
mod common;
mod hostile;
mod live;
mod probes;
mod properties;
mod reports;
mod truthful;
mod verdicts;
