//! JSON-lines access logs, as nginx writes them with any `log_format … escape=default|json`.
//!
//! This is a tolerant scanner of one flat object, not a general JSON parser: it accepts what
//! nginx really writes and strict parsers reject (`\xHH` escapes, unquoted `$status` and
//! `$upstream_response_time` values such as `-` or `0.004, 0.002`, raw control bytes and invalid
//! UTF-8 inside strings), reads only the keys the [`FieldMap`] names, and borrows their values.
//! Nested objects and arrays are skipped. Anything it cannot frame is a [`ParseError`].

use std::borrow::Cow;

use super::fields::{FIELD_COUNT, Field, FieldMap};
use super::text::{scan_quoted, text};
use super::{ParseError, TimeCache};
use crate::model::Record;

/// One value as it stands in the line.
#[derive(Clone, Copy, Debug)]
struct RawValue<'a> {
    bytes: &'a [u8],
    escaped: bool,
    quoted: bool,
}

impl<'a> RawValue<'a> {
    fn text(self) -> Cow<'a, str> {
        text(self.bytes, self.escaped)
    }

    /// nginx writes `-` (and `""`) for an unset variable; `null` is JSON's absent.
    fn is_absent(self) -> bool {
        self.bytes.is_empty() || self.bytes == b"-" || (!self.quoted && self.bytes == b"null")
    }
}

fn skip_ws(s: &[u8], mut i: usize) -> usize {
    while i < s.len() && matches!(s[i], b' ' | b'\t' | b'\r' | b'\n') {
        i += 1;
    }
    i
}

const TRUNCATED: ParseError = ParseError::InvalidJson("line ends inside the object (truncated?)");

/// An unquoted value ends at `}` or at a `,` followed by the next key's quote, so nginx's
/// unquoted lists (`"upstream_response_time":0.004, 0.002`) stay one value.
fn bare_value_end(s: &[u8], mut i: usize) -> Result<usize, ParseError> {
    loop {
        let at = i + memchr::memchr2(b',', b'}', &s[i..]).ok_or(TRUNCATED)?;
        if s[at] == b'}' || s.get(skip_ws(s, at + 1)) == Some(&b'"') {
            return Ok(at);
        }
        i = at + 1;
    }
}

/// Skips a nested object or array starting at `i`; returns the index after it.
fn skip_nested(s: &[u8], mut i: usize) -> Result<usize, ParseError> {
    let mut depth = 0usize;
    while i < s.len() {
        match s[i] {
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth -= 1;
                if depth == 0 {
                    return Ok(i + 1);
                }
            }
            b'"' => i = scan_quoted(s, i + 1).ok_or(TRUNCATED)?.2 - 1,
            _ => {}
        }
        i += 1;
    }
    Err(TRUNCATED)
}

/// Calls `visit` with each top-level key and value of the object on the line.
fn scan_object<'a>(
    s: &'a [u8],
    mut visit: impl FnMut(&'a [u8], Option<RawValue<'a>>),
) -> Result<(), ParseError> {
    let mut i = skip_ws(s, 0);
    if s.get(i) != Some(&b'{') {
        return Err(not_an_object(s));
    }
    i += 1;
    loop {
        i = skip_ws(s, i);
        match s.get(i) {
            Some(b'}') => {
                i += 1;
                break;
            }
            Some(b'"') => {}
            None => return Err(TRUNCATED),
            Some(_) => return Err(ParseError::InvalidJson("expected a key")),
        }
        let (key, _, next) = scan_quoted(s, i + 1).ok_or(TRUNCATED)?;
        i = skip_ws(s, next);
        if s.get(i) != Some(&b':') {
            return Err(ParseError::InvalidJson("expected ':' after a key"));
        }
        i = skip_ws(s, i + 1);
        let value = match s.get(i) {
            None => return Err(TRUNCATED),
            Some(b'"') => {
                let (bytes, escaped, next) = scan_quoted(s, i + 1).ok_or(TRUNCATED)?;
                i = next;
                Some(RawValue { bytes, escaped, quoted: true })
            }
            Some(b'{' | b'[') => {
                i = skip_nested(s, i)?;
                None
            }
            Some(_) => {
                let end = bare_value_end(s, i)?;
                let bytes = s[i..end].trim_ascii();
                i = end;
                Some(RawValue { bytes, escaped: false, quoted: false })
            }
        };
        visit(key, value);
        i = skip_ws(s, i);
        match s.get(i) {
            Some(b',') => i += 1,
            Some(b'}') => {
                i += 1;
                break;
            }
            None => return Err(TRUNCATED),
            Some(_) => return Err(ParseError::InvalidJson("expected ',' or '}' after a value")),
        }
    }
    if skip_ws(s, i) == s.len() { Ok(()) } else { Err(ParseError::InvalidJson("data after the closing '}'")) }
}

fn not_an_object(s: &[u8]) -> ParseError {
    if serde_json::from_slice::<serde::de::IgnoredAny>(s).is_ok() {
        ParseError::JsonNotObject
    } else {
        ParseError::NotJson
    }
}

