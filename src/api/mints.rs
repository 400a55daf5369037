//! The mint queue API: `POST /v1/mints`, reading mints, the queue and batches.
mod intake;

use alloy::primitives::Address;
use poem::Request;
use poem::web::Data;
use poem_openapi::{
    ApiResponse, Object, OpenApi, Tags,
    param::{Header, Path, Query},
    payload::Json,
};
use uuid::Uuid;

use super::AppState;
use super::auth::{Access, Admin, Mint, Public, Read};
use super::declared::{
    AddressText, Declared, HashText, IdempotencyKeyShape, PriorityShape, QuantityShape, UuidText,
};
use super::error::{
    ApiError, Errors, KeyedById, KeyedList, KeyedRead, KeyedUpdateInState, MintIntake, PublicRead,
    parse_uuid,
};
use super::mint_views::{BatchView, MintStatus, MintView, PaymentTypeDto, QueueView, queue_view};
use crate::app::address::{self, InvalidAddress};
use crate::app::context::NoChain;
use crate::app::mints::{self, QuantityOutOfRange};
use crate::chain::signer::address_key;
use crate::spec::nullable::Nullable;
use crate::store::mints::Reprioritized;
use crate::store::workflows::ListFilter;
use crate::workflows::priority::Refusal;

pub use intake::{accept, find_mint};

#[derive(Tags)]
pub enum MintsTag {
    /// Token mints: queue them, follow them, watch the queue and its batches.
    Mints,
}

/// A request to mint.
#[derive(Clone, Debug, Object)]
// Absent fields are left out of the example rather than shown as `null`, which the schema
// does not declare.
#[oai(rename_all = "camelCase", example, skip_serializing_if_is_none)]
pub struct MintBody {
    /// Who paid (0x address).
    pub payer: AddressText,
    /// Who receives the tokens (0x address); the payer when absent.
    #[oai(nullable)]
    pub recipient: Option<AddressText>,
    /// The token contract (0x address); the server's default token when absent.
    #[oai(nullable)]
    pub token: Option<AddressText>,
    /// How many mints (token ids), 1 to 100; each mints `amountPerMint` of the token.
    #[oai(nullable)]
    pub quantity: Option<Declared<QuantityShape, i64>>,
    pub payment_type: Nullable<PaymentTypeDto>,
    /// Batches take a token's higher priorities first, then older mints first: 0 (when
    /// absent) to 100, at most the key's `maxPriority` (admins may ask for any).
    #[oai(nullable)]
    pub priority: Option<Declared<PriorityShape, i64>>,
    /// The payment's transaction hash: the idempotency key when no `Idempotency-Key` header
    /// is sent (the old API's `tx_hash`).
    #[oai(nullable)]
    pub tx_hash: Option<HashText>,
}

/// A queued request.
#[derive(Object)]
#[oai(example)]
#[oai(rename_all = "camelCase")]
pub struct MintAccepted {
    /// The first mint's id; follow it at `/v1/mints/{id}`.
    pub id: Uuid,
    /// Every mint of the request (one per unit of `quantity`).
    pub ids: Vec<Uuid>,
    pub status: MintStatus,
    /// Estimated place in the queue.
    pub queue_position: i64,
    /// Estimated seconds until confirmed.
    pub estimated_wait_seconds: i64,
    #[oai(validator(pattern = r"^0x[0-9a-fA-F]{40}$"))]
    pub payer: String,
    #[oai(validator(pattern = r"^0x[0-9a-fA-F]{40}$"))]
    pub recipient: String,
    #[oai(validator(pattern = r"^0x[0-9a-fA-F]{40}$"))]
    pub token: String,
    pub quantity: u32,
    pub payment_type: PaymentTypeDto,
    /// The priority its mints queue at (0 to 100).
    #[oai(validator(minimum(value = "0"), maximum(value = "100")))]
    pub priority: i16,
    /// The key the request was stored under (given, or generated).
    pub idempotency_key: String,
    /// True when the key was used before with the same request: these are the first
    /// request's mints.
    pub existing: bool,
}

#[derive(ApiResponse)]
pub enum MintResponse {
    /// Queued: committed before this answer.
    #[oai(status = 202)]
    Accepted(Json<MintAccepted>),
    /// The same request was queued before under this idempotency key.
    #[oai(status = 200)]
    Existing(Json<MintAccepted>),
}

/// A page of mints, newest first.
#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub struct MintPage {
    pub items: Vec<MintView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

/// A pending mint's new priority.
#[derive(Object)]
#[oai(example)]
#[oai(rename_all = "camelCase")]
pub struct PriorityBody {
    /// 0 to 100; the mint's token's batches take higher priorities first.
    pub priority: Declared<PriorityShape, i64>,
}

