//! Every decision of a batch, one row per state and answer, the error policy included.
use alloy::primitives::{Address, B256};

use super::*;
use crate::chain::budget::OverBudget;
use crate::chain::error::Redacted;
use crate::workflows::chain_step::Retry;
use crate::workflows::mint_batch::BatchItem;

const BATCH: Uuid = Uuid::from_u128(1);
const RETRY: Retry = Retry {
    now_ms: 1_000,
    local_fault_wait_ms: 60_000,
};

fn item(n: u8) -> BatchItem {
    BatchItem {
        mint: Uuid::from_u128(100 + u128::from(n)),
        to: Address::repeat_byte(n),
        id: B256::repeat_byte(n),
    }
}

fn data(items: u8) -> BatchData {
    BatchData::new(Address::repeat_byte(0xAA), (0..items).map(item).collect())
}

fn sent(items: u8) -> BatchData {
    BatchData {
        tx_id: Some(Uuid::from_u128(5)),
        tx_hash: Some("0xabc".into()),
        ..data(items)
    }
}

fn seen(observed: Observed) -> Seen<Observed> {
    Seen {
        workflow: BATCH,
        retry: RETRY,
        observed,
    }
}

fn ids(items: &[u8]) -> Vec<Uuid> {
    items.iter().map(|&n| item(n).mint).collect()
}

fn moved(items: &[u8], to: MintState, event: &'static str, patch: serde_json::Value) -> MintMove {
    MintMove {
        batch: BATCH,
        mints: ids(items),
        to,
        event,
        patch,
        tx_hash: None,
        error: None,
    }
}

fn deferred(until_ms: i64) -> impl Fn(&Result<BatchPlan, StepError>) -> bool {
    move |got| matches!(got, Err(StepError::Deferred { until_ms: u, .. }) if *u == until_ms)
}

/// A case: its name, the state, the data, what was observed, and the decision.
type Row = (
    &'static str,
    BatchState,
    BatchData,
    Observed,
    Result<BatchPlan, StepError>,
);

/// What a decision must satisfy.
type Expected = Box<dyn Fn(&Result<BatchPlan, StepError>) -> bool>;

#[test]
fn every_state_and_answer() {
    use BatchState::*;
    let submitted = Submitted {
        id: Uuid::from_u128(5),
        hash: Some("0xabc".into()),
    };
    let mut confirmed = sent(2);
    confirmed.block = Some(9);
    confirmed.gas_used = Some(21_000);
    let resent = BatchData {
        generation: 1,
        resends: 1,
        tx_id: None,
        ..sent(2)
    };
    let gave_up = BatchData {
        resends: MAX_RESENDS + 1,
        ..sent(2)
    };
    let table: Vec<Row> = vec![
        (
            "nothing left to send: fails",
            Pending,
            data(0),
            Observed::Nothing,
            Ok(Step::new(
                Transition::Fail(
                    Failed,
                    "every mint of the batch was dropped or sent back to the queue".into(),
                ),
                data(0),
            )),
        ),
        (
            "submitted: its mints are sent",
            Pending,
            data(2),
            Observed::Submit(Ok(submitted.clone())),
            Ok(Step::new(Transition::Wait(Sent), sent(2))
                .with_effect(Write::MoveMints(MintMove {
                    tx_hash: Some("0xabc".into()),
                    ..moved(
                        &[0, 1],
                        MintState::Sent,
                        "sent",
                        json!({ "tx_hash": "0xabc" }),
                    )
                }))
                .with_detail(sent_detail(&submitted))),
        ),
        (
            "the node is down: transient (a batch retries for ever)",
            Pending,
            data(2),
            Observed::Submit(Err(ChainError::Rpc(Redacted::RpcUnavailable))),
            Err(StepError::Transient(
                ChainError::Rpc(Redacted::RpcUnavailable).to_string(),
            )),
        ),
        (
            "a revert that was not bisected cannot be acted on",
            Pending,
            data(2),
            Observed::Submit(Err(ChainError::Reverted("Nope()".into()))),
            Err(StepError::Permanent(
                "the batch reverts (Nope()) and was not bisected".into(),
            )),
        ),
        (
            "not final: waits",
            Sent,
            sent(2),
            Observed::Outcome(TxOutcome::Pending {
                status: "sent".into(),
            }),
            Ok(Step::new(Transition::Wait(Sent), sent(2))),
        ),
        (
            "confirmed: its mints are confirmed, even those cancelled late",
            Sent,
            sent(2),
            Observed::Outcome(TxOutcome::Confirmed {
                hash: "0xabc".into(),
                block: 9,
                gas_used: 21_000,
                contract_address: None,
            }),
            Ok(Step::complete(Confirmed, confirmed)
                .with_effect(Write::MoveMints(MintMove {
                    tx_hash: Some("0xabc".into()),
                    ..moved(
                        &[0, 1],
                        MintState::Confirmed,
                        "confirmed",
                        json!({ "tx_hash": "0xabc", "block": 9 }),
                    )
                }))
                .with_detail(json!({ "tx_hash": "0xabc", "block": 9, "gas_used": 21_000 }))),
        ),
        (
            "reverted on chain: sent again under a new generation",
            Sent,
            sent(2),
            Observed::Outcome(TxOutcome::Reverted {
                hash: "0xabc".into(),
                reason: "Nope()".into(),
            }),
            Ok(Step::next(Pending, resent.clone())
                .with_detail(json!({ "resend": "reverted on chain: Nope()" }))),
        ),
        (
            "could not land, the last time: its mints fail",
            Sent,
            BatchData {
                resends: MAX_RESENDS,
                ..sent(2)
            },
            Observed::Outcome(TxOutcome::Failed {
                reason: "nonce taken".into(),
            }),
            Ok(Step::new(
                Transition::Fail(
                    Failed,
                    "sent 5 times without success; last: could not land: nonce taken".into(),
                ),
                gave_up,
            )
            .with_effect(Write::MoveMints(MintMove {
                error: Some(format!(
                    "batch {BATCH} gave up: could not land: nonce taken"
                )),
                ..moved(
                    &[0, 1],
                    MintState::Failed,
                    "failed",
                    json!({ "failure": MintFailure::BatchGaveUp }),
                )
            }))),
        ),
        (
            "done",
            Confirmed,
            sent(2),
            Observed::Nothing,
            Ok(Step::complete(Confirmed, sent(2))),
        ),
        (
            "a failed batch is not sent again",
            Failed,
            data(2),
            Observed::Nothing,
            Err(StepError::Permanent(
                "a failed batch is not sent again; retry its mints instead".into(),
            )),
        ),
        (
            "a state without what it needs observed",
            Sent,
            sent(2),
            Observed::Nothing,
            Err(StepError::Permanent(
                "a batch in Sent cannot act on Nothing".into(),
            )),
        ),
    ];
    for (case, state, data, observed, expected) in table {
        assert_eq!(decide(state, data, seen(observed)), expected, "{case}");
    }
}

