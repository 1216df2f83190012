//! `nginx-forensics`: find the callers that quietly hurt a service, from Nginx access logs.
//!
//! The crate is a pipeline whose modules are its stages:
//!
//! 1. [`input`] finds the inputs (files, directories of rotated logs, stdin) and opens them,
//!    decompressing gzip in-process;
//! 2. [`parse`] turns one line (JSON in any common key set, with nginx's `\xHH` escapes, or the
//!    `combined` text format) into a typed [`model::Record`];
//! 3. [`ingest`] streams every input in newline-aligned chunks across a rayon pool, accounts for
//!    every line (parsed, malformed with `file:line: reason`, or skipped with a reason) and feeds
//!    the records to a [`analysis::Detector`];
//! 4. [`report`] turns the result into a [`report::Report`] and renders it.
//!
//! ```
//! use nginx_forensics::{ingest, input::Source, analysis::TimeSpan};
//! let line = br#"{"@timestamp":"2019-05-24T18:41:34+00:00","host":"172.12.1.189:80","request":"GET / HTTP/1.1","status":"302","http_user_agent":"Go-http-client/1.1"}"#;
//! let dir = std::env::temp_dir().join("nf-doc-example");
//! std::fs::create_dir_all(&dir).unwrap();
//! let path = dir.join("access.log");
//! std::fs::write(&path, [line.as_slice(), b"\n"].concat()).unwrap();
//! let out = ingest::run(&[Source::File(path)], &ingest::IngestOptions::default(), TimeSpan::default).unwrap();
//! assert_eq!(out.stats.totals().parsed, 1);
//! ```

pub mod allocator;
pub mod analysis;
pub mod app;
mod bytes;
pub mod cli;
pub mod config;
pub mod ingest;
pub mod input;
pub mod live;
mod memo;
pub mod model;
pub mod parse;
pub mod report;
mod select;
#[cfg(any(test, feature = "synth"))]
pub mod synth;
