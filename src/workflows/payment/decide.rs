//! A payment's decisions, pure: from its state, its data and what the executor observed of the
//! chain, what comes next and what to write.
use alloy::primitives::U256;
use serde_json::json;

use super::{BatchOutcome, PaymentData, PaymentState, custom, front_run};
use crate::chain::authorization::AuthorizationFate;
use crate::chain::transfer::TransferCheck;
use crate::chain::{ChainError, Submitted, TxOutcome};
use crate::engine::{Step, StepError, Transition};
use crate::workflows::chain_step::{Answer, Seen, answer, on_error, sent_detail};
use crate::workflows::writes::{Plan, Write};

/// What the executor asked the chain for the state.
#[derive(Debug)]
pub enum Observed {
    /// The state needs nothing of the chain.
    Nothing,
    /// `pending`: the settlement's simulation, the head being `head` just before; `batched`
    /// when settlements go through the settler in batches.
    Simulation {
        head: u64,
        result: Result<(), ChainError>,
        batched: bool,
    },
    /// A custom payment: the payer's own transfer, which must be `confirmations` deep.
    Transfer {
        check: Result<TransferCheck, ChainError>,
        confirmations: u64,
    },
    /// `processing`: the submit's answer.
    Submit(Result<Submitted, ChainError>),
    /// `sent`: where the settlement is, when not confirmed.
    Outcome(TxOutcome),
    /// `sent`: the settlement was confirmed in `hash` at `block`, and its receipt moved this.
    Settled {
        hash: String,
        block: i64,
        check: Result<TransferCheck, ChainError>,
    },
    /// `sent` in a settlement batch: what the batch reported, `None` until it is final.
    Batched(Option<BatchOutcome>),
    /// `checking`: what became of the authorization.
    Fate {
        fate: Result<AuthorizationFate, ChainError>,
        confirmations: u64,
    },
}

pub type PaymentPlan = Plan<PaymentState, PaymentData>;

/// What a payment does next. A settlement that reverts (simulated or mined) or cannot land
/// goes to `checking` (someone else may have used the authorization first); the chain's other
/// refusals follow `chain_step::on_error`.
pub fn decide(
    state: PaymentState,
    mut data: PaymentData,
    seen: Seen<Observed>,
) -> Result<PaymentPlan, StepError> {
    let Seen {
        workflow,
        retry,
        observed,
    } = seen;
    match (state, observed) {
        (
            PaymentState::Pending,
            Observed::Simulation {
                head,
                result,
                batched,
            },
        ) => {
            data.checked_block = Some(head);
            Ok(match answer(result, retry)? {
                // Parked until the settlement batcher takes it into a batch.
                Answer::Goes(_) if batched => {
                    Step::new(Transition::Wait(PaymentState::Processing), data)
                        .with_detail(json!({ "settlement": "batched" }))
                }
                Answer::Goes(_) => Step::next(PaymentState::Processing, data),
                Answer::Reverts(reason) => {
                    front_run::unlanded(data, format!("the settlement would revert: {reason}"))
                }
            })
        }
        (
            PaymentState::Pending | PaymentState::Processing,
            Observed::Transfer {
                check,
                confirmations,
            },
        ) => {
            let check = check.map_err(|e| on_error(e, retry))?;
            transferred(workflow, data, check, confirmations)
        }
        (PaymentState::Processing, Observed::Submit(submitted)) => {
            Ok(match answer(submitted, retry)? {
                Answer::Goes(submitted) => {
                    data.tx_hash = submitted.hash.clone();
                    data.tx_id = Some(submitted.id);
                    Step::new(Transition::Wait(PaymentState::Sent), data)
                        .with_detail(sent_detail(&submitted))
                }
                Answer::Reverts(reason) => {
                    front_run::unlanded(data, format!("the settlement would revert: {reason}"))
                }
            })
        }
        (PaymentState::Sent, Observed::Outcome(outcome)) => match outcome {
            TxOutcome::Pending { .. } => Ok(Step::new(Transition::Wait(state), data)),
            TxOutcome::Reverted { reason, .. } => Ok(front_run::unlanded(
                data,
                format!("settlement reverted: {reason}"),
            )),
            TxOutcome::Failed { reason } => Ok(front_run::unlanded(
                data,
                format!("settlement could not land: {reason}"),
            )),
            confirmed @ TxOutcome::Confirmed { .. } => Err(StepError::Permanent(format!(
                "a confirmed settlement needs its receipt read: {confirmed:?}"
            ))),
        },
        (PaymentState::Sent, Observed::Batched(outcome)) => Ok(match outcome {
            // Woken before its batch is final (an operator, a sweep): it waits for the batch.
            None => Step::new(Transition::Wait(state), data),
            Some(BatchOutcome::Settled { hash, block }) => paid(workflow, data, hash, block),
            Some(BatchOutcome::Failed { reason }) => front_run::unlanded(data, reason),
        }),
        (PaymentState::Sent, Observed::Settled { hash, block, check }) => {
            let check = check.map_err(|e| on_error(e, retry))?;
            Ok(settled(workflow, data, hash, block, check))
        }
        (
            PaymentState::Checking,
            Observed::Fate {
                fate,
                confirmations,
            },
        ) => {
            let fate = fate.map_err(|e| on_error(e, retry))?;
            front_run::checked(workflow, data, &fate, confirmations, retry.now_ms)
        }
        (PaymentState::Confirmed, _) => Ok(Step::complete(state, data)),
        (PaymentState::Failed, _) => Err(StepError::Permanent(
            "a failed payment is not settled again; the payer signs a new authorization".into(),
        )),
        (state, observed) => Err(StepError::Permanent(format!(
            "a payment in {state:?} cannot act on {observed:?}"
        ))),
    }
}

