//! Neutralising hostile text. User agents, hosts, paths and even file names come from the
//! network or from whoever named the file: they can carry terminal escapes (retitle the
//! terminal, clear the screen, forge output) and bidirectional overrides.

use std::borrow::Cow;
use std::fmt::Write;

/// Characters shown as visible escapes: controls (C0, DEL and C1: ESC, BEL, CSI …), and the
/// invisible ones that let a user agent look like another (`Go-http-\u{200b}client/1.1`):
/// Unicode's format characters (zero-width spaces and joiners, bidirectional marks, overrides and
/// isolates, the byte-order mark, tags), line and paragraph separators, and the blank Hangul
/// fillers.
fn is_hazard(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{00AD}'
                | '\u{0600}'..='\u{0605}'
                | '\u{061C}'
                | '\u{06DD}'
                | '\u{070F}'
                | '\u{0890}'..='\u{0891}'
                | '\u{08E2}'
                | '\u{115F}'..='\u{1160}'
                | '\u{180E}'
                | '\u{200B}'..='\u{200F}'
                | '\u{2028}'..='\u{202E}'
                | '\u{2060}'..='\u{2064}'
                | '\u{2066}'..='\u{206F}'
                | '\u{3164}'
                | '\u{FEFF}'
                | '\u{FFA0}'
                | '\u{FFF9}'..='\u{FFFB}'
                | '\u{110BD}'
                | '\u{110CD}'
                | '\u{13430}'..='\u{1343F}'
                | '\u{1BCA0}'..='\u{1BCA3}'
                | '\u{1D173}'..='\u{1D17A}'
                | '\u{E0001}'
                | '\u{E0020}'..='\u{E007F}'
        )
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

/// Text safe inside GitHub-flavoured Markdown, table cells included: control characters as in
/// [`terminal`] (so no line break either), then the characters that make structure inside a
/// line are backslash-escaped (`|` table columns, backticks code spans, `*` `_` `~` emphasis,
/// `[` `]` links and images, `\` itself) and `<`, `>`, `&` become entities, so no HTML, link,
/// code span or extra column can come from a log.
#[must_use]
pub fn markdown(s: &str) -> String {
    replace_after_terminal(s, |c| match c {
        '<' => Some("&lt;"),
        '>' => Some("&gt;"),
        '&' => Some("&amp;"),
        '\\' => Some("\\\\"),
        '`' => Some("\\`"),
        '*' => Some("\\*"),
        '_' => Some("\\_"),
        '[' => Some("\\["),
        ']' => Some("\\]"),
        '|' => Some("\\|"),
        '~' => Some("\\~"),
        _ => None,
    })
}

/// Text safe in HTML element content and quoted attribute values: control characters as in
/// [`terminal`] (they are not even allowed in XML), then `&`, `<`, `>`, `"` and `'` as entities.
#[must_use]
pub fn html(s: &str) -> String {
    replace_after_terminal(s, |c| match c {
        '&' => Some("&amp;"),
        '<' => Some("&lt;"),
        '>' => Some("&gt;"),
        '"' => Some("&quot;"),
        '\'' => Some("&#39;"),
        _ => None,
    })
}

/// [`terminal`], then every character `replace` has a replacement for written as it.
fn replace_after_terminal(s: &str, replace: impl Fn(char) -> Option<&'static str>) -> String {
    let safe = terminal(s);
    let mut out = String::with_capacity(safe.len() + 8);
    for c in safe.chars() {
        match replace(c) {
            Some(r) => out.push_str(r),
            None => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_escapes_structure_html_and_controls() {
        assert_eq!(markdown("a|b"), "a\\|b");
        assert_eq!(markdown("`x`"), "\\`x\\`");
        assert_eq!(markdown("<script>"), "&lt;script&gt;");
        assert_eq!(markdown("![x](http://e)"), "!\\[x\\](http://e)");
        assert_eq!(markdown("\u{1b}[2J"), "\\\\x1b\\[2J");
        assert_eq!(markdown("Go-http-client/1.1 *x*"), "Go-http-client/1.1 \\*x\\*");
    }

    #[test]
    fn html_escapes_everything() {
        assert_eq!(html("<a href=\"x\">'&'</a>"), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
        assert_eq!(html("\u{1b}]0;t\u{7}"), "\\x1b]0;t\\x07");
    }

    #[test]
    fn escapes_controls_and_bidi() {
        assert_eq!(terminal("\u{1b}]0;title\u{7}"), "\\x1b]0;title\\x07");
        assert_eq!(terminal("\u{1b}[2J\r\n\t\u{7f}\u{9b}"), "\\x1b[2J\\x0d\\x0a\\x09\\x7f\\x9b");
        assert_eq!(terminal("a\u{202e}b"), "a\\u{202e}b");
        for invisible in
            ['\u{200b}', '\u{200d}', '\u{feff}', '\u{2028}', '\u{2029}', '\u{61c}', '\u{2060}', '\u{e0041}']
        {
            let shown = terminal(&format!("Go-http-{invisible}client/1.1")).into_owned();
            assert_eq!(shown, format!("Go-http-\\u{{{:x}}}client/1.1", invisible as u32));
            assert!(html(&format!("a{invisible}b")).contains("\\u{"), "{shown}");
            assert!(markdown(&format!("a{invisible}b")).contains("\\\\u{"), "{shown}");
        }
        assert!(matches!(terminal("Go-http-client/1.1 é"), Cow::Borrowed(_)));
    }
}
