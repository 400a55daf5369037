//! The database writes a workflow step plans, as data: a kind's pure `decide` returns a `Plan`
//! naming them (so its tests compare them), and this module alone turns them into the engine's
//! `Effect`s, which commit with the step's checkpoint.
use std::collections::{BTreeMap, HashMap};

use alloy::primitives::Address;
use sea_orm::{DatabaseTransaction, DbErr};
use serde_json::{Value as Json, json};
use uuid::Uuid;

use super::deployment::{DEPLOYMENT, DeploymentData, DeploymentState};
use super::mint::MintState;
use super::payment::{BatchOutcome, PaymentState};
use crate::chain::signer::address_key;
use crate::engine::workflow::state_name;
use crate::engine::{Effect, Step, WriteCtx, Writes, Writing};
use crate::store::moves::{Move, move_parked, move_parked_each};
use crate::store::receipts;
use crate::store::workflows::Status;
use crate::store::{self, entity::token};

/// A step's decision: its transition, its new data, and the writes that commit with it.
pub type Plan<S, D> = Step<S, D, Write>;

/// A write that commits with a step's checkpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Write {
    /// Mints a batch carries move on (sent, confirmed, failed, back to the queue).
    MoveMints(MintMove),
    /// The payment's receipt records the transaction that settled it.
    RecordSettlement {
        payment: Uuid,
        hash: String,
        block: i64,
    },
    /// The paid payment's children leave `awaiting_payment`: its mints for the batcher, its
    /// deployment due at once.
    StartChildren { payment: Uuid },
    /// Payments a settlement batch carried get its outcome for them and are made due: their
    /// own step confirms them or checks their authorization.
    HandOutcome {
        batch: Uuid,
        payments: Vec<Uuid>,
        outcome: BatchOutcome,
    },
    /// The deployed token joins the registry, so mints can target it at once.
    RegisterToken {
        chain_id: u64,
        token: DeploymentData,
        address: Address,
    },
}

/// Mints of batch `batch` move to `to`, from wherever a batch holds them (`processing` or
/// `sent`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MintMove {
    pub batch: Uuid,
    pub mints: Vec<Uuid>,
    pub to: MintState,
    /// The history event.
    pub event: &'static str,
    /// Merged into each mint's checkpoint data.
    pub patch: Json,
    pub tx_hash: Option<String>,
    pub error: Option<String>,
}

/// The plan as the engine runs it: each write as an `Effect`.
pub fn into_step<S, D>(plan: Plan<S, D>) -> Step<S, D> {
    plan.map_effects(Effect::new)
}

impl Writes for Write {
    /// The writes of a group commit, a statement or a few per kind of write: a batch's
    /// payments confirm in one group, and their receipts and children move together.
    fn apply_all<'a>(ctx: WriteCtx<'a>, writes: Vec<&'a Self>) -> Writing<'a> {
        let WriteCtx { txn, worker, now } = ctx;
        Box::pin(async move {
            let mut settled: BTreeMap<(&str, i64), Vec<Uuid>> = BTreeMap::new();
            let mut paid = Vec::new();
            for write in writes {
                match write {
                    Write::MoveMints(m) => move_mints(txn, m, worker, now).await?,
                    Write::RecordSettlement {
                        payment,
                        hash,
                        block,
                    } => settled.entry((hash, *block)).or_default().push(*payment),
                    Write::StartChildren { payment } => paid.push(*payment),
                    Write::HandOutcome {
                        batch,
                        payments,
                        outcome,
                    } => hand_outcome(txn, *batch, payments, outcome, worker, now).await?,
                    Write::RegisterToken {
                        chain_id,
                        token,
                        address,
                    } => {
                        let row = token_row(*chain_id, token, *address, now);
                        store::tokens::upsert(txn, &row).await?;
                    }
                }
            }
            for ((hash, block), payments) in settled {
                receipts::record_settlement(txn, &payments, hash, block, now).await?;
            }
            start_children(txn, &paid, worker, now).await
        })
    }
}

