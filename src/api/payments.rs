//! Payments: `POST /v1/payments` (a signed EIP-3009 authorization in JSON: `gasless`, or a
//! transfer the payer sent: `custom`) and reading payments with their mints.
mod views;

use poem::web::Data;
use poem_openapi::{
    ApiResponse, Enum, Object, OpenApi, Tags,
    param::{Path, Query},
    payload::Json,
};

use super::AppState;
use super::auth::{Access, Public, Read};
use super::declared::{
    AddressText, DecimalText, Declared, HashText, QuantityShape, SignatureText, UuidText,
    is_decimal, is_hex_of,
};
use super::error::{ApiError, Errors, KeyedList, PaidWrite, PublicRead, parse_uuid};
use super::mints::parse_address;
use crate::app::mints;
use crate::app::payments::shown;
use crate::app::payments::{self, Order};
use crate::chain::Chain;
use crate::chain::signer::address_key;
use crate::spec::nullable::Nullable;
use crate::store::workflows::ListFilter;
use crate::workflows::payment::PaymentKind;
use crate::workflows::payment::exposure::Funds;
use crate::x402::{self, Authorization, ExactPayload, Offer, PaymentPayload, Reason};

pub use views::{PaymentPage, PaymentStatus, PaymentView, find, view};

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

#[derive(ApiResponse)]
pub enum PaymentResponse {
    /// Accepted and committed; it settles on chain next.
    #[oai(status = 202)]
    Accepted(Json<PaymentView>),
    /// This authorization was accepted before with the same request.
    #[oai(status = 200)]
    Existing(Json<PaymentView>),
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
        let ctx = app.context();
        let chain = ctx.chain().map_err(ApiError::from)?;
        let b = body.0;
        let quantity = mints::quantity(b.quantity.as_deref().copied()).map_err(ApiError::from)?;
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
        for (field, raw) in [("recipient", &b.recipient), ("token", &b.token)] {
            if let Some(raw) = raw.as_deref() {
                parse_address(field, raw)?;
            }
        }
        let offer = payments::offer(&ctx, chain, u64::from(quantity)).map_err(ApiError::from)?;
        let order = Order {
            recipient: b.recipient.map(Declared::into_inner),
            token: b.token.map(Declared::into_inner),
            quantity,
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
                payments::authorized(&ctx, chain, &offer, &payload, PaymentKind::Gasless).await
            }
            PaymentTypeIn::Custom => {
                let hash = b.tx_hash.as_deref().ok_or_else(|| {
                    ApiError::bad_request("missing_tx_hash", "a `custom` payment needs `txHash`")
                })?;
                let signature = b.recipient_signature.as_deref().map(String::as_str);
                payments::transferred(&ctx, chain, &offer, hash, &order, signature)
                    .await
                    .map(|data| (data, Funds::Transferred))
            }
        };
        let (data, funds) = paid.map_err(ApiError::from)?;
        let created = payments::place(&ctx, chain, data, funds, order)
            .await
            .map_err(ApiError::from)?;
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
        let ctx = app.context();
        let (rows, next_cursor) = super::page(shown::list(&ctx, filter).await?, limit.0);
        let items = shown::with_children(&ctx, rows).await?;
        Ok(Json(PaymentPage {
            items: items.into_iter().map(view).collect(),
            next_cursor,
        }))
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

/// The chain of this process (503 `no_chain` when it has none).
pub fn chain(app: &AppState) -> Result<&Chain, ApiError> {
    Ok(app.context().chain()?)
}

impl From<payments::Error> for ApiError {
    fn from(e: payments::Error) -> Self {
        use payments::Error as E;
        let message = e.to_string();
        match e {
            E::NoChain(e) => e.into(),
            E::NotConfigured => ApiError::unavailable("payments_not_configured", message),
            E::Refused(reason) | E::WouldRevert { reason, .. } => {
                ApiError::payment_required(reason.as_str(), message)
            }
            E::NonceUsed(_) => ApiError::payment_required(Reason::NonceUsed.as_str(), message),
            E::TxHashUsed(_) => ApiError::conflict("tx_hash_already_used", message),
            E::Exposure(r) => ApiError::payment_required(r.code(), message),
            E::Transfer(r) => ApiError::payment_required(r.code(), message),
            E::PaymentUnchecked(_) | E::TransferUnchecked(_) => {
                ApiError::unavailable("chain_unavailable", message)
            }
            E::InvalidTxHash(_) => ApiError::bad_request("invalid_tx_hash", message),
            E::InvalidAddress(e) => e.into(),
            E::NoDefaultToken => ApiError::unprocessable("no_default_token", message),
            E::UnknownToken(_) => ApiError::not_found("unknown_token", message),
            E::Fault(_) => ApiError::fault(&message),
            E::Db(e) => e.into(),
        }
    }
}
