//! The dates and times every backend stores, and how they are written.

use std::ops::RangeInclusive;

use chrono::{DateTime, Datelike, NaiveDate, Utc};

/// The years a date may have.
pub const YEARS: RangeInclusive<i32> = 1..=9999;

/// The earliest and latest time a cursor or filter may name: every backend
/// stores these, and every record was created inside them.
pub fn time_range() -> (DateTime<Utc>, DateTime<Utc>) {
    let last = NaiveDate::from_ymd_opt(*YEARS.end(), 12, 31)
        .and_then(|d| d.and_hms_opt(23, 59, 59))
        .map_or(DateTime::<Utc>::MAX_UTC, |t| t.and_utc());
    (DateTime::UNIX_EPOCH, last)
}

/// A date written `YYYY-MM-DD`, in [`YEARS`].
pub fn parse_iso_date(text: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .filter(|d| YEARS.contains(&d.year()))
}

/// A full calendar date from year, month and day (`google.type.Date`).
pub fn parse_date(year: i32, month: i32, day: i32) -> Result<NaiveDate, String> {
    if !YEARS.contains(&year) {
        return Err(format!(
            "must be a full date with a year from {} to {}, got {year:04}-{month:02}-{day:02}",
            YEARS.start(),
            YEARS.end()
        ));
    }
    u32::try_from(month)
        .ok()
        .zip(u32::try_from(day).ok())
        .and_then(|(m, d)| NaiveDate::from_ymd_opt(year, m, d))
        .ok_or_else(|| format!("{year:04}-{month:02}-{day:02} is not a calendar date"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_full_and_in_range() {
        assert!(parse_date(2026, 2, 29).is_err());
        assert!(parse_date(2024, 2, 29).is_ok());
        assert!(parse_date(0, 1, 1).is_err());
        assert!(parse_date(2026, 0, 0).is_err());
        assert!(parse_iso_date("9999-12-31").is_some());
        assert!(parse_iso_date("10000-01-01").is_none());
        assert!(parse_iso_date("0000-01-01").is_none());
    }
}