/// Parses one JSON line into a record.
pub(crate) fn parse<'a>(
    line: &'a [u8],
    map: &FieldMap,
    times: &mut TimeCache,
) -> Result<Record<'a>, ParseError> {
    let mut slots: [Option<(u8, RawValue<'a>)>; FIELD_COUNT] = [None; FIELD_COUNT];
    let mut known = false;
    scan_object(line, |key, value| {
        if let Some((field, rank)) = map.lookup(key) {
            known = true;
            if let Some(v) = value.filter(|v| !v.is_absent()) {
                let slot = &mut slots[field as usize];
                if slot.is_none_or(|(r, _)| rank < r) {
                    *slot = Some((rank, v));
                }
            }
        }
    })?;
    let get = |f: Field| slots[f as usize].map(|(_, v)| v);
    let Some(time) = get(Field::Time) else {
        return Err(if known { ParseError::MissingTime } else { ParseError::NotARecord });
    };
    let (ms, resolution) =
        if time.escaped { times.parse(time.text().as_bytes()) } else { times.parse(time.bytes) }
            .ok_or_else(|| ParseError::BadTime(ParseError::snippet(time.bytes)))?;

    let mut r = Record::at(ms, resolution);
    if let Some(req) = get(Field::Request) {
        r.set_request_line(req.text());
    } else if let Some(uri) = get(Field::Uri) {
        r.method = get(Field::Method).map(RawValue::text);
        let uri = uri.text();
        r.target = Some(match get(Field::Args) {
            Some(args) if !uri.contains('?') => Cow::Owned(format!("{uri}?{}", args.text())),
            _ => uri,
        });
    }
    r.user_agent = get(Field::UserAgent).map(RawValue::text);
    r.host = get(Field::Host).map(RawValue::text);
    r.referer = get(Field::Referer).map(RawValue::text);
    r.set_cookie = get(Field::SetCookie).map(RawValue::text);
    r.location = get(Field::Location).map(RawValue::text);
    r.client = match get(Field::Client) {
        Some(c) => Some(c.text()),
        None => get(Field::ForwardedFor).and_then(|x| first_forwarded(x.text())),
    };
    if let Some(st) = get(Field::Status) {
        r.status = Some(super::parse_status(st.bytes)?);
    }
    r.bytes = get(Field::Bytes).and_then(|b| std::str::from_utf8(b.bytes).ok()?.parse().ok());
    r.request_time = get(Field::RequestTime)
        .and_then(|t| std::str::from_utf8(t.bytes).ok()?.trim().parse().ok())
        .filter(|t: &f64| t.is_finite());
    Ok(r)
}

/// The first address of an `X-Forwarded-For` list.
fn first_forwarded(xff: Cow<'_, str>) -> Option<Cow<'_, str>> {
    let first = |s: &str| -> Option<(usize, usize)> {
        let part = s.split(',').next()?;
        let start = part.len() - part.trim_start().len();
        let t = part.trim();
        (!t.is_empty() && t != "-").then_some((start, start + t.len()))
    };
    match xff {
        Cow::Borrowed(s) => first(s).map(|(a, b)| Cow::Borrowed(&s[a..b])),
        Cow::Owned(s) => first(&s).map(|(a, b)| Cow::Owned(s[a..b].to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::TimeResolution;

    fn p(line: &str) -> Result<Record<'_>, ParseError> {
        parse(line.as_bytes(), &FieldMap::default(), &mut TimeCache::default())
    }

    #[test]
    fn incident_line() {
        let r = p(r#"{"@timestamp":"2019-05-24T18:41:34+00:00","remote_addr":"","host":"172.12.1.189:80","request":"GET / HTTP/1.1","status": "302","body_bytes_sent":"0","request_time":"0.010","http_referrer":"","http_user_agent":"Go-http-client/1.1"}"#).unwrap();
        assert_eq!(r.time, 1_558_723_294_000);
        assert_eq!(r.resolution, TimeResolution::Seconds);
        assert_eq!(r.host.as_deref(), Some("172.12.1.189:80"));
        assert_eq!(r.method.as_deref(), Some("GET"));
        assert_eq!(r.target.as_deref(), Some("/"));
        assert_eq!(r.status, Some(302));
        assert_eq!(r.bytes, Some(0));
        assert_eq!(r.request_time, Some(0.010));
        assert_eq!(r.user_agent.as_deref(), Some("Go-http-client/1.1"));
        assert_eq!(r.client, None, "empty remote_addr is absent");
        assert_eq!(r.referer, None);
        assert!(matches!(r.user_agent, Some(Cow::Borrowed(_))), "unescaped values are borrowed");
    }

    #[test]
    fn elastic_key_set() {
        let r = p(r#"{"time": "17/May/2015:08:05:32 +0000", "remote_ip": "93.180.71.3", "remote_user": "-", "request": "GET /downloads/product_1 HTTP/1.1", "response": 304, "bytes": 0, "referrer": "-", "agent": "Debian APT-HTTP/1.3 (0.8.16~exp12ubuntu10.21)"}"#).unwrap();
        assert_eq!(r.client.as_deref(), Some("93.180.71.3"));
        assert_eq!(r.status, Some(304));
        assert_eq!(r.bytes, Some(0));
        assert_eq!(r.user_agent.as_deref(), Some("Debian APT-HTTP/1.3 (0.8.16~exp12ubuntu10.21)"));
        assert_eq!(r.target.as_deref(), Some("/downloads/product_1"));
    }

    #[test]
    fn msec_beats_iso_and_split_request() {
        let r = p(r#"{"time_iso8601":"2019-05-24T18:41:34+00:00","msec":"1558723294.250","request_method":"POST","uri":"/api/x","args":"a=1","http_x_forwarded_for":"10.0.0.7, 172.16.0.1","server_name":"Example.com"}"#).unwrap();
        assert_eq!(r.time, 1_558_723_294_250);
        assert_eq!(r.resolution, TimeResolution::Millis);
        assert_eq!(r.method.as_deref(), Some("POST"));
        assert_eq!(r.target.as_deref(), Some("/api/x?a=1"));
        assert_eq!(r.client.as_deref(), Some("10.0.0.7"));
        assert_eq!(r.host.as_deref(), Some("Example.com"));
    }

    #[test]
    fn msec_as_number_and_unquoted_nginx_values() {
        let r = p(r#"{"msec":1558723294.25,"status":200,"upstream_response_time":0.004, 0.002 : 0.010,"request_time":-,"request_uri":"/a?b","sent_http_set_cookie":"SESSION=abc; Path=/"}"#).unwrap();
        assert_eq!(r.time, 1_558_723_294_250);
        assert_eq!(r.status, Some(200));
        assert_eq!(r.request_time, None);
        assert_eq!(r.target.as_deref(), Some("/a?b"));
        assert_eq!(r.set_cookie.as_deref(), Some("SESSION=abc; Path=/"));
    }

    #[test]
    fn hex_escapes_and_invalid_utf8() {
        let line: &[u8] = b"{\"time\":\"1558723294\",\"request\":\"GET /caf\\xC3\\xA9?q=\\x22x\\x22 HTTP/1.1\",\"http_user_agent\":\"bad \\xFF \xfe raw\"}";
        let r = parse(line, &FieldMap::default(), &mut TimeCache::default()).unwrap();
        assert_eq!(r.target.as_deref(), Some("/café?q=\"x\""));
        assert_eq!(r.user_agent.as_deref(), Some("bad \u{FFFD} \u{FFFD} raw"));
    }

    #[test]
    fn nested_values_are_skipped() {
        let r =
            p(r#"{"time":"1558723294","geo":{"a":[1,{"b":"}"}]},"status":"404","tags":["x","]"]}"#).unwrap();
        assert_eq!(r.status, Some(404));
    }

    #[test]
    fn garbage_request_line_is_a_record() {
        let r = p(r#"{"time":"1558723294","request":"\x16\x03\x01\x00\xF1\x01","status":"400"}"#).unwrap();
        assert!(r.method.is_none());
        assert_eq!(r.raw_request.as_deref(), Some("\u{16}\u{3}\u{1}\u{0}\u{FFFD}\u{1}"));
    }

    #[test]
    fn errors() {
        use ParseError::*;
        let cases: &[(&str, ParseError)] = &[
            (r#"{"time":"1558723294","status":"200""#, TRUNCATED),
            (r#"{"time":"1558723294","request":"GET /"#, TRUNCATED),
            (r#"{"time" "x"}"#, InvalidJson("expected ':' after a key")),
            (r#"{"time":"1558723294"} extra"#, InvalidJson("data after the closing '}'")),
            (r#"{"time":"1558723294" "x":1}"#, InvalidJson("expected ',' or '}' after a value")),
            (r#"{"a":1,"b":[1,2]}"#, NotARecord),
            (r#"[1,2,3]"#, JsonNotObject),
            (r#""just a string""#, JsonNotObject),
            (r#"hello"#, NotJson),
            (r#"{"status":"200","request":"GET / HTTP/1.1"}"#, MissingTime),
            (r#"{"time":"yesterday"}"#, BadTime("yesterday".into())),
            (r#"{"time":"1558723294","status":"2OO"}"#, BadStatus("2OO".into())),
        ];
        for (line, want) in cases {
            assert_eq!(p(line).as_ref().err(), Some(want), "{line}");
        }
    }

    #[test]
    fn absent_values_fall_back_to_lower_ranked_keys() {
        let r = p(r#"{"time":"1558723294","http_user_agent":"-","agent":"curl/8","remote_addr":"","http_x_forwarded_for":"-"}"#).unwrap();
        assert_eq!(r.user_agent.as_deref(), Some("curl/8"));
        assert_eq!(r.client, None);
    }
}