pub struct MintsApi;

#[OpenApi(tag = "MintsTag::Mints")]
impl MintsApi {
    /// Queue mints without payment
    ///
    /// Who may call: a key with the `mint` scope (or `admin`), within the key's mint quota.
    /// Buyers pay through `POST /x402/mint`, `POST /v1/payments` or the old `POST /mint`.
    ///
    /// Stores one mint per unit of `quantity` and answers 202 once they are committed; they
    /// are then batched into `batchMint` transactions (follow one at `GET /v1/mints/{id}`).
    /// Idempotent: the same key (`Idempotency-Key`, else `txHash`) with the same request
    /// answers 200 with the first request's mints, with another request 409
    /// `idempotency_conflict`; each mint is minted on chain once whatever the retries. 429
    /// (`queue_full`, `payer_rate_limited`, `ip_rate_limited`, `key_quota_exceeded`) with
    /// `Retry-After` when a limit is reached; nothing is written then.
    #[oai(path = "/v1/mints", method = "post", operation_id = "create_mint")]
    async fn create(
        &self,
        app: Data<&AppState>,
        auth: Access<Mint>,
        req: &Request,
        body: Json<MintBody>,
        /// Makes the request safe to retry: 1 to 200 visible ASCII characters.
        #[oai(name = "Idempotency-Key")]
        idempotency_key: Header<Option<Declared<IdempotencyKeyShape>>>,
    ) -> Result<MintResponse, Errors<MintIntake>> {
        let header_key = idempotency_key.0.map(Declared::into_inner);
        let accepted = accept(&app, req, &auth, body.0, header_key).await?;
        Ok(if accepted.existing {
            MintResponse::Existing(Json(accepted))
        } else {
            MintResponse::Accepted(Json(accepted))
        })
    }

    /// Get one mint
    ///
    /// Who may call: anyone (public).
    /// Limited by `public_read_rate_per_minute` per client.
    ///
    /// Its status, exact queue position while pending, batch and transaction once sent, and
    /// failure code if it failed. 404 `mint_not_found` for an unknown id.
    #[oai(path = "/v1/mints/:id", method = "get", operation_id = "get_mint")]
    async fn get(
        &self,
        app: Data<&AppState>,
        _public: Public,
        id: Path<UuidText>,
    ) -> Result<Json<MintView>, Errors<PublicRead>> {
        let id = parse_uuid("id", &id.0)?;
        Ok(Json(find_mint(&app, id).await?))
    }

