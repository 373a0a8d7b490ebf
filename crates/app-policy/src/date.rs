//! Civil (proleptic Gregorian) dates, the only notion of time a policy needs.
//!
//! Policies speak in calendar days ("effective 2023-10-30, 30 days of grace"),
//! so evaluation takes a [`Date`] as a parameter and never reads a clock.

use std::fmt;

/// A calendar date, stored as days since 1970-01-01.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    days: i32,
}

/// Why a date string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid date `{0}`: expected YYYY-MM-DD")]
pub struct DateError(pub String);

impl Date {
    /// Builds a date from year, month (1-12) and day (1-31); `None` if it does not exist.
    pub fn from_ymd(year: i32, month: u32, day: u32) -> Option<Date> {
        if !(1..=9999).contains(&year) || !(1..=12).contains(&month) || day == 0 {
            return None;
        }
        if day > days_in_month(year, month) {
            return None;
        }
        Some(Date {
            days: days_from_civil(year, month, day),
        })
    }

    /// Days since 1970-01-01 (negative before).
    pub fn days_since_epoch(self) -> i32 {
        self.days
    }

    /// The date `days` after 1970-01-01, clamped to years 1..=9999.
    pub fn from_days_since_epoch(days: i64) -> Date {
        let lo = i64::from(days_from_civil(1, 1, 1));
        let hi = i64::from(days_from_civil(9999, 12, 31));
        let d = days.clamp(lo, hi);
        Date {
            days: i32::try_from(d).unwrap_or(0),
        }
    }

    /// This date plus `n` days (saturating at the representable range).
    pub fn add_days(self, n: u32) -> Date {
        Date::from_days_since_epoch(i64::from(self.days).saturating_add(i64::from(n)))
    }

    /// Year, month, day.
    pub fn ymd(self) -> (i32, u32, u32) {
        civil_from_days(self.days)
    }

    /// Parses `YYYY-MM-DD`.
    pub fn parse(s: &str) -> Result<Date, DateError> {
        let err = || DateError(s.to_string());
        let mut it = s.trim().splitn(3, '-');
        let (y, m, d) = (
            it.next().ok_or_else(err)?,
            it.next().ok_or_else(err)?,
            it.next().ok_or_else(err)?,
        );
        if y.len() != 4 || m.len() != 2 || d.len() != 2 {
            return Err(err());
        }
        let all_digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
        if !all_digits(y) || !all_digits(m) || !all_digits(d) {
            return Err(err());
        }
        let y: i32 = y.parse().map_err(|_| err())?;
        let m: u32 = m.parse().map_err(|_| err())?;
        let d: u32 = d.parse().map_err(|_| err())?;
        Date::from_ymd(y, m, d).ok_or_else(err)
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d) = self.ymd();
        write!(f, "{y:04}-{m:02}-{d:02}")
    }
}

impl serde::Serialize for Date {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

fn is_leap(y: i32) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i32, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(y) => 29,
        _ => 28,
    }
}

// Howard Hinnant's days_from_civil / civil_from_days; inputs are bounded to
// years 1..=9999 so no intermediate overflows i32.
fn days_from_civil(y: i32, m: u32, d: u32) -> i32 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = m as i32;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d as i32 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i32) -> (i32, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for s in [
            "1970-01-01",
            "2000-02-29",
            "2023-10-30",
            "0001-01-01",
            "9999-12-31",
        ] {
            assert_eq!(Date::parse(s).map(|d| d.to_string()), Ok(s.to_string()));
        }
        assert_eq!(Date::parse("1970-01-01").map(Date::days_since_epoch), Ok(0));
        assert!(Date::parse("2023-02-29").is_err());
        assert!(Date::parse("2023-2-1").is_err());
        assert!(Date::parse("+023-02-01").is_err());
        let d = Date::parse("2023-02-28").map(|d| d.add_days(1).to_string());
        assert_eq!(d, Ok("2023-03-01".to_string()));
    }
}
