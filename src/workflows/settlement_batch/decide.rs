//! A settlement batch's decisions, pure: from its state, its data and what the executor
//! observed of the chain, what comes next and what each payment is told.
use std::collections::{BTreeMap, HashMap};

use serde_json::json;
use uuid::Uuid;

use super::{SettlementData, SettlementState};
use crate::chain::settler::ItemEvent;
use crate::chain::{ChainError, Submitted, TxOutcome};
use crate::engine::{Step, StepError, Transition};
use crate::workflows::chain_step::{Answer, Seen, answer, sent_detail};
use crate::workflows::payment::BatchOutcome;
use crate::workflows::writes::{Plan, Write};

/// What the executor asked the chain for the state.
#[derive(Debug)]
pub enum Observed {
    Nothing,
    /// `pending`: the submit's answer.
    Submit(Result<Submitted, ChainError>),
    /// `sent`: where the transaction is, when not confirmed.
    Outcome(TxOutcome),
    /// `sent`: confirmed in `hash` at `block`, the settler's item events read from its receipt.
    Settled {
        hash: String,
        block: i64,
        gas_used: i64,
        events: Vec<ItemEvent>,
    },
}

type SettlementPlan = Plan<SettlementState, SettlementData>;

/// What a settlement batch does next.
pub fn decide(
    state: SettlementState,
    mut data: SettlementData,
    seen: Seen<Observed>,
) -> Result<SettlementPlan, StepError> {
    let Seen {
        workflow,
        retry,
        observed,
    } = seen;
    match (state, observed) {
        (SettlementState::Pending, Observed::Submit(submitted)) => {
            Ok(match answer(submitted, retry)? {
                Answer::Goes(submitted) => {
                    data.tx_id = Some(submitted.id);
                    data.tx_hash = submitted.hash.clone();
                    Step::new(Transition::Wait(SettlementState::Sent), data)
                        .with_detail(sent_detail(&submitted))
                }
                Answer::Reverts(reason) => unsettled(
                    workflow,
                    data,
                    format!("the settlement would revert: {reason}"),
                ),
            })
        }
        (SettlementState::Sent, Observed::Outcome(outcome)) => Ok(match outcome {
            TxOutcome::Pending { .. } => Step::new(Transition::Wait(state), data),
            TxOutcome::Reverted { reason, .. } => {
                unsettled(workflow, data, format!("settlement reverted: {reason}"))
            }
            TxOutcome::Failed { reason } => unsettled(
                workflow,
                data,
                format!("settlement could not land: {reason}"),
            ),
            confirmed @ TxOutcome::Confirmed { .. } => {
                return Err(StepError::Permanent(format!(
                    "a confirmed settlement needs its receipt read: {confirmed:?}"
                )));
            }
        }),
        (
            SettlementState::Sent,
            Observed::Settled {
                hash,
                block,
                gas_used,
                events,
            },
        ) => {
            let writes = outcomes(workflow, &data, &events, &hash, block);
            let settled = events.iter().filter(|e| e.result.is_ok()).count();
            data.tx_hash = Some(hash.clone());
            data.block = Some(block);
            data.gas_used = Some(gas_used);
            let detail = json!({ "tx_hash": hash, "block": block, "gas_used": gas_used,
                "items": data.items.len(), "settled": settled });
            let mut plan = Step::complete(SettlementState::Confirmed, data).with_detail(detail);
            plan.effects = writes;
            Ok(plan)
        }
        (SettlementState::Confirmed, _) => Ok(Step::complete(state, data)),
        (SettlementState::Failed, _) => Err(StepError::Permanent(
            "a failed settlement batch is not sent again; its payments went on alone".into(),
        )),
        (state, observed) => Err(StepError::Permanent(format!(
            "a settlement batch in {state:?} cannot act on {observed:?}"
        ))),
    }
}

/// Each item's outcome, as the settler's events in the receipt of `hash` say: settled, or
/// failed with the token's reason. An item with no event (not reached: the settler emits one
/// per item or reverts) is handed over as failed, and its payment's own check asks the token
/// whether the authorization was used. One write per distinct outcome.
fn outcomes(
    batch: Uuid,
    data: &SettlementData,
    events: &[ItemEvent],
    hash: &str,
    block: i64,
) -> Vec<Write> {
    let by_key: HashMap<_, _> = events
        .iter()
        .map(|e| ((e.from, e.nonce), &e.result))
        .collect();
    let mut grouped: BTreeMap<BatchOutcome, Vec<Uuid>> = BTreeMap::new();
    for item in &data.items {
        let outcome = match by_key.get(&item.key()) {
            Some(Ok(())) => BatchOutcome::Settled {
                hash: hash.to_owned(),
                block,
            },
            Some(Err(reason)) => BatchOutcome::Failed {
                reason: format!("the settlement failed in batch {hash}: {reason}"),
            },
            None => BatchOutcome::Failed {
                reason: format!("the settlement batch {hash} reported nothing for it"),
            },
        };
        grouped.entry(outcome).or_default().push(item.payment);
    }
    grouped
        .into_iter()
        .map(|(outcome, payments)| Write::HandOutcome {
            batch,
            payments,
            outcome,
        })
        .collect()
}

/// The batch did not settle, for `reason`: every payment is told so (each then checks whether
/// its authorization paid us anyway), and the batch fails.
fn unsettled(batch: Uuid, data: SettlementData, reason: String) -> SettlementPlan {
    let write = Write::HandOutcome {
        batch,
        payments: data.items.iter().map(|i| i.payment).collect(),
        outcome: BatchOutcome::Failed {
            reason: reason.clone(),
        },
    };
    Step::new(Transition::Fail(SettlementState::Failed, reason), data).with_effect(write)
}

#[cfg(test)]
mod tests;
