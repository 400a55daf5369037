//! The sender's decisions about one open transaction, pure: given what is stored of it and
//! what the chain says (asked lazily: a question costs an RPC call, so it is asked only when
//! the answer matters), what to do this pass. `follow` observes and executes.
use super::super::reconcile::{self, BumpAfter, Lowest, Newest};
use crate::store::chain::TxStatus;

/// What the sender knows of the chain at the start of a pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Head {
    pub number: i64,
    pub gas_limit: i64,
    /// The signer's mined transaction count: nonces below it are used.
    pub used: i64,
    /// Since when `used` has been the lowest unmined nonce.
    pub lowest: Lowest,
}

/// Where a stored transaction is, in the pipeline's words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Signed and stored, maybe not broadcast yet.
    Signed,
    /// Broadcast, no receipt seen yet.
    Sent,
    /// A receipt was seen; not deep enough yet.
    Mined,
}

impl Stage {
    /// The stage of an open transaction's stored status (`Signed`, `Sent`, `Mined`).
    pub fn of(status: Option<TxStatus>) -> Stage {
        match status {
            Some(TxStatus::Mined) => Stage::Mined,
            Some(TxStatus::Signed) => Stage::Signed,
            _ => Stage::Sent,
        }
    }
}

/// The stored facts about one open transaction and its newest attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tracked {
    pub stage: Stage,
    pub nonce: i64,
    pub gas_limit: i64,
    /// The node refused it as signed (`error` is set): it can never land.
    pub refused: bool,
    /// Consecutive passes that read its nonce as used without a receipt.
    pub nonce_taken_reads: i64,
    pub newest: Newest,
    /// Whether the newest attempt was broadcast.
    pub newest_broadcast: bool,
    /// Whether the newest attempt is a zero-value self-transfer that frees the nonce.
    pub newest_is_filler: bool,
}

/// What the chain said, as far as it was asked this pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seen {
    pub head: Head,
    pub now_ms: i64,
    /// Whether any attempt has a receipt (`None`: not asked yet).
    pub receipt: Option<bool>,
    /// Whether the node knows the newest attempt (`None`: not asked yet).
    pub in_pool: Option<bool>,
}

/// A question to the node before deciding again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Question {
    /// Has any attempt a receipt?
    Receipts,
    /// Does the node still hold the newest attempt?
    Pool,
}

/// What to do with the transaction this pass, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Check its depth and block, and make it final (`confirm`).
    Confirm,
    /// Send the newest attempt's stored bytes (again): same hash, same nonce.
    Broadcast,
    /// Record the receipt found.
    MarkMined,
    /// Its nonce reads as used and no attempt has a receipt: note it (it fails after several
    /// reads over some time, `reconcile::nonce_taken`).
    NonceUsed,
    /// Its nonce no longer reads as used: forget the earlier reads.
    ForgetNonceTaken,
    /// It can never land as signed, for this reason.
    Refuse(String),
    /// Sign a replacement at the same nonce with raised fees; with `free`, a zero-value
    /// self-transfer that frees the nonce instead.
    Replace { free: bool },
}

/// The sender's next step for one transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Next {
    Ask(Question),
    Do(Vec<Action>),
}

/// Decides what to do with `tx`, the chain being `seen` and the hot settings `after`.
pub fn next_action(tx: &Tracked, seen: &Seen, after: BumpAfter) -> Next {
    if tx.stage == Stage::Mined {
        return Next::Do(vec![Action::Confirm]);
    }
    if tx.stage == Stage::Signed && !tx.newest_broadcast && !tx.refused {
        return Next::Do(vec![Action::Broadcast]);
    }
    match seen.receipt {
        None => return Next::Ask(Question::Receipts),
        Some(true) => return Next::Do(vec![Action::MarkMined]),
        Some(false) => {}
    }
    if tx.nonce < seen.head.used {
        return Next::Do(vec![Action::NonceUsed]);
    }
    let mut actions = Vec::new();
    if tx.nonce_taken_reads > 0 {
        actions.push(Action::ForgetNonceTaken);
    }
    let head = seen.head;
    if reconcile::bump_due(
        tx.nonce,
        head.lowest,
        tx.newest,
        head.number,
        seen.now_ms,
        after,
    ) {
        // Refused by the node, or more gas than a block holds: it can never land as signed,
        // so the nonce is freed instead.
        let too_big = tx.gas_limit > head.gas_limit;
        if !tx.refused && too_big {
            actions.push(Action::Refuse(format!(
                "gas limit {} exceeds the block gas limit {}",
                tx.gas_limit, head.gas_limit
            )));
        }
        let free = (tx.refused || too_big) && !tx.newest_is_filler;
        actions.push(Action::Replace { free });
        return Next::Do(actions);
    }
    if tx.refused && !tx.newest_is_filler {
        // Refused as signed: its nonce is freed once `bump_after_secs` passed.
        return Next::Do(actions);
    }
    if !tx.newest_broadcast {
        // Never broadcast (a crash after signing).
        actions.push(Action::Broadcast);
        return Next::Do(actions);
    }
    match seen.in_pool {
        None => Next::Ask(Question::Pool),
        // Dropped from the pool: the stored bytes go out again.
        Some(false) => {
            actions.push(Action::Broadcast);
            Next::Do(actions)
        }
        Some(true) => Next::Do(actions),
    }
}

/// What a mined transaction's receipt says now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MinedView {
    pub block: i64,
    /// Its receipt is still in the block it was mined in (no reorg took it).
    pub still_there: bool,
    /// The attempt that won is the nonce-freeing self-transfer.
    pub filler_won: bool,
    /// The receipt's status: the call succeeded.
    pub succeeded: bool,
}

/// What becomes of a mined transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Finality {
    /// Not `confirmations` deep yet.
    NotDeep,
    /// A reorg took it: back to `sent`, and broadcast again.
    Reorged,
    Confirmed,
    /// Mined and reverted: its reason is replayed.
    Reverted,
    /// The self-transfer freed its nonce: the call never ran.
    Freed,
}

/// Whether a mined transaction is final, the head being `head`.
pub fn finality(mined: &MinedView, head: i64, confirmations: i64) -> Finality {
    if !mined.still_there {
        Finality::Reorged
    } else if head - mined.block < confirmations {
        Finality::NotDeep
    } else if mined.filler_won {
        Finality::Freed
    } else if mined.succeeded {
        Finality::Confirmed
    } else {
        Finality::Reverted
    }
}

#[cfg(test)]
mod tests;
