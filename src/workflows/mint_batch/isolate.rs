//! Finding the items that make a batch revert, with few simulations.
use std::future::Future;

use crate::chain::token::is_max_supply_exceeded;
use crate::engine::StepError;

/// What `isolate` found in a reverting batch (indexes into it, in order).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Isolated {
    /// Items that go through together.
    pub keep: Vec<usize>,
    /// Items that revert whatever else is in the batch, with the reason.
    pub bad: Vec<(usize, String)>,
    /// The first item the supply cap has no room for, and every item after it.
    pub over_cap: Vec<usize>,
}

/// Finds the items of a batch of `n` that make it revert. `simulate(subset)` answers `None`
/// when the subset (indexes, in order) goes through, or the revert reason.
///
/// Reverts can be cumulative (a supply cap that only the sum of items exceeds), so halves are
/// not tried independently: a binary search finds the longest prefix on top of what is kept
/// that still goes through; the item after it is bad, and the search goes on with the items
/// after it. When the bad item's reason is the supply cap, it and every later item are over
/// the cap (one simulation each would only say so again), and the search stops.
///
/// Cost, in simulations: `ceil(log2 n) + 1` per bad item (the cap counting as one: a check
/// of the rest, then a binary search), plus one for the clean rest.
pub async fn isolate<F, Fut>(n: usize, simulate: F) -> Result<Isolated, StepError>
where
    F: Fn(Vec<usize>) -> Fut,
    Fut: Future<Output = Result<Option<String>, StepError>>,
{
    let mut found = Isolated {
        keep: Vec::new(),
        bad: Vec::new(),
        over_cap: Vec::new(),
    };
    let mut next = 0;
    while next < n {
        let with = |k: usize| {
            found
                .keep
                .iter()
                .copied()
                .chain(next..k)
                .collect::<Vec<_>>()
        };
        // Simulated again rather than trusting the revert that led here: the chain may have
        // moved since, and an item is failed only on a revert seen now.
        let Some(reason) = simulate(with(n)).await? else {
            found.keep.extend(next..n);
            break;
        };
        // keep ++ [next, lo) goes through; keep ++ [next, hi) reverts with `reason`.
        let (mut lo, mut hi, mut reason) = (next, n, reason);
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            match simulate(with(mid)).await? {
                None => lo = mid,
                Some(why) => {
                    hi = mid;
                    reason = why;
                }
            }
        }
        found.keep.extend(next..lo);
        if is_max_supply_exceeded(&reason) {
            found.over_cap.extend(lo..n);
            break;
        }
        found.bad.push((lo, reason));
        next = hi;
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use alloy::sol_types::SolError;

    use super::*;
    use crate::chain::contracts::MintToken;

    /// The decoded reason of the token's supply cap revert.
    fn cap_reason() -> String {
        crate::chain::revert::decode(&MintToken::MaxSupplyExceeded {}.abi_encode()).unwrap()
    }

    /// Runs `isolate` over a simulated `batchMint`: `cap` items fit in total, and the items in
    /// `rejected` revert on their own. Returns what it found and how many simulations
    /// (`eth_estimateGas` calls) it made.
    async fn run(n: usize, cap: usize, rejected: &[usize]) -> (Isolated, usize) {
        let calls = std::sync::atomic::AtomicUsize::new(0);
        let found = isolate(n, |subset| {
            calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let reason = if let Some(r) = subset.iter().find(|i| rejected.contains(i)) {
                Some(format!("rejects {r}"))
            } else if subset.len() > cap {
                Some(cap_reason())
            } else {
                None
            };
            async move { Ok(reason) }
        })
        .await
        .unwrap();
        (found, calls.into_inner())
    }

    fn bad(found: &Isolated) -> Vec<usize> {
        found.bad.iter().map(|(i, _)| *i).collect()
    }

    /// The promised bound: `ceil(log2 n) + 1` simulations per bad item (the cap counting as
    /// one), plus one.
    fn bound(n: usize, found: &Isolated) -> usize {
        let log2 = n.next_power_of_two().trailing_zeros() as usize;
        let bad_items = found.bad.len() + usize::from(!found.over_cap.is_empty());
        bad_items * (log2 + 1) + 1
    }

    #[tokio::test]
    async fn one_rejected_item_fails_alone() {
        let (found, calls) = run(100, 1000, &[37]).await;
        assert_eq!(bad(&found), vec![37]);
        assert_eq!(found.keep.len(), 99);
        assert!(!found.keep.contains(&37));
        assert!(found.over_cap.is_empty());
        // One check, a search of at most 7 steps, one check of the rest.
        assert!(calls <= 1 + 7 + 1, "{calls} simulations");
        assert!(calls <= bound(100, &found));
    }

    #[tokio::test]
    async fn the_cap_sends_back_what_does_not_fit_after_one_search() {
        let (found, calls) = run(10, 7, &[]).await;
        assert_eq!(found.keep, (0..7).collect::<Vec<_>>());
        assert_eq!(found.over_cap, vec![7, 8, 9]);
        assert!(found.bad.is_empty());
        // Not one search per item over the cap: one check and one search in all.
        assert!(calls <= 1 + 4, "{calls} simulations");
        let (found, calls) = run(1000, 150, &[]).await;
        assert_eq!((found.keep.len(), found.over_cap.len()), (150, 850));
        assert!(calls <= 1 + 10, "{calls} simulations");
    }

    #[tokio::test]
    async fn rejected_items_before_the_cap_fail_and_the_rest_wait() {
        let (found, calls) = run(100, 50, &[3, 20]).await;
        assert_eq!(bad(&found), vec![3, 20]);
        // 50 fit; the items from the 51st that fits on go back to the queue.
        assert_eq!(found.keep.len(), 50);
        assert_eq!(found.over_cap, (52..100).collect::<Vec<_>>());
        assert!(calls <= bound(100, &found), "{calls} simulations");
    }

    #[tokio::test]
    async fn several_rejected_items_and_a_clean_batch() {
        let (found, _) = run(20, 100, &[0, 5, 19]).await;
        assert_eq!(bad(&found), vec![0, 5, 19]);
        assert_eq!(found.keep.len(), 17);
        let (found, calls) = run(20, 100, &[]).await;
        assert_eq!((found.keep.len(), found.bad.len(), calls), (20, 0, 1));
    }

    /// Every mix of batch size, cap and rejected items: a partition of the batch, only
    /// rejected items failed, what is kept goes through, and the bound holds.
    #[tokio::test]
    async fn the_simulations_stay_within_log2_n_per_bad_item() {
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = |m: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % m as u64) as usize
        };
        for _ in 0..300 {
            let n = 1 + next(200);
            let cap = next(n + 20);
            let rejected: Vec<usize> = (0..next(6)).map(|_| next(n)).collect();
            let (found, calls) = run(n, cap, &rejected).await;
            let mut all: Vec<usize> = found.keep.clone();
            all.extend(bad(&found));
            all.extend(&found.over_cap);
            all.sort();
            assert_eq!(
                all,
                (0..n).collect::<Vec<_>>(),
                "n {n} cap {cap} {rejected:?}"
            );
            assert!(bad(&found).iter().all(|i| rejected.contains(i)));
            assert!(found.keep.iter().all(|i| !rejected.contains(i)));
            assert!(found.keep.len() <= cap);
            assert!(
                calls <= bound(n, &found),
                "n {n} cap {cap} {rejected:?}: {calls} simulations, bound {}",
                bound(n, &found)
            );
        }
    }
}
