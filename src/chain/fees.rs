//! EIP-1559 fee arithmetic: the first offer and the raises that replace a stuck transaction.

/// The fees of one signed attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fees {
    pub max_fee_per_gas: u128,
    pub max_priority_fee_per_gas: u128,
}

/// Nodes accept a replacement at the same nonce only if both fee fields rise by at least 10%
/// (geth's default price bump); 12.5% leaves room for rounding and stricter pools.
pub const BUMP_PERCENT: u128 = 125; // per mille over 1000, i.e. +12.5%

/// Fees for a replacement of `previous`: both fields at least +12.5% (and +1 wei), no lower than
/// what the network asks now, capped at `cap` for the max fee. `None` when the cap leaves no
/// room for a valid replacement.
pub fn bumped(previous: Fees, network_now: Fees, cap: u128) -> Option<Fees> {
    let raise = |v: u128| v + (v * BUMP_PERCENT).div_ceil(1000).max(1);
    let priority =
        raise(previous.max_priority_fee_per_gas).max(network_now.max_priority_fee_per_gas);
    let max_fee = raise(previous.max_fee_per_gas)
        .max(network_now.max_fee_per_gas)
        .max(priority);
    if max_fee > cap {
        return None;
    }
    Some(Fees {
        max_fee_per_gas: max_fee,
        max_priority_fee_per_gas: priority,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bump_raises_both_fields_by_at_least_an_eighth() {
        let prev = Fees {
            max_fee_per_gas: 1000,
            max_priority_fee_per_gas: 8,
        };
        let next = bumped(
            prev,
            Fees {
                max_fee_per_gas: 1,
                max_priority_fee_per_gas: 1,
            },
            u128::MAX,
        )
        .unwrap();
        assert_eq!(
            next,
            Fees {
                max_fee_per_gas: 1125,
                max_priority_fee_per_gas: 9
            }
        );
        assert!(next.max_fee_per_gas * 1000 >= prev.max_fee_per_gas * 1125);
    }

    #[test]
    fn bump_follows_the_network_and_respects_the_cap() {
        let prev = Fees {
            max_fee_per_gas: 100,
            max_priority_fee_per_gas: 1,
        };
        let now = Fees {
            max_fee_per_gas: 500,
            max_priority_fee_per_gas: 3,
        };
        assert_eq!(bumped(prev, now, 1000).unwrap(), now);
        assert_eq!(bumped(prev, now, 499), None);
    }

    #[test]
    fn tiny_fees_still_rise() {
        let prev = Fees {
            max_fee_per_gas: 0,
            max_priority_fee_per_gas: 0,
        };
        let next = bumped(prev, prev, 10).unwrap();
        assert_eq!(
            next,
            Fees {
                max_fee_per_gas: 1,
                max_priority_fee_per_gas: 1
            }
        );
    }
}
