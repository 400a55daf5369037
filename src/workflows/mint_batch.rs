//! `mint_batch`: pending mints of one token sent as one `batchMint(to[], ids[])`.
//!
//! `pending -> sent -> confirmed`, or `failed`. The batcher creates a batch in `pending` in
//! the same transaction that moves its mints to `processing`. The `pending` step submits the
//! batch to the transaction pipeline (idempotent by the key `mint_batch:{id}:{generation}`)
//! and moves the mints to `sent`; the sender wakes the batch when the transaction is final,
//! and the `sent` step marks every mint `confirmed` with the winning hash and block, in the
//! batch's own checkpoint transaction.
//!
//! A batch whose simulation reverts is bisected: the longest prefix that still simulates is
//! kept, the first item after it is failed with the revert reason, and the search goes on
//! with the rest, so one bad item cannot sink the others. When the reason is the token's
//! supply cap (`MaxSupplyExceeded()`, which the batcher's accounting leaves only to mints made
//! outside mintflow), the item and all after it go back to the queue instead: whether they
//! fail depends on batches still in flight, which the batcher knows. The item set changes
//! only in a checkpoint, together with a new generation (and so a new pipeline key).
use alloy::primitives::{Address, B256, U256};
use alloy::sol_types::SolCall;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::chain_step::{self, ChainKind, ChainStep, Decide, Retry, on_error};
use crate::chain::contracts::MintToken;
use crate::chain::{Call, Chain, ChainError};
use crate::engine::{Step, StepCtx, StepError, Workflow};
use crate::store::mints::MINT_BATCH;

mod decide;
mod isolate;

pub use decide::{Observed, decide};
pub use isolate::{Isolated, isolate};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BatchState {
    /// Being simulated and submitted.
    Pending,
    /// Its transaction is with the pipeline; the sender wakes it when final.
    Sent,
    Confirmed,
    Failed,
}

state_names!(BatchState {
    Pending => "pending",
    Sent => "sent",
    Confirmed => "confirmed",
    Failed => "failed",
});

/// One mint in a batch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchItem {
    pub mint: Uuid,
    pub to: Address,
    pub id: B256,
}

/// A mint the batch dropped, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DroppedItem {
    pub mint: Uuid,
    pub reason: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchData {
    pub token: Address,
    /// The mints the current generation sends.
    pub items: Vec<BatchItem>,
    /// Mints failed by bisection.
    #[serde(default)]
    pub dropped: Vec<DroppedItem>,
    /// Bumped whenever the item set changes or the batch is sent again.
    #[serde(default)]
    pub generation: u32,
    #[serde(default)]
    pub resends: u32,
    #[serde(default)]
    pub tx_id: Option<Uuid>,
    #[serde(default)]
    pub tx_hash: Option<String>,
    #[serde(default)]
    pub block: Option<i64>,
    #[serde(default)]
    pub gas_used: Option<i64>,
}

impl BatchData {
    /// A new batch of `items` of `token`: nothing dropped, sent or resent yet.
    pub fn new(token: Address, items: Vec<BatchItem>) -> BatchData {
        BatchData {
            token,
            items,
            dropped: Vec::new(),
            generation: 0,
            resends: 0,
            tx_id: None,
            tx_hash: None,
            block: None,
            gas_used: None,
        }
    }
}

/// The `mint_batch` kind.
pub struct MintBatch {
    chain: Chain,
}

impl MintBatch {
    pub fn new(chain: Chain) -> Self {
        MintBatch { chain }
    }
}

impl Workflow for MintBatch {
    type State = BatchState;
    type Data = BatchData;
    const KIND: &'static str = MINT_BATCH;

    /// A batch never gives up on transient errors (RPC down, signer out of funds, pipeline
    /// full): its mints were accepted and must be sent. Operators see the last error.
    fn max_attempts(&self) -> Option<u32> {
        Some(u32::MAX)
    }

    /// The step every kind that sends transactions takes (`chain_step::step`).
    async fn step(
        &self,
        ctx: &StepCtx,
        state: BatchState,
        data: BatchData,
    ) -> Result<Step<BatchState, BatchData>, StepError> {
        chain_step::step(self, ctx, state, data).await
    }
}

impl ChainKind for MintBatch {
    type Observed = Observed;
    const DECIDE: Decide<Self> = decide;

    /// Asks the chain what `state` needs to decide: in `pending`, the submit's answer, and when
    /// the batch reverts, which of its items make it revert.
    async fn observe(
        &self,
        ctx: &StepCtx,
        state: BatchState,
        data: &BatchData,
        retry: Retry,
    ) -> Result<Observed, StepError> {
        let chain = ChainStep {
            chain: &self.chain,
            owner: ctx.workflow_id,
        };
        Ok(match state {
            BatchState::Pending if !data.items.is_empty() => {
                let key = format!("mint_batch:{}:{}", ctx.workflow_id, data.generation);
                let call = batch_call(data.token, &data.items);
                match chain.submit(key, MINT_BATCH, call).await {
                    Err(ChainError::Reverted(reason)) => {
                        let found = self.bisect(data, retry).await?;
                        tracing::info!(batch = %ctx.workflow_id, dropped = found.bad.len(),
                            requeued = found.over_cap.len(), kept = found.keep.len(), %reason,
                            "batch reverts in simulation; bisected");
                        Observed::Bisected { reason, found }
                    }
                    submitted => Observed::Submit(submitted),
                }
            }
            BatchState::Sent => Observed::Outcome(chain.outcome(data.tx_id).await?),
            _ => Observed::Nothing,
        })
    }
}

impl MintBatch {
    /// Which items of the batch make it revert, each subset simulated now.
    async fn bisect(&self, data: &BatchData, retry: Retry) -> Result<Isolated, StepError> {
        let (token, items) = (data.token, &data.items);
        isolate(items.len(), |subset: Vec<usize>| {
            let picked: Vec<BatchItem> = subset.iter().map(|&i| items[i].clone()).collect();
            async move {
                match self.chain.estimate(&batch_call(token, &picked)).await {
                    Ok(_) => Ok(None),
                    Err(ChainError::Reverted(why)) => Ok(Some(why)),
                    Err(e) => Err(on_error(e, retry)),
                }
            }
        })
        .await
    }
}

/// The `batchMint` call for `items`.
pub fn batch_call(token: Address, items: &[BatchItem]) -> Call {
    let call = MintToken::batchMintCall {
        to: items.iter().map(|i| i.to).collect(),
        ids: items.iter().map(|i| i.id).collect(),
    };
    Call {
        to: Some(token),
        input: call.abi_encode().into(),
        value: U256::ZERO,
        gas_limit: None,
    }
}
