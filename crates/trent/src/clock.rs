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
}
