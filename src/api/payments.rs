//! Payments: `POST /v1/payments` (a signed EIP-3009 authorization in JSON: `gasless`, or a
//! transfer the payer sent: `custom`) and reading payments with their mints.
mod custom;

use alloy::primitives::{Address, U256};
use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::{
    ApiResponse, Enum, Object, OpenApi, Tags,
    param::{Path, Query},
    payload::Json,
};
use uuid::Uuid;

use super::AppState;
use super::auth::{Access, Public, Read};
use super::declared::{
    AddressText, DecimalText, Declared, HashText, QuantityShape, SignatureText, UuidText,
    is_decimal, is_hex_of,
};
use super::error::{ApiError, Errors, KeyedList, PaidWrite, PublicRead, parse_uuid};
use super::mint_views::PaymentTypeDto;
use super::mints::parse_address;
use super::workflows::shown_status;
use crate::chain::signer::address_key;
use crate::chain::{Chain, ChainError};
use crate::engine::StartError;
use crate::spec::nullable::Nullable;
use crate::store;
use crate::store::entity::workflow;
use crate::store::mints::{self, MINT};
use crate::store::time::{from_ms, opt_from_ms};
use crate::store::workflows::{self as rows, ListFilter, Status};
use crate::workflows::deployment::DEPLOYMENT;
use crate::workflows::mint::{MAX_QUANTITY, MintRequest, PaymentType};
use crate::workflows::payment::exposure::{self, Funds, Limits};
use crate::workflows::payment::{
    self, CreateError, PAYMENT, PaymentData, PaymentKind, SignedAuthorization,
};
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
    /// A USDC transfer to `PAY_TO` the payer already sent (`txHash`), `confirmations` deep.
    Custom,
}

/// An EIP-3009 `TransferWithAuthorization` (numbers as decimal strings).
#[derive(Clone, Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct AuthorizationIn {
    pub from: AddressText,
    pub to: AddressText,
    pub value: DecimalText,
    pub valid_after: DecimalText,
    pub valid_before: DecimalText,
    /// 32 bytes, 0x-hex.
    pub nonce: HashText,
}

impl AuthorizationIn {
    /// 400 `invalid_authorization` naming the first field (or the signature, when given)
    /// whose shape is not the one the document declares.
    pub fn check_shape(&self, signature: Option<&str>) -> Result<(), ApiError> {
        let fields = [
            ("authorization.from", is_hex_of(&self.from, 20)),
            ("authorization.to", is_hex_of(&self.to, 20)),
            ("authorization.value", is_decimal(&self.value)),
            ("authorization.validAfter", is_decimal(&self.valid_after)),
            ("authorization.validBefore", is_decimal(&self.valid_before)),
            ("authorization.nonce", is_hex_of(&self.nonce, 32)),
            ("signature", signature.is_none_or(|s| is_hex_of(s, 65))),
        ];
        if let Some((field, _)) = fields.iter().find(|(_, ok)| !ok) {
            return Err(ApiError::bad_request(
                "invalid_authorization",
                format!("`{field}` does not have the shape the API document declares for it"),
            ));
        }
        Ok(())
    }

    /// The x402 payload this authorization and its signature make, once every field has the
    /// shape the document declares (400 `invalid_authorization` naming the field otherwise:
    /// a malformed request, not a refused payment).
    pub fn signed(
        self,
        signature: SignatureText,
        offer: &Offer,
    ) -> Result<PaymentPayload, ApiError> {
        self.check_shape(Some(&signature))?;
        Ok(PaymentPayload {
            x402_version: x402::types::X402_VERSION,
            payload: ExactPayload {
                authorization: Authorization {
                    from: self.from.into_inner(),
                    to: self.to.into_inner(),
                    value: self.value.into_inner(),
                    valid_after: self.valid_after.into_inner(),
                    valid_before: self.valid_before.into_inner(),
                    nonce: self.nonce.into_inner(),
                },
                signature: signature.into_inner(),
            },
            resource: None,
            accepted: offer.requirements(),
        })
    }
}

