//! Payments: `POST /v1/payments` (a signed EIP-3009 authorization in JSON: `gasless`) and
//! reading payments with their mints.
use alloy::primitives::U256;
use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi, Tags, param::Path, payload::Json};
use uuid::Uuid;

use super::AppState;
use super::error::{ApiError, parse_uuid};
use super::mints::parse_address;
use super::time::{from_ms, opt_from_ms};
use crate::chain::signer::address_key;
use crate::chain::{Chain, ChainError};
use crate::engine::StartError;
use crate::store::{mints, workflows as rows};
use crate::workflows::mint::{MAX_QUANTITY, MintRequest, PaymentType};
use crate::workflows::payment::{self, PAYMENT, PaymentData, PaymentKind};
use crate::x402::{self, Authorization, ExactPayload, Offer, PaymentPayload, Reason};

#[derive(Tags)]
pub enum PaymentsTag {
    /// USDC payments for mints, settled on chain with the payer's signed authorization.
    Payments,
}

/// How a payment is made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum PaymentTypeIn {
    /// A signed EIP-3009 `TransferWithAuthorization`; mintflow pays the gas.
    Gasless,
}

/// An EIP-3009 `TransferWithAuthorization` (numbers as decimal strings).
#[derive(Clone, Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct AuthorizationIn {
    pub from: String,
    pub to: String,
    pub value: String,
    pub valid_after: String,
    pub valid_before: String,
    /// 32 bytes, 0x-hex.
    pub nonce: String,
}

/// A payment for `quantity` mints: its authorization must pay exactly `MINT_PRICE` x
/// `quantity` USDC to the server's `PAY_TO`.
#[derive(Clone, Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct PaymentBody {
    pub payment_type: PaymentTypeIn,
    pub authorization: AuthorizationIn,
    /// 65 bytes (r, s, v), 0x-hex.
    pub signature: String,
    /// Who receives the tokens; the payer when absent.
    pub recipient: Option<String>,
    /// The token to mint; the server's default token when absent.
    pub token: Option<String>,
    /// Mints paid for, 1 to 100 (default 1).
    pub quantity: Option<i64>,
}

/// A payment and its mints.
#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub struct PaymentView {
    pub id: Uuid,
    /// `pending`, `processing`, `sent`, `confirmed` or `failed`.
    pub status: String,
    pub payment_type: String,
    pub payer: Option<String>,
    pub pay_to: Option<String>,
    pub asset: Option<String>,
    /// USDC base units.
    pub amount: Option<String>,
    /// The settlement transaction.
    pub tx_hash: Option<String>,
    pub block_number: Option<i64>,
    pub error: Option<String>,
    pub mint_ids: Vec<Uuid>,
    /// True when this authorization was accepted before with the same request.
    pub existing: bool,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

#[derive(ApiResponse)]
pub enum PaymentResponse {
    /// Accepted and committed; it settles on chain next.
    #[oai(status = 202)]
    Accepted(Json<PaymentView>),
    /// This authorization was accepted before with the same request.
    #[oai(status = 200)]
    Existing(Json<PaymentView>),
}

pub struct PaymentsApi;

