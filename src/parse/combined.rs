//! nginx's default `combined` text format (also Apache's), and the shorter `common` format:
//!
//! `$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent
//! "$http_referer" "$http_user_agent"`, with any further fields after it ignored.
//!
//! Quoted fields may hold nginx's `\xHH` or Apache's `\"` escapes.

use std::borrow::Cow;

use super::request::RequestLines;
use super::text::{Line, scan_quoted};
use super::{ParseError, TimeCache};
use crate::model::Record;

fn malformed(what: &'static str) -> ParseError {
    ParseError::Combined(what)
}

fn present(v: Cow<'_, str>) -> Option<Cow<'_, str>> {
    (!v.is_empty() && v != "-").then_some(v)
}

/// Parses one `combined` (or `common`) line.
pub(crate) fn parse<'a>(
    whole: Line<'a>,
    times: &mut TimeCache,
    requests: &mut RequestLines,
) -> Result<Record<'a>, ParseError> {
    let line = whole.bytes();
    let sp = memchr::memchr(b' ', line).ok_or(malformed("no space after the client address"))?;
    let client = &line[..sp];
    let lb = sp + memchr::memchr(b'[', &line[sp..]).ok_or(malformed("no [time]"))?;
    let rb = lb + memchr::memchr(b']', &line[lb..]).ok_or(malformed("no closing ] after the time"))?;
    let raw_time = &line[lb + 1..rb];
    let (ms, resolution) = times.parse(raw_time)?;
    let mut rest = &line[rb + 1..];
    rest = rest.strip_prefix(b" \"").ok_or(malformed("no quoted request after the time"))?;
    // From here on, a line that ends early was cut: it is "truncated", not a wrong field.
    let cut = |what: &'static str, rest: &[u8]| {
        if rest.is_empty() { ParseError::Truncated } else { malformed(what) }
    };
    let (request, escaped, next) = scan_quoted(rest, 0).ok_or(ParseError::Truncated)?;
    rest = &rest[next..];
    rest = rest.strip_prefix(b" ").ok_or_else(|| cut("no status after the request", rest))?;
    let (status, after) = rest.split_at(memchr::memchr(b' ', rest).unwrap_or(rest.len()));
    let status = match super::parse_status(status) {
        Ok(s) => s,
        Err(_) if after.is_empty() => return Err(ParseError::Truncated),
        Err(e) => return Err(e),
    };
    rest = after.strip_prefix(b" ").unwrap_or(after);
    let (bytes, after) = rest.split_at(memchr::memchr(b' ', rest).unwrap_or(rest.len()));
    if bytes.is_empty() {
        return Err(cut("no size after the status", rest));
    }
    let mut r = Record::at(ms, resolution);
    r.client = present(whole.text(client, false));
    r.status = Some(status);
    r.bytes = std::str::from_utf8(bytes).ok().and_then(|b| b.parse().ok());
    if let Some(req) = present(whole.text(request, escaped)) {
        r.set_request_line(req, requests);
    }
    // Referer and user agent are optional (the `common` format has neither), but one that is
    // opened must be closed: a line that ends inside either was cut.
    if let Some(s) = after.strip_prefix(b" \"") {
        // The referer is framed, not decoded: no finding uses it.
        let (_referer, _, next) = scan_quoted(s, 0).ok_or(ParseError::Truncated)?;
        if s[next..] == *b" " {
            return Err(ParseError::Truncated);
        }
        if let Some(s) = s[next..].strip_prefix(b" \"") {
            let (ua, esc, _) = scan_quoted(s, 0).ok_or(ParseError::Truncated)?;
            r.user_agent = present(whole.text(ua, esc));
        }
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(line: &str) -> Result<Record<'_>, ParseError> {
        parse(line.as_bytes().into(), &mut TimeCache::default(), &mut RequestLines::default())
    }

    #[test]
    fn combined_line() {
        let r = p(r#"83.149.9.216 - - [17/May/2015:10:05:03 +0000] "GET /presentations/logstash-monitorama-2013/images/kibana-search.png HTTP/1.1" 200 203023 "http://semicomplete.com/presentations/logstash-monitorama-2013/" "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_9_1)""#).unwrap();
        assert_eq!(r.client.as_deref(), Some("83.149.9.216"));
        assert_eq!(r.time, 1_431_857_103_000);
        assert_eq!(r.method.as_deref(), Some("GET"));
        assert_eq!(r.status, Some(200));
        assert_eq!(r.bytes, Some(203_023));
        assert_eq!(r.user_agent.as_deref(), Some("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_9_1)"));
        assert!(r.host.is_none());
    }

    #[test]
    fn common_line_and_extras() {
        let r = p(r#"10.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326"#)
            .unwrap();
        assert_eq!(r.status, Some(200));
        assert!(r.user_agent.is_none());
        let r = p(r#"10.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.0" 302 0 "-" "curl/8.0" "1.2.3.4" rt=0.010"#).unwrap();
        assert_eq!(r.user_agent.as_deref(), Some("curl/8.0"));
    }

    #[test]
    fn escapes_and_garbage_requests() {
        let r = p(r#"1.2.3.4 - - [10/Oct/2000:13:55:36 +0000] "\x16\x03\x01\x02\x00\x01\x00\x01\xFC\x03\x03" 400 157 "-" "a \"quoted\" \x22ua\x22""#).unwrap();
        assert!(r.method.is_none());
        assert!(r.raw_request.is_some());
        assert_eq!(r.status, Some(400));
        assert_eq!(r.user_agent.as_deref(), Some(r#"a "quoted" "ua""#));
        let r = p(r#"1.2.3.4 - - [10/Oct/2000:13:55:36 +0000] "-" 408 0 "-" "-""#).unwrap();
        assert!(r.raw_request.is_none() && r.method.is_none());
    }

    /// A line cut anywhere after its request is truncated, not a line with a field missing
    /// or wrong.
    #[test]
    fn cut_lines_are_truncated() {
        let whole = r#"203.0.113.9 - - [10/Oct/2000:13:55:36 +0000] "GET /a HTTP/1.1" 404 152 "http://ref.example/x" "Mozilla/5.0 (X11) Firefox/120""#;
        assert!(p(whole).is_ok());
        let request_end = whole.find("HTTP/1.1\"").unwrap() + 9;
        // Inside the referer or the user agent (a cut after the size is a valid `common` line).
        let quoted_from = whole.find("152 \"").unwrap() + 5;
        for cut in quoted_from..whole.len() - 1 {
            let part = &whole[..cut];
            if !part.ends_with('"') {
                assert_eq!(p(part).err(), Some(ParseError::Truncated), "{part}");
            }
        }
        for cut in [request_end, request_end + 1, request_end + 3, request_end + 4] {
            assert_eq!(p(&whole[..cut]).err(), Some(ParseError::Truncated), "{}", &whole[..cut]);
        }
        assert_eq!(p(&whole[..request_end + 2]).err(), Some(ParseError::Truncated), "status \"4\"");
    }

    #[test]
    fn malformed_lines() {
        assert_eq!(p("garbage").err(), Some(malformed("no space after the client address")));
        assert_eq!(p("1.2.3.4 - - 10/Oct/2000").err(), Some(malformed("no [time]")));
        assert_eq!(
            p(r#"1.2.3.4 - - [10/Oct/2000:13:55:36 +0000] "GET / HTTP/1.1"#).err(),
            Some(ParseError::Truncated)
        );
        assert_eq!(
            p(r#"1.2.3.4 - - [10/Oct/2000:13:55:36 +0000] "GET / HTTP/1.1" abc 1"#).err(),
            Some(ParseError::BadStatus("abc".into()))
        );
        assert_eq!(
            p(r#"1.2.3.4 - - [nope] "GET / HTTP/1.1" 200 1"#).err(),
            Some(ParseError::BadTime("nope".into()))
        );
    }
}
