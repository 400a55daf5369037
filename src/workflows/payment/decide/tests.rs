//! Every decision of a payment, one row per state and answer, the error policy included.
use alloy::primitives::{Address, B256, Bytes};
use uuid::Uuid;

use super::*;
use crate::chain::authorization::{Spending, Spent};
use crate::chain::budget::OverBudget;
use crate::chain::error::Redacted;
use crate::chain::transfer::{Transfer, Transfers};
use crate::workflows::chain_step::{PIPELINE_FULL_WAIT_MS, Retry};
use crate::workflows::payment::{PaymentKind, SignedAuthorization};

pub(in crate::workflows::payment) const PAYER: Address = Address::repeat_byte(1);
pub(in crate::workflows::payment) const US: Address = Address::repeat_byte(2);
pub(in crate::workflows::payment) const TX: B256 = B256::repeat_byte(9);
const ID: Uuid = Uuid::from_u128(77);
const RETRY: Retry = Retry {
    now_ms: 1_000_000,
    local_fault_wait_ms: 60_000,
};

/// An accepted gasless payment, nothing sent yet.
pub(in crate::workflows::payment) fn data() -> PaymentData {
    let asset = Address::repeat_byte(0xAA);
    PaymentData {
        authorization: Some(SignedAuthorization {
            valid_after: U256::ZERO,
            valid_before: U256::from(2_000u64),
            nonce: B256::repeat_byte(7),
            signature: Bytes::new(),
        }),
        ..PaymentData::new(PaymentKind::Gasless, asset, PAYER, US, U256::from(100))
    }
}

fn custom() -> PaymentData {
    PaymentData {
        kind: PaymentKind::Custom,
        authorization: None,
        transfer_tx: Some(TX),
        ..data()
    }
}

fn seen(observed: Observed) -> Seen<Observed> {
    Seen {
        workflow: ID,
        retry: RETRY,
        observed,
    }
}

/// A transaction that moved `value` from the payer to us, sent by `sender`, mined at block 42.
fn moved(sender: Address, value: u64) -> TransferCheck {
    TransferCheck::Mined(Transfers {
        sender,
        block: 42,
        logs: vec![Transfer {
            from: PAYER,
            to: US,
            value: U256::from(value),
        }],
    })
}

fn paid_in(data: PaymentData, hash: &str, block: i64) -> Result<PaymentPlan, StepError> {
    Ok(paid(ID, data, hash.into(), block))
}

fn checking(data: PaymentData, why: &str) -> Result<PaymentPlan, StepError> {
    Ok(front_run::unlanded(data, why.into()))
}

fn transient(e: ChainError) -> Result<PaymentPlan, StepError> {
    Err(StepError::Transient(e.to_string()))
}

fn rpc_down() -> ChainError {
    ChainError::Rpc(Redacted::RpcUnavailable)
}

#[test]
fn a_paid_payment_confirms_records_its_receipt_and_starts_its_children() {
    let plan = paid(ID, data(), "0xabc".into(), 7);
    assert_eq!(
        plan.transition,
        Transition::Complete(PaymentState::Confirmed)
    );
    assert_eq!(
        plan.effects,
        vec![
            Write::RecordSettlement {
                payment: ID,
                hash: "0xabc".into(),
                block: 7
            },
            Write::StartChildren { payment: ID },
        ]
    );
    assert_eq!(
        (plan.data.tx_hash.as_deref(), plan.data.block),
        (Some("0xabc"), Some(7))
    );
}

/// A payment a settlement batch carries, with what the batch reported.
fn in_batch(outcome: Option<BatchOutcome>) -> PaymentData {
    PaymentData {
        settlement_batch: Some(Uuid::from_u128(8)),
        batch_outcome: outcome,
        ..data()
    }
}

fn settled_in_batch() -> BatchOutcome {
    BatchOutcome::Settled {
        hash: "0xbatch".into(),
        block: 9,
    }
}

fn failed_in_batch() -> BatchOutcome {
    BatchOutcome::Failed {
        reason: "AuthorizationExpired()".into(),
    }
}

/// A case: its name, the state, the data, what was observed, and the decision.
type Row = (
    &'static str,
    PaymentState,
    PaymentData,
    Observed,
    Result<PaymentPlan, StepError>,
);

