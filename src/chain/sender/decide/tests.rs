//! Every decision of the sender about one open transaction, one row per situation.
use super::*;

const AFTER: BumpAfter = BumpAfter {
    ms: 20_000,
    blocks: 3,
};
const NOW: i64 = 1_000_000;

/// The signer's lowest unmined nonce is 5, lowest since block 100 and `NOW`.
fn head() -> Head {
    Head {
        number: 100,
        gas_limit: 30_000_000,
        used: 5,
        lowest: Lowest {
            nonce: 5,
            since_block: 100,
            since_ms: NOW,
        },
    }
}

/// Nonce 5, sent at block 100 just now: not stuck.
fn sent() -> Tracked {
    Tracked {
        stage: Stage::Sent,
        nonce: 5,
        gas_limit: 100_000,
        refused: false,
        nonce_taken_reads: 0,
        newest: Newest {
            created_at_ms: NOW,
            broadcast_block: Some(100),
        },
        newest_broadcast: true,
        newest_is_filler: false,
    }
}

/// Waiting for long enough to be bumped (`AFTER.blocks` blocks).
fn stuck() -> Tracked {
    Tracked {
        newest: Newest {
            created_at_ms: NOW,
            broadcast_block: Some(97),
        },
        ..sent()
    }
}

fn seen(receipt: Option<bool>, in_pool: Option<bool>) -> Seen {
    Seen {
        head: Head {
            // The lowest nonce has been the lowest for a while: only the attempt's own wait
            // counts.
            lowest: Lowest {
                nonce: 5,
                since_block: 90,
                since_ms: NOW - 30_000,
            },
            ..head()
        },
        now_ms: NOW,
        receipt,
        in_pool,
    }
}

fn act(actions: &[Action]) -> Next {
    Next::Do(actions.to_vec())
}

#[test]
fn every_situation_of_an_open_transaction() {
    let no_receipt = seen(Some(false), None);
    let table: Vec<(&str, Tracked, Seen, Next)> = vec![
        (
            "mined: check its depth",
            Tracked {
                stage: Stage::Mined,
                ..sent()
            },
            seen(None, None),
            act(&[Action::Confirm]),
        ),
        (
            "signed, never broadcast: broadcast, nothing asked",
            Tracked {
                stage: Stage::Signed,
                newest_broadcast: false,
                ..sent()
            },
            seen(None, None),
            act(&[Action::Broadcast]),
        ),
        (
            "sent: first ask for receipts",
            sent(),
            seen(None, None),
            Next::Ask(Question::Receipts),
        ),
        (
            "an attempt has a receipt: mined",
            sent(),
            seen(Some(true), None),
            act(&[Action::MarkMined]),
        ),
        (
            "the nonce reads as used, no receipt: note it",
            Tracked { nonce: 4, ..sent() },
            no_receipt,
            act(&[Action::NonceUsed]),
        ),
        (
            "waiting, broadcast: ask the pool",
            sent(),
            no_receipt,
            Next::Ask(Question::Pool),
        ),
        (
            "the node still has it: nothing to do",
            sent(),
            seen(Some(false), Some(true)),
            act(&[]),
        ),
        (
            "dropped from the pool: broadcast again",
            sent(),
            seen(Some(false), Some(false)),
            act(&[Action::Broadcast]),
        ),
        (
            "an earlier nonce-taken read is forgotten",
            Tracked {
                nonce_taken_reads: 2,
                ..sent()
            },
            seen(Some(false), Some(true)),
            act(&[Action::ForgetNonceTaken]),
        ),
        (
            "never broadcast after a crash: broadcast, the pool not asked",
            Tracked {
                newest_broadcast: false,
                ..sent()
            },
            no_receipt,
            act(&[Action::Broadcast]),
        ),
        (
            "stuck at the lowest nonce: replace it with higher fees",
            stuck(),
            no_receipt,
            act(&[Action::Replace { free: false }]),
        ),
        (
            "stuck but not the lowest nonce: no bump",
            Tracked {
                nonce: 6,
                ..stuck()
            },
            seen(Some(false), Some(true)),
            act(&[]),
        ),
        (
            "stuck and bigger than a block: refuse it and free the nonce",
            Tracked {
                gas_limit: 40_000_000,
                ..stuck()
            },
            no_receipt,
            act(&[
                Action::Refuse("gas limit 40000000 exceeds the block gas limit 30000000".into()),
                Action::Replace { free: true },
            ]),
        ),
        (
            "stuck and refused by the node: free the nonce",
            Tracked {
                refused: true,
                ..stuck()
            },
            no_receipt,
            act(&[Action::Replace { free: true }]),
        ),
        (
            "stuck filler: bump the filler's fees",
            Tracked {
                refused: true,
                newest_is_filler: true,
                ..stuck()
            },
            no_receipt,
            act(&[Action::Replace { free: false }]),
        ),
        (
            "refused, not stuck long enough: wait",
            Tracked {
                refused: true,
                ..sent()
            },
            no_receipt,
            act(&[]),
        ),
        (
            "a refused transaction's filler not stuck: ask the pool",
            Tracked {
                refused: true,
                newest_is_filler: true,
                ..sent()
            },
            no_receipt,
            Next::Ask(Question::Pool),
        ),
        (
            "stuck by time: replace",
            Tracked {
                newest: Newest {
                    created_at_ms: NOW - 20_001,
                    broadcast_block: Some(100),
                },
                ..sent()
            },
            no_receipt,
            act(&[Action::Replace { free: false }]),
        ),
    ];
    for (case, tx, seen, expected) in table {
        assert_eq!(next_action(&tx, &seen, AFTER), expected, "{case}");
    }
}

#[test]
fn the_stored_status_names_the_stage() {
    for (status, stage) in [
        (TxStatus::Signed, Stage::Signed),
        (TxStatus::Sent, Stage::Sent),
        (TxStatus::Mined, Stage::Mined),
    ] {
        assert_eq!(Stage::of(Some(status)), stage);
    }
}

#[test]
fn a_mined_transaction_is_final_once_deep_and_still_there() {
    let mined = MinedView {
        block: 100,
        still_there: true,
        filler_won: false,
        succeeded: true,
    };
    let table = [
        (
            "a reorg took it",
            MinedView {
                still_there: false,
                ..mined
            },
            110,
            Finality::Reorged,
        ),
        ("not deep enough", mined, 101, Finality::NotDeep),
        ("deep enough", mined, 102, Finality::Confirmed),
        (
            "reverted",
            MinedView {
                succeeded: false,
                ..mined
            },
            102,
            Finality::Reverted,
        ),
        (
            "its nonce was freed",
            MinedView {
                filler_won: true,
                ..mined
            },
            102,
            Finality::Freed,
        ),
    ];
    for (case, mined, head, expected) in table {
        assert_eq!(finality(&mined, head, 2), expected, "{case}");
    }
}
