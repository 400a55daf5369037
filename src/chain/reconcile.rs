//! The sender's decisions about a transaction none of whose attempts has a receipt yet, kept
//! pure: whether to raise its fees now, and whether its nonce was really taken by another
//! transaction.

/// Consecutive sender passes in which the nonce must read as used, with no receipt for any
/// attempt, before the transaction is declared replaced...
pub const REPLACED_AFTER_READS: i64 = 5;
/// ...and for at least this long: a node behind a load balancer can answer the nonce from a
/// backend that is ahead of the one answering receipts, for a few blocks.
pub const REPLACED_AFTER_MS: i64 = 10_000;

/// The node says the transaction's nonce is used, yet none of its attempts has a receipt,
/// first at `first_seen_ms` and in `reads` consecutive passes (this one included). Only after
/// several reads over some time is it replaced; until then, one of its attempts may be mined.
pub fn nonce_taken(first_seen_ms: i64, reads: i64, now: i64) -> bool {
    reads >= REPLACED_AFTER_READS && now - first_seen_ms >= REPLACED_AFTER_MS
}

/// Since when the signer's lowest unmined nonce has been the lowest: the sender's own
/// observation (kept in memory; a new sender starts the clock afresh, which only delays a bump).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lowest {
    /// The chain's transaction count of the signer: the lowest nonce not mined.
    pub nonce: i64,
    pub since_block: i64,
    pub since_ms: i64,
}

impl Lowest {
    /// The observation after a pass that read `used` at block `head`, at `now`.
    pub fn observe(previous: Option<Lowest>, used: i64, head: i64, now: i64) -> Lowest {
        match previous {
            Some(l) if l.nonce == used => l,
            _ => Lowest {
                nonce: used,
                since_block: head,
                since_ms: now,
            },
        }
    }
}

/// How long a stuck transaction waits before its fees are raised (the hot settings).
#[derive(Clone, Copy, Debug)]
pub struct BumpAfter {
    pub ms: i64,
    pub blocks: i64,
}

/// The newest attempt of an unmined transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Newest {
    pub created_at_ms: i64,
    /// The head when it was first broadcast (`None`: not broadcast yet).
    pub broadcast_block: Option<i64>,
}

/// Whether to replace transaction `nonce` now. Only the lowest unmined nonce is ever raised:
/// a transaction behind it cannot be mined before it, whatever its fees, so raising them would
/// only spend more. And the lowest waits from when it became the lowest (or from its newest
/// attempt, if later), not from its signing: when a stuck nonce finally lands, the ones that
/// waited behind it get their blocks before anyone raises their fees.
pub fn bump_due(
    nonce: i64,
    lowest: Lowest,
    newest: Newest,
    head: i64,
    now: i64,
    after: BumpAfter,
) -> bool {
    if nonce != lowest.nonce {
        return false;
    }
    let waited_ms = now - newest.created_at_ms.max(lowest.since_ms);
    let waited_blocks = newest
        .broadcast_block
        .map_or(0, |b| head - b.max(lowest.since_block));
    waited_ms > after.ms || waited_blocks >= after.blocks
}

#[cfg(test)]
mod tests {
    use super::*;

    const AFTER: BumpAfter = BumpAfter {
        ms: 20_000,
        blocks: 3,
    };

    fn lowest(nonce: i64) -> Lowest {
        Lowest {
            nonce,
            since_block: 100,
            since_ms: 1_000_000,
        }
    }

    #[test]
    fn a_nonce_read_as_used_is_replaced_only_after_several_reads_over_time() {
        assert!(!nonce_taken(0, 1, 60_000), "one read is not enough");
        assert!(
            !nonce_taken(0, REPLACED_AFTER_READS, REPLACED_AFTER_MS - 1),
            "nor many reads in a moment"
        );
        assert!(nonce_taken(0, REPLACED_AFTER_READS, REPLACED_AFTER_MS));
    }

    #[test]
    fn the_lowest_clock_restarts_only_when_the_lowest_nonce_moves() {
        let first = Lowest::observe(None, 4, 100, 1_000);
        assert_eq!(
            first,
            Lowest {
                nonce: 4,
                since_block: 100,
                since_ms: 1_000
            }
        );
        assert_eq!(Lowest::observe(Some(first), 4, 150, 9_000), first);
        assert_eq!(
            Lowest::observe(Some(first), 5, 150, 9_000),
            Lowest {
                nonce: 5,
                since_block: 150,
                since_ms: 9_000
            }
        );
    }

    #[test]
    fn only_the_lowest_unmined_nonce_is_bumped() {
        let long_ago = Newest {
            created_at_ms: 0,
            broadcast_block: Some(1),
        };
        let (head, now) = (1_000, 10_000_000);
        assert!(bump_due(7, lowest(7), long_ago, head, now, AFTER));
        for behind in [8, 9, 27] {
            assert!(
                !bump_due(behind, lowest(7), long_ago, head, now, AFTER),
                "nonce {behind} waits behind 7"
            );
        }
    }

    #[test]
    fn the_lowest_waits_from_when_it_became_the_lowest() {
        // Signed and broadcast long ago, behind a stuck nonce that has just been mined.
        let behind = Newest {
            created_at_ms: 0,
            broadcast_block: Some(1),
        };
        let l = lowest(8);
        assert!(!bump_due(8, l, behind, 101, l.since_ms + 1_000, AFTER));
        assert!(
            bump_due(8, l, behind, 103, l.since_ms + 1_000, AFTER),
            "3 blocks"
        );
        assert!(
            bump_due(8, l, behind, 101, l.since_ms + 20_001, AFTER),
            "20 s"
        );
    }

    #[test]
    fn a_fresh_attempt_waits_its_own_time() {
        let l = lowest(8);
        let bumped_now = Newest {
            created_at_ms: l.since_ms + 50_000,
            broadcast_block: Some(140),
        };
        assert!(!bump_due(8, l, bumped_now, 142, l.since_ms + 60_000, AFTER));
        assert!(bump_due(8, l, bumped_now, 143, l.since_ms + 60_000, AFTER));
        // Never broadcast: only time counts.
        let unsent = Newest {
            broadcast_block: None,
            ..bumped_now
        };
        assert!(!bump_due(8, l, unsent, 10_000, l.since_ms + 60_000, AFTER));
        assert!(bump_due(8, l, unsent, 10_000, l.since_ms + 70_001, AFTER));
    }
}
