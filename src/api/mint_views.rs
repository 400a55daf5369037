//! What the mint API shows of mints, batches and the queue, computed from workflow rows.
use chrono::{DateTime, Utc};
use poem_openapi::{Enum, Object};
use serde_json::Value as Json_;
use uuid::Uuid;

use super::AppState;
use super::error::ApiError;
use super::workflows::{Shown, shown_status};
use crate::chain::signer::address_key;
use crate::config::Settings;
use crate::engine::outbox::event::WorkflowStatus;
use crate::spec::nullable::Nullable;
use crate::store::entity::workflow;
use crate::store::mints::{MINT, MintState};
use crate::store::time::{from_ms, opt_from_ms};
use crate::store::workflows::Status;
use crate::workflows::mint::{MintData, MintFailure, PaymentType};
use crate::workflows::mint_batch::{self, BatchData};

/// Where a mint is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum MintStatus {
    /// Part of a payment that is not confirmed yet.
    AwaitingPayment,
    /// Queued, waiting for a batch.
    Pending,
    /// In a batch whose transaction is being prepared.
    Processing,
    /// Its batch's transaction is signed and being broadcast.
    Sent,
    /// Minted, `confirmations` blocks deep.
    Confirmed,
    Failed,
    Cancelled,
}

impl MintStatus {
    pub fn of(row: &workflow::Model) -> MintStatus {
        MintStatus::from_parts(&row.status, &row.state)
    }

    /// From a mint workflow's engine status and domain state (`shown_status`).
    pub fn from_parts(status: &str, state: &str) -> MintStatus {
        match shown_status(status, state, MintState::parse, MintState::Confirmed) {
            Shown::State(Some(MintState::AwaitingPayment)) => MintStatus::AwaitingPayment,
            Shown::State(Some(MintState::Pending) | None) => MintStatus::Pending,
            Shown::State(Some(MintState::Processing)) => MintStatus::Processing,
            Shown::State(Some(MintState::Sent)) => MintStatus::Sent,
            Shown::State(Some(MintState::Confirmed)) => MintStatus::Confirmed,
            Shown::State(Some(MintState::Failed)) | Shown::Failed => MintStatus::Failed,
            Shown::State(Some(MintState::Cancelled)) | Shown::Cancelled => MintStatus::Cancelled,
        }
    }

    /// The state and status that select mints in this status.
    pub fn filter(self) -> (Option<MintState>, Status) {
        match self {
            MintStatus::AwaitingPayment => (Some(MintState::AwaitingPayment), Status::Waiting),
            MintStatus::Pending => (Some(MintState::Pending), Status::Waiting),
            MintStatus::Processing => (Some(MintState::Processing), Status::Waiting),
            MintStatus::Sent => (Some(MintState::Sent), Status::Waiting),
            MintStatus::Confirmed => (Some(MintState::Confirmed), Status::Completed),
            MintStatus::Failed => (None, Status::Failed),
            MintStatus::Cancelled => (None, Status::Cancelled),
        }
    }
}

/// Why a mint failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum MintFailureCode {
    /// The token's `maxSupply` leaves no room for it (`MaxSupplyExceeded()`); retrying cannot
    /// help.
    MaxSupplyExceeded,
    /// It makes its batch revert for another reason, given in `error`.
    Reverts,
    /// Its batch was sent again and again without landing; a retry may succeed.
    BatchGaveUp,
}

impl From<MintFailure> for MintFailureCode {
    fn from(f: MintFailure) -> Self {
        match f {
            MintFailure::MaxSupplyExceeded => MintFailureCode::MaxSupplyExceeded,
            MintFailure::Reverts => MintFailureCode::Reverts,
            MintFailure::BatchGaveUp => MintFailureCode::BatchGaveUp,
        }
    }
}

/// How a mint was paid for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum PaymentTypeDto {
    /// Paid through x402 (a `PAYMENT-SIGNATURE` the server settled).
    X402,
    /// A signed EIP-3009 authorization, settled by mintflow (`POST /v1/payments`).
    Gasless,
    /// A USDC transfer the payer sent themselves (`POST /v1/payments`, `custom`).
    Custom,
    /// Not paid through mintflow: queued by a key with the `mint` scope.
    #[default]
    None,
}

