//! Timestamps as nginx and its users log them, normalised to UTC milliseconds.
//!
//! Accepted: RFC 3339 / ISO 8601 (`2019-05-24T18:41:32+00:00`, `…Z`, `….123+0900`, a space
//! instead of `T`, no offset meaning UTC), nginx `$time_local` (`24/May/2019:18:41:32 +0000`),
//! epoch seconds with or without a fraction (`1558723292.123`, `$msec`) and epoch milliseconds
//! (13 digits). The resolution is what the text carries: a fraction means milliseconds.

use chrono::NaiveDate;

use crate::model::{TimeResolution, UnixMillis};

/// Parses one timestamp. `None` when the text is none of the accepted forms or names an
/// impossible date.
pub(crate) fn parse_time(s: &[u8]) -> Option<(UnixMillis, TimeResolution)> {
    let s = s.trim_ascii();
    if s.len() >= 10 && s[4] == b'-' {
        iso8601(s)
    } else if s.len() >= 20 && s[2] == b'/' {
        time_local(s)
    } else {
        epoch(s)
    }
}

struct Cursor<'a> {
    s: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn digits(&mut self, n: usize) -> Option<u32> {
        let d = self.s.get(self.at..self.at + n)?;
        self.at += n;
        d.iter().try_fold(0u32, |acc, &b| b.is_ascii_digit().then(|| acc * 10 + u32::from(b - b'0')))
    }

    fn eat(&mut self, b: u8) -> Option<()> {
        (self.s.get(self.at) == Some(&b)).then(|| self.at += 1)
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.at).copied()
    }

    fn done(&self) -> bool {
        self.at == self.s.len()
    }

    /// `.123` or `,123456`: milliseconds (truncated), if a fraction is there.
    fn fraction_ms(&mut self) -> Option<Option<u32>> {
        if !matches!(self.peek(), Some(b'.' | b',')) {
            return Some(None);
        }
        self.at += 1;
        let start = self.at;
        let mut ms = 0u32;
        while let Some(b) = self.peek().filter(u8::is_ascii_digit) {
            if self.at - start < 3 {
                ms = ms * 10 + u32::from(b - b'0');
            }
            self.at += 1;
        }
        let n = self.at - start;
        if n == 0 {
            return None;
        }
        for _ in n..3 {
            ms *= 10;
        }
        Some(Some(ms))
    }

    /// `Z`, `+HH:MM`, `+HHMM`, `+HH` or nothing (UTC); seconds east of UTC.
    fn offset(&mut self) -> Option<i64> {
        match self.peek() {
            None => Some(0),
            Some(b'Z' | b'z') => {
                self.at += 1;
                Some(0)
            }
            Some(sign @ (b'+' | b'-')) => {
                self.at += 1;
                let h = self.digits(2)?;
                let _ = self.eat(b':');
                let m = if self.done() { 0 } else { self.digits(2)? };
                if h > 23 || m > 59 {
                    return None;
                }
                let secs = i64::from(h * 3600 + m * 60);
                Some(if sign == b'-' { -secs } else { secs })
            }
            Some(_) => None,
        }
    }

    /// The rest of a time after its date: `HH:MM:SS`, an optional fraction, an optional space
    /// before the offset when `space_before_offset` (as `$time_local` writes it), the offset,
    /// and nothing after.
    fn clock(
        mut self,
        date: (u32, u32, u32),
        space_before_offset: bool,
    ) -> Option<(UnixMillis, TimeResolution)> {
        let h = self.digits(2)?;
        self.eat(b':')?;
        let mi = self.digits(2)?;
        self.eat(b':')?;
        let sec = self.digits(2)?;
        let frac = self.fraction_ms()?;
        if space_before_offset {
            let _ = self.eat(b' ');
        }
        let offset = self.offset()?;
        if !self.done() {
            return None;
        }
        let res = if frac.is_some() { TimeResolution::Millis } else { TimeResolution::Seconds };
        Some((civil_to_millis(date, (h, mi, sec), frac.unwrap_or(0), offset)?, res))
    }
}

fn civil_to_millis(
    (y, mo, d): (u32, u32, u32),
    (h, mi, s): (u32, u32, u32),
    ms: u32,
    offset_secs: i64,
) -> Option<UnixMillis> {
    // A leap second (:60) is folded onto :59 rather than rejected.
    let naive = NaiveDate::from_ymd_opt(i32::try_from(y).ok()?, mo, d)?.and_hms_opt(h, mi, s.min(59))?;
    let secs = naive.and_utc().timestamp() - offset_secs;
    Some(secs * 1000 + i64::from(ms))
}

fn iso8601(s: &[u8]) -> Option<(UnixMillis, TimeResolution)> {
    let mut c = Cursor { s, at: 0 };
    let y = c.digits(4)?;
    c.eat(b'-')?;
    let mo = c.digits(2)?;
    c.eat(b'-')?;
    let d = c.digits(2)?;
    if !matches!(c.peek(), Some(b'T' | b't' | b' ')) {
        return None;
    }
    c.at += 1;
    c.clock((y, mo, d), false)
}

fn month(name: &[u8]) -> Option<u32> {
    const MONTHS: [&[u8; 3]; 12] =
        [b"jan", b"feb", b"mar", b"apr", b"may", b"jun", b"jul", b"aug", b"sep", b"oct", b"nov", b"dec"];
    let lower = [name[0].to_ascii_lowercase(), name[1].to_ascii_lowercase(), name[2].to_ascii_lowercase()];
    let i = MONTHS.iter().position(|m| **m == lower)?;
    u32::try_from(i + 1).ok()
}