/// A payment for `quantity` mints: its authorization must pay exactly `MINT_PRICE` x
/// `quantity` USDC to the server's `PAY_TO`.
#[derive(Clone, Debug, Object)]
#[oai(example, skip_serializing_if_is_none)]
#[oai(rename_all = "camelCase")]
pub struct PaymentBody {
    pub payment_type: PaymentTypeIn,
    /// `gasless`: the signed authorization.
    pub authorization: Nullable<AuthorizationIn>,
    /// `gasless`: 65 bytes (r, s, v), 0x-hex.
    #[oai(nullable)]
    pub signature: Option<SignatureText>,
    /// `custom`: the hash of the payer's own USDC transfer to `PAY_TO`: a transaction the
    /// payer sent, whose only USDC movement is one `Transfer(payer -> PAY_TO)` of at least
    /// the price. Each hash pays once; transactions sent by this service are refused. Without
    /// `recipientSignature` it buys exactly what it paid for: `quantity` mints of the server's
    /// default token for the payer, the transfer being exactly `MINT_PRICE` x `quantity`.
    #[oai(nullable)]
    pub tx_hash: Option<HashText>,
    /// Who receives the tokens; the payer when absent. For a `custom` payment, anyone but the
    /// payer needs `recipientSignature`.
    #[oai(nullable)]
    pub recipient: Option<AddressText>,
    /// `custom` with a `recipient` other than the payer, a `token` other than the server's
    /// default, or a transfer paying more than the price: the payer's EIP-712 signature (65
    /// bytes, 0x-hex) of `MintRecipient(bytes32 txHash,address recipient,address token,uint256
    /// quantity)` in the domain `{name: "mintflow", version: "1", chainId}` (no
    /// verifyingContract), where `token` is the token to mint (the server's default token when
    /// `token` is absent) and `quantity` the mints paid for.
    #[oai(nullable)]
    pub recipient_signature: Option<SignatureText>,
    /// The token to mint; the server's default token when absent.
    #[oai(nullable)]
    pub token: Option<AddressText>,
    /// Mints paid for, 1 to 100 (default 1).
    #[oai(nullable)]
    pub quantity: Option<Declared<QuantityShape, i64>>,
}

/// A payment and its mints.
#[derive(Object)]
#[oai(example)]
#[oai(rename_all = "camelCase")]
pub struct PaymentView {
    pub id: Uuid,
    // A payment that ends without confirming never shows `pending`.
    // (A plain comment: a described $ref becomes an `allOf` that generators refuse.)
    pub status: PaymentStatus,
    pub payment_type: PaymentTypeDto,
    #[oai(validator(pattern = r"^0x[0-9a-fA-F]{40}$"), nullable)]
    pub payer: Option<String>,
    #[oai(validator(pattern = r"^0x[0-9a-fA-F]{40}$"), nullable)]
    pub pay_to: Option<String>,
    #[oai(validator(pattern = r"^0x[0-9a-fA-F]{40}$"), nullable)]
    pub asset: Option<String>,
    /// USDC base units.
    #[oai(nullable)]
    pub amount: Option<String>,
    /// The settlement transaction.
    #[oai(validator(pattern = r"^0x[0-9a-fA-F]{64}$"), nullable)]
    pub tx_hash: Option<String>,
    #[oai(nullable)]
    pub block_number: Option<i64>,
    #[oai(nullable)]
    pub error: Option<String>,
    pub mint_ids: Vec<Uuid>,
    /// The deployment it pays for, if any.
    #[oai(nullable)]
    pub deployment_id: Option<Uuid>,
    /// True when this authorization was accepted before with the same request.
    pub existing: bool,
    pub created_at: DateTime<Utc>,
    #[oai(nullable)]
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

/// Where a payment is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum PaymentStatus {
    /// Accepted; its settlement is being simulated.
    Pending,
    /// Verified on chain; the settlement is being submitted.
    Processing,
    /// The settlement transaction is with the sender.
    Sent,
    /// The settlement did not land; whether the authorization paid through someone else's
    /// transaction is being checked.
    Checking,
    /// Settled, `confirmations` blocks deep; its mints are queued.
    Confirmed,
    /// Refused on chain or given up; its mints are cancelled.
    Failed,
    /// Cancelled by an operator.
    Cancelled,
}

