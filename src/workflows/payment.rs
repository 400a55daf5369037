//! `payment`: a USDC payment for mints, settled with the payer's signed EIP-3009
//! authorization (`x402`, or `gasless` through the JSON API).
//!
//! `pending -> processing -> sent -> confirmed`, or `failed`. The payment and its mints (in
//! `awaiting_payment`) are created in one transaction; the payment's idempotency key is the
//! authorization itself (`eip3009:{chain}:{asset}:{from}:{nonce}`), so the unique index on
//! workflow keys reserves each authorization once. `pending` simulates the settlement (the
//! nonce unused, the balance there, the signature valid for the token); `processing` submits
//! `transferWithAuthorization` to the transaction pipeline under the key `payment:{id}`; `sent`
//! is woken when it is final. A settlement that reverts (simulated or mined) or cannot land goes
//! to `checking`: anyone holding the signed authorization can submit it before us, and then the
//! payer's funds reached us through their transaction (`front_run`). Confirmed (by our
//! settlement or theirs): the mints go to `pending` (the batcher takes them) in
//! the payment's checkpoint transaction. Ended otherwise (its step failed it, the engine gave
//! up retrying, an operator cancelled it): the engine cancels them in that transaction, with
//! the reason, and an operator's retry puts them back (`store::held`).
//!
//! The workflow key reserves an authorization only while the workflow row exists; the
//! permanent reservation is the payment's receipt (`receipt`), written in the same
//! transaction and never deleted.
use alloy::primitives::{Address, B256, Bytes, U256};
use alloy::sol_types::SolCall;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::sync::Arc;
use uuid::Uuid;

use super::deployment::{DEPLOYMENT, DeploymentData};
use super::mint::MintRequest;
use crate::chain::contracts::MockUSDC;
use crate::chain::signer::address_key;
use crate::chain::transfer::TransferCheck;
use crate::chain::{Call, Chain, ChainError, Submitted, TxOutcome};
use crate::engine::{Client, StartError, StartOptions, Started};
use crate::engine::{Effect, Step, StepCtx, StepError, Transition, Workflow};
use crate::store;
use crate::store::moves::{Move, move_parked};
use crate::store::receipts::Reserved;
use crate::store::workflows::Status;

pub mod custom;
pub mod exposure;
mod front_run;
pub mod receipt;
pub mod shown;

pub const PAYMENT: &str = "payment";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentState {
    /// Accepted; its settlement is being simulated.
    Pending,
    /// Verified on chain; the settlement is being submitted.
    Processing,
    /// The settlement transaction is with the sender.
    Sent,
    /// The settlement reverted or could not land: whether the authorization paid us through
    /// someone else's transaction is being checked.
    Checking,
    Confirmed,
    Failed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentKind {
    X402,
    Gasless,
    /// A USDC transfer the payer already sent; its receipt is checked, nothing is sent.
    Custom,
}

impl PaymentKind {
    /// The name it is stored under (as serde writes it).
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentKind::X402 => "x402",
            PaymentKind::Gasless => "gasless",
            PaymentKind::Custom => "custom",
        }
    }
}

/// A payment's checkpoint: what was paid, and where its settlement is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentData {
    pub kind: PaymentKind,
    pub asset: Address,
    pub payer: Address,
    pub pay_to: Address,
    pub amount: U256,
    /// The signed EIP-3009 authorization (`x402`, `gasless`).
    #[serde(default)]
    pub authorization: Option<SignedAuthorization>,
    /// The payer's own transfer (`custom`).
    #[serde(default)]
    pub transfer_tx: Option<B256>,
    #[serde(default)]
    pub tx_id: Option<Uuid>,
    #[serde(default)]
    pub tx_hash: Option<String>,
    #[serde(default)]
    pub block: Option<i64>,
    /// The head block when the settlement was simulated: the authorization was unused at
    /// intake, shortly before, so whoever spent it did so after about this block.
    /// (Skipped when absent: the creation fingerprint of a payment must not change.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checked_block: Option<u64>,
    /// Why the settlement did not land, while `checking`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settlement_error: Option<String>,
}

/// The parts of an EIP-3009 authorization beyond payer, payee and amount.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedAuthorization {
    pub valid_after: U256,
    pub valid_before: U256,
    pub nonce: B256,
    pub signature: Bytes,
}

