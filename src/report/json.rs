//! The JSON report: one pretty-printed document, standard JSON escaping.

use std::io::{self, Write};

use super::Report;

pub(super) fn render(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, report)?;
    out.write_all(b"\n")
}
