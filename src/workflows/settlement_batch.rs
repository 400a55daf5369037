//! `settlement_batch`: verified payments of one asset settled in one `Settler.settle` call.
//!
//! `pending -> sent -> confirmed`, or `failed`. The settlement batcher creates a batch in
//! `pending` in the same transaction that moves its payments from `processing` (parked, waiting
//! for a batch) to `sent` (parked, naming the batch). The `pending` step submits the call to
//! the transaction pipeline (idempotent by the key `settlement_batch:{id}`); the sender wakes
//! the batch when the transaction is final. The `sent` step reads the settler's one event per
//! item from the receipt and, in the batch's own checkpoint transaction, hands each payment its
//! outcome and makes it due: `Settled` confirms the payment (its own `paid`: receipt, children),
//! `Failed` sends it to `checking` with the token's reason, as a reverted settlement of its
//! own would (its own step then asks `authorizationState` whether it paid us anyway). A batch
//! whose transaction reverts or cannot land hands every payment that reason.
//!
//! The settler never reverts as a whole for one bad item, so a batch is never bisected, and an
//! authorization is settled at most once by construction: the token refuses a used nonce.
use alloy::primitives::{Address, B256, U256};
use alloy::sol_types::SolCall;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::chain_step::{self, ChainKind, ChainStep, Decide, Retry, on_error};
use super::payment::{PaymentData, SignedAuthorization};
use crate::chain::contracts::Settler;
use crate::chain::{Call, Chain, TxOutcome};
use crate::engine::{Step, StepCtx, StepError, Workflow};

mod decide;

pub use decide::{Observed, decide};

pub const SETTLEMENT_BATCH: &str = "settlement_batch";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SettlementState {
    /// Being submitted.
    Pending,
    /// Its transaction is with the pipeline; the sender wakes it when final.
    Sent,
    Confirmed,
    Failed,
}

state_names!(SettlementState {
    Pending => "pending",
    Sent => "sent",
    Confirmed => "confirmed",
    Failed => "failed",
});

/// One payment in a batch: its authorization, as the settler passes it to the token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettlementItem {
    pub payment: Uuid,
    pub from: Address,
    pub to: Address,
    pub value: U256,
    pub authorization: SignedAuthorization,
}

impl SettlementItem {
    /// The item of payment `id`, `None` for a payment without an authorization (custom).
    pub fn of(id: Uuid, data: &PaymentData) -> Option<SettlementItem> {
        Some(SettlementItem {
            payment: id,
            from: data.payer,
            to: data.pay_to,
            value: data.amount,
            authorization: data.authorization.clone()?,
        })
    }

    /// The authorization as the settler's events name it.
    pub fn key(&self) -> (Address, B256) {
        (self.from, self.authorization.nonce)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettlementData {
    pub asset: Address,
    pub settler: Address,
    pub items: Vec<SettlementItem>,
    #[serde(default)]
    pub tx_id: Option<Uuid>,
    #[serde(default)]
    pub tx_hash: Option<String>,
    #[serde(default)]
    pub block: Option<i64>,
    #[serde(default)]
    pub gas_used: Option<i64>,
}

impl SettlementData {
    pub fn new(asset: Address, settler: Address, items: Vec<SettlementItem>) -> SettlementData {
        SettlementData {
            asset,
            settler,
            items,
            tx_id: None,
            tx_hash: None,
            block: None,
            gas_used: None,
        }
    }
}

/// The `settlement_batch` kind.
pub struct SettlementBatch {
    chain: Chain,
}

impl SettlementBatch {
    pub fn new(chain: Chain) -> Self {
        SettlementBatch { chain }
    }
}

impl Workflow for SettlementBatch {
    type State = SettlementState;
    type Data = SettlementData;
    const KIND: &'static str = SETTLEMENT_BATCH;

    /// A batch never gives up on transient errors (RPC down, signer out of funds, pipeline
    /// full): its payments were verified and wait for it. Operators see the last error.
    fn max_attempts(&self) -> Option<u32> {
        Some(u32::MAX)
    }

    async fn step(
        &self,
        ctx: &StepCtx,
        state: SettlementState,
        data: SettlementData,
    ) -> Result<Step<SettlementState, SettlementData>, StepError> {
        chain_step::step(self, ctx, state, data).await
    }
}

impl ChainKind for SettlementBatch {
    type Observed = Observed;
    const DECIDE: Decide<Self> = decide;

    /// In `pending`, the submit's answer; in `sent`, where the transaction is and, once it is
    /// confirmed, the settler's events in its receipt.
    async fn observe(
        &self,
        ctx: &StepCtx,
        state: SettlementState,
        data: &SettlementData,
        retry: Retry,
    ) -> Result<Observed, StepError> {
        let chain = ChainStep {
            chain: &self.chain,
            owner: ctx.workflow_id,
        };
        Ok(match state {
            SettlementState::Pending => {
                let key = format!("{SETTLEMENT_BATCH}:{}", ctx.workflow_id);
                let call = settle_call(data.settler, data.asset, &data.items);
                Observed::Submit(chain.submit(key, SETTLEMENT_BATCH, call).await)
            }
            SettlementState::Sent => match chain.outcome(data.tx_id).await? {
                TxOutcome::Confirmed {
                    hash,
                    block,
                    gas_used,
                    ..
                } => {
                    let tx: B256 = hash.parse().map_err(|e| {
                        StepError::Permanent(format!("settlement hash {hash}: {e}"))
                    })?;
                    let events = self
                        .chain
                        .settlement_events(tx, data.settler)
                        .await
                        .map_err(|e| on_error(e, retry))?
                        .ok_or_else(|| {
                            StepError::Transient(format!("no receipt for settlement {hash} yet"))
                        })?;
                    Observed::Settled {
                        hash,
                        block,
                        gas_used,
                        events,
                    }
                }
                outcome => Observed::Outcome(outcome),
            },
            _ => Observed::Nothing,
        })
    }
}

/// The `Settler.settle(asset, items)` call.
pub fn settle_call(settler: Address, asset: Address, items: &[SettlementItem]) -> Call {
    let call = Settler::settleCall {
        token: asset,
        items: items
            .iter()
            .map(|i| {
                let (v, r, s) = i.authorization.vrs();
                Settler::Item {
                    from: i.from,
                    to: i.to,
                    value: i.value,
                    validAfter: i.authorization.valid_after,
                    validBefore: i.authorization.valid_before,
                    nonce: i.authorization.nonce,
                    v,
                    r,
                    s,
                }
            })
            .collect(),
    };
    Call {
        to: Some(settler),
        input: call.abi_encode().into(),
        value: U256::ZERO,
        gas_limit: None,
    }
}
