//! Stored times: the clock the write path stamps rows with, and conversions between the stored
//! unix-millisecond times and the RFC 3339 times of the API.
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Utc};

/// Where "now" comes from for every time a process stamps or compares (claims, leases,
/// checkpoints, operator actions, audit entries, the pipeline's transactions): the system
/// clock, or one a test sets so the times it asserts on are exact. A process builds one
/// (`Service::start`) and passes it down; `store` functions take the time from their caller.
#[derive(Clone, Debug, Default)]
pub struct Clock(Option<Arc<AtomicI64>>);

impl Clock {
    pub fn system() -> Clock {
        Clock(None)
    }

    /// A clock that stands at `ms` (unix milliseconds) until it is set again.
    pub fn fixed(ms: i64) -> Clock {
        Clock(Some(Arc::new(AtomicI64::new(ms))))
    }

    /// Moves a fixed clock (and every copy of it) to `ms`.
    ///
    /// # Panics
    /// On the system clock, which nobody sets.
    pub fn set(&self, ms: i64) {
        self.0
            .as_ref()
            .expect("only a fixed clock can be set")
            .store(ms, Ordering::Relaxed);
    }

    /// Milliseconds since the unix epoch: the unit of every time column.
    pub fn now_ms(&self) -> i64 {
        match &self.0 {
            None => Utc::now().timestamp_millis(),
            Some(ms) => ms.load(Ordering::Relaxed),
        }
    }

    /// The time `secs` seconds ago, in unix ms (an age filter's bound).
    pub fn ms_ago(&self, secs: u64) -> i64 {
        self.now_ms()
            .saturating_sub((secs.min(i64::MAX as u64 / 1000) as i64) * 1000)
    }
}

pub fn from_ms(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

pub fn opt_from_ms(ms: Option<i64>) -> Option<DateTime<Utc>> {
    ms.map(from_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fixed_clock_reads_what_it_was_set_to_in_every_copy() {
        let clock = Clock::fixed(1_000);
        let copy = clock.clone();
        assert_eq!(copy.now_ms(), 1_000);
        clock.set(2_500);
        assert_eq!(copy.now_ms(), 2_500);
    }

    #[test]
    fn ms_ago_counts_back_from_the_clock_and_saturates() {
        let clock = Clock::fixed(10_000);
        assert_eq!(clock.ms_ago(3), 7_000);
        assert_eq!(Clock::fixed(i64::MIN + 1).ms_ago(u64::MAX), i64::MIN);
    }

    #[test]
    fn the_system_clock_reads_the_system_time() {
        let before = Utc::now().timestamp_millis();
        let now = Clock::system().now_ms();
        assert!(now >= before && now <= Utc::now().timestamp_millis());
    }
}
