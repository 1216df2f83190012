//! Which JSON key holds which field: the common nginx `log_format` key sets, plus the user's
//! `--field NAME=KEY` overrides.

use std::fmt;
use std::str::FromStr;

/// A record field a JSON key can fill.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Field {
    /// Request time (`msec`, `@timestamp`, `time_iso8601`, …).
    Time,
    /// User agent.
    UserAgent,
    /// Host the request was for (`$host`, `$http_host`, `$server_name`).
    Host,
    /// Full request line (`GET /p HTTP/1.1`).
    Request,
    /// Method, when the request line is logged in parts.
    Method,
    /// Path or URI, when the request line is logged in parts.
    Uri,
    /// Query string, when logged apart from the URI: recognised but not decoded (clusters are
    /// keyed by path, without the query).
    Args,
    /// Status code.
    Status,
    /// Client address.
    Client,
    /// `X-Forwarded-For`: its first address is the client when no client address is logged.
    ForwardedFor,
    /// Referer: recognised (its key marks an access-log record) but not decoded, as no finding uses it.
    Referer,
    /// Response bytes.
    Bytes,
    /// `$request_time`: recognised but not decoded, as no finding uses it (like the referer).
    RequestTime,
    /// `Set-Cookie` response header or upstream cookie.
    SetCookie,
    /// `Location` response header.
    Location,
    /// An upstream variable (`$upstream_addr`, `$upstream_status`, `$upstream_response_time`):
    /// `-` or empty when nginx answered without passing the request on (a static file, a
    /// `return`, a cached response), so no application saw it.
    Upstream,
}

/// Number of [`Field`] variants.
pub(crate) const FIELD_COUNT: usize = 16;

impl Field {
    const ALL: [(Field, &'static str); FIELD_COUNT] = [
        (Field::Time, "time"),
        (Field::UserAgent, "user_agent"),
        (Field::Host, "host"),
        (Field::Request, "request"),
        (Field::Method, "method"),
        (Field::Uri, "uri"),
        (Field::Args, "args"),
        (Field::Status, "status"),
        (Field::Client, "client"),
        (Field::ForwardedFor, "forwarded_for"),
        (Field::Referer, "referer"),
        (Field::Bytes, "bytes"),
        (Field::RequestTime, "request_time"),
        (Field::SetCookie, "set_cookie"),
        (Field::Location, "location"),
        (Field::Upstream, "upstream"),
    ];

    /// The field's name as `--field` spells it.
    #[must_use]
    pub fn name(self) -> &'static str {
        Self::ALL[self as usize].1
    }

    /// Every name `--field` accepts.
    #[must_use]
    pub fn names() -> Vec<&'static str> {
        Self::ALL.iter().map(|(_, n)| *n).collect()
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Field {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .iter()
            .find(|(_, n)| *n == s)
            .map(|(f, _)| *f)
            .ok_or_else(|| format!("unknown field {s:?}; expected one of: {}", Self::names().join(", ")))
    }
}

/// The built-in key for a field and its rank: when a line holds several keys for one field, the
/// lowest rank wins (so `msec`, which has milliseconds, beats `@timestamp`).
fn default_key(key: &[u8]) -> Option<(Field, u8)> {
    use Field::{
        Args, Bytes, Client, ForwardedFor, Host, Location, Method, Referer, Request, RequestTime, SetCookie,
        Status, Time, Upstream, Uri, UserAgent,
    };
    let hit = match key {
        b"msec" => (Time, 1),
        b"@timestamp" => (Time, 2),
        b"time_iso8601" => (Time, 3),
        b"time" => (Time, 4),
        b"timestamp" => (Time, 5),
        b"time_local" => (Time, 6),
        b"http_user_agent" => (UserAgent, 1),
        b"user_agent" => (UserAgent, 2),
        b"agent" => (UserAgent, 3),
        b"http_agent" => (UserAgent, 4),
        b"host" => (Host, 1),
        b"http_host" => (Host, 2),
        b"server_name" => (Host, 3),
        b"vhost" => (Host, 4),
        b"request" => (Request, 1),
        b"request_method" => (Method, 1),
        b"method" => (Method, 2),
        b"request_uri" => (Uri, 1),
        b"uri" => (Uri, 2),
        b"path" => (Uri, 3),
        b"args" => (Args, 1),
        b"query_string" => (Args, 2),
        b"status" => (Status, 1),
        b"response" => (Status, 2),
        b"status_code" => (Status, 3),
        b"http_status" => (Status, 4),
        b"remote_addr" => (Client, 1),
        b"remote_ip" => (Client, 2),
        b"client_ip" => (Client, 3),
        b"clientip" => (Client, 4),
        b"http_x_forwarded_for" => (ForwardedFor, 1),
        b"x_forwarded_for" => (ForwardedFor, 2),
        b"http_referer" => (Referer, 1),
        b"http_referrer" => (Referer, 2),
        b"referrer" => (Referer, 3),
        b"referer" => (Referer, 4),
        b"body_bytes_sent" => (Bytes, 1),
        b"bytes_sent" => (Bytes, 2),
        b"bytes" => (Bytes, 3),
        b"request_time" => (RequestTime, 1),
        b"sent_http_set_cookie" => (SetCookie, 1),
        b"upstream_http_set_cookie" => (SetCookie, 2),
        b"sent_http_location" => (Location, 1),
        b"upstream_http_location" => (Location, 2),
        b"upstream_addr" => (Upstream, 1),
        b"upstream_status" => (Upstream, 2),
        b"upstream_response_time" => (Upstream, 3),
        b"upstream_connect_time" => (Upstream, 4),
        b"upstream_header_time" => (Upstream, 5),
        _ if key.starts_with(b"upstream_cookie_") => (SetCookie, 3),
        _ => return None,
    };
    Some(hit)
}

/// Maps JSON keys to fields: the user's overrides first (rank 0), then the built-in key sets.
#[derive(Clone, Debug, Default)]
pub struct FieldMap {
    overrides: Vec<(Vec<u8>, Field)>,
}

impl FieldMap {
    /// A map with `overrides` (`(field, key)`) taking precedence over the built-in keys.
    #[must_use]
    pub fn with_overrides(overrides: &[(Field, String)]) -> Self {
        FieldMap { overrides: overrides.iter().map(|(f, k)| (k.as_bytes().to_vec(), *f)).collect() }
    }

    /// The field a key fills, and its rank (lower wins).
    #[inline]
    pub(crate) fn lookup(&self, key: &[u8]) -> Option<(Field, u8)> {
        if !self.overrides.is_empty() {
            if let Some((_, f)) = self.overrides.iter().find(|(k, _)| k == key) {
                return Some((*f, 0));
            }
        }
        default_key(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for n in Field::names() {
            assert_eq!(n.parse::<Field>().map(Field::name), Ok(n));
        }
        assert!("nope".parse::<Field>().is_err());
    }

    #[test]
    fn overrides_take_precedence() {
        let m = FieldMap::with_overrides(&[(Field::UserAgent, "ua".into()), (Field::Host, "agent".into())]);
        assert_eq!(m.lookup(b"ua"), Some((Field::UserAgent, 0)));
        assert_eq!(m.lookup(b"agent"), Some((Field::Host, 0)));
        assert_eq!(m.lookup(b"http_user_agent"), Some((Field::UserAgent, 1)));
        assert_eq!(m.lookup(b"upstream_cookie_SESSION"), Some((Field::SetCookie, 3)));
        assert_eq!(m.lookup(b"other"), None);
    }
}
