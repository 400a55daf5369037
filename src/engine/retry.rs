//! Retry delays for transient step errors.
use rand::Rng;

/// Exponential backoff with "equal jitter": half the capped delay is fixed, half random, so
/// retries of many workflows that failed together (an RPC outage) spread out instead of
/// returning as one wave.
pub fn backoff_ms(attempt: u32, base_ms: i64, max_ms: i64) -> i64 {
    let exp = base_ms.saturating_mul(1i64 << attempt.min(40));
    let capped = exp.clamp(1, max_ms.max(1));
    let half = capped / 2;
    half + rand::rng().random_range(0..=capped - half)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_and_caps() {
        for attempt in 0..50 {
            let d = backoff_ms(attempt, 100, 10_000);
            let cap = (100i64 << attempt.min(40)).min(10_000);
            assert!(
                d >= cap / 2 && d <= cap,
                "attempt {attempt}: {d} not in [{}, {cap}]",
                cap / 2
            );
        }
    }
}