impl PaymentStatus {
    const ALL: [PaymentStatus; 7] = [
        PaymentStatus::Pending,
        PaymentStatus::Processing,
        PaymentStatus::Sent,
        PaymentStatus::Checking,
        PaymentStatus::Confirmed,
        PaymentStatus::Failed,
        PaymentStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PaymentStatus::Pending => "pending",
            PaymentStatus::Processing => "processing",
            PaymentStatus::Sent => "sent",
            PaymentStatus::Checking => "checking",
            PaymentStatus::Confirmed => "confirmed",
            PaymentStatus::Failed => "failed",
            PaymentStatus::Cancelled => "cancelled",
        }
    }

    /// From what `shown_status` makes of a payment row (its state names the live statuses).
    pub fn shown(status: &str) -> PaymentStatus {
        PaymentStatus::ALL
            .into_iter()
            .find(|s| s.as_str() == status)
            .unwrap_or(PaymentStatus::Pending)
    }

    /// Narrows `filter` to payments in this status, as `shown_status` derives it.
    fn narrow(self, filter: ListFilter) -> ListFilter {
        let live = |state: &str| ListFilter {
            state: Some(state.to_owned()),
            unfinished: true,
            ..filter.clone()
        };
        match self {
            PaymentStatus::Pending => live("pending"),
            PaymentStatus::Processing => live("processing"),
            PaymentStatus::Sent => live("sent"),
            PaymentStatus::Checking => live("checking"),
            PaymentStatus::Confirmed => ListFilter {
                state: Some("confirmed".into()),
                ..filter
            },
            PaymentStatus::Failed => ListFilter {
                status: Some(Status::Failed),
                ..filter
            },
            PaymentStatus::Cancelled => ListFilter {
                status: Some(Status::Cancelled),
                ..filter
            },
        }
    }
}

/// A page of payments, newest first.
#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub struct PaymentPage {
    pub items: Vec<PaymentView>,
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

fn default_limit() -> u64 {
    50
}

pub struct PaymentsApi;