async fn move_mints(
    txn: &DatabaseTransaction,
    m: &MintMove,
    worker: &str,
    now: i64,
) -> Result<(), DbErr> {
    let from = [MintState::Processing.as_str(), MintState::Sent.as_str()];
    let to_status = match m.to {
        MintState::Confirmed => Status::Completed,
        MintState::Failed => Status::Failed,
        _ => Status::Waiting,
    };
    let parked = Move {
        ids: &m.mints,
        from_states: &from,
        // Cancelled mints are moved too: once in a batch, the chain decides.
        from_statuses: &[Status::Waiting, Status::Cancelled],
        to_state: m.to.as_str(),
        to_status,
        event: m.event,
        patch: m.patch.clone(),
        tx_hash: m.tx_hash.as_deref(),
        error: m.error.as_deref(),
        detail: Some(json!({ "batch": m.batch, "tx_hash": m.tx_hash })),
        worker: Some(worker),
        run_now: false,
    };
    if m.to != MintState::Pending {
        move_parked(txn, &parked, now).await?;
        return Ok(());
    }
    // Back to the queue: a mint cancelled while in the batch stays cancelled (the chain never
    // carried it), out of the queue and of the batches.
    let cancelled = Move {
        from_statuses: &[Status::Cancelled],
        to_state: MintState::Cancelled.as_str(),
        to_status: Status::Cancelled,
        event: "cancelled",
        ..parked.clone()
    };
    move_parked(txn, &cancelled, now).await?;
    let requeued = Move {
        from_statuses: &[Status::Waiting],
        ..parked
    };
    move_parked(txn, &requeued, now).await?;
    Ok(())
}

async fn hand_outcome(
    txn: &DatabaseTransaction,
    batch: Uuid,
    payments: &[Uuid],
    outcome: &BatchOutcome,
    worker: &str,
    now: i64,
) -> Result<(), DbErr> {
    let (event, tx_hash) = match outcome {
        BatchOutcome::Settled { hash, .. } => ("settled_in_batch", Some(hash.as_str())),
        BatchOutcome::Failed { .. } => ("failed_in_batch", None),
    };
    let sent = PaymentState::Sent.as_str();
    let m = Move {
        ids: payments,
        from_states: &[sent],
        from_statuses: &[Status::Waiting],
        to_state: sent,
        to_status: Status::Running,
        event,
        patch: json!({ "batch_outcome": outcome }),
        tx_hash,
        error: None,
        detail: Some(json!({ "batch": batch, "outcome": outcome })),
        worker: Some(worker),
        run_now: true,
    };
    if !move_parked(txn, &m, now).await?.is_empty() {
        // Other processes' workers hear of it at commit; this one's sweep finds it.
        store::workflows::notify_wake(txn).await?;
    }
    Ok(())
}

/// The children of the paid `payments` leave `awaiting_payment`, in one move per kind.
async fn start_children(
    txn: &DatabaseTransaction,
    payments: &[Uuid],
    worker: &str,
    now: i64,
) -> Result<(), DbErr> {
    if payments.is_empty() {
        return Ok(());
    }
    let children = store::workflows::children_of_each(txn, payments).await?;
    let parent_of: HashMap<Uuid, Uuid> = children
        .iter()
        .flat_map(|(parent, kids)| kids.iter().map(|(id, _)| (*id, *parent)))
        .collect();
    let (deployments, mints): (Vec<_>, Vec<_>) = children
        .into_values()
        .flatten()
        .partition(|(_, kind)| kind == DEPLOYMENT);
    let mint_states = (
        MintState::AwaitingPayment.as_str().to_owned(),
        MintState::Pending.as_str().to_owned(),
    );
    let deployment_states = (
        state_name(&DeploymentState::AwaitingPayment),
        state_name(&DeploymentState::Pending),
    );
    for (group, (from, to), due) in [
        (mints, mint_states, false),
        (deployments, deployment_states, true),
    ] {
        let ids: Vec<Uuid> = group.into_iter().map(|(id, _)| id).collect();
        let m = Move {
            ids: &ids,
            from_states: &[from.as_str()],
            from_statuses: &[Status::Waiting],
            to_state: &to,
            to_status: if due {
                Status::Running
            } else {
                Status::Waiting
            },
            event: "paid",
            patch: json!({}),
            tx_hash: None,
            error: None,
            detail: None,
            worker: Some(worker),
            run_now: due,
        };
        let detail = |child: Uuid| Some(json!({ "payment": parent_of.get(&child) }));
        let moved = move_parked_each(txn, &m, now, detail).await?;
        if due && !moved.is_empty() {
            // Other processes' workers hear of it at commit; this one's sweep finds it.
            store::workflows::notify_wake(txn).await?;
        }
    }
    Ok(())
}

/// The registry row of token `d`, deployed at `address`, registered at `now`.
fn token_row(chain_id: u64, d: &DeploymentData, address: Address, now: i64) -> token::Model {
    token::Model {
        chain_id: chain_id as i64,
        address: address_key(address),
        name: d.name.clone(),
        symbol: d.symbol.clone(),
        amount_per_mint: d.amount_per_mint.to_string(),
        max_supply: d.max_supply.to_string(),
        deployer: Some(address_key(d.owner)),
        deploy_tx_hash: d.tx_hash.clone(),
        deploy_block: d.block,
        created_at_ms: now,
    }
}