/// The settlement is confirmed: its receipt must hold the asset's `Transfer` of the amount
/// from the payer to us (a token that returns without moving funds must not pay).
fn settled(
    workflow: uuid::Uuid,
    data: PaymentData,
    hash: String,
    block: i64,
    check: TransferCheck,
) -> PaymentPlan {
    let paid_us = match &check {
        TransferCheck::Mined(t) => t.paid(data.payer, data.pay_to),
        _ => U256::ZERO,
    };
    if paid_us >= data.amount {
        paid(workflow, data, hash, block)
    } else {
        let reason = format!("the settlement {hash} did not transfer the amount: {check:?}");
        fail(data, reason)
    }
}

/// A custom payment: the payer's own transfer, `confirmations` deep, pays the amount to us
/// (checked again here: the receipt may have changed in a reorg since it was accepted).
fn transferred(
    workflow: uuid::Uuid,
    data: PaymentData,
    check: TransferCheck,
    confirmations: u64,
) -> Result<PaymentPlan, StepError> {
    let tx = data
        .transfer_tx
        .ok_or_else(|| StepError::Permanent("custom payment without a transfer".into()))?;
    match custom::verdict(check, data.pay_to, data.amount, confirmations) {
        Ok(p) => Ok(paid(workflow, data, format!("{tx:#x}"), p.block as i64)),
        // Accepted once deep enough: a reorg since then undid it.
        Err(e @ (custom::Refusal::NotFound | custom::Refusal::NotConfirmed { .. })) => {
            Err(StepError::Transient(format!("transfer {tx:#x}: {e}")))
        }
        Err(e) => Ok(fail(data, format!("transfer {tx:#x}: {e}"))),
    }
}

/// Completes the payment, records its settlement on its receipt and starts its children, in
/// one checkpoint.
pub(super) fn paid(
    workflow: uuid::Uuid,
    mut data: PaymentData,
    hash: String,
    block: i64,
) -> PaymentPlan {
    data.tx_hash = Some(hash.clone());
    data.block = Some(block);
    let detail = json!({ "tx_hash": hash, "block": block });
    Step::complete(PaymentState::Confirmed, data)
        .with_effect(Write::RecordSettlement {
            payment: workflow,
            hash,
            block,
        })
        .with_effect(Write::StartChildren { payment: workflow })
        .with_detail(detail)
}

/// Fails the payment. The engine cancels its children in the same checkpoint, as it does
/// whenever a payment ends without completing (`store::held`).
pub(super) fn fail(data: PaymentData, reason: String) -> PaymentPlan {
    Step::new(Transition::Fail(PaymentState::Failed, reason), data)
}

#[cfg(test)]
pub(super) mod tests;