#[OpenApi(tag = "PaymentsTag::Payments")]
impl PaymentsApi {
    /// Pay for mints with a signed USDC authorization or a transfer already sent
    ///
    /// Who may call: anyone (public); paid: what is paid for is `MINT_PRICE` x `quantity`
    /// USDC to the server's `PAY_TO`.
    ///
    /// **`gasless`**: a signed EIP-3009 `TransferWithAuthorization` (`authorization`,
    /// `signature`), settled on chain by mintflow, which pays the gas. It is checked (offer,
    /// amount, recipient, validity, signature, and a simulation of the settlement) before
    /// anything is written; 402 with the x402 `errorReason` as `code` when refused. It must
    /// stay valid for `min_authorization_validity_secs` more (402
    /// `authorization_validity_too_short`), and its payer may have at most
    /// `max_open_payments_per_payer` payments under way (402 `too_many_open_payments`), whose
    /// sum with this one their balance must cover (402
    /// `insufficient_balance_for_open_payments`); a payer whose settlements reverted
    /// `max_settlement_reverts_per_hour` times in the last hour is refused (402
    /// `payer_settlements_reverted`).
    ///
    /// **`custom`**: the hash (`txHash`) of a USDC transfer the payer already sent. The payer
    /// is the transaction's sender; it must move USDC once, from that sender to `PAY_TO`, be
    /// `confirmations` deep, and not be sent by this service (402 `transfer_not_found`,
    /// `transfer_not_confirmed`, `transfer_from_service_signer`, `transfer_not_from_payer`,
    /// `transfer_ambiguous`, ...). Without the payer's `recipientSignature` it buys exactly
    /// what it paid for: mints of the default token for the payer, `MINT_PRICE` x `quantity`
    /// being the amount transferred (402 `recipient_signature_required`,
    /// `token_signature_required`, `transfer_amount_mismatch`); with it, what the payer signed
    /// (402 `recipient_signature_invalid`). A hash pays once (409 `tx_hash_already_used`).
    ///
    /// Accepted (202), the payment and its mints are committed before the answer; the mints
    /// start when the settlement (or the transfer) is confirmed and are cancelled if it fails.
    /// Idempotent: the same authorization or transfer with the same request answers 200 with
    /// the first payment. A refused payment writes nothing.
    #[oai(
        path = "/v1/payments",
        method = "post",
        operation_id = "create_payment"
    )]
    async fn create(
        &self,
        app: Data<&AppState>,
        _public: Public,
        body: Json<PaymentBody>,
    ) -> Result<PaymentResponse, Errors<PaidWrite>> {
        let chain = chain(&app)?;
        let b = body.0;
        let quantity = b.quantity.as_deref().copied().unwrap_or(1);
        if !(1..=i64::from(MAX_QUANTITY)).contains(&quantity) {
            return Err(ApiError::unprocessable(
                "quantity_out_of_range",
                format!("`quantity` must be between 1 and {MAX_QUANTITY}, got {quantity}"),
            )
            .into());
        }
        // Every field given has its declared shape, whatever the payment type reads.
        let signature = b.signature.as_deref().map(String::as_str);
        match &b.authorization.0 {
            Some(a) => a.check_shape(signature)?,
            None if signature.is_some_and(|s| !is_hex_of(s, 65)) => {
                return Err(ApiError::bad_request(
                    "invalid_authorization",
                    "`signature` must be 65 bytes of 0x-hex",
                )
                .into());
            }
            None => {}
        }
        if b.tx_hash.as_deref().is_some_and(|h| !is_hex_of(h, 32)) {
            return Err(ApiError::bad_request(
                "invalid_tx_hash",
                "`txHash` must be a 0x-prefixed 32-byte hex hash",
            )
            .into());
        }
        if b.recipient_signature
            .as_deref()
            .is_some_and(|s| !is_hex_of(s, 65))
        {
            return Err(ApiError::bad_request(
                "invalid_recipient_signature",
                "`recipientSignature` must be 65 bytes of 0x-hex",
            )
            .into());
        }
        let offer = offer(&app, chain, quantity as u64)?;
        let order = Order {
            recipient: b.recipient.map(Declared::into_inner),
            token: b.token.map(Declared::into_inner),
            quantity: quantity as u32,
        };
        let paid = match b.payment_type {
            PaymentTypeIn::Gasless => {
                let (Some(a), Some(signature)) = (b.authorization.0, b.signature) else {
                    return Err(ApiError::bad_request(
                        "missing_authorization",
                        "a `gasless` payment needs `authorization` and `signature`",
                    )
                    .into());
                };
                let payload = a.signed(signature, &offer)?;
                authorized(&app, chain, &offer, &payload, PaymentKind::Gasless)
                    .await
                    .map_err(|(e, _)| e)?
            }
            PaymentTypeIn::Custom => {
                let hash = b.tx_hash.as_deref().ok_or_else(|| {
                    ApiError::bad_request("missing_tx_hash", "a `custom` payment needs `txHash`")
                })?;
                let signature = b.recipient_signature.as_deref().map(String::as_str);
                let data =
                    custom::transferred(&app, chain, &offer, hash, &order, signature).await?;
                (data, Funds::Transferred)
            }
        };
        let (data, funds) = paid;
        let created = place(&app, chain, data, funds, order)
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

    /// List payments
    ///
    /// Who may call: a key with the `read` scope (or `admin`).
    ///
    /// Payments, newest first, each with its mint or deployment ids, narrowed by payer and
    /// status. Paged: pass the answer's next cursor back as `cursor` for the next page.
    #[oai(path = "/v1/payments", method = "get", operation_id = "list_payments")]
    async fn list(
        &self,
        app: Data<&AppState>,
        _auth: Access<Read>,
        /// Only this payer (0x address).
        payer: Query<Option<AddressText>>,
        /// Only payments in this status.
        status: Query<Option<PaymentStatus>>,
        /// Page size, 1 to 500.
        #[oai(
            default = "default_limit",
            validator(minimum(value = "1"), maximum(value = "500"))
        )]
        limit: Query<u64>,
        /// `nextCursor` of the previous page.
        cursor: Query<Option<UuidText>>,
    ) -> Result<Json<PaymentPage>, Errors<KeyedList>> {
        let filter = ListFilter {
            kind: Some(PAYMENT.into()),
            payer: payer
                .0
                .as_deref()
                .map(|p| parse_address("payer", p))
                .transpose()?
                .map(address_key),
            before_id: cursor
                .0
                .as_deref()
                .map(|c| parse_uuid("cursor", c))
                .transpose()?,
            limit: limit.0 + 1,
            ..Default::default()
        };
        let filter = match status.0 {
            Some(status) => status.narrow(filter),
            None => filter,
        };
        let (rows, next_cursor) = super::page(rows::list(&app.read_db, &filter).await?, limit.0);
        let mut items = Vec::with_capacity(rows.len());
        for row in rows {
            items.push(view(&app, row).await?);
        }
        Ok(Json(PaymentPage { items, next_cursor }))
    }

    /// Get one payment
    ///
    /// Who may call: anyone (public).
    /// Limited by `public_read_rate_per_minute` per client.
    ///
    /// Its status, amount, settlement transaction and the ids of its mints or deployment; never
    /// its signature. 404 `payment_not_found` for an unknown id.
    #[oai(
        path = "/v1/payments/:id",
        method = "get",
        operation_id = "get_payment"
    )]
    async fn get(
        &self,
        app: Data<&AppState>,
        _public: Public,
        id: Path<UuidText>,
    ) -> Result<Json<PaymentView>, Errors<PublicRead>> {
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

/// Verifies a signed payment for `offer`, simulates its settlement and reads the payer's
/// balance, which `place` (or `payment::create`) checks against what they have under way.
/// Nothing is written; a refusal comes with its x402 reason when it has one.
pub async fn authorized(
    app: &AppState,
    chain: &Chain,
    offer: &Offer,
    payload: &PaymentPayload,
    kind: PaymentKind,
) -> Result<(PaymentData, Funds), Refusal> {
    let now = chrono::Utc::now().timestamp().max(0) as u64;
    let verified = x402::verify(offer, payload, now).map_err(|r| (refused(r), Some(r)))?;
    let data = PaymentData {
        kind,
        asset: offer.asset,
        payer: verified.from,
        pay_to: verified.to,
        amount: verified.value,
        authorization: Some(SignedAuthorization {
            valid_after: verified.valid_after,
            valid_before: verified.valid_before,
            nonce: verified.nonce,
            signature: verified.signature,
        }),
        transfer_tx: None,
        tx_id: None,
        tx_hash: None,
        block: None,
        checked_block: None,
        settlement_error: None,
    };
    // An authorization accepted before is answered by `place` (the same payment, or a
    // conflict), even after its settlement used the nonce on chain.
    let key = data.key(chain.chain_id());
    let known = mints::find_by_keys(&app.db, PAYMENT, &[key])
        .await
        .map_err(|e| (ApiError::from(e), None))?;
    if known.is_empty() {
        simulate(chain, &data).await?;
    }
    let read_at_ms = store::now_ms();
    let balance = chain
        .balance_of(data.asset, data.payer)
        .await
        .map_err(|e| (unavailable(e), None))?;
    let funds = Funds::Balance {
        balance,
        read_at_ms,
        limits: Limits::of(&app.settings.get()),
    };
    Ok((data, funds))
}

fn unavailable(e: ChainError) -> ApiError {
    ApiError::unavailable(
        "chain_unavailable",
        format!("cannot check the payment now: {e}"),
    )
}

impl From<exposure::Refusal> for ApiError {
    fn from(r: exposure::Refusal) -> Self {
        ApiError::payment_required(r.code(), r.to_string())
    }
}

/// A refused payment: the answer, and the x402 reason when there is one.
pub type Refusal = (ApiError, Option<Reason>);

/// Creates the payment with the mints of `order`. Nothing is written for a refused order.
pub async fn place(
    app: &AppState,
    chain: &Chain,
    data: PaymentData,
    funds: Funds,
    order: Order,
) -> Result<payment::Created, Refusal> {
    let plain = |e: ApiError| (e, None);
    let (recipient, token) = target(app, &order, data.payer).map_err(plain)?;
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
    let request = MintRequest {
        payer: data.payer,
        recipient,
        token,
        quantity: order.quantity,
        payment_type: match data.kind {
            PaymentKind::X402 => PaymentType::X402,
            PaymentKind::Gasless => PaymentType::Gasless,
            PaymentKind::Custom => PaymentType::Custom,
        },
        key: String::new(),
        parent_id: None,
        // Paid mints queue at the default priority; an admin can raise them.
        priority: crate::workflows::priority::DEFAULT,
    };
    let custom = data.kind == PaymentKind::Custom;
    payment::create(
        &app.client,
        chain.chain_id(),
        &data,
        &payment::Purchase::Mints(request),
        funds,
    )
    .await
    .map_err(|e| match e {
        CreateError::Start(StartError::IdempotencyConflict { existing }) if custom => {
            plain(ApiError::conflict(
                "tx_hash_already_used",
                format!("this transfer already paid for payment {existing}"),
            ))
        }
        CreateError::Start(StartError::IdempotencyConflict { existing }) => (
            ApiError::payment_required(
                &Reason::NonceUsed.code(),
                format!("this authorization was used by payment {existing}"),
            ),
            Some(Reason::NonceUsed),
        ),
        CreateError::Start(StartError::Db(e)) => plain(e.into()),
        CreateError::Refused(r) => plain(r.into()),
    })
}

/// Who receives the mints of `order` paid by `payer` (the payer when it names no one), and
/// which token they are of (the server's default when it names none).
fn target(app: &AppState, order: &Order, payer: Address) -> Result<(Address, Address), ApiError> {
    let recipient = match order.recipient.as_deref() {
        Some(r) => parse_address("recipient", r)?,
        None => payer,
    };
    let token = match order.token.as_deref() {
        Some(t) => parse_address("token", t)?,
        None => app.contracts.token.ok_or_else(|| {
            ApiError::unprocessable(
                "no_default_token",
                "no `token` given and the server has no default token (TOKEN_ADDRESS)",
            )
        })?,
    };
    Ok((recipient, token))
}

pub fn chain(app: &AppState) -> Result<&Chain, ApiError> {
    app.chain.as_ref().ok_or_else(|| {
        ApiError::unavailable("no_chain", "this server has no chain configured (RPC_URL)")
    })
}

/// What this server asks for `quantity` mints.
pub fn offer(app: &AppState, chain: &Chain, quantity: u64) -> Result<Offer, ApiError> {
    offer_of(app, chain, app.contracts.mint_price * U256::from(quantity))
}

/// What this server asks to be paid `amount` USDC base units.
pub fn offer_of(app: &AppState, chain: &Chain, amount: U256) -> Result<Offer, ApiError> {
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
        amount,
        min_validity_secs: app.settings.get().min_authorization_validity_secs.max(0) as u64,
    })
}

