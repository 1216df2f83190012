//! JSON-lines access logs, as nginx writes them with any `log_format … escape=default|json`.
//!
//! This is a tolerant scanner of one flat object, not a general JSON parser: it accepts what
//! nginx really writes and strict parsers reject (`\xHH` escapes, unquoted `$status` and
//! `$upstream_response_time` values such as `-` or `0.004, 0.002`, raw control bytes and invalid
//! UTF-8 inside strings), reads only the keys the [`FieldMap`] names, and borrows their values.
//! Nested objects and arrays are skipped. Anything it cannot frame is a [`ParseError`].

use std::borrow::Cow;

use super::fields::{FIELD_COUNT, Field, FieldMap};
use super::request::RequestLines;
use super::text::{Line, Specials, scan_quoted};
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

fn bare(s: &[u8], start: usize, end: usize) -> RawValue<'_> {
    RawValue { bytes: s[start..end].trim_ascii(), escaped: false, quoted: false }
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

/// Calls `visit` with each top-level key, its value (`None` for a nested one) and where the value
/// stands in the line (inside its quotes; a bare value untrimmed).
fn scan_object<'a>(
    s: &'a [u8],
    mut visit: impl FnMut(&'a [u8], Option<RawValue<'a>>, (usize, usize)),
) -> Result<(), ParseError> {
    let mut i = skip_ws(s, 0);
    if s.get(i) != Some(&b'{') {
        return Err(not_an_object(s));
    }
    let mut specials = Specials::new(s);
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
        let (key, _, next) = specials.quoted(i + 1).ok_or(TRUNCATED)?;
        i = skip_ws(s, next);
        if s.get(i) != Some(&b':') {
            return Err(ParseError::InvalidJson("expected ':' after a key"));
        }
        i = skip_ws(s, i + 1);
        let start = i;
        let value = match s.get(i) {
            None => return Err(TRUNCATED),
            Some(b'"') => {
                let (bytes, escaped, next) = specials.quoted(i + 1).ok_or(TRUNCATED)?;
                i = next;
                Some(RawValue { bytes, escaped, quoted: true })
            }
            Some(b'{' | b'[') => {
                i = skip_nested(s, i)?;
                None
            }
            Some(_) => {
                let end = bare_value_end(s, i)?;
                i = end;
                Some(bare(s, start, end))
            }
        };
        let span = match value {
            Some(v) if v.quoted => (start + 1, i - 1),
            _ => (start, i),
        };
        visit(key, value, span);
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

type Slots<'a> = [Option<(u8, RawValue<'a>)>; FIELD_COUNT];

/// Where a value stands in its line, whether it is quoted, and the field its key fills.
type Span = ((usize, usize), bool, Option<(Field, u8)>);

/// Keeps `value` for its field unless it is absent or a better-ranked key already gave one.
#[inline]
/// Keeps `value` for `field` when it is the best seen on the line: a present value before an
/// absent one (`-`, `""`, `null`), then the lower rank. Absent values are kept too, so that a
/// field the log has but left empty (an empty `Set-Cookie`) is told from one it does not have.
fn fill<'a>(slots: &mut Slots<'a>, (field, rank): (Field, u8), value: RawValue<'a>) {
    // The order as one byte: [`ABSENT`] above every rank.
    let order = rank | if value.is_absent() { ABSENT } else { 0 };
    let slot = &mut slots[field as usize];
    if slot.is_none_or(|(r, _)| order < r) {
        *slot = Some((order, value));
    }
}

/// Marks a slot's value as absent, in the byte that orders it (ranks are small).
const ABSENT: u8 = 0x80;

/// The layout of the last line the general scanner read: the literal text between its values
/// (quotes, keys, `:`, `,`, spaces) and the field each value fills. nginx writes every line of a
/// `log_format` with the same keys in the same order, so the next line is read by matching those
/// literals and finding where each value ends, with no key scanning and no key lookups. Any
/// difference sends the line to the general scanner, which learns its layout in turn.
#[derive(Clone, Debug, Default)]
pub(crate) struct Shape {
    /// The literals, one after another.
    literals: Vec<u8>,
    /// Where each literal ends in `literals`: one before each value and one after the last.
    ends: Vec<usize>,
    /// Each value: quoted (or bare), and the field its key fills.
    values: Vec<(bool, Option<(Field, u8)>)>,
    /// Whether any key is an access-log key.
    known: bool,
    /// Scratch for the general scanner's spans, kept so that a fallback line allocates nothing.
    spans: Vec<Span>,
}

