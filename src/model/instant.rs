//! Instants: the one place that reads and writes the ISO-8601 UTC timestamps users carry
//! (`dob`, `registered_date`), converts them to milliseconds since the Unix epoch (what Avro's
//! `timestamp-millis` and every sink's native timestamp column hold), and does the calendar.
//!
//! The canonical form is `YYYY-MM-DDTHH:MM:SS.mmmZ`: what the generator writes, what randomuser
//! serves, and what a sink with a native timestamp column reads back. [`parse_timestamp`] accepts
//! 0 to 9 fraction digits; [`to_millis`] refuses an instant finer than a millisecond, which no
//! sink column (Cassandra's `timestamp` holds milliseconds) could keep unchanged.
//!
//! Time: milliseconds since the Unix epoch, proleptic Gregorian, UTC.

pub const DAY_MS: i64 = 86_400_000;

/// Days since 1970-01-01 of a civil date (Howard Hinnant's `days_from_civil`).
pub const fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day count since 1970-01-01 (Howard Hinnant's `civil_from_days`).
pub const fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    (y, m, d)
}

pub const fn is_leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` (years 0–9999).
pub fn format_millis(ms: i64) -> String {
    let (y, m, d) = civil_from_days(ms.div_euclid(DAY_MS));
    let t = ms.rem_euclid(DAY_MS) as u64;
    let mut out = String::with_capacity(24);
    push_uint(&mut out, y as u64, 4);
    out.push('-');
    push_uint(&mut out, u64::from(m), 2);
    out.push('-');
    push_uint(&mut out, u64::from(d), 2);
    out.push('T');
    push_uint(&mut out, t / 3_600_000, 2);
    out.push(':');
    push_uint(&mut out, t / 60_000 % 60, 2);
    out.push(':');
    push_uint(&mut out, t / 1000 % 60, 2);
    out.push('.');
    push_uint(&mut out, t % 1000, 3);
    out.push('Z');
    out
}

/// An instant as comparable parts: `(year, month, day, hour, minute, second, nanosecond)`.
pub type Timestamp = (u16, u8, u8, u8, u8, u8, u32);

/// Parses `YYYY-MM-DDTHH:MM:SS[.f{1,9}]Z` with a real calendar date (leap years included) and a
/// time of day up to `23:59:59`.
pub fn parse_timestamp(s: &str) -> Option<Timestamp> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' {
        return None;
    }
    if b[16] != b':' || b.last() != Some(&b'Z') {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<u32> {
        let digits = b.get(from..to)?;
        if !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        Some(digits.iter().fold(0, |n, d| n * 10 + u32::from(d - b'0')))
    };
    let (year, month, day) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (hour, minute, second) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    let nanos = match &b[19..b.len() - 1] {
        [] => 0,
        [b'.', frac @ ..] if (1..=9).contains(&frac.len()) => {
            num(20, b.len() - 1)? * 10u32.pow(9 - frac.len() as u32)
        }
        _ => return None,
    };
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let month_len = match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        _ => return None,
    };
    if day == 0 || day > month_len || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let small = |n: u32| u8::try_from(n).ok();
    Some((
        u16::try_from(year).ok()?,
        small(month)?,
        small(day)?,
        small(hour)?,
        small(minute)?,
        small(second)?,
        nanos,
    ))
}

/// Appends `n` in decimal, zero-padded to `width`.
pub fn push_uint(out: &mut String, mut n: u64, width: usize) {
    let mut buf = [b'0'; 20];
    let mut i = buf.len();
    while n > 0 || buf.len() - i < width.max(1) {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
    }
    out.extend(buf[i..].iter().map(|&b| char::from(b)));
}

/// Why a text is not an instant eosflow keeps (the one wording of both reasons).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InstantError {
    #[error("is not an ISO-8601 UTC timestamp (YYYY-MM-DDTHH:MM:SS[.fff]Z)")]
    NotIso,
    #[error("is finer than a millisecond, which a timestamp column cannot keep")]
    FinerThanMillisecond,
}

impl InstantError {
    /// The reason about `shown` (the value, or a shortened form of it): `"…" is not …`.
    pub fn about(self, shown: &str) -> String {
        format!("{shown:?} {self}")
    }
}

/// Milliseconds since the Unix epoch of a timestamp `parse_timestamp` accepts; why not when it
/// does not parse or is finer than a millisecond.
pub fn to_millis(s: &str) -> Result<i64, InstantError> {
    let (y, mo, d, h, mi, sec, nanos) = parse_timestamp(s).ok_or(InstantError::NotIso)?;
    if nanos % 1_000_000 != 0 {
        return Err(InstantError::FinerThanMillisecond);
    }
    let day = days_from_civil(i64::from(y), u32::from(mo), u32::from(d));
    let time = (i64::from(h) * 3600 + i64::from(mi) * 60 + i64::from(sec)) * 1000;
    Ok(day * DAY_MS + time + i64::from(nanos / 1_000_000))
}

/// The length of the canonical form, `YYYY-MM-DDTHH:MM:SS.mmmZ` (years 0–9999): a timestamp
/// [`to_millis`] accepts is canonical exactly when it has this length.
pub const CANONICAL_LEN: usize = 24;

/// The canonical form of a timestamp (`YYYY-MM-DDTHH:MM:SS.mmmZ`); the same error as [`to_millis`].
pub fn canonical(s: &str) -> Result<String, InstantError> {
    to_millis(s).map(format_millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn millis_round_trip_through_the_canonical_form() {
        assert_eq!(to_millis("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(to_millis("1969-12-31T23:59:59.999Z"), Ok(-1));
        assert_eq!(to_millis("2000-01-01T00:00:00.5Z"), Ok(946_684_800_500));
        assert_eq!(
            canonical("2024-02-29T23:59:59.1Z").as_deref(),
            Ok("2024-02-29T23:59:59.100Z")
        );
        for ms in [
            -2_000_000_000_000,
            -1,
            0,
            1,
            946_684_800_500,
            4_102_444_799_999,
        ] {
            assert_eq!(to_millis(&format_millis(ms)), Ok(ms), "{ms}");
        }
        assert_eq!(
            to_millis("2024-02-29T23:59:59.1234Z"),
            Err(InstantError::FinerThanMillisecond)
        );
        assert_eq!(to_millis("2023-02-29T00:00:00Z"), Err(InstantError::NotIso));
        assert_eq!(
            InstantError::NotIso.about("x"),
            "\"x\" is not an ISO-8601 UTC timestamp (YYYY-MM-DDTHH:MM:SS[.fff]Z)"
        );
    }
}