impl PaymentData {
    /// The settlement call, `transferWithAuthorization` with the signature as bytes; `None`
    /// for a custom payment, which is settled already.
    pub fn settlement(&self) -> Option<Call> {
        let a = self.authorization.as_ref()?;
        let call = MockUSDC::transferWithAuthorization_0Call {
            from: self.payer,
            to: self.pay_to,
            value: self.amount,
            validAfter: a.valid_after,
            validBefore: a.valid_before,
            nonce: a.nonce,
            signature: a.signature.clone(),
        };
        Some(Call {
            to: Some(self.asset),
            input: call.abi_encode().into(),
            value: U256::ZERO,
            gas_limit: None,
        })
    }

    /// The payment's idempotency key: what the chain says can pay only once (the
    /// authorization, or the transfer).
    pub fn key(&self, chain_id: u64) -> String {
        match (&self.authorization, self.transfer_tx) {
            (Some(a), _) => format!(
                "eip3009:{chain_id}:{:#x}:{:#x}:{:#x}",
                self.asset, self.payer, a.nonce
            ),
            (None, Some(tx)) => format!("transfer:{chain_id}:{tx:#x}"),
            (None, None) => unreachable!("a payment has an authorization or a transfer"),
        }
    }
}

/// The `payment` kind.
pub struct Payment {
    chain: Chain,
}

impl Payment {
    pub fn new(chain: Chain) -> Self {
        Payment { chain }
    }
}

type PaymentStep = Step<PaymentState, PaymentData>;

impl Workflow for Payment {
    type State = PaymentState;
    type Data = PaymentData;
    const KIND: &'static str = PAYMENT;

    async fn step(
        &self,
        ctx: &StepCtx,
        state: PaymentState,
        mut data: PaymentData,
    ) -> Result<PaymentStep, StepError> {
        match state {
            PaymentState::Pending => match data.settlement() {
                Some(call) => {
                    // Read before the simulation, so that a spending it sees is at or before
                    // about this block: `checking` searches from a margin before it.
                    let head = self.chain.head().await;
                    let head = head.map_err(|e| StepError::Transient(e.to_string()))?;
                    data.checked_block = Some(head);
                    match self.chain.estimate(&call).await {
                        Ok(_) => Ok(Step::next(PaymentState::Processing, data)),
                        Err(ChainError::Reverted(reason)) => Ok(front_run::unlanded(
                            data,
                            format!("the settlement would revert: {reason}"),
                        )),
                        Err(e) => Err(StepError::Transient(e.to_string())),
                    }
                }
                None => self.check_transfer(ctx, data).await,
            },
            PaymentState::Processing => {
                let Some(call) = data.settlement() else {
                    return self.check_transfer(ctx, data).await;
                };
                let submitted = self
                    .chain
                    .submit_for(
                        ctx.workflow_id,
                        format!("payment:{}", ctx.workflow_id),
                        PAYMENT,
                        call,
                    )
                    .await;
                match submitted {
                    Ok(Submitted { id: tx_id, hash }) => {
                        data.tx_hash = hash;
                        data.tx_id = Some(tx_id);
                        let detail = json!({ "tx_id": tx_id, "tx_hash": data.tx_hash });
                        Ok(Step::new(Transition::Wait(PaymentState::Sent), data)
                            .with_detail(detail))
                    }
                    Err(ChainError::Reverted(reason)) => Ok(front_run::unlanded(
                        data,
                        format!("the settlement would revert: {reason}"),
                    )),
                    Err(ChainError::OverBudget(wait)) => Err(wait.into()),
                    Err(e) => Err(StepError::Transient(e.to_string())),
                }
            }
            PaymentState::Sent => {
                let tx_id = data.tx_id.ok_or_else(|| {
                    StepError::Permanent("sent payment without a transaction".into())
                })?;
                match self.chain.outcome(tx_id).await? {
                    TxOutcome::Pending { .. } => {
                        Ok(Step::new(Transition::Wait(PaymentState::Sent), data))
                    }
                    TxOutcome::Confirmed { hash, block, .. } => {
                        self.check_settled(ctx, data, hash, block).await
                    }
                    TxOutcome::Reverted { reason, .. } => Ok(front_run::unlanded(
                        data,
                        format!("settlement reverted: {reason}"),
                    )),
                    TxOutcome::Failed { reason } => Ok(front_run::unlanded(
                        data,
                        format!("settlement could not land: {reason}"),
                    )),
                }
            }
            PaymentState::Checking => self.check_spent(ctx, data).await,
            PaymentState::Confirmed => Ok(Step::complete(state, data)),
            PaymentState::Failed => Err(StepError::Permanent(
                "a failed payment is not settled again; the payer signs a new authorization".into(),
            )),
        }
    }
}

