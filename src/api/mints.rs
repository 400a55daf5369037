//! The mint queue API: `POST /v1/mints`, reading mints, the queue and batches.
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
use super::admission::KeyQuota;
use super::auth::{Access, Admin, Caller, Mint, Public, Read};
use super::declared::{
    AddressText, Declared, HashText, IdempotencyKeyShape, PriorityShape, QuantityShape, UuidText,
};
use super::error::{
    ApiError, Errors, KeyedById, KeyedList, KeyedRead, KeyedUpdateInState, MintIntake, PublicRead,
    parse_uuid,
};
use super::mint_views::{BatchView, MintStatus, MintView, PaymentTypeDto, estimated_wait_seconds};
use crate::chain::signer::address_key;
use crate::engine::StartError;
use crate::spec::nullable::Nullable;
use crate::store::mints::QueuePlace;
use crate::store::mints::{self as queue, MINT, MINT_BATCH, Reprioritized};
use crate::store::time::opt_from_ms;
use crate::store::workflows::{self as rows, ListFilter};
use crate::workflows::mint::{self, MAX_QUANTITY, MintRequest};
use crate::workflows::priority::{self, Refusal};

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
            kind: Some(MINT.into()),
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
            state: state.map(str::to_owned),
            status: status_filter,
            before_id: cursor
                .0
                .as_deref()
                .map(|c| parse_uuid("cursor", c))
                .transpose()?,
            limit: limit.0 + 1,
            ..Default::default()
        };
        let (items, next_cursor) = super::page(rows::list(&app.read_db, &filter).await?, limit.0);
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
        let row = rows::find(&app.db, id)
            .await?
            .filter(|w| w.kind == MINT_BATCH)
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
        let wanted = priority::in_range(body.0.priority.into_inner()).map_err(refused)?;
        let who = super::workflows::actor_of(auth.actor(actor.0), reason.0);
        match queue::set_priority(&app.db, id, wanted, &who).await? {
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

/// Validates, admits and queues a mint request (both API shapes use it). Nothing is written
/// for a refused request; an accepted one is committed before this returns.
pub async fn accept(
    app: &AppState,
    req: &Request,
    caller: &Caller,
    body: MintBody,
    header_key: Option<String>,
) -> Result<MintAccepted, ApiError> {
    let chain = app.chain.as_ref().ok_or_else(|| {
        ApiError::unavailable("no_chain", "this server has no chain configured (RPC_URL)")
    })?;
    let payer = parse_address("payer", &body.payer)?;
    let recipient = match body.recipient.as_deref() {
        Some(r) => parse_address("recipient", r)?,
        None => payer,
    };
    if recipient == Address::ZERO {
        return Err(ApiError::unprocessable(
            "invalid_recipient",
            "`recipient` must not be the zero address: the token cannot mint to it",
        ));
    }
    let quantity = body.quantity.as_deref().copied().unwrap_or(1);
    if !(1..=i64::from(MAX_QUANTITY)).contains(&quantity) {
        return Err(ApiError::unprocessable(
            "quantity_out_of_range",
            format!("`quantity` must be between 1 and {MAX_QUANTITY}, got {quantity}"),
        ));
    }
    let quantity = quantity as u32;
    let priority = priority::admit(body.priority.as_deref().copied(), caller.max_mint_priority)
        .map_err(refused)?;
    if let Some(hash) = &body.tx_hash {
        parse_tx_hash(hash)?;
    }
    let key = match (header_key, body.tx_hash.as_deref()) {
        (Some(k), tx_hash) => validate_key(k, tx_hash.map(String::as_str))?,
        (None, Some(hash)) => hash.to_lowercase(),
        (None, None) => Uuid::now_v7().to_string(),
    };
    let token = match body.token.as_deref() {
        Some(t) => parse_address("token", t)?,
        None => app.contracts.token.ok_or_else(|| {
            ApiError::unprocessable(
                "no_default_token",
                "no `token` given and the server has no default token (TOKEN_ADDRESS)",
            )
        })?,
    };
    if !app
        .admission
        .token_known(&app.db, chain.chain_id() as i64, &address_key(token))
        .await?
    {
        return Err(ApiError::not_found(
            "unknown_token",
            format!(
                "token {token} is not registered on chain {}",
                chain.chain_id()
            ),
        ));
    }
    let settings = app.settings.get();
    let ip = Some(super::client::key(req));
    let ticket = app
        .admission
        .admit(
            &app.db,
            &settings,
            &address_key(payer),
            ip.as_deref(),
            caller
                .key_id
                .as_deref()
                .zip(caller.mint_quota_per_minute)
                .map(|(key_id, per_minute)| KeyQuota { key_id, per_minute }),
            quantity,
        )
        .await?;
    let payment_type = body.payment_type.0.unwrap_or_default();
    let request = MintRequest {
        payer,
        recipient,
        token,
        quantity,
        payment_type: payment_type.into(),
        key: key.clone(),
        parent_id: None,
        priority,
    };
    let enqueued = mint::enqueue(&app.client, &request)
        .await
        .map_err(|e| match e {
            StartError::IdempotencyConflict { existing } => ApiError::conflict(
                "idempotency_conflict",
                format!(
                    "idempotency key `{key}` was used with a different request (mint {existing})"
                ),
            ),
            StartError::Db(e) => e.into(),
        })?;
    if !enqueued.existing {
        app.admission.admitted(quantity);
        app.queue.notify();
    }
    // A repeated request reports where its first mint is now (an admin may have raised it).
    let (status, position, priority) = if enqueued.existing {
        let first = find_mint(app, enqueued.ids[0]).await?;
        (
            first.status,
            first.queue_position.unwrap_or(0),
            first.priority,
        )
    } else {
        (MintStatus::Pending, ticket.position, priority)
    };
    let latency = app.admission.batch_latency_ms(&app.db, &settings).await?;
    Ok(MintAccepted {
        id: enqueued.ids[0],
        ids: enqueued.ids,
        status,
        queue_position: position,
        estimated_wait_seconds: match status {
            MintStatus::Confirmed | MintStatus::Failed | MintStatus::Cancelled => 0,
            _ => estimated_wait_seconds(&settings, position, latency),
        },
        payer: address_key(payer),
        recipient: address_key(recipient),
        token: address_key(token),
        quantity,
        payment_type,
        priority,
        idempotency_key: key,
        existing: enqueued.existing,
    })
}

/// A mint with its exact queue position while pending.
pub async fn find_mint(app: &AppState, id: Uuid) -> Result<MintView, ApiError> {
    let row = rows::find(&app.db, id)
        .await?
        .filter(|w| w.kind == MINT)
        .ok_or_else(|| ApiError::not_found("mint_not_found", format!("no mint {id}")))?;
    let position = match (MintStatus::of(&row), row.token.as_deref()) {
        (MintStatus::Pending, Some(token)) => {
            let place = QueuePlace {
                priority: row.priority,
                id,
            };
            Some(queue::position(&app.db, token, place).await?)
        }
        _ => None,
    };
    Ok(MintView::new(row, position))
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

/// Parses a 0x address, naming the field in the error.
pub fn parse_address(field: &str, raw: &str) -> Result<Address, ApiError> {
    let hex = raw.strip_prefix("0x").or_else(|| raw.strip_prefix("0X"));
    match hex {
        Some(h) if h.len() == 40 && h.chars().all(|c| c.is_ascii_hexdigit()) => {
            Ok(raw.to_lowercase().parse().expect("validated hex"))
        }
        _ => Err(ApiError::bad_request(
            "invalid_address",
            format!("`{field}` must be a 0x-prefixed 20-byte hex address, got `{raw}`"),
        )),
    }
}

fn parse_tx_hash(raw: &str) -> Result<(), ApiError> {
    let hex = raw.strip_prefix("0x").unwrap_or_default();
    if hex.len() == 64 && hex.chars().all(|c| c.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            "invalid_tx_hash",
            format!("`txHash` must be a 0x-prefixed 32-byte hex hash, got `{raw}`"),
        ))
    }
}

/// A client's `Idempotency-Key`: it may not stand for a key the service uses itself (a
/// payment's mints, another request's later mints), nor for a transaction hash other than the
/// request's own `txHash` (the natural key of the mints that transaction paid for).
fn validate_key(key: String, tx_hash: Option<&str>) -> Result<String, ApiError> {
    if !(1..=200).contains(&key.len()) || !key.chars().all(|c| c.is_ascii_graphic()) {
        return Err(ApiError::bad_request(
            "invalid_idempotency_key",
            "`Idempotency-Key` must be 1 to 200 visible ASCII characters",
        ));
    }
    if mint::is_reserved_key(&key) {
        return Err(ApiError::bad_request(
            "reserved_idempotency_key",
            "`Idempotency-Key` may not contain `#` or start with `payment:`: the service names \
             its own mints so",
        ));
    }
    let names_other_tx =
        parse_tx_hash(&key).is_ok() && tx_hash.is_none_or(|own| !own.eq_ignore_ascii_case(&key));
    if names_other_tx {
        return Err(ApiError::bad_request(
            "reserved_idempotency_key",
            "an `Idempotency-Key` in the form of a transaction hash must be the request's own \
             `txHash`",
        ));
    }
    Ok(key)
}