#[test]
fn every_state_and_answer() {
    use PaymentState::*;
    let simulated = PaymentData {
        checked_block: Some(500),
        ..data()
    };
    let submitted = Submitted {
        id: Uuid::from_u128(5),
        hash: Some("0xabc".into()),
    };
    let sent = PaymentData {
        tx_id: Some(submitted.id),
        tx_hash: submitted.hash.clone(),
        ..data()
    };
    let transfer_hash = format!("{TX:#x}");
    let over_budget = OverBudget {
        spent: 10,
        needed: 1,
        budget: 10,
        retry_at_ms: 5_000,
    };
    let table: Vec<Row> = vec![
        (
            "the settlement simulates: submit it",
            Pending,
            data(),
            Observed::Simulation {
                head: 500,
                result: Ok(()),
                batched: false,
            },
            Ok(Step::next(Processing, simulated.clone())),
        ),
        (
            "the settlement simulates and settlements are batched: park for the batcher",
            Pending,
            data(),
            Observed::Simulation {
                head: 500,
                result: Ok(()),
                batched: true,
            },
            Ok(Step::new(Transition::Wait(Processing), simulated.clone())
                .with_detail(serde_json::json!({ "settlement": "batched" }))),
        ),
        (
            "in a batch not final yet: waits for it",
            Sent,
            in_batch(None),
            Observed::Batched(None),
            Ok(Step::new(Transition::Wait(Sent), in_batch(None))),
        ),
        (
            "its batch settled it: paid with the batch's hash",
            Sent,
            in_batch(Some(settled_in_batch())),
            Observed::Batched(Some(settled_in_batch())),
            paid_in(in_batch(Some(settled_in_batch())), "0xbatch", 9),
        ),
        (
            "its batch failed it: checks who spent the authorization",
            Sent,
            in_batch(Some(failed_in_batch())),
            Observed::Batched(Some(failed_in_batch())),
            checking(in_batch(Some(failed_in_batch())), "AuthorizationExpired()"),
        ),
        (
            "the settlement would revert: check who spent the authorization",
            Pending,
            data(),
            Observed::Simulation {
                head: 500,
                result: Err(ChainError::Reverted("Used()".into())),
                batched: false,
            },
            checking(simulated.clone(), "the settlement would revert: Used()"),
        ),
        (
            "the node is down while simulating: transient",
            Pending,
            data(),
            Observed::Simulation {
                head: 500,
                result: Err(rpc_down()),
                batched: true,
            },
            transient(rpc_down()),
        ),
        (
            "a custom transfer that pays us: paid",
            Pending,
            custom(),
            Observed::Transfer {
                check: Ok(moved(PAYER, 100)),
                confirmations: 1,
            },
            paid_in(custom(), &transfer_hash, 42),
        ),
        (
            "a custom transfer a reorg took: asked again",
            Processing,
            custom(),
            Observed::Transfer {
                check: Ok(TransferCheck::NotMined),
                confirmations: 1,
            },
            Err(StepError::Transient(format!(
                "transfer {transfer_hash}: no mined transaction with this hash"
            ))),
        ),
        (
            "a custom transfer that reverted: fails",
            Pending,
            custom(),
            Observed::Transfer {
                check: Ok(TransferCheck::Reverted),
                confirmations: 1,
            },
            Ok(fail(
                custom(),
                format!("transfer {transfer_hash}: the transaction reverted"),
            )),
        ),
        (
            "the node is down while reading the transfer: transient",
            Pending,
            custom(),
            Observed::Transfer {
                check: Err(rpc_down()),
                confirmations: 1,
            },
            transient(rpc_down()),
        ),
        (
            "submitted: waits for the sender",
            Processing,
            data(),
            Observed::Submit(Ok(submitted.clone())),
            Ok(Step::new(Transition::Wait(Sent), sent.clone())
                .with_detail(sent_detail(&submitted))),
        ),
        (
            "the submit reverts: check who spent the authorization",
            Processing,
            data(),
            Observed::Submit(Err(ChainError::Reverted("Used()".into()))),
            checking(data(), "the settlement would revert: Used()"),
        ),
        (
            "the gas budget is reached: waits for it, counting no attempt",
            Processing,
            data(),
            Observed::Submit(Err(ChainError::OverBudget(over_budget.clone()))),
            Err(over_budget.clone().into()),
        ),
        (
            "the key cannot sign: waits for the fix, never fails the payment",
            Processing,
            data(),
            Observed::Submit(Err(ChainError::Signing("no key".into()))),
            Err(StepError::Deferred {
                reason: "signing failed: no key; a local key or configuration fault: waiting \
                         for it to be fixed"
                    .into(),
                until_ms: 1_060_000,
            }),
        ),
        (
            "every signer's pipeline is full: waits for room, counting no attempt, so a \
             sustained load never fails an accepted payment",
            Processing,
            data(),
            Observed::Submit(Err(ChainError::Backpressure(32))),
            Err(StepError::Deferred {
                reason: "32 transactions are in flight for this signer; try again shortly; \
                         waiting for room in the transaction pipeline"
                    .into(),
                until_ms: 1_000_000 + PIPELINE_FULL_WAIT_MS,
            }),
        ),
        (
            "not final: waits",
            Sent,
            sent.clone(),
            Observed::Outcome(TxOutcome::Pending {
                status: "sent".into(),
            }),
            Ok(Step::new(Transition::Wait(Sent), sent.clone())),
        ),
        (
            "reverted on chain: check who spent the authorization",
            Sent,
            sent.clone(),
            Observed::Outcome(TxOutcome::Reverted {
                hash: "0xabc".into(),
                reason: "Used()".into(),
            }),
            checking(sent.clone(), "settlement reverted: Used()"),
        ),
        (
            "could not land: check who spent the authorization",
            Sent,
            sent.clone(),
            Observed::Outcome(TxOutcome::Failed {
                reason: "nonce taken".into(),
            }),
            checking(sent.clone(), "settlement could not land: nonce taken"),
        ),
        (
            "confirmed and paid us: paid",
            Sent,
            sent.clone(),
            Observed::Settled {
                hash: "0xabc".into(),
                block: 42,
                check: Ok(moved(US, 100)),
            },
            paid_in(sent.clone(), "0xabc", 42),
        ),
        (
            "confirmed but moved less: fails",
            Sent,
            sent.clone(),
            Observed::Settled {
                hash: "0xabc".into(),
                block: 42,
                check: Ok(moved(US, 99)),
            },
            Ok(fail(
                sent.clone(),
                format!(
                    "the settlement 0xabc did not transfer the amount: {:?}",
                    moved(US, 99)
                ),
            )),
        ),
        (
            "the authorization paid us through another transaction: paid",
            Checking,
            data(),
            Observed::Fate {
                fate: Ok(AuthorizationFate::Spent(Spending {
                    how: Spent::Used {
                        transfer: Some(Transfer {
                            from: PAYER,
                            to: US,
                            value: U256::from(100),
                        }),
                    },
                    tx: TX,
                    block: 42,
                    depth: 3,
                })),
                confirmations: 1,
            },
            paid_in(data(), &transfer_hash, 42),
        ),
        (
            "the authorization expired unused: fails",
            Checking,
            data(),
            Observed::Fate {
                fate: Ok(AuthorizationFate::Unused { head_time: 2_000 }),
                confirmations: 1,
            },
            Ok(fail(data(), "the settlement did not land".into())),
        ),
        (
            "the node is down while checking: transient",
            Checking,
            data(),
            Observed::Fate {
                fate: Err(rpc_down()),
                confirmations: 1,
            },
            transient(rpc_down()),
        ),
        (
            "done",
            Confirmed,
            data(),
            Observed::Nothing,
            Ok(Step::complete(Confirmed, data())),
        ),
        (
            "a failed payment is not settled again",
            Failed,
            data(),
            Observed::Nothing,
            Err(StepError::Permanent(
                "a failed payment is not settled again; the payer signs a new authorization".into(),
            )),
        ),
        (
            "a state without what it needs observed",
            Sent,
            data(),
            Observed::Nothing,
            Err(StepError::Permanent(
                "a payment in Sent cannot act on Nothing".into(),
            )),
        ),
    ];
    for (case, state, data, observed, expected) in table {
        assert_eq!(decide(state, data, seen(observed)), expected, "{case}");
    }
}

#[test]
fn an_authorization_still_usable_keeps_the_payment_checking() {
    let fate = AuthorizationFate::Unused { head_time: 1_000 };
    let got = decide(
        PaymentState::Checking,
        data(),
        seen(Observed::Fate {
            fate: Ok(fate),
            confirmations: 1,
        }),
    );
    // Valid until 2,000 s: looked at again at the longest wait, ten minutes from now.
    assert!(
        matches!(
            got,
            Err(StepError::Deferred {
                until_ms: 1_600_000,
                ..
            })
        ),
        "{got:?}"
    );
}
