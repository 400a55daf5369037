//! The old server's paths and field names, kept exactly for existing frontends: `POST /mint`,
//! `GET /queue/status`, `GET /queue/payer/{address}`, `GET /queue/item/{queueId}`. They run
//! on the same code as `/v1`; statuses use the old four words (`LegacyMintStatus`). Every
//! operation here is deprecated in the document: new code should use `/v1`.
use chrono::{DateTime, Utc};
use poem::Request;
use poem::web::Data;
use poem_openapi::{
    ApiResponse, Enum, Object, OpenApi, Tags,
    param::{Header, Path},
    payload::Json,
};
use uuid::Uuid;

use super::AppState;
use super::auth::{Access, MaybeKey, Public, Read};
use super::declared::{AddressText, Declared, HashText, IdempotencyKeyShape, UuidText};
use super::error::{ApiError, Errors, KeyedRead, KeyedX402, PublicRead, parse_uuid};
use super::mint_views::{MintStatus, MintView, PaymentTypeDto, queue_view};
use super::mints::{MintBody, accept, find_mint, parse_address};
use super::payments::PaymentStatus;
use super::x402::{
    PaymentHeader, X402MintBody, X402Paid, X402RequiredError, X402Response, paid_mint,
};
use crate::app::keys::Scope;
use crate::app::mints;
use crate::chain::signer::address_key;
use crate::spec::nullable::Nullable;
use crate::store::workflows::ListFilter;

#[derive(Tags)]
pub enum LegacyTag {
    /// The old server's endpoints, unchanged for existing frontends (deprecated: new code should
    /// use `/v1`).
    Legacy,
}

/// A mint's status in the old server's words: `pending` (queued, waiting for its batch or for
/// its payment to settle), `processing` (in a batch whose transaction is being prepared or is
/// waiting for its confirmations), `completed` (minted: its batch is confirmed), `failed`
/// (failed or cancelled: not minted unless an operator retries it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum LegacyMintStatus {
    Pending,
    Processing,
    Completed,
    Failed,
}

impl From<MintStatus> for LegacyMintStatus {
    fn from(s: MintStatus) -> Self {
        match s {
            MintStatus::AwaitingPayment | MintStatus::Pending => LegacyMintStatus::Pending,
            MintStatus::Processing | MintStatus::Sent => LegacyMintStatus::Processing,
            MintStatus::Confirmed => LegacyMintStatus::Completed,
            MintStatus::Failed | MintStatus::Cancelled => LegacyMintStatus::Failed,
        }
    }
}

/// The old `POST /mint` body.
#[derive(Object)]
#[oai(example, skip_serializing_if_is_none)]
pub struct LegacyMintBody {
    /// Who paid; also the recipient unless `recipient` is given.
    pub payer: AddressText,
    #[oai(nullable)]
    pub recipient: Option<AddressText>,
    #[oai(nullable)]
    pub token: Option<AddressText>,
    #[oai(nullable)]
    pub quantity: Option<i64>,
    /// The payment transaction's hash: the idempotency key.
    #[oai(nullable)]
    pub tx_hash: Option<HashText>,
    /// Same as `tx_hash` (the old frontends sent either spelling).
    #[oai(rename = "txHash")]
    #[oai(nullable)]
    pub tx_hash_camel: Option<HashText>,
    #[oai(rename = "paymentType")]
    pub payment_type: Nullable<PaymentTypeDto>,
}

/// What `POST /mint` answers.
#[derive(ApiResponse)]
pub enum LegacyMintResponse {
    /// Queued: with a `mint` key, or paid (then `PAYMENT-RESPONSE`, or `X-PAYMENT-RESPONSE`
    /// for x402 v1, carries the settlement).
    #[oai(status = 200)]
    Queued(
        Json<LegacyMintAnswer>,
        #[oai(header = "PAYMENT-RESPONSE")] Option<String>,
        #[oai(header = "X-PAYMENT-RESPONSE")] Option<String>,
    ),
    /// Paid, but the settlement was not confirmed within 60 s: follow
    /// `GET /queue/item/{queueId}`.
    #[oai(status = 202)]
    Settling(Json<LegacyMintAnswer>),
    /// Payment required, or refused (`code` is the x402 `errorReason`, or mintflow's own
    /// `authorization_validity_too_short`, `too_many_open_payments`,
    /// `insufficient_balance_for_open_payments`, `payer_settlements_reverted`):
    /// `PAYMENT-REQUIRED` holds the offer (and the body, for x402 v1 clients).
    #[oai(status = 402)]
    Required(
        Json<X402RequiredError>,
        #[oai(header = "PAYMENT-REQUIRED")] String,
        #[oai(header = "PAYMENT-RESPONSE")] Option<String>,
        #[oai(header = "X-PAYMENT-RESPONSE")] Option<String>,
        #[oai(header = "Cache-Control")] String,
    ),
}

