//! The calendar of the read models: which day a time falls on, and when a day starts and
//! ends, in one configured time zone (default UTC).
//!
//! Deadlines and exception ends are calendar days (`YYYY-MM-DD`); a burn-down point is the
//! state at the end of its day. Both are read in the same zone, so "the day the deadline
//! passed" and "the day's point" agree.

use app_policy::Date;
use jiff::tz::TimeZone;
use jiff::Timestamp;

const DAY_MS: i64 = 86_400_000;

/// A time zone for the read models' days.
#[derive(Debug, Clone)]
pub struct Zone {
    name: String,
    tz: TimeZone,
}

impl Default for Zone {
    fn default() -> Self {
        Zone::utc()
    }
}

impl Zone {
    /// Coordinated Universal Time.
    pub fn utc() -> Zone {
        Zone {
            name: "UTC".to_string(),
            tz: TimeZone::UTC,
        }
    }

    /// An IANA zone (`America/Toronto`), `UTC`, or a fixed offset (`-05:00`).
    pub fn named(name: &str) -> Result<Zone, String> {
        if name.eq_ignore_ascii_case("utc") {
            return Ok(Zone::utc());
        }
        let tz = if let Some(offset) = parse_offset(name) {
            TimeZone::fixed(offset)
        } else {
            TimeZone::get(name).map_err(|e| {
                format!(
                    "unknown time zone {name:?} ({e}); use an IANA name such as America/Toronto, \
                     UTC, or a fixed offset such as -05:00"
                )
            })?
        };
        Ok(Zone {
            name: name.to_string(),
            tz,
        })
    }

    /// The zone's name as configured.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The day (`YYYY-MM-DD`) on which the Unix-ms time `ms` falls in this zone.
    pub fn day_of(&self, ms: i64) -> Date {
        let utc_day = Date::from_days_since_epoch(ms.div_euclid(DAY_MS));
        let Ok(ts) = Timestamp::from_millisecond(ms) else {
            return utc_day;
        };
        let d = ts.to_zoned_datetime(self.tz.clone()).date();
        Date::from_ymd(
            i32::from(d.year()),
            u32::try_from(d.month()).unwrap_or(1),
            u32::try_from(d.day()).unwrap_or(1),
        )
        .unwrap_or(utc_day)
    }

    /// Unix ms of the first instant of `day` in this zone.
    pub fn day_start(&self, day: Date) -> i64 {
        let utc = i64::from(day.days_since_epoch()).saturating_mul(DAY_MS);
        let Ok((y, m, d)) = ymd(day) else {
            return utc;
        };
        jiff::civil::Date::new(y, m, d)
            .ok()
            .and_then(|date| date.to_zoned_datetime(self.tz.clone()).ok())
            .map(|z| z.timestamp().as_millisecond())
            .unwrap_or(utc)
    }

    /// Unix ms of the last instant (millisecond) of `day` in this zone.
    pub fn day_end(&self, day: Date) -> i64 {
        self.day_start(Date::from_days_since_epoch(
            i64::from(day.days_since_epoch()) + 1,
        ))
        .saturating_sub(1)
    }

    /// Today in this zone.
    pub fn today(&self) -> Date {
        self.day_of(crate::now_ms())
    }
}

fn ymd(day: Date) -> Result<(i16, i8, i8), ()> {
    let s = day.to_string();
    let mut it = s.splitn(3, '-');
    let y = it.next().and_then(|p| p.parse().ok()).ok_or(())?;
    let m = it.next().and_then(|p| p.parse().ok()).ok_or(())?;
    let d = it.next().and_then(|p| p.parse().ok()).ok_or(())?;
    Ok((y, m, d))
}

/// `+HH:MM` / `-HH:MM`.
fn parse_offset(s: &str) -> Option<jiff::tz::Offset> {
    let sign = match s.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let (h, m) = s[1..].split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let h: i32 = h.parse().ok()?;
    let m: i32 = m.parse().ok()?;
    if h > 23 || m > 59 {
        return None;
    }
    jiff::tz::Offset::from_seconds(sign * (h * 3600 + m * 60)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Date {
        Date::parse(s).unwrap()
    }

    #[test]
    fn utc_days() {
        let z = Zone::utc();
        assert_eq!(z.day_start(d("2023-10-30")), 1_698_624_000_000);
        assert_eq!(z.day_end(d("2023-10-30")), 1_698_710_399_999);
        assert_eq!(z.day_of(1_698_710_399_999).to_string(), "2023-10-30");
        assert_eq!(z.day_of(1_698_710_400_000).to_string(), "2023-10-31");
        assert_eq!(z.day_of(-1).to_string(), "1969-12-31");
    }

    #[test]
    fn toronto_days_follow_daylight_saving() {
        let z = Zone::named("America/Toronto").unwrap();
        // 2023-10-30 is in EDT (UTC-4): the day starts at 04:00 UTC.
        assert_eq!(
            z.day_start(d("2023-10-30")),
            1_698_624_000_000 + 4 * 3_600_000
        );
        // 2023-11-05 is 25 hours long (back to EST, UTC-5).
        let len = z.day_end(d("2023-11-05")) + 1 - z.day_start(d("2023-11-05"));
        assert_eq!(len, 25 * 3_600_000);
        // 02:00 UTC on the 31st is still the 30th in Toronto.
        assert_eq!(
            z.day_of(1_698_710_400_000 + 2 * 3_600_000).to_string(),
            "2023-10-30"
        );
    }

    #[test]
    fn fixed_offsets_and_errors() {
        let z = Zone::named("-05:00").unwrap();
        assert_eq!(
            z.day_start(d("2023-10-30")),
            1_698_624_000_000 + 5 * 3_600_000
        );
        assert!(Zone::named("Mars/Olympus")
            .unwrap_err()
            .contains("Mars/Olympus"));
        assert!(Zone::named("+25:00").is_err());
    }
}
