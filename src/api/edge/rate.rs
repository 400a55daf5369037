//! A keyed rate limit (GCRA, from `governor`) whose rate is a hot setting: every per-client,
//! per-payer and per-key limit of the API is one of these.
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// Keys idle this long are forgotten every so many checks, so the limiters' memory stays flat.
const RETAIN_EVERY: u64 = 4096;

/// The per-minute rate a limiter was built for, and the limiter.
type RateAndLimiter = (i64, Arc<DefaultKeyedRateLimiter<String>>);

/// A keyed limit of `per_minute` requests, rebuilt when the setting changes (which forgets
/// what each key had used: a changed limit starts afresh).
#[derive(Clone, Default)]
pub struct RateLimit {
    current: Arc<Mutex<Option<RateAndLimiter>>>,
    checks: Arc<AtomicU64>,
}

impl RateLimit {
    /// Takes `n` from `key`'s allowance; `Err(seconds to wait)` when it is over its limit (a
    /// wait of a whole minute when `n` exceeds the limit itself). 0 turns the limit off.
    pub fn check(&self, per_minute: i64, key: &str, n: u32) -> Result<(), u64> {
        let Some(rate) = u32::try_from(per_minute).ok().and_then(NonZeroU32::new) else {
            return Ok(());
        };
        let limiter = {
            let mut slot = self.current.lock().expect("limiter lock");
            match slot.as_ref() {
                Some((n, l)) if *n == per_minute => l.clone(),
                _ => {
                    let l = Arc::new(RateLimiter::keyed(Quota::per_minute(rate)));
                    *slot = Some((per_minute, l.clone()));
                    l
                }
            }
        };
        if self
            .checks
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(RETAIN_EVERY)
        {
            limiter.retain_recent();
        }
        let n = NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN);
        match limiter.check_key_n(&key.to_owned(), n) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(not_until)) => {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                Err(wait.as_secs_f64().ceil().max(1.0) as u64)
            }
            Err(_insufficient) => Err(60),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_key_and_zero_is_off() {
        let limit = RateLimit::default();
        assert!(limit.check(3, "a", 1).is_ok());
        assert!(limit.check(3, "a", 2).is_ok());
        assert!(limit.check(3, "a", 1).unwrap_err() >= 1);
        assert!(
            limit.check(3, "b", 1).is_ok(),
            "another key has its own budget"
        );
        assert_eq!(
            limit.check(3, "c", 4),
            Err(60),
            "more than the limit itself"
        );
        assert!(limit.check(0, "a", 1).is_ok(), "0 turns the limit off");
    }
}