#[OpenApi(tag = "PaymentsTag::Payments")]
impl PaymentsApi {
    /// Pay for mints with a signed EIP-3009 authorization (`gasless`). It is checked (offer,
    /// amount, recipient, validity, signature, and a simulation of the settlement) before
    /// anything is written; 402 with the x402 `errorReason` as `code` when refused. Accepted,
    /// it is settled on chain; its mints start when the settlement is confirmed and are
    /// cancelled if it fails. The same authorization again returns the same payment.
    #[oai(
        path = "/v1/payments",
        method = "post",
        operation_id = "create_payment"
    )]
    async fn create(
        &self,
        app: Data<&AppState>,
        body: Json<PaymentBody>,
    ) -> Result<PaymentResponse, ApiError> {
        let chain = chain(&app)?;
        let b = body.0;
        let quantity = b.quantity.unwrap_or(1);
        if !(1..=i64::from(MAX_QUANTITY)).contains(&quantity) {
            return Err(ApiError::unprocessable(
                "quantity_out_of_range",
                format!("`quantity` must be between 1 and {MAX_QUANTITY}, got {quantity}"),
            ));
        }
        let offer = offer(&app, chain, quantity as u64)?;
        let payload = PaymentPayload {
            x402_version: x402::types::X402_VERSION,
            payload: ExactPayload {
                authorization: Authorization {
                    from: b.authorization.from,
                    to: b.authorization.to,
                    value: b.authorization.value,
                    valid_after: b.authorization.valid_after,
                    valid_before: b.authorization.valid_before,
                    nonce: b.authorization.nonce,
                },
                signature: b.signature,
            },
            resource: None,
            accepted: offer.requirements(),
        };
        let kind = match b.payment_type {
            PaymentTypeIn::Gasless => PaymentKind::Gasless,
        };
        let order = Order {
            recipient: b.recipient,
            token: b.token,
            quantity: quantity as u32,
        };
        let created = accept(&app, chain, &offer, &payload, kind, order)
            .await
            .map_err(|(e, _)| e)?;
        let mut view = find(&app, created.payment).await?;
        view.existing = created.existing;
        Ok(if created.existing {
            PaymentResponse::Existing(Json(view))
        } else {
            PaymentResponse::Accepted(Json(view))
        })
    }

    /// One payment with its mints.
    #[oai(
        path = "/v1/payments/:id",
        method = "get",
        operation_id = "get_payment"
    )]
    async fn get(
        &self,
        app: Data<&AppState>,
        id: Path<String>,
    ) -> Result<Json<PaymentView>, ApiError> {
        let id = parse_uuid("id", &id.0)?;
        Ok(Json(find(&app, id).await?))
    }
}

/// What a payment buys.
#[derive(Clone, Debug)]
pub struct Order {
    pub recipient: Option<String>,
    pub token: Option<String>,
    pub quantity: u32,
}

/// Verifies a signed payment for `offer`, simulates its settlement and creates the payment
/// with its mints. Nothing is written for a refused payment; the refusal comes with its x402
/// reason when it has one.
pub async fn accept(
    app: &AppState,
    chain: &Chain,
    offer: &Offer,
    payload: &PaymentPayload,
    kind: PaymentKind,
    order: Order,
) -> Result<payment::Created, (ApiError, Option<Reason>)> {
    let now = chrono::Utc::now().timestamp().max(0) as u64;
    let verified = x402::verify(offer, payload, now).map_err(|r| (refused(r), Some(r)))?;
    let data = PaymentData {
        kind,
        asset: offer.asset,
        payer: verified.from,
        pay_to: verified.to,
        amount: verified.value,
        valid_after: verified.valid_after,
        valid_before: verified.valid_before,
        nonce: verified.nonce,
        signature: verified.signature,
        tx_id: None,
        tx_hash: None,
        block: None,
    };
    let plain = |e: ApiError| (e, None);
    let recipient = match order.recipient.as_deref() {
        Some(r) => parse_address("recipient", r).map_err(plain)?,
        None => data.payer,
    };
    let token = match order.token.as_deref() {
        Some(t) => parse_address("token", t).map_err(plain)?,
        None => app.contracts.token.ok_or_else(|| {
            plain(ApiError::unprocessable(
                "no_default_token",
                "no `token` given and the server has no default token (TOKEN_ADDRESS)",
            ))
        })?,
    };
    let known = app
        .admission
        .token_known(&app.db, chain.chain_id() as i64, &address_key(token))
        .await
        .map_err(plain)?;
    if !known {
        return Err(plain(ApiError::not_found(
            "unknown_token",
            format!("token {token} is not registered"),
        )));
    }
    simulate(chain, &data).await?;
    let request = MintRequest {
        payer: data.payer,
        recipient,
        token,
        quantity: order.quantity,
        payment_type: match kind {
            PaymentKind::X402 => PaymentType::X402,
            PaymentKind::Gasless => PaymentType::Gasless,
        },
        key: String::new(),
        parent_id: None,
    };
    payment::create(&app.client, chain.chain_id(), &data, &request)
        .await
        .map_err(|e| match e {
            StartError::IdempotencyConflict { existing } => (
                ApiError::payment_required(
                    &Reason::NonceUsed.code(),
                    format!("this authorization was used by payment {existing}"),
                ),
                Some(Reason::NonceUsed),
            ),
            StartError::Db(e) => plain(e.into()),
        })
}