impl PaymentTypeDto {
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentTypeDto::X402 => "x402",
            PaymentTypeDto::Gasless => "gasless",
            PaymentTypeDto::Custom => "custom",
            PaymentTypeDto::None => "none",
        }
    }
}

impl From<PaymentTypeDto> for PaymentType {
    fn from(p: PaymentTypeDto) -> Self {
        match p {
            PaymentTypeDto::X402 => PaymentType::X402,
            PaymentTypeDto::Gasless => PaymentType::Gasless,
            PaymentTypeDto::Custom => PaymentType::Custom,
            PaymentTypeDto::None => PaymentType::None,
        }
    }
}

impl From<PaymentType> for PaymentTypeDto {
    fn from(p: PaymentType) -> Self {
        match p {
            PaymentType::X402 => PaymentTypeDto::X402,
            PaymentType::Gasless => PaymentTypeDto::Gasless,
            PaymentType::Custom => PaymentTypeDto::Custom,
            PaymentType::None => PaymentTypeDto::None,
        }
    }
}

/// A mint.
#[derive(Object)]
#[oai(example)]
#[oai(rename_all = "camelCase")]
pub struct MintView {
    /// The mint's workflow id (its history is at `/v1/workflows/{id}/history`).
    pub id: Uuid,
    pub status: MintStatus,
    #[oai(validator(pattern = r"^0x[0-9a-fA-F]{40}$"))]
    pub payer: String,
    #[oai(validator(pattern = r"^0x[0-9a-fA-F]{40}$"))]
    pub recipient: String,
    #[oai(validator(pattern = r"^0x[0-9a-fA-F]{40}$"))]
    pub token: String,
    /// The `bytes32` id the token contract records as minted.
    #[oai(validator(pattern = r"^0x[0-9a-fA-F]{64}$"))]
    pub onchain_id: String,
    pub payment_type: PaymentTypeDto,
    #[oai(nullable)]
    pub idempotency_key: Option<String>,
    /// Its token's batches take higher priority first, then older mints first (0 to 100).
    #[oai(validator(minimum(value = "0"), maximum(value = "100")))]
    pub priority: i16,
    /// Pending mints taken before it plus one, while it is pending.
    #[oai(nullable)]
    pub queue_position: Option<i64>,
    #[oai(nullable)]
    pub batch_id: Option<Uuid>,
    /// The batch transaction's hash once sent; the mined one once confirmed.
    #[oai(validator(pattern = r"^0x[0-9a-fA-F]{64}$"), nullable)]
    pub tx_hash: Option<String>,
    #[oai(nullable)]
    pub block_number: Option<i64>,
    #[oai(nullable)]
    pub error: Option<String>,
    /// Why it failed, as a code, once `failed` (its `error` says it in words).
    pub failure: Nullable<MintFailureCode>,
    /// Times an operator put it back in the queue.
    pub requeued: u32,
    /// The payment it belongs to, if any.
    #[oai(nullable)]
    pub parent_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[oai(nullable)]
    pub finished_at: Option<DateTime<Utc>>,
}

impl MintView {
    pub fn new(row: workflow::Model, queue_position: Option<i64>) -> MintView {
        let status = MintStatus::of(&row);
        let data: Option<MintData> = serde_json::from_value(row.data.clone()).ok();
        let text = |a: Option<String>| a.unwrap_or_default();
        MintView {
            id: row.id,
            status,
            payer: text(row.payer.clone()),
            recipient: text(data.as_ref().map(|d| address_key(d.recipient))),
            token: text(row.token.clone()),
            onchain_id: text(data.as_ref().map(|d| d.onchain_id.to_string())),
            payment_type: data
                .as_ref()
                .map(|d| d.payment_type)
                .unwrap_or_default()
                .into(),
            priority: row.priority,
            idempotency_key: row.idempotency_key,
            queue_position: queue_position.filter(|_| status == MintStatus::Pending),
            batch_id: data.as_ref().and_then(|d| d.batch_id),
            tx_hash: row.tx_hash,
            block_number: data.as_ref().and_then(|d| d.block),
            error: row.last_error,
            failure: data
                .as_ref()
                .and_then(|d| d.failure)
                .filter(|_| status == MintStatus::Failed)
                .map(Into::into)
                .into(),
            requeued: data.as_ref().map(|d| d.requeued).unwrap_or_default(),
            parent_id: row.parent_id,
            created_at: from_ms(row.created_at_ms),
            updated_at: from_ms(row.updated_at_ms),
            finished_at: opt_from_ms(row.finished_at_ms),
        }
    }
}

