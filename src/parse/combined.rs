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
    let (ms, resolution) =
        times.parse(raw_time).ok_or_else(|| ParseError::BadTime(ParseError::snippet(raw_time)))?;
    let mut rest = &line[rb + 1..];
    rest = rest.strip_prefix(b" \"").ok_or(malformed("no quoted request after the time"))?;
    let (request, escaped, next) = scan_quoted(rest, 0).ok_or(malformed("unterminated request"))?;
    rest = rest[next..].strip_prefix(b" ").ok_or(malformed("no status after the request"))?;
    let (status, after) = rest.split_at(memchr::memchr(b' ', rest).unwrap_or(rest.len()));
    let status = super::parse_status(status)?;
    rest = after.strip_prefix(b" ").unwrap_or(after);
    let (bytes, after) = rest.split_at(memchr::memchr(b' ', rest).unwrap_or(rest.len()));
    if bytes.is_empty() {
        return Err(malformed("no size after the status"));
    }

    let mut r = Record::at(ms, resolution);
    r.client = present(whole.text(client, false));
    r.status = Some(status);
    r.bytes = std::str::from_utf8(bytes).ok().and_then(|b| b.parse().ok());
    if let Some(req) = present(whole.text(request, escaped)) {
        r.set_request_line(req, requests);
    }
    // Referer and user agent are optional (the `common` format has neither).
    let mut quoted = after.strip_prefix(b" \"").and_then(|s| scan_quoted(s, 0).map(|q| (q, s)));
    // The referer is framed, not decoded: no finding uses it.
    if let Some(((_referer, _, next), s)) = quoted {
        quoted = s[next..].strip_prefix(b" \"").and_then(|s| scan_quoted(s, 0).map(|q| (q, s)));
        if let Some(((ua, esc, _), _)) = quoted {
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

    #[test]
    fn malformed_lines() {
        assert_eq!(p("garbage").err(), Some(malformed("no space after the client address")));
        assert_eq!(p("1.2.3.4 - - 10/Oct/2000").err(), Some(malformed("no [time]")));
        assert_eq!(
            p(r#"1.2.3.4 - - [10/Oct/2000:13:55:36 +0000] "GET / HTTP/1.1"#).err(),
            Some(malformed("unterminated request"))
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
