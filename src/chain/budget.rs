//! The signer's rolling gas spend budget (`max_gas_spend_wei_per_hour`): a pure decision on
//! what the store says the signer spent.
//!
//! Spend is, over the last hour, the fees its mined transactions paid (`gas_used` times the
//! receipt's effective gas price), plus, for every transaction not mined yet, the most it can
//! cost (`gas_limit` times its newest attempt's max fee). Counting the unmined ones at their
//! worst case is what makes the budget hold under a burst: a thousand submissions in the same
//! second see each other (the check runs under the signer's nonce lock) instead of all passing
//! before the first is mined. Their real cost is usually lower, and the difference comes back
//! as they are mined. A new transaction is admitted only if its own worst case fits too; fee
//! bumps of admitted transactions are never refused (the nonce and every one behind it would
//! stay stuck), so they can raise the spend over the budget by their raise (within
//! `max_fee_gwei`).

/// The budget's window.
pub const WINDOW_MS: i64 = 3_600_000;
/// Longest a refused submission waits before it looks again: the spend also falls when an
/// unmined transaction is mined for less than its worst case, or an operator raises the budget.
pub const RECHECK_MS: i64 = 10_000;

/// One transaction's share of the spend, as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spend {
    /// Set once mined: what it actually cost, and when.
    pub paid: Option<Paid>,
    /// Its worst case while unmined.
    pub gas_limit: u64,
    pub max_fee_per_gas: u128,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Paid {
    pub wei: u128,
    pub mined_at_ms: i64,
}

impl Spend {
    fn wei(&self) -> u128 {
        match self.paid {
            Some(p) => p.wei,
            None => u128::from(self.gas_limit).saturating_mul(self.max_fee_per_gas),
        }
    }
}

/// The budget is reached: no new transaction until `retry_at_ms`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "the signer's gas spend budget is reached: {spent} wei spent or committed in the last hour, \
     {needed} wei more needed, {budget} wei allowed (max_gas_spend_wei_per_hour); new \
     transactions wait"
)]
pub struct OverBudget {
    pub spent: u128,
    pub needed: u128,
    pub budget: u128,
    pub retry_at_ms: i64,
}

/// Whether a new transaction costing at most `needed` wei fits `budget` (0: no budget), given
/// the signer's transactions `recent` (unmined, or mined within `WINDOW_MS` of `now`).
pub fn admit(recent: &[Spend], needed: u128, budget: u128, now: i64) -> Result<(), OverBudget> {
    if budget == 0 {
        return Ok(());
    }
    let in_window = |s: &&Spend| s.paid.is_none_or(|p| p.mined_at_ms > now - WINDOW_MS);
    let spent = recent
        .iter()
        .filter(in_window)
        .fold(0u128, |sum, s| sum.saturating_add(s.wei()));
    if spent.saturating_add(needed) <= budget {
        return Ok(());
    }
    // The earliest the spend can fall by itself: the oldest payment leaving the window.
    let oldest_leaves = recent
        .iter()
        .filter(in_window)
        .filter_map(|s| s.paid.map(|p| p.mined_at_ms + WINDOW_MS))
        .min()
        .unwrap_or(i64::MAX);
    Err(OverBudget {
        spent,
        needed,
        budget,
        retry_at_ms: oldest_leaves.clamp(now + 1_000, now + RECHECK_MS),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 10 * WINDOW_MS;

    fn mined(wei: u128, ago_ms: i64) -> Spend {
        Spend {
            paid: Some(Paid {
                wei,
                mined_at_ms: NOW - ago_ms,
            }),
            gas_limit: 1_000_000,
            max_fee_per_gas: 1_000,
        }
    }

    fn unmined(gas_limit: u64, max_fee_per_gas: u128) -> Spend {
        Spend {
            paid: None,
            gas_limit,
            max_fee_per_gas,
        }
    }

    #[test]
    fn no_budget_admits_everything() {
        assert_eq!(admit(&[mined(u128::MAX, 0)], u128::MAX, 0, NOW), Ok(()));
    }

    #[test]
    fn mined_fees_count_what_was_paid_and_unmined_their_worst_case() {
        let recent = [mined(300, 1_000), unmined(100, 2)];
        // 300 paid + 200 committed + 500 new = 1000.
        assert_eq!(admit(&recent, 500, 1_000, NOW), Ok(()));
        let refused = admit(&recent, 501, 1_000, NOW).unwrap_err();
        assert_eq!((refused.spent, refused.needed), (500, 501));
    }

    #[test]
    fn payments_older_than_the_window_no_longer_count() {
        let recent = [mined(900, WINDOW_MS), mined(100, WINDOW_MS - 1)];
        assert_eq!(admit(&recent, 900, 1_000, NOW), Ok(()));
        assert!(admit(&recent, 901, 1_000, NOW).is_err());
    }

    #[test]
    fn the_refused_look_again_when_the_oldest_payment_leaves_or_soon() {
        // The oldest leaves in 3 s: look again then.
        let leaving = [mined(1_000, WINDOW_MS - 3_000), mined(1_000, 10)];
        assert_eq!(
            admit(&leaving, 1, 1_000, NOW).unwrap_err().retry_at_ms,
            NOW + 3_000
        );
        // Nothing leaves for long (or only unmined ones count): look again after RECHECK_MS.
        let fresh = [mined(1_000, 10), unmined(10, 10)];
        assert_eq!(
            admit(&fresh, 1, 1_000, NOW).unwrap_err().retry_at_ms,
            NOW + RECHECK_MS
        );
        // Never sooner than a second.
        let just_leaving = [mined(1_000, WINDOW_MS - 1)];
        assert_eq!(
            admit(&just_leaving, 1, 1_000, NOW).unwrap_err().retry_at_ms,
            NOW + 1_000
        );
    }

    #[test]
    fn huge_values_saturate_instead_of_wrapping() {
        let recent = [unmined(u64::MAX, u128::MAX), mined(u128::MAX, 0)];
        let refused = admit(&recent, 1, u128::MAX - 1, NOW).unwrap_err();
        assert_eq!(refused.spent, u128::MAX);
    }
}
