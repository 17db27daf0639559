//! The clock every time rule reads (deletion windows, rotation dates, creation dates): the system
//! time plus an offset that only the test-admin endpoint moves, so tests can skip days in a call.
//! SigV4's request-time check does not use it: signatures are checked against real time.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::SystemTime;
use trent_model::Timestamp;

#[derive(Debug, Default)]
pub struct Clock {
    offset_ms: AtomicI64,
}

impl Clock {
    pub fn now(&self) -> Timestamp {
        self.at(SystemTime::now())
    }

    /// This clock's reading for the system time `time` (a request's arrival, read once for it).
    pub fn at(&self, time: SystemTime) -> Timestamp {
        Timestamp(Timestamp::at(time).0.saturating_add(self.offset_ms.load(Ordering::Relaxed)))
    }

    pub fn now_ms(&self) -> i64 {
        self.now().0
    }

    /// Moves the clock forward by `ms`; returns the total offset from the system time.
    pub fn advance(&self, ms: i64) -> i64 {
        self.offset_ms.fetch_add(ms, Ordering::Relaxed).saturating_add(ms)
    }
}

/// Days from 1970-01-01 to the proleptic Gregorian date `year-month-day`; None if there is no
/// such date (month 13, February 30th, a year beyond ±9999). The one piece of calendar maths of
/// the request path (SigV4's dates, policy date conditions), from the `time` crate.
pub fn epoch_days(year: i64, month: i64, day: i64) -> Option<i64> {
    let month = time::Month::try_from(u8::try_from(month).ok()?).ok()?;
    let date = time::Date::from_calendar_date(i32::try_from(year).ok()?, month, u8::try_from(day).ok()?).ok()?;
    Some((date - time::OffsetDateTime::UNIX_EPOCH.date()).whole_days())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advancing_moves_now_forward() {
        let clock = Clock::default();
        let before = Timestamp::now().0;
        assert_eq!(clock.advance(86_400_000), 86_400_000);
        assert_eq!(clock.advance(1_000), 86_401_000);
        assert!(clock.now_ms() >= before + 86_401_000);
    }

    #[test]
    fn epoch_days_counts_the_gregorian_calendar() {
        assert_eq!(epoch_days(1970, 1, 1), Some(0));
        assert_eq!(epoch_days(1969, 12, 31), Some(-1));
        assert_eq!(epoch_days(2024, 2, 29), Some(19_782));
        assert_eq!(epoch_days(2000, 2, 29), Some(11_016));
        for (year, month, day) in [(2023, 2, 29), (1900, 2, 29), (2024, 13, 1), (2024, 4, 31), (2024, 1, 0), (99_999, 1, 1)] {
            assert_eq!(epoch_days(year, month, day), None, "{year}-{month}-{day}");
        }
    }
}