/// The old answer for mints a payment bought.
async fn paid_answer(app: &AppState, paid: &X402Paid) -> Result<LegacyMintAnswer, ApiError> {
    // A payment for mints is created with them, in one transaction: one without is a fault.
    let first =
        paid.mint_ids.first().copied().ok_or_else(|| {
            ApiError::fault(&format!("payment {} bought no mints", paid.payment_id))
        })?;
    let mint = find_mint(app, first).await?;
    let settled = paid.status == PaymentStatus::Confirmed.as_str();
    Ok(LegacyMintAnswer {
        success: true,
        message: if settled {
            "paid and queued for minting".into()
        } else {
            format!("payment {} is settling", paid.payment_id)
        },
        queue_id: mint.id,
        queue_position: mint.queue_position.unwrap_or(0),
        payer: mint.payer,
        estimated_wait_seconds: 0,
        payment_type: mint.payment_type,
    })
}

/// The old `POST /mint` answer.
#[derive(Object)]
#[oai(example)]
#[oai(rename_all = "camelCase")]
pub struct LegacyMintAnswer {
    pub success: bool,
    pub message: String,
    /// The mint's id.
    pub queue_id: Uuid,
    pub queue_position: i64,
    pub payer: String,
    pub estimated_wait_seconds: i64,
    pub payment_type: PaymentTypeDto,
}

/// Mints by old status (awaiting payment counts as `pending`, cancelled as `failed`, as their
/// items say).
#[derive(Object)]
pub struct LegacyStats {
    pub pending_count: i64,
    pub processing_count: i64,
    pub completed_count: i64,
    pub failed_count: i64,
    /// When the oldest pending mint was queued.
    #[oai(nullable)]
    pub oldest_pending: Option<DateTime<Utc>>,
    pub unique_payers_pending: i64,
}

#[derive(Object)]
pub struct LegacyBatch {
    pub id: Uuid,
    pub status: LegacyMintStatus,
    pub mint_count: usize,
    #[oai(nullable)]
    pub tx_hash: Option<String>,
    #[oai(nullable)]
    pub block_number: Option<i64>,
    pub created_at: DateTime<Utc>,
    #[oai(nullable)]
    pub completed_at: Option<DateTime<Utc>>,
}

/// The old `GET /queue/status` answer.
#[derive(Object)]
pub struct LegacyQueueStatus {
    pub stats: LegacyStats,
    #[oai(rename = "recentBatches")]
    pub recent_batches: Vec<LegacyBatch>,
    /// Longest a mint waits for its batch, in seconds (`max_batch_wait_ms` / 1000).
    #[oai(rename = "batchInterval")]
    pub batch_interval: f64,
    #[oai(rename = "maxBatchSize")]
    pub max_batch_size: i64,
}

/// The old queue item.
#[derive(Object)]
pub struct LegacyQueueItem {
    pub id: Uuid,
    pub payer_address: String,
    pub status: LegacyMintStatus,
    #[oai(nullable)]
    pub queue_position: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[oai(nullable)]
    pub processed_at: Option<DateTime<Utc>>,
    #[oai(nullable)]
    pub mint_tx_hash: Option<String>,
    #[oai(nullable)]
    pub error_message: Option<String>,
    pub retry_count: u32,
    pub payment_type: PaymentTypeDto,
}

impl From<MintView> for LegacyQueueItem {
    fn from(m: MintView) -> Self {
        LegacyQueueItem {
            id: m.id,
            payer_address: m.payer,
            status: m.status.into(),
            queue_position: m.queue_position,
            created_at: m.created_at,
            updated_at: m.updated_at,
            processed_at: m.finished_at,
            mint_tx_hash: m.tx_hash,
            error_message: m.error,
            retry_count: m.requeued,
            payment_type: m.payment_type,
        }
    }
}

/// The old `GET /queue/payer/{address}` answer.
#[derive(Object)]
pub struct LegacyPayerQueue {
    pub payer: String,
    /// The payer's 100 newest mints.
    pub requests: Vec<LegacyPayerRequest>,
}