impl Shape {
    /// Reads `line` if it has this layout; false (with `slots` to be discarded) if not.
    fn read<'a>(&self, line: &'a [u8], slots: &mut Slots<'a>) -> bool {
        let Some(&last) = self.ends.last() else { return false };
        let mut i = 0;
        let mut from = 0;
        let mut specials = Specials::new(line);
        for (&end, &(quoted, hit)) in self.ends.iter().zip(&self.values) {
            if !line
                .get(i..i + (end - from))
                .is_some_and(|at| crate::bytes::same_bytes(at, &self.literals[from..end]))
            {
                return false;
            }
            i += end - from;
            from = end;
            let value = if quoted {
                let Some((bytes, escaped, next)) = specials.quoted(i) else { return false };
                i = next - 1;
                RawValue { bytes, escaped, quoted: true }
            } else {
                // A bare value where the general scanner, too, would find one.
                if matches!(line.get(i), None | Some(b'"' | b'{' | b'[' | b' ' | b'\t' | b'\r' | b'\n')) {
                    return false;
                }
                let Ok(end) = bare_value_end(line, i) else { return false };
                let value = bare(line, i, end);
                i = end;
                value
            };
            if let Some(hit) = hit {
                fill(slots, hit, value);
            }
        }
        line.get(i..).is_some_and(|rest| crate::bytes::same_bytes(rest, &self.literals[from..last]))
    }

    /// Remembers the layout of `line`, given each value's span, kind and field (in order).
    fn learn(&mut self, line: &[u8], spans: &[Span]) {
        self.literals.clear();
        self.ends.clear();
        self.values.clear();
        let mut at = 0;
        for &((start, end), quoted, hit) in spans {
            self.literals.extend_from_slice(&line[at..start]);
            self.ends.push(self.literals.len());
            self.values.push((quoted, hit));
            at = end;
        }
        self.literals.extend_from_slice(&line[at..]);
        self.ends.push(self.literals.len());
        self.known = spans.iter().any(|(_, _, hit)| hit.is_some());
    }

    fn forget(&mut self) {
        self.ends.clear();
    }
}

/// Parses one JSON line into a record: by the layout of the previous line when it has it (see
/// [`Shape`]), else by the general scanner.
pub(crate) fn parse<'a>(
    whole: Line<'a>,
    map: &FieldMap,
    times: &mut TimeCache,
    requests: &mut RequestLines,
    shape: &mut Shape,
) -> Result<Record<'a>, ParseError> {
    let line = whole.bytes();
    let text = |v: RawValue<'a>| whole.text(v.bytes, v.escaped);
    let number = |v: RawValue<'a>| whole.str_of(v.bytes).or_else(|| std::str::from_utf8(v.bytes).ok());
    let mut slots: Slots<'a> = [None; FIELD_COUNT];
    let known = if shape.read(line, &mut slots) {
        shape.known
    } else {
        slots = [None; FIELD_COUNT];
        let mut known = false;
        let mut spans = std::mem::take(&mut shape.spans);
        spans.clear();
        let mut flat = true;
        let scanned = scan_object(line, |key, value, span| {
            let hit = map.lookup(key);
            match value {
                Some(v) => spans.push((span, v.quoted, hit)),
                None => flat = false,
            }
            if let Some(hit) = hit {
                known = true;
                if let Some(v) = value {
                    fill(&mut slots, hit, v);
                }
            }
        });
        if scanned.is_ok() && flat {
            shape.learn(line, &spans);
        } else {
            shape.forget();
        }
        shape.spans = spans;
        scanned?;
        known
    };
    let get = |f: Field| slots[f as usize].filter(|(order, _)| order & ABSENT == 0).map(|(_, v)| v);
    let Some(time) = get(Field::Time) else {
        return Err(if known { ParseError::MissingTime } else { ParseError::NotARecord });
    };
    let (ms, resolution) =
        if time.escaped { times.parse(text(time).as_bytes()) } else { times.parse(time.bytes) }?;

    // A time and nothing else of a request (a status snapshot, an application log) is not an
    // access record.
    if get(Field::Request).is_none() && get(Field::Uri).is_none() && get(Field::Status).is_none() {
        return Err(ParseError::NoRequest);
    }
    let mut r = Record::at(ms, resolution);
    if let Some(req) = get(Field::Request) {
        r.set_request_line(text(req), requests);
    } else if let Some(uri) = get(Field::Uri) {
        r.method = get(Field::Method).map(text);
        // A query logged apart (`$args`) is not appended: clusters are keyed by path, so that
        // would be a copy per line for nothing.
        r.target = Some(text(uri));
    }
    r.user_agent = get(Field::UserAgent).map(text);
    r.host = get(Field::Host).map(text);
    r.set_cookie = get(Field::SetCookie).map(text);
    r.set_cookie_logged = slots[Field::SetCookie as usize].is_some();
    r.location = get(Field::Location).map(text);
    r.upstream = slots[Field::Upstream as usize].map(|(order, _)| order & ABSENT == 0);
    r.client = match get(Field::Client) {
        Some(c) => Some(text(c)),
        None => get(Field::ForwardedFor).and_then(|x| first_forwarded(text(x))),
    };
    if let Some(st) = get(Field::Status) {
        r.status = Some(super::parse_status(st.bytes)?);
    }
    r.bytes = get(Field::Bytes).and_then(|b| number(b)?.parse().ok());
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

