//! Whether intake holds up as the tables grow: the rate at which requests were answered in each
//! tenth of the throughput run, and its last tenth against its first.

/// Parts the run is cut into.
const PARTS: usize = 10;

/// Requests answered per second in each of `PARTS` consecutive, equal shares of the requests,
/// from `answered` (each request's answer time in seconds from the first request, sorted). A
/// share's clock starts at the previous share's last answer (at 0 for the first).
pub(super) fn rates(answered: &[f64]) -> Vec<f64> {
    let n = answered.len();
    if n < PARTS {
        return Vec::new();
    }
    let mut out = Vec::with_capacity(PARTS);
    let mut since = 0.0;
    for part in 1..=PARTS {
        let (first, last) = ((part - 1) * n / PARTS, part * n / PARTS - 1);
        let until = answered[last];
        out.push((last + 1 - first) as f64 / (until - since).max(f64::EPSILON));
        since = until;
    }
    out
}

/// Prints the rate of each tenth and the last one against the first.
pub(super) fn print(answered: &[f64]) {
    let rates = rates(answered);
    let (Some(first), Some(last)) = (rates.first(), rates.last()) else {
        return;
    };
    let each: Vec<String> = rates.iter().map(|r| format!("{r:.0}")).collect();
    println!(
        "intake by tenth of the requests: {} requests/s; start {first:.0}, end {last:.0} \
         requests/s ({:+.1}% at the end)",
        each.join(" / "),
        100.0 * (last - first) / first
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_steady_run_has_equal_tenths_and_a_slowing_one_falling_tenths() {
        let steady: Vec<f64> = (1..=100).map(|i| f64::from(i) * 0.01).collect();
        for r in rates(&steady) {
            assert!((r - 100.0).abs() < 1e-6, "{r}");
        }
        // Each request takes longer than the one before.
        let slowing: Vec<f64> = (1..=100).map(|i| f64::from(i * i) * 0.001).collect();
        let r = rates(&slowing);
        assert_eq!(r.len(), PARTS);
        assert!(r.windows(2).all(|w| w[1] < w[0]), "{r:?}");
    }

    #[test]
    fn too_few_requests_give_no_tenths() {
        assert!(rates(&[0.1, 0.2]).is_empty());
    }
}