    /// List mints
    ///
    /// Who may call: a key with the `read` scope (or `admin`).
    ///
    /// Mints, newest first, narrowed by payer, token and status. Paged: pass the answer's
    /// next cursor back as `cursor` for the next page.
    #[oai(path = "/v1/mints", method = "get", operation_id = "list_mints")]
    // Each query parameter is its own argument: that is how poem-openapi documents them.
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        app: Data<&AppState>,
        _auth: Access<Read>,
        /// Only this payer (0x address).
        payer: Query<Option<AddressText>>,
        /// Only this token (0x address).
        token: Query<Option<AddressText>>,
        /// Only mints in this status.
        status: Query<Option<MintStatus>>,
        /// Page size, 1 to 500.
        #[oai(
            default = "default_limit",
            validator(minimum(value = "1"), maximum(value = "500"))
        )]
        limit: Query<u64>,
        /// `nextCursor` of the previous page.
        cursor: Query<Option<UuidText>>,
    ) -> Result<Json<MintPage>, Errors<KeyedList>> {
        let (state, status_filter) = status.0.map(MintStatus::filter).unzip();
        let state = state.flatten();
        let filter = ListFilter {
            payer: payer
                .0
                .as_deref()
                .map(|p| parse_address("payer", p))
                .transpose()?
                .map(address_key),
            token: token
                .0
                .as_deref()
                .map(|t| parse_address("token", t))
                .transpose()?
                .map(address_key),
            state: state.map(|s| s.as_str().to_owned()),
            status: status_filter,
            before_id: cursor
                .0
                .as_deref()
                .map(|c| parse_uuid("cursor", c))
                .transpose()?,
            limit: limit.0 + 1,
            ..Default::default()
        };
        let rows = mints::list(&app.context(), filter).await?;
        let (items, next_cursor) = super::page(rows, limit.0);
        Ok(Json(MintPage {
            items: items.into_iter().map(|m| MintView::new(m, None)).collect(),
            next_cursor,
        }))
    }

    /// Get the mint queue at a glance
    ///
    /// Who may call: a key with the `read` scope (or `admin`).
    ///
    /// Mints by status, the oldest pending, recent batches and the batch settings: a snapshot
    /// at most a second old, shared by every caller.
    #[oai(path = "/v1/queue", method = "get", operation_id = "get_queue")]
    async fn queue(
        &self,
        app: Data<&AppState>,
        _auth: Access<Read>,
    ) -> Result<Json<QueueView>, Errors<KeyedRead>> {
        Ok(Json(queue_view(&app).await?))
    }

    /// Get one mint batch
    ///
    /// Who may call: a key with the `read` scope (or `admin`).
    ///
    /// The batch with its mints and its `batchMint` transaction. 404 `batch_not_found` for an
    /// unknown id.
    #[oai(path = "/v1/batches/:id", method = "get", operation_id = "get_batch")]
    async fn batch(
        &self,
        app: Data<&AppState>,
        _auth: Access<Read>,
        id: Path<UuidText>,
    ) -> Result<Json<BatchView>, Errors<KeyedById>> {
        let id = parse_uuid("id", &id.0)?;
        let row = mints::batch(&app.context(), id)
            .await?
            .ok_or_else(|| ApiError::not_found("batch_not_found", format!("no batch {id}")))?;
        Ok(Json(BatchView::new(row)))
    }

    /// Set a pending mint's priority
    ///
    /// Who may call: `admin` (a key with that scope, or `ADMIN_TOKEN`).
    /// Recorded in the audit log (`mint.priority`) and in the mint's history, with who asked
    /// (`X-Actor`) and why (`reason`).
    ///
    /// Raises (or lowers) a mint still waiting in the queue: its token's next batches take
    /// higher priorities first, then older mints first. Answers the mint with its new queue
    /// position. 409 `mint_not_pending` once the mint was taken into a batch (or has not
    /// joined the queue yet: its payment is unconfirmed); 422 `priority_out_of_range` outside
    /// 0 to 100; 404 `mint_not_found` for an unknown id.
    #[oai(
        path = "/v1/mints/:id/priority",
        method = "post",
        operation_id = "set_mint_priority"
    )]
    async fn set_priority(
        &self,
        app: Data<&AppState>,
        auth: Access<Admin>,
        id: Path<UuidText>,
        body: Json<PriorityBody>,
        /// Why; kept in the history and the audit log.
        reason: Query<Option<String>>,
        /// Who is acting; recorded beside the key's own name.
        #[oai(name = "X-Actor")]
        actor: Header<Option<String>>,
    ) -> Result<Json<MintView>, Errors<KeyedUpdateInState>> {
        let id = parse_uuid("id", &id.0)?;
        let wanted = body.0.priority.into_inner();
        let who = super::workflows::actor_of(auth.actor(actor.0), reason.0);
        let changed = mints::set_priority(&app.context(), id, wanted, &who).await;
        match changed.map_err(ApiError::from)? {
            Reprioritized::Done(_) => Ok(Json(find_mint(&app, id).await?)),
            Reprioritized::NotFound => {
                Err(ApiError::not_found("mint_not_found", format!("no mint {id}")).into())
            }
            Reprioritized::NotPending(state) => Err(ApiError::conflict(
                "mint_not_pending",
                format!(
                    "mint {id} is {state}, not waiting in the queue: its priority no longer matters"
                ),
            )
            .into()),
        }
    }
}

/// A refused priority as the client reads it: above the key's maximum is a permission (403),
/// out of range a bad value (422).
fn refused(refusal: Refusal) -> ApiError {
    match refusal {
        Refusal::AboveKeyMaximum { .. } => {
            ApiError::forbidden("priority_above_key_maximum", refusal.to_string())
        }
        Refusal::OutOfRange(_) => {
            ApiError::unprocessable("priority_out_of_range", refusal.to_string())
        }
    }
}

fn default_limit() -> u64 {
    50
}

/// Parses a 0x address, naming the field in the error.
pub fn parse_address(field: &str, raw: &str) -> Result<Address, ApiError> {
    Ok(address::parse(field, raw)?)
}

impl From<NoChain> for ApiError {
    fn from(e: NoChain) -> Self {
        ApiError::unavailable("no_chain", e.to_string())
    }
}

impl From<QuantityOutOfRange> for ApiError {
    fn from(e: QuantityOutOfRange) -> Self {
        ApiError::unprocessable("quantity_out_of_range", e.to_string())
    }
}

impl From<InvalidAddress> for ApiError {
    fn from(e: InvalidAddress) -> Self {
        ApiError::bad_request("invalid_address", e.to_string())
    }
}
