//! How many of a token's queued mints its supply cap still lets the batcher send: the pure
//! decision behind "a batch that must revert is never signed".
//!
//! `batchMint` reverts as a whole when it would take `totalSupply` above `maxSupply`, and a
//! batch's simulation only sees the batches already mined. Batches formed one after another
//! while earlier ones wait in the mempool would each pass simulation and revert on chain. So
//! before forming a batch the batcher subtracts the mints already in flight (carried by a
//! batch that is formed, signed or sent, and not yet confirmed or failed) from the room the
//! chain reports.
//!
//! A mint the cap leaves no room for is failed only when that is certain: `MintToken` has no
//! burn, so `totalSupply` never goes down and `maxSupply` is immutable; once nothing is in
//! flight, a token without room never has room again. While batches are in flight they may
//! still fail (and free their room), so the mints after them wait instead.
use uuid::Uuid;

/// What the batcher does with a token's queue now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Plan {
    /// Form a batch of at most this many mints.
    Form(u64),
    /// No room left over by the mints in flight; they may still fail and free it.
    Wait,
    /// No room and nothing in flight: every queued mint fails with `MaxSupplyExceeded()`.
    Fail,
}

/// The plan for a token with room for `room` mints, `in_flight` of them already taken by
/// batches not yet final, and batches of at most `cap` mints.
pub fn plan(room: u64, in_flight: u64, cap: u64) -> Plan {
    match room.saturating_sub(in_flight) {
        0 if in_flight > 0 => Plan::Wait,
        0 => Plan::Fail,
        free => Plan::Form(free.min(cap)),
    }
}

/// A batch not yet final when the batcher looked, and how many mints it carried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpenBatch {
    pub id: Uuid,
    pub size: u64,
}

/// The mints in flight for a supply read between two looks at the database: `before` (the
/// open batches before the read) and `mints_now` (the mints in a batch after it), the batches
/// of `before` still open being among `open_now`.
///
/// A batch of `before` that became final in between may have been mined after the read, so
/// its mints are counted although they are no longer in flight: erring on "in flight" only
/// makes mints wait a pass longer, never a batch revert.
pub fn in_flight(before: &[OpenBatch], mints_now: u64, open_now: &[Uuid]) -> u64 {
    let finished: u64 = before
        .iter()
        .filter(|b| !open_now.contains(&b.id))
        .map(|b| b.size)
        .sum();
    mints_now + finished
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_take_only_the_room_left_by_those_in_flight() {
        assert_eq!(plan(150, 0, 20), Plan::Form(20));
        assert_eq!(plan(150, 140, 20), Plan::Form(10));
        assert_eq!(plan(150, 149, 20), Plan::Form(1));
    }

    #[test]
    fn mints_beyond_the_room_wait_while_others_are_in_flight() {
        // The batches in flight may still fail and free their room.
        assert_eq!(plan(150, 150, 20), Plan::Wait);
        // Counted conservatively (a mined batch is in the supply and still in flight until
        // confirmed): more in flight than room is still a wait, never a failure.
        assert_eq!(plan(10, 150, 20), Plan::Wait);
    }

    #[test]
    fn a_batch_final_since_the_supply_read_still_counts() {
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let before = [OpenBatch { id: a, size: 20 }, OpenBatch { id: b, size: 7 }];
        // Both still open: their mints are among those counted now.
        assert_eq!(in_flight(&before, 27, &[a, b]), 27);
        // `a` confirmed after the read (its 20 may not be in the supply read) and a new
        // batch of 5 formed by another process.
        assert_eq!(in_flight(&before, 12, &[b, Uuid::now_v7()]), 32);
        assert_eq!(in_flight(&[], 0, &[]), 0);
    }

    #[test]
    fn mints_fail_only_when_no_room_is_certain() {
        assert_eq!(plan(0, 0, 20), Plan::Fail);
        assert_eq!(plan(0, 1, 20), Plan::Wait);
    }
}
