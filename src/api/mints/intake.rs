//! Mint intake as both API shapes answer it: the request parsed, admitted at the edge
//! (`admission`), queued by `app::mints`, and reported with its place in the queue.
use poem::Request;
use uuid::Uuid;

use super::{MintAccepted, MintBody, parse_address, refused};
use crate::api::AppState;
use crate::api::admission::KeyQuota;
use crate::api::auth::Caller;
use crate::api::declared::{AddressText, Declared};
use crate::api::error::ApiError;
use crate::api::mint_views::{MintStatus, MintView, estimated_wait_seconds};
use crate::app::mints::{self, Intake};
use crate::chain::signer::address_key;

/// Validates, admits and queues a mint request (both API shapes use it). Nothing is written
/// for a refused request; an accepted one is committed before this returns.
pub async fn accept(
    app: &AppState,
    req: &Request,
    caller: &Caller,
    body: MintBody,
    header_key: Option<String>,
) -> Result<MintAccepted, ApiError> {
    let ctx = app.context();
    let chain = ctx.chain()?;
    let address =
        |field: &str, raw: Option<&AddressText>| raw.map(|r| parse_address(field, r)).transpose();
    let payer = parse_address("payer", &body.payer)?;
    let recipient = address("recipient", body.recipient.as_ref())?;
    let token = address("token", body.token.as_ref())?;
    let payment_type = body.payment_type.0.unwrap_or_default();
    let request = mints::request(
        &ctx,
        Intake {
            payer,
            recipient,
            token,
            quantity: body.quantity.as_deref().copied(),
            priority: body.priority.as_deref().copied(),
            max_priority: caller.max_mint_priority,
            tx_hash: body.tx_hash.map(Declared::into_inner),
            key: header_key,
            payment_type: payment_type.into(),
        },
    )?;
    let (token, quantity) = (request.token, request.quantity);
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
    let ip = Some(crate::api::client::key(req));
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
    let enqueued = mints::enqueue(&ctx, &request).await?;
    if !enqueued.existing {
        app.admission.admitted(quantity);
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
        (MintStatus::Pending, ticket.position, request.priority)
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
        recipient: address_key(request.recipient),
        token: address_key(token),
        quantity,
        payment_type,
        priority,
        idempotency_key: request.key,
        existing: enqueued.existing,
    })
}

/// A mint with its exact queue position while pending.
pub async fn find_mint(app: &AppState, id: Uuid) -> Result<MintView, ApiError> {
    let ctx = app.context();
    let row = mints::find(&ctx, id)
        .await?
        .ok_or_else(|| ApiError::not_found("mint_not_found", format!("no mint {id}")))?;
    let position = match MintStatus::of(&row) {
        MintStatus::Pending if row.token.is_some() => {
            Some(mints::queue_position(&ctx, &row).await?)
        }
        _ => None,
    };
    Ok(MintView::new(row, position))
}

impl From<mints::Error> for ApiError {
    fn from(e: mints::Error) -> Self {
        let message = e.to_string();
        match e {
            mints::Error::NoChain(e) => e.into(),
            mints::Error::ZeroRecipient => ApiError::unprocessable("invalid_recipient", message),
            mints::Error::QuantityOutOfRange(e) => e.into(),
            mints::Error::Priority(refusal) => refused(refusal),
            mints::Error::InvalidTxHash(_) => ApiError::bad_request("invalid_tx_hash", message),
            mints::Error::InvalidKey => ApiError::bad_request("invalid_idempotency_key", message),
            mints::Error::KeyReservedForService | mints::Error::KeyNamesAnotherTx => {
                ApiError::bad_request("reserved_idempotency_key", message)
            }
            mints::Error::NoDefaultToken => ApiError::unprocessable("no_default_token", message),
            mints::Error::IdempotencyConflict { .. } => {
                ApiError::conflict("idempotency_conflict", message)
            }
            mints::Error::StarterStopped => ApiError::fault(&message),
            mints::Error::Db(e) => e.into(),
        }
    }
}