pub fn chain(app: &AppState) -> Result<&Chain, ApiError> {
    app.chain.as_ref().ok_or_else(|| {
        ApiError::unavailable("no_chain", "this server has no chain configured (RPC_URL)")
    })
}

/// What this server asks for `quantity` mints.
pub fn offer(app: &AppState, chain: &Chain, quantity: u64) -> Result<Offer, ApiError> {
    let c = &app.contracts;
    let asset = c.usdc.ok_or_else(|| {
        ApiError::unavailable(
            "payments_not_configured",
            "this server takes no payments (USDC_ADDRESS is not set)",
        )
    })?;
    Ok(Offer {
        chain_id: chain.chain_id(),
        asset,
        asset_name: c.usdc_name.clone(),
        asset_version: c.usdc_version.clone(),
        pay_to: c.pay_to.unwrap_or_else(|| chain.signer()),
        amount: c.mint_price * U256::from(quantity),
        max_timeout_seconds: 60,
    })
}

fn refused(reason: Reason) -> ApiError {
    ApiError::payment_required(&reason.code(), format!("the payment is refused: {reason}"))
}

/// Simulates the settlement: a used nonce, a short balance or a bad signature for the token
/// refuse the payment before anything is written.
async fn simulate(chain: &Chain, data: &PaymentData) -> Result<(), (ApiError, Option<Reason>)> {
    match chain.estimate(&data.settlement()).await {
        Ok(_) => Ok(()),
        Err(ChainError::Reverted(why)) => {
            let reason = if why.contains("AuthorizationUsedOrCanceled") {
                Reason::NonceUsed
            } else if why.contains("InsufficientBalance") {
                Reason::InsufficientBalance
            } else if why.contains("Signature") {
                Reason::Signature
            } else {
                Reason::Simulation
            };
            let message = format!("the settlement would revert: {why}");
            Err((
                ApiError::payment_required(&reason.code(), message),
                Some(reason),
            ))
        }
        Err(e) => Err((
            ApiError::unavailable(
                "chain_unavailable",
                format!("cannot check the payment now: {e}"),
            ),
            None,
        )),
    }
}

pub async fn find(app: &AppState, id: Uuid) -> Result<PaymentView, ApiError> {
    let row = rows::find(&app.db, id)
        .await?
        .filter(|w| w.kind == PAYMENT)
        .ok_or_else(|| ApiError::not_found("payment_not_found", format!("no payment {id}")))?;
    let data: Option<PaymentData> = serde_json::from_value(row.data.clone()).ok();
    Ok(PaymentView {
        id,
        status: row.state,
        payment_type: data
            .as_ref()
            .map(|d| serde_json::to_value(d.kind).expect("serializes"))
            .and_then(|k| k.as_str().map(str::to_owned))
            .unwrap_or_default(),
        payer: data.as_ref().map(|d| address_key(d.payer)),
        pay_to: data.as_ref().map(|d| address_key(d.pay_to)),
        asset: data.as_ref().map(|d| address_key(d.asset)),
        amount: data.as_ref().map(|d| d.amount.to_string()),
        tx_hash: data.as_ref().and_then(|d| d.tx_hash.clone()),
        block_number: data.as_ref().and_then(|d| d.block),
        error: row.last_error,
        mint_ids: mints::children(&app.db, id).await?,
        existing: false,
        created_at: from_ms(row.created_at_ms),
        finished_at: opt_from_ms(row.finished_at_ms),
    })
}