fn time_local(s: &[u8]) -> Option<(UnixMillis, TimeResolution)> {
    let mut c = Cursor { s, at: 0 };
    let d = c.digits(2)?;
    c.eat(b'/')?;
    let mo = month(s.get(3..6)?)?;
    c.at = 6;
    c.eat(b'/')?;
    let y = c.digits(4)?;
    c.eat(b':')?;
    c.clock((y, mo, d), true)
}

/// Times a record may have (ms): from 1990 to a day after this process started. Anything else
/// is a clock gone wrong or a value sent to make a record stand where it does not belong (a
/// cluster's times are kept as offsets from its first, which such a value would push out).
pub(crate) fn plausible() -> std::ops::RangeInclusive<UnixMillis> {
    static LATEST: std::sync::OnceLock<UnixMillis> = std::sync::OnceLock::new();
    let latest = *LATEST.get_or_init(|| chrono::Utc::now().timestamp_millis() + 86_400_000);
    631_152_000_000..=latest
}

fn epoch(s: &[u8]) -> Option<(UnixMillis, TimeResolution)> {
    let (int, frac) = match memchr::memchr(b'.', s) {
        Some(p) => (&s[..p], Some(&s[p + 1..])),
        None => (s, None),
    };
    if int.is_empty() || int.len() > 16 || !int.iter().all(u8::is_ascii_digit) {
        return None;
    }
    // At most 16 digits, all checked: the value fits an i64 (under 10^16), read digit by digit
    // with no second check of the bytes (this runs for every `$msec` record).
    let whole = int.iter().fold(0i64, |n, &d| n * 10 + i64::from(d - b'0'));
    match frac {
        // 12 digits and more without a fraction: milliseconds (13 digits until the year 2286),
        // or microseconds (16): whichever lands in the plausible range.
        None if int.len() >= 12 => {
            let range = plausible();
            [whole, whole / 1000]
                .into_iter()
                .find(|ms| range.contains(ms))
                .map(|ms| (ms, TimeResolution::Millis))
        }
        None => Some((whole * 1000, TimeResolution::Seconds)),
        Some(f) => {
            if f.is_empty() || !f.iter().all(u8::is_ascii_digit) || int.len() >= 12 {
                return None;
            }
            let mut ms = 0i64;
            for i in 0..3 {
                ms = ms * 10 + f.get(i).map_or(0, |b| i64::from(b - b'0'));
            }
            Some((whole * 1000 + ms, TimeResolution::Millis))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use TimeResolution::{Millis, Seconds};

    const T: i64 = 1_558_723_292_000; // 2019-05-24T18:41:32Z

    fn p(s: &str) -> Option<(i64, TimeResolution)> {
        parse_time(s.as_bytes())
    }

    #[test]
    fn iso_forms() {
        assert_eq!(p("2019-05-24T18:41:32+00:00"), Some((T, Seconds)));
        assert_eq!(p("2019-05-24T18:41:32Z"), Some((T, Seconds)));
        assert_eq!(p("2019-05-24 18:41:32"), Some((T, Seconds)));
        assert_eq!(p("2019-05-25T03:41:32+09:00"), Some((T, Seconds)));
        assert_eq!(p("2019-05-24T13:41:32-0500"), Some((T, Seconds)));
        assert_eq!(p("2019-05-24T18:41:32.123Z"), Some((T + 123, Millis)));
        assert_eq!(p("2019-05-24T18:41:32.5+00:00"), Some((T + 500, Millis)));
        assert_eq!(p("2019-05-24T18:41:32.123456Z"), Some((T + 123, Millis)));
    }

    #[test]
    fn time_local_forms() {
        assert_eq!(p("24/May/2019:18:41:32 +0000"), Some((T, Seconds)));
        assert_eq!(p("25/may/2019:03:41:32 +0900"), Some((T, Seconds)));
        assert_eq!(p("24/Mai/2019:18:41:32 +0000"), None);
    }

    proptest::proptest! {
        /// The digits are read as the standard parser reads them, leading zeros included.
        #[test]
        fn epoch_digits_read_as_parse_reads_them(int in "[0-9]{1,11}", frac in "[0-9]{1,4}") {
            let whole: i64 = int.parse().unwrap_or(-1);
            proptest::prop_assert_eq!(epoch(int.as_bytes()), Some((whole * 1000, Seconds)));
            let ms: i64 = format!("{frac:0<3}")[..3].parse().unwrap_or(-1);
            let with_frac = format!("{int}.{frac}");
            proptest::prop_assert_eq!(epoch(with_frac.as_bytes()), Some((whole * 1000 + ms, Millis)));
        }
    }

    #[test]
    fn epoch_forms() {
        assert_eq!(p("1558723292.123"), Some((T + 123, Millis)));
        assert_eq!(p("1558723292"), Some((T, Seconds)));
        assert_eq!(p("1558723292123"), Some((T + 123, Millis)));
        assert_eq!(p("1558723292.1"), Some((T + 100, Millis)));
        assert_eq!(p("1558723292123456"), Some((T + 123, Millis)), "microseconds, not year 51363");
        assert_eq!(p("9999999999999999"), None, "neither milliseconds nor microseconds of a plausible time");
    }

    #[test]
    fn rejects_nonsense() {
        for bad in [
            "",
            "-",
            "yesterday",
            "2019-13-01T00:00:00Z",
            "2019-02-30T00:00:00Z",
            "2019-05-24T25:00:00Z",
            "2019-05-24T18:41:32+00:00junk",
            "1558723292.",
            "12ab",
            "2019-05-24",
            "1.2.3",
        ] {
            assert_eq!(p(bad), None, "{bad}");
        }
    }
}
