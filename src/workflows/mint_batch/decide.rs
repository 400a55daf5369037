//! A batch's decisions, pure: from its state, its data and what the executor observed of the
//! chain, what comes next and which mints move.
use serde_json::json;
use uuid::Uuid;

use super::{BatchData, BatchState, DroppedItem, Isolated};
use crate::chain::{ChainError, Submitted, TxOutcome};
use crate::engine::{Step, StepError, Transition};
use crate::workflows::chain_step::{Answer, Seen, answer, sent_detail};
use crate::workflows::mint::{MintFailure, MintState};
use crate::workflows::writes::{MintMove, Plan, Write};

/// Times a batch is sent again after its transaction reverted or could not land, before its
/// remaining mints fail.
pub const MAX_RESENDS: u32 = 5;

/// What the executor asked the chain for the state.
#[derive(Debug)]
pub enum Observed {
    /// The state needs nothing of the chain (or the batch has nothing left to send).
    Nothing,
    /// `pending`: the submit's answer.
    Submit(Result<Submitted, ChainError>),
    /// `pending`: the submit reverted for `reason`, and the batch's items were sorted out
    /// (`isolate`) by simulating them again.
    Bisected { reason: String, found: Isolated },
    /// `sent`: where the transaction is.
    Outcome(TxOutcome),
}

type BatchPlan = Plan<BatchState, BatchData>;

/// What a batch does next. Its mints move in its own checkpoints; the chain's refusals other
/// than a revert follow `chain_step::on_error`.
pub fn decide(
    state: BatchState,
    mut data: BatchData,
    seen: Seen<Observed>,
) -> Result<BatchPlan, StepError> {
    let Seen {
        workflow,
        retry,
        observed,
    } = seen;
    match (state, observed) {
        (BatchState::Pending, _) if data.items.is_empty() => Ok(Step::new(
            Transition::Fail(
                BatchState::Failed,
                "every mint of the batch was dropped or sent back to the queue".into(),
            ),
            data,
        )),
        (BatchState::Pending, Observed::Submit(submitted)) => match answer(submitted, retry)? {
            Answer::Goes(submitted) => {
                data.tx_id = Some(submitted.id);
                data.tx_hash = submitted.hash.clone();
                let sent = MintMove {
                    batch: workflow,
                    mints: mints(&data),
                    to: MintState::Sent,
                    event: "sent",
                    patch: json!({ "tx_hash": submitted.hash }),
                    tx_hash: submitted.hash.clone(),
                    error: None,
                };
                Ok(Step::new(Transition::Wait(BatchState::Sent), data)
                    .with_effect(Write::MoveMints(sent))
                    .with_detail(sent_detail(&submitted)))
            }
            Answer::Reverts(reason) => Err(StepError::Permanent(format!(
                "the batch reverts ({reason}) and was not bisected"
            ))),
        },
        (BatchState::Pending, Observed::Bisected { reason, found }) => {
            Ok(bisected(workflow, data, reason, found))
        }
        (BatchState::Sent, Observed::Outcome(outcome)) => Ok(followed(workflow, data, outcome)),
        (BatchState::Confirmed, _) => Ok(Step::complete(state, data)),
        (BatchState::Failed, _) => Err(StepError::Permanent(
            "a failed batch is not sent again; retry its mints instead".into(),
        )),
        (state, observed) => Err(StepError::Permanent(format!(
            "a batch in {state:?} cannot act on {observed:?}"
        ))),
    }
}

fn mints(data: &BatchData) -> Vec<Uuid> {
    data.items.iter().map(|i| i.mint).collect()
}

/// Drops the items that make the batch revert (`reason` is the whole batch's revert), sends
/// back to the queue those the supply cap has no room for, and goes back to `pending` with the
/// rest, under a new generation (and so a new pipeline key).
fn bisected(workflow: Uuid, mut data: BatchData, reason: String, found: Isolated) -> BatchPlan {
    let items = std::mem::take(&mut data.items);
    let mut writes = Vec::new();
    for (index, why) in &found.bad {
        let item = &items[*index];
        data.dropped.push(DroppedItem {
            mint: item.mint,
            reason: why.clone(),
        });
        writes.push(Write::MoveMints(MintMove {
            batch: workflow,
            mints: vec![item.mint],
            to: MintState::Failed,
            event: "failed",
            patch: json!({ "failure": MintFailure::Reverts }),
            tx_hash: None,
            error: Some(format!("the mint reverts: {why}")),
        }));
    }
    if !found.over_cap.is_empty() {
        writes.push(Write::MoveMints(MintMove {
            batch: workflow,
            mints: found.over_cap.iter().map(|&i| items[i].mint).collect(),
            to: MintState::Pending,
            event: "requeued",
            patch: json!({ "batch_id": null, "tx_hash": null }),
            tx_hash: None,
            error: None,
        }));
    }
    data.items = found.keep.iter().map(|&i| items[i].clone()).collect();
    data.generation += 1;
    let detail = json!({ "reverted": reason, "dropped": found.bad.len(),
        "requeued": found.over_cap.len(), "kept": data.items.len() });
    let mut plan = Step::next(BatchState::Pending, data).with_detail(detail);
    plan.effects = writes;
    plan
}

/// `sent`: woken when the transaction is final (or spuriously). Confirmed, its mints are;
/// otherwise the batch is sent again, up to `MAX_RESENDS` times, then its mints fail.
fn followed(workflow: Uuid, mut data: BatchData, outcome: TxOutcome) -> BatchPlan {
    let reason = match outcome {
        TxOutcome::Pending { .. } => return Step::new(Transition::Wait(BatchState::Sent), data),
        TxOutcome::Confirmed {
            hash,
            block,
            gas_used,
            ..
        } => {
            data.tx_hash = Some(hash.clone());
            data.block = Some(block);
            data.gas_used = Some(gas_used);
            // Truth wins over an operator's late cancel: a mint its batch carried is minted.
            let confirmed = MintMove {
                batch: workflow,
                mints: mints(&data),
                to: MintState::Confirmed,
                event: "confirmed",
                patch: json!({ "tx_hash": hash, "block": block }),
                tx_hash: Some(hash.clone()),
                error: None,
            };
            let detail = json!({ "tx_hash": hash, "block": block, "gas_used": gas_used });
            return Step::complete(BatchState::Confirmed, data)
                .with_effect(Write::MoveMints(confirmed))
                .with_detail(detail);
        }
        TxOutcome::Reverted { reason, .. } => format!("reverted on chain: {reason}"),
        TxOutcome::Failed { reason } => format!("could not land: {reason}"),
    };
    data.resends += 1;
    if data.resends > MAX_RESENDS {
        let failed = MintMove {
            batch: workflow,
            mints: mints(&data),
            to: MintState::Failed,
            event: "failed",
            patch: json!({ "failure": MintFailure::BatchGaveUp }),
            tx_hash: None,
            error: Some(format!("batch {workflow} gave up: {reason}")),
        };
        let why = format!("sent {MAX_RESENDS} times without success; last: {reason}");
        return Step::new(Transition::Fail(BatchState::Failed, why), data)
            .with_effect(Write::MoveMints(failed));
    }
    // Simulate and send again under a new key; `batchMint` skips any id that did land.
    data.generation += 1;
    data.tx_id = None;
    Step::next(BatchState::Pending, data).with_detail(json!({ "resend": reason }))
}

#[cfg(test)]
mod tests;
