//! The domain vocabulary shared by every stage: one access-log request as a typed [`Record`].
//!
//! Text fields borrow from the line being parsed whenever the log wrote them without escapes,
//! so the hot path allocates only for fields that needed decoding.

use std::borrow::Cow;

/// Milliseconds since the Unix epoch, UTC.
pub type UnixMillis = i64;

/// The precision the log gave a timestamp: never claim more than this.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TimeResolution {
    /// Milliseconds (`$msec`, ISO 8601 with a fraction, epoch milliseconds).
    Millis,
    /// Whole seconds (`$time_iso8601`, `$time_local`, epoch seconds).
    Seconds,
}

/// One request, as logged, normalised across formats.
///
/// `None` means the log did not carry the field, or carried `"-"` or `""`.
#[derive(Clone, Debug, PartialEq)]
pub struct Record<'a> {
    /// When the request was logged, in UTC.
    pub time: UnixMillis,
    /// How precise `time` is.
    pub resolution: TimeResolution,
    /// Request method (`GET`), when the request line was well-formed.
    pub method: Option<Cow<'a, str>>,
    /// Request target as logged: path plus query (`/orders/12?x=1`); a query logged apart from
    /// the URI (`$args`) is not added.
    pub target: Option<Cow<'a, str>>,
    /// Protocol (`HTTP/1.1`), when logged.
    pub protocol: Option<Cow<'a, str>>,
    /// The raw request line when it is not `METHOD TARGET PROTOCOL` (TLS handshakes sent to
    /// port 80, scanners' garbage). Such a request is still a record.
    pub raw_request: Option<Cow<'a, str>>,
    /// Host as logged (`$host`, `$http_host`, `$server_name`), unnormalised.
    pub host: Option<Cow<'a, str>>,
    /// User agent.
    pub user_agent: Option<Cow<'a, str>>,
    /// HTTP status code.
    pub status: Option<u16>,
    /// Client address: `$remote_addr`, else the first `X-Forwarded-For` address.
    pub client: Option<Cow<'a, str>>,
    /// Response size in bytes.
    pub bytes: Option<u64>,
    /// A `Set-Cookie` response header or upstream cookie, when the log carries one.
    pub set_cookie: Option<Cow<'a, str>>,
    /// True when the line has a Set-Cookie field, empty or not: an empty one says that the
    /// response set no cookie, where a missing one says nothing.
    pub set_cookie_logged: bool,
    /// A `Location` response header, when the log carries one.
    pub location: Option<Cow<'a, str>>,
    /// Whether nginx passed the request on to an upstream (the application), when the log has
    /// an upstream variable: `Some(false)` where it logged `-` or nothing (a static file, a
    /// `return`, a cached response), `None` where the line has no such field.
    pub upstream: Option<bool>,
}

impl<'a> Record<'a> {
    /// A record with a time and nothing else; parsers fill in the rest.
    #[must_use]
    pub fn at(time: UnixMillis, resolution: TimeResolution) -> Self {
        Record {
            time,
            resolution,
            method: None,
            target: None,
            protocol: None,
            raw_request: None,
            host: None,
            user_agent: None,
            status: None,
            client: None,
            bytes: None,
            set_cookie: None,
            set_cookie_logged: false,
            location: None,
            upstream: None,
        }
    }
}