fn refused(reason: Reason) -> ApiError {
    ApiError::payment_required(&reason.code(), format!("the payment is refused: {reason}"))
}

/// Simulates the settlement: a used nonce, a short balance or a bad signature for the token
/// refuse the payment before anything is written.
async fn simulate(chain: &Chain, data: &PaymentData) -> Result<(), Refusal> {
    let Some(call) = data.settlement() else {
        return Ok(());
    };
    match chain.estimate(&call).await {
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
        Err(e) => Err((unavailable(e), None)),
    }
}

pub async fn find(app: &AppState, id: Uuid) -> Result<PaymentView, ApiError> {
    let row = rows::find(&app.db, id)
        .await?
        .filter(|w| w.kind == PAYMENT)
        .ok_or_else(|| ApiError::not_found("payment_not_found", format!("no payment {id}")))?;
    view(app, row).await
}

/// A payment row as the API shows it, with its mints.
async fn view(app: &AppState, row: workflow::Model) -> Result<PaymentView, ApiError> {
    let id = row.id;
    let data: Option<PaymentData> = serde_json::from_value(row.data.clone()).ok();
    Ok(PaymentView {
        id,
        status: PaymentStatus::shown(shown_status(&row.status, &row.state)),
        payment_type: data
            .as_ref()
            .map_or(PaymentTypeDto::None, |d| match d.kind {
                PaymentKind::X402 => PaymentTypeDto::X402,
                PaymentKind::Gasless => PaymentTypeDto::Gasless,
                PaymentKind::Custom => PaymentTypeDto::Custom,
            }),
        payer: data.as_ref().map(|d| address_key(d.payer)),
        pay_to: data.as_ref().map(|d| address_key(d.pay_to)),
        asset: data.as_ref().map(|d| address_key(d.asset)),
        amount: data.as_ref().map(|d| d.amount.to_string()),
        tx_hash: data.as_ref().and_then(|d| d.tx_hash.clone()),
        block_number: data.as_ref().and_then(|d| d.block),
        error: row.last_error,
        mint_ids: children_of(app, id, MINT).await?,
        deployment_id: children_of(app, id, DEPLOYMENT).await?.first().copied(),
        existing: false,
        created_at: from_ms(row.created_at_ms),
        finished_at: opt_from_ms(row.finished_at_ms),
    })
}

async fn children_of(app: &AppState, id: Uuid, kind: &str) -> Result<Vec<Uuid>, ApiError> {
    Ok(rows::children(&app.db, id)
        .await?
        .into_iter()
        .filter(|(_, k)| k == kind)
        .map(|(id, _)| id)
        .collect())
}