/// One of a payer's mints, as `GET /queue/payer/{address}` lists it.
#[derive(Object)]
pub struct LegacyPayerRequest {
    pub id: Uuid,
    pub status: LegacyMintStatus,
    #[oai(nullable)]
    pub queue_position: Option<i64>,
    pub created_at: DateTime<Utc>,
    #[oai(nullable)]
    pub processed_at: Option<DateTime<Utc>>,
    #[oai(nullable)]
    pub mint_tx_hash: Option<String>,
    #[oai(nullable)]
    pub error_message: Option<String>,
}

impl From<MintView> for LegacyPayerRequest {
    fn from(m: MintView) -> Self {
        LegacyPayerRequest {
            id: m.id,
            status: m.status.into(),
            queue_position: m.queue_position,
            created_at: m.created_at,
            processed_at: m.finished_at,
            mint_tx_hash: m.tx_hash,
            error_message: m.error,
        }
    }
}

pub struct LegacyApi;

#[OpenApi(tag = "LegacyTag::Legacy")]
impl LegacyApi {
    /// Queue a mint in the old server's shape (deprecated)
    ///
    /// Who may call: anyone, paying with x402; a key with the `mint` scope queues without
    /// payment, within its quota.
    ///
    /// Paid like the old server's route: without payment it answers 402 with the x402 offer
    /// in `PAYMENT-REQUIRED` (`quantity` x `MINT_PRICE`); with a `PAYMENT-SIGNATURE` it settles
    /// and queues exactly like `POST /x402/mint` (an authorization pays once). With a key it
    /// queues like `POST /v1/mints`: `tx_hash` (or `Idempotency-Key`) is the idempotency key,
    /// and the same request again answers with the first one's mints. New clients use
    /// `POST /v1/mints` or `POST /x402/mint`.
    #[oai(
        path = "/mint",
        method = "post",
        operation_id = "legacy_mint",
        deprecated
    )]
    // Each header is its own argument: that is how poem-openapi documents them.
    #[allow(clippy::too_many_arguments)]
    async fn mint(
        &self,
        app: Data<&AppState>,
        key: MaybeKey,
        req: &Request,
        body: Json<LegacyMintBody>,
        #[oai(name = "Idempotency-Key")] idempotency_key: Header<
            Option<Declared<IdempotencyKeyShape>>,
        >,
        /// base64(JSON PaymentPayload): pays for the mints with x402.
        #[oai(name = "PAYMENT-SIGNATURE")]
        signature: Header<Option<String>>,
        /// base64(JSON v1 PaymentPayload): pays for the mints with x402 v1.
        #[oai(name = "X-PAYMENT")]
        x_payment: Header<Option<String>>,
    ) -> Result<LegacyMintResponse, Errors<KeyedX402>> {
        let b = body.0;
        match key.0 {
            Some(caller) if caller.scopes.allow(Scope::Mint) => {
                let accepted = accept(
                    &app,
                    req,
                    &caller,
                    MintBody {
                        payer: b.payer,
                        recipient: b.recipient,
                        token: b.token,
                        quantity: b.quantity.map(Into::into),
                        payment_type: b.payment_type,
                        // The old API has no priority: the default.
                        priority: None,
                        tx_hash: b.tx_hash.or(b.tx_hash_camel),
                    },
                    idempotency_key.0.map(Declared::into_inner),
                )
                .await?;
                let message = if accepted.existing {
                    "already queued"
                } else {
                    "queued for minting"
                };
                Ok(LegacyMintResponse::Queued(
                    Json(LegacyMintAnswer {
                        success: true,
                        message: message.into(),
                        queue_id: accepted.id,
                        queue_position: accepted.queue_position,
                        payer: accepted.payer,
                        estimated_wait_seconds: accepted.estimated_wait_seconds,
                        payment_type: accepted.payment_type,
                    }),
                    None,
                    None,
                ))
            }
            Some(caller) => Err(ApiError::forbidden(
                "insufficient_scope",
                format!(
                    "`{}` has no `mint` scope: pay with PAYMENT-SIGNATURE, or send no key",
                    caller.name
                ),
            )
            .into()),
            None => {
                parse_address("payer", &b.payer)?;
                // The old shape's `payer` is also the recipient unless `recipient` is given;
                // who pays is whoever signed the payment.
                let order = X402MintBody {
                    recipient: b.recipient.or(Some(b.payer)),
                    token: b.token,
                    quantity: b.quantity.map(Into::into),
                };
                let payment = PaymentHeader::of(signature.0, x_payment.0)?;
                match paid_mint(&app, req, order, payment).await? {
                    X402Response::Paid(paid, settlement, v1_settlement) => {
                        Ok(LegacyMintResponse::Queued(
                            Json(paid_answer(&app, &paid.0).await?),
                            settlement,
                            v1_settlement,
                        ))
                    }
                    X402Response::Settling(paid) => Ok(LegacyMintResponse::Settling(Json(
                        paid_answer(&app, &paid.0).await?,
                    ))),
                    X402Response::Required(body, required, response, v1_response, cache) => Ok(
                        LegacyMintResponse::Required(body, required, response, v1_response, cache),
                    ),
                }
            }
        }
    }

    /// Get queue statistics in the old server's shape (deprecated)
    ///
    /// Who may call: a key with the `read` scope (or `admin`).
    ///
    /// Mint counts and recent batches in the old words, from the same snapshot as
    /// `GET /v1/queue` (at most a second old). New clients use `GET /v1/queue`.
    #[oai(
        path = "/queue/status",
        method = "get",
        operation_id = "legacy_queue_status",
        deprecated
    )]
    async fn status(
        &self,
        app: Data<&AppState>,
        _auth: Access<Read>,
    ) -> Result<Json<LegacyQueueStatus>, Errors<KeyedRead>> {
        let q = queue_view(&app).await?;
        Ok(Json(LegacyQueueStatus {
            stats: LegacyStats {
                pending_count: q.counts.awaiting_payment + q.counts.pending,
                processing_count: q.counts.processing + q.counts.sent,
                completed_count: q.counts.confirmed,
                failed_count: q.counts.failed + q.counts.cancelled,
                oldest_pending: q.oldest_pending_at,
                unique_payers_pending: q.unique_payers_pending,
            },
            recent_batches: q
                .recent_batches
                .into_iter()
                .map(|b| LegacyBatch {
                    id: b.id,
                    status: b.mint_status().into(),
                    mint_count: b.size,
                    tx_hash: b.tx_hash,
                    block_number: b.block_number,
                    created_at: b.created_at,
                    completed_at: b.finished_at,
                })
                .collect(),
            batch_interval: q.settings.max_batch_wait_ms as f64 / 1000.0,
            max_batch_size: q.settings.max_batch_size,
        }))
    }

    /// List a payer's mints in the old server's shape (deprecated)
    ///
    /// Who may call: anyone (public).
    /// Limited by `public_read_rate_per_minute` per client.
    ///
    /// The payer's 100 newest mints, newest first, with the old statuses. Not paged. New
    /// clients use `GET /v1/mints?payer=` (with a `read` key).
    #[oai(
        path = "/queue/payer/:address",
        method = "get",
        operation_id = "legacy_queue_payer",
        deprecated
    )]
    async fn payer(
        &self,
        app: Data<&AppState>,
        _public: Public,
        address: Path<AddressText>,
    ) -> Result<Json<LegacyPayerQueue>, Errors<PublicRead>> {
        let payer = address_key(parse_address("address", &address.0)?);
        let filter = ListFilter {
            payer: Some(payer.clone()),
            limit: 100,
            ..Default::default()
        };
        let rows = mints::list(&app.context(), filter).await?;
        let requests = rows
            .into_iter()
            .map(|m| MintView::new(m, None).into())
            .collect();
        Ok(Json(LegacyPayerQueue { payer, requests }))
    }

    /// Get one queue item in the old server's shape (deprecated)
    ///
    /// Who may call: anyone (public).
    /// Limited by `public_read_rate_per_minute` per client.
    ///
    /// One mint with the old statuses (`sent` shows as `processing`). New clients use
    /// `GET /v1/mints/{id}`.
    #[oai(
        path = "/queue/item/:queueId",
        method = "get",
        operation_id = "legacy_queue_item",
        deprecated
    )]
    async fn item(
        &self,
        app: Data<&AppState>,
        _public: Public,
        #[oai(name = "queueId")] queue_id: Path<UuidText>,
    ) -> Result<Json<LegacyQueueItem>, Errors<PublicRead>> {
        let id = parse_uuid("queueId", &queue_id.0)?;
        Ok(Json(find_mint(&app, id).await?.into()))
    }
}