#[test]
fn a_bisected_batch_fails_the_bad_items_requeues_those_over_the_cap_and_keeps_the_rest() {
    let found = Isolated {
        keep: vec![0, 2],
        bad: vec![(1, "Bad()".into())],
        over_cap: vec![3, 4],
    };
    let plan = decide(
        BatchState::Pending,
        data(5),
        seen(Observed::Bisected {
            reason: "Bad()".into(),
            found,
        }),
    )
    .unwrap();
    assert_eq!(plan.transition, Transition::Next(BatchState::Pending));
    assert_eq!(plan.data.items, vec![item(0), item(2)]);
    assert_eq!(
        plan.data.generation, 1,
        "a new item set is a new pipeline key"
    );
    assert_eq!(
        plan.data.dropped,
        vec![DroppedItem {
            mint: item(1).mint,
            reason: "Bad()".into()
        }]
    );
    let failed = Write::MoveMints(MintMove {
        error: Some("the mint reverts: Bad()".into()),
        ..moved(
            &[1],
            MintState::Failed,
            "failed",
            json!({ "failure": MintFailure::Reverts }),
        )
    });
    let requeued = Write::MoveMints(moved(
        &[3, 4],
        MintState::Pending,
        "requeued",
        json!({ "batch_id": null, "tx_hash": null }),
    ));
    assert_eq!(plan.effects, vec![failed, requeued]);
    assert_eq!(
        plan.detail,
        Some(json!({ "reverted": "Bad()", "dropped": 1, "requeued": 2, "kept": 2 }))
    );
}

#[test]
fn the_chain_s_refusals_follow_the_one_policy() {
    let over_budget = OverBudget {
        spent: 10,
        needed: 1,
        budget: 10,
        retry_at_ms: 5_000,
    };
    let table: Vec<(&str, ChainError, Expected)> = vec![
        (
            "a signing error waits for the key, never fails the batch",
            ChainError::Signing("no key".into()),
            Box::new(deferred(61_000)),
        ),
        (
            "over budget: waits for the budget",
            ChainError::OverBudget(over_budget),
            Box::new(deferred(5_000)),
        ),
        (
            "backpressure: waits for room",
            ChainError::Backpressure(3),
            Box::new(|got| matches!(got, Err(StepError::Deferred { .. }))),
        ),
    ];
    for (case, error, expected) in table {
        let got = decide(
            BatchState::Pending,
            data(1),
            seen(Observed::Submit(Err(error))),
        );
        assert!(expected(&got), "{case}: {got:?}");
    }
}