/// Where a batch is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum BatchState {
    /// Being simulated and sent.
    Pending,
    /// Its transaction is with the sender, waiting to be final.
    Sent,
    /// Its transaction is `confirmations` blocks deep: its mints are confirmed.
    Confirmed,
    /// It could not be sent; its mints went back to the queue or failed.
    Failed,
}

impl BatchState {
    /// The state a batch row stores (anything else is still being sent).
    fn stored(state: &str) -> BatchState {
        match mint_batch::BatchState::parse(state) {
            Some(mint_batch::BatchState::Sent) => BatchState::Sent,
            Some(mint_batch::BatchState::Confirmed) => BatchState::Confirmed,
            Some(mint_batch::BatchState::Failed) => BatchState::Failed,
            Some(mint_batch::BatchState::Pending) | None => BatchState::Pending,
        }
    }
}

/// A batch of mints sent as one `batchMint` transaction.
#[derive(Object)]
#[oai(example)]
#[oai(rename_all = "camelCase")]
pub struct BatchView {
    pub id: Uuid,
    pub state: BatchState,
    // Engine status of the batch workflow.
    // (A plain comment: a described $ref becomes an `allOf` that generators refuse.)
    pub status: WorkflowStatus,
    #[oai(validator(pattern = r"^0x[0-9a-fA-F]{40}$"), nullable)]
    pub token: Option<String>,
    /// Mints the batch carries now.
    pub size: usize,
    pub mint_ids: Vec<Uuid>,
    /// Mints dropped because they made the batch revert, with the reason.
    pub dropped: Json_,
    /// Times the batch was re-simulated (after dropping items or a failed transaction).
    pub generation: u32,
    #[oai(validator(pattern = r"^0x[0-9a-fA-F]{64}$"), nullable)]
    pub tx_hash: Option<String>,
    #[oai(nullable)]
    pub block_number: Option<i64>,
    #[oai(nullable)]
    pub gas_used: Option<i64>,
    #[oai(nullable)]
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    #[oai(nullable)]
    pub finished_at: Option<DateTime<Utc>>,
}

impl BatchView {
    pub fn new(row: workflow::Model) -> BatchView {
        let data: Option<BatchData> = serde_json::from_value(row.data.clone()).ok();
        let items: Vec<Uuid> = data
            .as_ref()
            .map(|d| d.items.iter().map(|i| i.mint).collect())
            .unwrap_or_default();
        BatchView {
            id: row.id,
            state: BatchState::stored(&row.state),
            status: WorkflowStatus::stored(&row.status),
            token: row.token,
            size: items.len(),
            mint_ids: items,
            dropped: data
                .as_ref()
                .map(|d| serde_json::to_value(&d.dropped).expect("serializes"))
                .unwrap_or_default(),
            generation: data.as_ref().map(|d| d.generation).unwrap_or_default(),
            tx_hash: data.as_ref().and_then(|d| d.tx_hash.clone()),
            block_number: data.as_ref().and_then(|d| d.block),
            gas_used: data.as_ref().and_then(|d| d.gas_used),
            error: row.last_error,
            created_at: from_ms(row.created_at_ms),
            finished_at: opt_from_ms(row.finished_at_ms),
        }
    }