/// The keys of a JSON line whose present, unescaped values `wanted` accepts, `most` of them at
/// most: for hints on keys the built-in names do not read.
fn keys_where(line: &[u8], most: usize, wanted: impl Fn(&str, &[u8]) -> bool) -> Vec<String> {
    let mut keys = Vec::new();
    let _ = scan_object(line, |key, value, _| {
        let key = String::from_utf8_lossy(key);
        if keys.len() < most && value.is_some_and(|v| !v.escaped && !v.is_absent() && wanted(&key, v.bytes)) {
            keys.push(key.into_owned());
        }
    });
    keys
}

/// The first key of a JSON line that looks like a user agent's (`agent`, `ua`, `userAgent` …),
/// for a hint when no record read one.
pub(crate) fn agent_like_key(line: &[u8]) -> Option<String> {
    keys_where(line, 1, |key, _| {
        let k = key.to_ascii_lowercase();
        k.contains("agent") || k == "ua" || k.ends_with("_ua") || k.ends_with(".ua")
    })
    .pop()
}

/// The keys of a JSON line whose values read as times since 2000 (a status code or a byte count
/// also reads as an epoch): what `--field time=KEY` could name when none of the known time keys
/// is there.
pub(crate) fn time_like_keys(line: &[u8]) -> Vec<String> {
    keys_where(line, 4, |_, v| super::time::parse_time(v).is_some_and(|(ms, _)| ms >= 946_684_800_000))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::TimeResolution;

    fn p(line: &str) -> Result<Record<'_>, ParseError> {
        parse(
            line.as_bytes().into(),
            &FieldMap::default(),
            &mut TimeCache::default(),
            &mut RequestLines::default(),
            &mut Shape::default(),
        )
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
        assert_eq!(r.user_agent.as_deref(), Some("Go-http-client/1.1"));
        assert_eq!(r.client, None, "empty remote_addr is absent");
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
        assert_eq!(r.target.as_deref(), Some("/api/x"), "args are not appended");
        assert_eq!(r.client.as_deref(), Some("10.0.0.7"));
        assert_eq!(r.host.as_deref(), Some("Example.com"));
    }

    #[test]
    fn msec_as_number_and_unquoted_nginx_values() {
        let r = p(r#"{"msec":1558723294.25,"status":200,"upstream_response_time":0.004, 0.002 : 0.010,"request_time":-,"request_uri":"/a?b","sent_http_set_cookie":"SESSION=abc; Path=/"}"#).unwrap();
        assert_eq!(r.time, 1_558_723_294_250);
        assert_eq!(r.status, Some(200));
        assert_eq!(r.target.as_deref(), Some("/a?b"));
        assert_eq!(r.set_cookie.as_deref(), Some("SESSION=abc; Path=/"));
        assert_eq!(r.upstream, Some(true), "an upstream time: passed on");
    }

    #[test]
    fn an_upstream_variable_says_whether_nginx_passed_the_request_on() {
        let at = |rest: &str| {
            p(&format!(r#"{{"msec":1558723294.25,"status":200,"request_uri":"/"{rest}}}"#)).unwrap().upstream
        };
        assert_eq!(at(""), None, "not logged");
        assert_eq!(at(r#","upstream_addr":"-""#), Some(false));
        assert_eq!(at(r#","upstream_addr":"""#), Some(false));
        assert_eq!(at(r#","upstream_response_time":-"#), Some(false));
        assert_eq!(at(r#","upstream_status":"502""#), Some(true));
        assert_eq!(at(r#","upstream_addr":"unix:/run/php-fpm.sock""#), Some(true));
        // One variable logged empty and another with a value: the passed-on value is read.
        assert_eq!(at(r#","upstream_status":"-","upstream_addr":"10.0.0.5:8080""#), Some(true));
    }

    #[test]
    fn hex_escapes_and_invalid_utf8() {
        let line: &[u8] = b"{\"time\":\"1558723294\",\"request\":\"GET /caf\\xC3\\xA9?q=\\x22x\\x22 HTTP/1.1\",\"http_user_agent\":\"bad \\xFF \xfe raw\"}";
        let r = parse(
            line.into(),
            &FieldMap::default(),
            &mut TimeCache::default(),
            &mut RequestLines::default(),
            &mut Shape::default(),
        )
        .unwrap();
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
        let r = p(r#"{"time":"1558723294","status":"200","http_user_agent":"-","agent":"curl/8","remote_addr":"","http_x_forwarded_for":"-"}"#).unwrap();
        assert_eq!(r.user_agent.as_deref(), Some("curl/8"));
        assert_eq!(r.client, None);
    }

    /// Lines of one layout and of others: the layout path must read each exactly as the general
    /// scanner does, whatever line it learned from.
    const LAYOUTS: [&str; 14] = [
        r#"{"@timestamp":"2019-05-24T18:41:34+00:00","remote_addr":"","host":"h:80","request":"GET / HTTP/1.1","status": "302","http_user_agent":"Go-http-client/1.1"}"#,
        r#"{"@timestamp":"2019-05-24T18:41:44+00:00","remote_addr":"10.0.0.1","host":"h","request":"GET /a\"b HTTP/1.1","status": "200","http_user_agent":"x \x22y\x22"}"#,
        r#"{"@timestamp":"2019-05-24T18:41:54+00:00","remote_addr":"-","host":"","request":"-","status": "404","http_user_agent":""}"#,
        r#"{"@timestamp":"2019-05-24T18:41:54+00:00","remote_addr":"-","host":"","request":"-","status": 404,"http_user_agent":""}"#,
        r#"{"@timestamp":"2019-05-24T18:41:54+00:00","remote_addr":"-","host":"","request":"-","status":"404","http_user_agent":""}"#,
        r#"{"@timestamp":"2019-05-24T18:41:54+00:00","remote_addr":"-","host":"","request":"-","status": "404","http_user_agent":"" }"#,
        r#"{"@timestamp":"2019-05-24T18:41:54+00:00","remote_addr":"-","host":"","request":"-","status": "404","http_user_agent":""} x"#,
        r#"{"@timestamp":"2019-05-24T18:41:54+00:00","remote_addr":"-","host":"","request":"-","status": "404","http_user_agent":"#,
        r#"{"@timestamp":"2019-05-24T18:41:54+00:00","remote_addr":"-","host":"","request":"-","status": "40"4","http_user_agent":""}"#,
        r#"{"remote_addr":"-","@timestamp":"2019-05-24T18:41:54+00:00","host":"","request":"-","status": "404","http_user_agent":""}"#,
        r#"{"msec":1558723294.25,"status":200,"upstream_response_time":0.004, 0.002 : 0.010,"request_time":-,"request_uri":"/a?b"}"#,
        r#"{"msec":1558723295.5,"status":301,"upstream_response_time":-,"request_time":0.1,"request_uri":"/c"}"#,
        r#"{"msec":1558723295.5,"status":301,"upstream_response_time":-,"request_time":0.1 ,"request_uri":"/c"}"#,
        r#"{"msec":1558723295.5,"geo":{"a":"b"},"status":301,"upstream_response_time":-,"request_time":0.1,"request_uri":"/c"}"#,
    ];

    #[test]
    fn the_layout_path_reads_lines_as_the_general_scanner_does() {
        let map = FieldMap::default();
        let mut by_layout = 0;
        for learned in LAYOUTS {
            for line in LAYOUTS {
                let (mut times, mut requests, mut shape) =
                    (TimeCache::default(), RequestLines::default(), Shape::default());
                let _ = parse(learned.as_bytes().into(), &map, &mut times, &mut requests, &mut shape);
                let mut scratch = [None; FIELD_COUNT];
                by_layout += usize::from(shape.read(line.as_bytes(), &mut scratch));
                let fast = parse(line.as_bytes().into(), &map, &mut times, &mut requests, &mut shape);
                let general = p(line);
                assert_eq!(fast, general, "{line}\n after learning\n{learned}");
            }
        }
        // Lines 0-2 share a layout, as do 10-12 (bare values, spaces kept); 3, 4, 5 and 9 differ
        // from them by a bare status, a space, the key order; 6-8 and 13 (broken, nested) have
        // none to learn, and no other layout reads them.
        assert_eq!(by_layout, 9 + 9 + 4, "lines read by their layout");
    }
}