impl Payment {
    /// The settlement is confirmed: its receipt must hold the asset's `Transfer` of the amount
    /// from the payer to us (a token that returns without moving funds must not pay).
    async fn check_settled(
        &self,
        ctx: &StepCtx,
        data: PaymentData,
        hash: String,
        block: i64,
    ) -> Result<PaymentStep, StepError> {
        let tx: B256 = hash
            .parse()
            .map_err(|e| StepError::Permanent(format!("settlement hash {hash}: {e}")))?;
        let check = self
            .chain
            .check_transfer(tx, data.asset, 0)
            .await
            .map_err(|e| StepError::Transient(e.to_string()))?;
        let paid_us = match &check {
            TransferCheck::Mined(t) => t.paid(data.payer, data.pay_to),
            _ => U256::ZERO,
        };
        Ok(if paid_us >= data.amount {
            paid(ctx, data, hash, block)
        } else {
            let reason = format!("the settlement {hash} did not transfer the amount: {check:?}");
            fail(data, reason)
        })
    }

    /// A custom payment: the payer's own transfer, `confirmations` deep, pays the amount to us
    /// (checked again here: the receipt may have changed in a reorg since it was accepted).
    async fn check_transfer(
        &self,
        ctx: &StepCtx,
        data: PaymentData,
    ) -> Result<PaymentStep, StepError> {
        let tx = data
            .transfer_tx
            .ok_or_else(|| StepError::Permanent("custom payment without a transfer".into()))?;
        let confirmations = ctx.settings.confirmations.max(0) as u64;
        let check = self
            .chain
            .check_transfer(tx, data.asset, confirmations)
            .await
            .map_err(|e| StepError::Transient(e.to_string()))?;
        Ok(
            match custom::verdict(check, data.pay_to, data.amount, confirmations) {
                Ok(p) => paid(ctx, data, format!("{tx:#x}"), p.block as i64),
                // Accepted once deep enough: a reorg since then undid it.
                Err(e @ (custom::Refusal::NotFound | custom::Refusal::NotConfirmed { .. })) => {
                    return Err(StepError::Transient(format!("transfer {tx:#x}: {e}")));
                }
                Err(e) => fail(data, format!("transfer {tx:#x}: {e}")),
            },
        )
    }
}

/// Completes the payment, records its settlement on its receipt and starts its mints, in one
/// checkpoint.
fn paid(ctx: &StepCtx, mut data: PaymentData, hash: String, block: i64) -> PaymentStep {
    data.tx_hash = Some(hash.clone());
    data.block = Some(block);
    Step::complete(PaymentState::Confirmed, data)
        .with_effect(receipt::settled(ctx.workflow_id, hash.clone(), block))
        .with_effect(start_children(ctx))
        .with_detail(json!({ "tx_hash": hash, "block": block }))
}

/// Fails the payment. The engine cancels its children in the same checkpoint, as it does
/// whenever a payment ends without completing (`store::held`).
fn fail(data: PaymentData, reason: String) -> PaymentStep {
    Step::new(Transition::Fail(PaymentState::Failed, reason), data)
}

/// Moves the paid payment's children out of `awaiting_payment` to `pending`: mints parked for
/// the batcher, a deployment due at once.
fn start_children(ctx: &StepCtx) -> Effect {
    let payment = ctx.workflow_id;
    let worker = ctx.worker_id.clone();
    Arc::new(move |txn| {
        let worker = worker.clone();
        Box::pin(async move {
            let children = store::workflows::children(txn, payment).await?;
            let (deployments, mints): (Vec<_>, Vec<_>) = children
                .into_iter()
                .partition(|(_, kind)| kind == DEPLOYMENT);
            for (group, due) in [(mints, false), (deployments, true)] {
                let ids: Vec<Uuid> = group.into_iter().map(|(id, _)| id).collect();
                let m = Move {
                    ids: &ids,
                    from_states: &["awaiting_payment"],
                    from_statuses: &[Status::Waiting],
                    to_state: "pending",
                    to_status: if due {
                        Status::Running
                    } else {
                        Status::Waiting
                    },
                    event: "paid",
                    patch: json!({}),
                    tx_hash: None,
                    error: None,
                    detail: Some(json!({ "payment": payment })),
                    worker: Some(&worker),
                    run_now: due,
                };
                let moved = move_parked(txn, &m, store::now_ms()).await?;
                if due && !moved.is_empty() {
                    // Other processes' workers hear of it at commit; this one's sweep finds it.
                    store::workflows::notify_wake(txn).await?;
                }
            }
            Ok(())
        })
    })
}