    /// Where the batch is, in a mint's words (the old API's queue reports batches so): its
    /// state, unless the engine ended it otherwise before it was confirmed.
    pub fn mint_status(&self) -> MintStatus {
        match (self.state, Status::from(self.status)) {
            (BatchState::Confirmed, _) => MintStatus::Confirmed,
            (BatchState::Failed, _) | (_, Status::Failed) => MintStatus::Failed,
            (_, Status::Cancelled) => MintStatus::Cancelled,
            (BatchState::Sent, _) => MintStatus::Sent,
            (BatchState::Pending, _) => MintStatus::Pending,
        }
    }
}

/// Estimated seconds until a mint at `position` is confirmed: the wait for its batch to fill
/// or time out, then a batch's recent creation-to-confirmation time. Batches of a deep queue
/// are formed at once and sent concurrently, so depth adds little beyond that.
pub fn estimated_wait_seconds(settings: &Settings, position: i64, batch_latency_ms: f64) -> i64 {
    let fill_ms = if position >= settings.max_batch_size {
        0.0
    } else {
        settings.max_batch_wait_ms as f64
    };
    ((fill_ms + batch_latency_ms) / 1000.0).ceil() as i64
}

/// Mint counts by status.
#[derive(Object, Default)]
#[oai(rename_all = "camelCase")]
pub struct QueueCounts {
    /// Mints of payments not confirmed yet.
    pub awaiting_payment: i64,
    pub pending: i64,
    pub processing: i64,
    pub sent: i64,
    pub confirmed: i64,
    pub failed: i64,
    pub cancelled: i64,
}

/// The batch settings in force.
#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub struct BatchSettings {
    /// Most mints per batch (`max_batch_size`).
    pub max_batch_size: i64,
    /// Longest a pending mint waits before its batch is flushed, ms (`max_batch_wait_ms`).
    pub max_batch_wait_ms: i64,
    /// Most mints waiting before new requests get 429 (`max_queue_depth`).
    pub max_queue_depth: i64,
}

/// The queue at a glance.
#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub struct QueueView {
    pub counts: QueueCounts,
    #[oai(nullable)]
    pub oldest_pending_at: Option<chrono::DateTime<chrono::Utc>>,
    #[oai(nullable)]
    pub oldest_pending_age_seconds: Option<f64>,
    pub unique_payers_pending: i64,
    /// The 10 newest batches.
    pub recent_batches: Vec<BatchView>,
    pub settings: BatchSettings,
}

/// The queue at a glance, from the shared snapshot (at most a second old).
pub async fn queue_view(app: &AppState) -> Result<QueueView, ApiError> {
    let settings = app.settings.get();
    let snapshot = app.snapshot.get().await?;
    let mut counts = QueueCounts::default();
    for c in snapshot
        .overview
        .workflows
        .iter()
        .filter(|c| c.kind == MINT)
    {
        let slot = match MintStatus::from_parts(&c.status, &c.state) {
            MintStatus::AwaitingPayment => &mut counts.awaiting_payment,
            MintStatus::Pending => &mut counts.pending,
            MintStatus::Processing => &mut counts.processing,
            MintStatus::Sent => &mut counts.sent,
            MintStatus::Confirmed => &mut counts.confirmed,
            MintStatus::Failed => &mut counts.failed,
            MintStatus::Cancelled => &mut counts.cancelled,
        };
        *slot += c.count;
    }
    let pending = &snapshot.pending_mints;
    let now = crate::store::now_ms();
    Ok(QueueView {
        counts,
        oldest_pending_at: opt_from_ms(pending.oldest_ms),
        oldest_pending_age_seconds: pending.oldest_ms.map(|t| (now - t).max(0) as f64 / 1000.0),
        unique_payers_pending: pending.unique_payers,
        recent_batches: snapshot
            .recent_batches
            .iter()
            .cloned()
            .map(BatchView::new)
            .collect(),
        settings: BatchSettings {
            max_batch_size: settings.max_batch_size,
            max_batch_wait_ms: settings.max_batch_wait_ms,
            max_queue_depth: settings.max_queue_depth,
        },
    })
}
