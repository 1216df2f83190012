//! The report's units: times as RFC 3339, durations in seconds or in the unit a person would
//! say, numbers rounded for reading.

use chrono::{DateTime, SecondsFormat};

use crate::model::UnixMillis;

/// RFC 3339 in UTC, with milliseconds only when they are not zero.
#[must_use]
pub fn rfc3339(ms: UnixMillis) -> String {
    DateTime::from_timestamp_millis(ms)
        .map_or_else(|| ms.to_string(), |t| t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
}

/// `x` rounded to three decimals (milliseconds, when `x` is in seconds).
#[must_use]
pub fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// A duration in the unit a person would say: `500 ms`, `10 s`, `10.3 s`, `5 min`, `1 h`, `2 d`.
pub fn human_seconds(seconds: f64) -> String {
    let (value, unit) = in_one_unit(seconds);
    let text = format!("{value:.2}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text} {unit}")
}

/// `seconds` in the unit a person would say it in: ms below a second, s below two minutes, min
/// below an hour, h below two days, d above.
fn in_one_unit(seconds: f64) -> (f64, &'static str) {
    if seconds < 1.0 {
        (seconds * 1000.0, "ms")
    } else if seconds < 120.0 {
        (seconds, "s")
    } else if seconds < 3600.0 {
        (seconds / 60.0, "min")
    } else if seconds < 172_800.0 {
        (seconds / 3600.0, "h")
    } else {
        (seconds / 86_400.0, "d")
    }
}

/// A long stretch of time in one unit, as [`human_seconds`] picks it, to a tenth below ten of
/// them and whole above (`20 h`, `2.5 d`, `1744 d`).
#[must_use]
pub fn human_rounded(seconds: f64) -> String {
    let (value, unit) = in_one_unit(seconds);
    let text = if value >= 10.0 { format!("{value:.0}") } else { format!("{value:.1}") };
    format!("{} {unit}", text.trim_end_matches(".0"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_human_units() {
        assert_eq!(human_seconds(0.5), "500 ms");
        assert_eq!(human_seconds(10.0), "10 s");
        assert_eq!(human_seconds(10.3), "10.3 s");
        assert_eq!(human_seconds(300.0), "5 min");
        assert_eq!(human_seconds(3600.0), "1 h");
        assert_eq!(human_seconds(86_400.0 * 3.0), "3 d");
        assert_eq!(human_rounded(72_000.0), "20 h");
        assert_eq!(human_rounded(86_400.0 * 2.54), "2.5 d");
        assert_eq!(human_rounded(86_400.0 * 1744.23), "1744 d");
        assert_eq!(human_rounded(600.0), "10 min");
    }
}