/// What a payment pays for.
#[derive(Clone, Debug)]
pub enum Purchase {
    Mints(MintRequest),
    /// A token deployment, with its idempotency key.
    Deployment(DeploymentData, String),
}

/// A payment with what it pays for, as created.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Created {
    pub payment: Uuid,
    /// The mints, or the deployment.
    pub children: Vec<Uuid>,
    /// Accepted before, with the same request: that payment (or, for a deployment with the
    /// same key, the first deployment and its payment).
    pub existing: bool,
}

/// Why a payment was not created.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error(transparent)]
    Start(#[from] StartError),
    /// The payer may not open another payment now (`exposure`).
    #[error(transparent)]
    Refused(#[from] exposure::Refusal),
}

impl From<sea_orm::DbErr> for CreateError {
    fn from(e: sea_orm::DbErr) -> Self {
        CreateError::Start(e.into())
    }
}

/// Creates the payment, its receipt and what it pays for (waiting for it) in one transaction.
/// The authorization (or custom transfer) is the payment's idempotency key: the same one with
/// the same request returns the first payment; with another request, `IdempotencyConflict`.
/// A key whose payment is gone (archived) still has its receipt: `IdempotencyConflict` with
/// that payment, whatever the request. A payment mintflow settles is refused (`Refused`) when
/// its payer may not open it (`exposure`), judged under the payer's intake lock in the same
/// transaction.
pub async fn create(
    client: &Client,
    chain_id: u64,
    data: &PaymentData,
    purchase: &Purchase,
    funds: exposure::Funds,
) -> Result<Created, CreateError> {
    if data.authorization.is_some() == (funds == exposure::Funds::Transferred) {
        return Err(sea_orm::DbErr::Custom(
            "a settled payment needs the payer's balance, a transfer needs none".into(),
        )
        .into());
    }
    let (token, what) = match purchase {
        Purchase::Mints(m) => (
            Some(address_key(m.token)),
            json!({ "recipient": m.recipient, "token": m.token, "quantity": m.quantity }),
        ),
        Purchase::Deployment(d, key) => (None, json!({ "deployment": d, "key": key })),
    };
    let fingerprint =
        serde_json::to_vec(&json!({ "payment": data, "purchase": what })).expect("serializes");
    let opts = StartOptions {
        idempotency_key: Some(data.key(chain_id)),
        request_body: Some(fingerprint),
        payer: Some(address_key(data.payer)),
        token,
        ..Default::default()
    };
    let txn = store::begin_write(client.db()).await?;
    if data.authorization.is_some() {
        store::payers::lock(&txn, &address_key(data.payer)).await?;
    }
    let payment = match client
        .start_in::<Payment, _>(&txn, PaymentState::Pending, data, opts)
        .await?
    {
        Started::Created(id) => id,
        Started::Existing(id) => {
            txn.rollback().await?;
            return Ok(existing(client, id).await?);
        }
    };
    let receipt = receipt::of(data, chain_id, payment, store::now_ms());
    if let Reserved::Taken(first) = store::receipts::reserve(&txn, &receipt).await? {
        txn.rollback().await?;
        return Err(StartError::IdempotencyConflict { existing: first }.into());
    }
    if let Err(refusal) = exposure::check(&txn, payment, data, funds, store::now_ms()).await? {
        txn.rollback().await?;
        return Err(refusal.into());
    }
    let children = match purchase {
        Purchase::Mints(m) => {
            let request = MintRequest {
                key: super::mint::payment_key(payment),
                parent_id: Some(payment),
                ..m.clone()
            };
            super::mint::start_in(client, &txn, &request).await?.ids
        }
        Purchase::Deployment(d, key) => {
            match super::deployment::start_in(client, &txn, d, key.clone(), payment).await? {
                Started::Created(id) => vec![id],
                // Deployed (or being deployed) under this key already: this payment is not
                // taken; the first deployment is the answer.
                Started::Existing(id) => {
                    txn.rollback().await?;
                    let first = store::workflows::find(client.db(), id).await?;
                    let parent = first.and_then(|d| d.parent_id).unwrap_or(id);
                    return Ok(existing(client, parent).await?);
                }
            }
        }
    };
    txn.commit().await?;
    client.wake_local();
    Ok(Created {
        payment,
        children,
        existing: false,
    })
}

async fn existing(client: &Client, payment: Uuid) -> Result<Created, StartError> {
    let children = store::workflows::children(client.db(), payment).await?;
    Ok(Created {
        payment,
        children: children.into_iter().map(|(id, _)| id).collect(),
        existing: true,
    })
}
