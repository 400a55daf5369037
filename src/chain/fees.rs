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

/// The most any attempt may offer, from the hot settings `max_fee_gwei` and
/// `max_priority_fee_gwei`, in wei.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FeeCaps {
    pub max_fee_per_gas: u128,
    pub max_priority_fee_per_gas: u128,
}

impl FeeCaps {
    /// What the network asks, held under the caps: the fees of a new transaction. The tip never
    /// exceeds the max fee (a node refuses such a transaction).
    pub fn limit(self, network_now: Fees) -> Fees {
        let max_fee = network_now.max_fee_per_gas.min(self.max_fee_per_gas);
        Fees {
            max_fee_per_gas: max_fee,
            max_priority_fee_per_gas: network_now
                .max_priority_fee_per_gas
                .min(self.max_priority_fee_per_gas)
                .min(max_fee),
        }
    }
}

/// Fees for a replacement of `previous`: both fields at least +12.5% (and +1 wei), no lower than
/// what the network asks now (as far as the caps let), within `caps`. `None` when a cap leaves
/// no room for a valid replacement (the node would refuse one that raises only the max fee).
pub fn bumped(previous: Fees, network_now: Fees, caps: FeeCaps) -> Option<Fees> {
    let network_now = caps.limit(network_now);
    let raise = |v: u128| v + (v * BUMP_PERCENT).div_ceil(1000).max(1);
    let priority =
        raise(previous.max_priority_fee_per_gas).max(network_now.max_priority_fee_per_gas);
    let max_fee = raise(previous.max_fee_per_gas)
        .max(network_now.max_fee_per_gas)
        .max(priority);
    if max_fee > caps.max_fee_per_gas || priority > caps.max_priority_fee_per_gas {
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

    fn caps(max_fee_per_gas: u128, max_priority_fee_per_gas: u128) -> FeeCaps {
        FeeCaps {
            max_fee_per_gas,
            max_priority_fee_per_gas,
        }
    }

    const NO_CAP: FeeCaps = FeeCaps {
        max_fee_per_gas: u128::MAX,
        max_priority_fee_per_gas: u128::MAX,
    };

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
            NO_CAP,
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
        assert_eq!(bumped(prev, now, caps(1000, 1000)).unwrap(), now);
        // The network asks more than the cap: the bump goes to the cap.
        assert_eq!(
            bumped(prev, now, caps(499, 1000)).unwrap(),
            Fees {
                max_fee_per_gas: 499,
                max_priority_fee_per_gas: 3
            }
        );
        // No room above the previous attempt within the cap.
        assert_eq!(bumped(prev, now, caps(112, 1000)), None);
    }

    #[test]
    fn tiny_fees_still_rise() {
        let prev = Fees {
            max_fee_per_gas: 0,
            max_priority_fee_per_gas: 0,
        };
        let next = bumped(prev, prev, caps(10, 10)).unwrap();
        assert_eq!(
            next,
            Fees {
                max_fee_per_gas: 1,
                max_priority_fee_per_gas: 1
            }
        );
    }

    #[test]
    fn the_tip_is_capped_on_new_transactions_and_on_bumps() {
        let greedy = Fees {
            max_fee_per_gas: 900,
            max_priority_fee_per_gas: 700,
        };
        assert_eq!(
            caps(1000, 50).limit(greedy),
            Fees {
                max_fee_per_gas: 900,
                max_priority_fee_per_gas: 50
            }
        );
        // A tip cap above the max fee cap still leaves the tip under the max fee.
        assert_eq!(
            caps(100, 500).limit(greedy),
            Fees {
                max_fee_per_gas: 100,
                max_priority_fee_per_gas: 100
            }
        );
        // A replacement must raise the tip too: at the tip cap there is none.
        let at_tip_cap = Fees {
            max_fee_per_gas: 100,
            max_priority_fee_per_gas: 50,
        };
        assert_eq!(bumped(at_tip_cap, at_tip_cap, caps(1000, 50)), None);
        assert_eq!(
            bumped(at_tip_cap, at_tip_cap, caps(1000, 57)),
            Some(Fees {
                max_fee_per_gas: 113,
                max_priority_fee_per_gas: 57
            })
        );
        // The network asking a higher tip than the cap does not lift it past the cap.
        let network = Fees {
            max_fee_per_gas: 200,
            max_priority_fee_per_gas: 90,
        };
        assert_eq!(
            bumped(at_tip_cap, network, caps(1000, 60)),
            Some(Fees {
                max_fee_per_gas: 200,
                max_priority_fee_per_gas: 60
            })
        );
    }
}
