//! Neutralising hostile text. User agents, hosts, paths and even file names come from the
//! network or from whoever named the file: they can carry terminal escapes (retitle the
//! terminal, clear the screen, forge output) and bidirectional overrides.

use std::borrow::Cow;
use std::fmt::Write;

fn is_hazard(c: char) -> bool {
    c.is_control() // C0, DEL and C1 (ESC, BEL, CSI …)
        || matches!(c, '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Text safe to print on a terminal: control characters become visible escapes (`\x1b`,
/// `\u{202e}`); everything else is kept.
#[must_use]
pub fn terminal(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_hazard) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if !is_hazard(c) {
            out.push(c);
        } else if (c as u32) < 0x100 {
            let _ = write!(out, "\\x{:02x}", c as u32);
        } else {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_controls_and_bidi() {
        assert_eq!(terminal("\u{1b}]0;title\u{7}"), "\\x1b]0;title\\x07");
        assert_eq!(terminal("\u{1b}[2J\r\n\t\u{7f}\u{9b}"), "\\x1b[2J\\x0d\\x0a\\x09\\x7f\\x9b");
        assert_eq!(terminal("a\u{202e}b"), "a\\u{202e}b");
        assert!(matches!(terminal("Go-http-client/1.1 é"), Cow::Borrowed(_)));
    }
}
