//! `POST /x402/mint`: mints paid with the x402 protocol (v2, `exact`, EIP-3009; v1's transport
//! too, `transport`). Without a `PAYMENT-SIGNATURE` it answers 402 with the offer in
//! `PAYMENT-REQUIRED`; with one it verifies it, creates the payment and its mints in one
//! transaction, and answers 200 with `PAYMENT-RESPONSE` once the settlement is confirmed
//! (waiting at most 60 s, and never longer than the offer's `maxTimeoutSeconds`; a client that
//! goes away does not stop the payment).
mod transport;

use poem::Request;
use poem::web::Data;
use poem_openapi::{ApiResponse, Object, OpenApi, Tags, param::Header, payload::Json};
use uuid::Uuid;

use super::AppState;
use super::auth::Public;
use super::declared::{AddressText, Declared, QuantityShape};
use super::deployments::TokenSpec;
use super::error::{ApiError, Errors, X402, X402Deploy};
use super::mints::parse_address;
use super::payments::view;
use crate::app::payments::{self, Order};
use crate::app::x402::{self, Buy, Outcome, Paid, Placed, Settlement, WaitError};
use crate::app::{deployments, mints};
use crate::x402::Reason;
use crate::x402::types::encode_header;
use crate::x402::{Offer, Resource, SettlementResponse};

pub use transport::{PaymentHeader, X402RequiredError};
use transport::{SettlementHeaders, Version};

#[derive(Tags)]
pub enum X402Tag {
    /// Pay-per-request with the x402 protocol.
    X402,
}

/// What to mint.
#[derive(Clone, Debug, Default, Object)]
#[oai(example, skip_serializing_if_is_none)]
pub struct X402MintBody {
    /// Who receives the tokens; the payer when absent.
    #[oai(nullable)]
    pub recipient: Option<AddressText>,
    /// The token; the server's default token when absent.
    #[oai(nullable)]
    pub token: Option<AddressText>,
    /// Mints, 1 to 100 (default 1); the price is `MINT_PRICE` x quantity.
    #[oai(nullable)]
    pub quantity: Option<Declared<QuantityShape, i64>>,
}

/// A settled x402 payment.
#[derive(Object)]
#[oai(example)]
#[oai(rename_all = "camelCase")]
pub struct X402Paid {
    pub payment_id: Uuid,
    pub mint_ids: Vec<Uuid>,
    /// The deployment it paid for (`/x402/deploy`).
    #[oai(nullable)]
    pub deployment_id: Option<Uuid>,
    /// `confirmed`, or where the payment is when the wait ran out (answered with 202).
    pub status: String,
    #[oai(validator(pattern = r"^0x[0-9a-fA-F]{64}$"), nullable)]
    pub tx_hash: Option<String>,
}

#[derive(ApiResponse)]
pub enum X402Response {
    /// Paid: the settlement is confirmed; `PAYMENT-RESPONSE` (or `X-PAYMENT-RESPONSE`)
    /// carries it.
    #[oai(status = 200)]
    Paid(
        Json<X402Paid>,
        /// x402 v2, for a `PAYMENT-SIGNATURE`: base64(JSON SettlementResponse) `{success,
        /// transaction, network, payer}`, `network` as `eip155:<chainId>`.
        #[oai(header = "PAYMENT-RESPONSE")]
        Option<String>,
        /// x402 v1, for an `X-PAYMENT`: the same, `network` by its v1 name (`base-sepolia`).
        #[oai(header = "X-PAYMENT-RESPONSE")]
        Option<String>,
    ),
    /// Accepted, but not confirmed within 60 s: follow `/v1/payments/{id}`.
    #[oai(status = 202)]
    Settling(Json<X402Paid>),
    /// Payment required, or refused (`code` is the x402 `errorReason`, or mintflow's own
    /// `authorization_validity_too_short`, `too_many_open_payments`,
    /// `insufficient_balance_for_open_payments`, `payer_settlements_reverted`):
    /// `PAYMENT-REQUIRED` holds the offer (and the body, for x402 v1 clients); after a failed
    /// settlement `PAYMENT-RESPONSE` (or `X-PAYMENT-RESPONSE`) says why.
    #[oai(status = 402)]
    Required(
        Json<X402RequiredError>,
        /// x402 v2: base64(JSON PaymentRequired) `{x402Version: 2, error, resource, accepts}`.
        #[oai(header = "PAYMENT-REQUIRED")]
        String,
        /// x402 v2, after a failed settlement: base64(JSON SettlementResponse).
        #[oai(header = "PAYMENT-RESPONSE")]
        Option<String>,
        /// x402 v1, after a failed settlement: base64(JSON SettlementResponse).
        #[oai(header = "X-PAYMENT-RESPONSE")]
        Option<String>,
        #[oai(header = "Cache-Control")] String,
    ),
}

pub struct X402Api;

#[OpenApi(tag = "X402Tag::X402")]
impl X402Api {
    /// Mint, paying with x402
    ///
    /// Who may call: anyone (public); paid with x402 v2 (`exact`, `eip155:<chainId>`), or
    /// x402 v1 (`X-PAYMENT`, networks by name: `base`, `base-sepolia`): `MINT_PRICE` x
    /// `quantity` USDC.
    ///
    /// Without `PAYMENT-SIGNATURE` it answers 402 with the offer in `PAYMENT-REQUIRED`
    /// (base64 JSON). With a valid one, the payment and its mints are created in one
    /// transaction, the settlement is sent, and the answer waits for it: 200 with
    /// `PAYMENT-RESPONSE` and the ids once it is confirmed, or 202 if it is not within 60 s
    /// (the payment goes on; follow `GET /v1/payments/{id}`). A refused payment is 402 with
    /// the reason as `code` and writes nothing. An authorization pays once: the same
    /// `PAYMENT-SIGNATURE` again is 402 `invalid_exact_evm_nonce_already_used`, naming the
    /// payment it made. The official `@x402/fetch` client works unchanged.
    ///
    /// x402 v1 clients (`x402-fetch` 1.x) read the offer from the 402's body (`x402Version`
    /// 1, `accepts`), pay with `X-PAYMENT` and read `X-PAYMENT-RESPONSE`: the same checks,
    /// codes and settlement. Sending both payment headers is a 400.
    #[oai(path = "/x402/mint", method = "post", operation_id = "x402_mint")]
    async fn mint(
        &self,
        app: Data<&AppState>,
        _public: Public,
        req: &Request,
        body: Json<X402MintBody>,
        /// x402 v2: base64(JSON PaymentPayload).
        #[oai(name = "PAYMENT-SIGNATURE")]
        signature: Header<Option<String>>,
        /// x402 v1: base64(JSON v1 PaymentPayload) `{x402Version: 1, scheme, network,
        /// payload: {signature, authorization}}`.
        #[oai(name = "X-PAYMENT")]
        x_payment: Header<Option<String>>,
    ) -> Result<X402Response, Errors<X402>> {
        let payment = PaymentHeader::of(signature.0, x_payment.0)?;
        Ok(paid_mint(&app, req, body.0, payment).await?)
    }

    /// Deploy a new MintToken, paying with x402
    ///
    /// Who may call: anyone (public); paid with x402: `DEPLOY_PRICE` USDC.
    ///
    /// Without `PAYMENT-SIGNATURE` it answers 402 with the offer in `PAYMENT-REQUIRED`. With a
    /// valid one it answers 200 with `PAYMENT-RESPONSE` and the deployment id once the payment
    /// is settled (202 if not within 60 s); the deployment follows
    /// (`GET /v1/deployments/{id}`). An authorization pays once: the same
    /// `PAYMENT-SIGNATURE` again is 402 `invalid_exact_evm_nonce_already_used`.
    #[oai(path = "/x402/deploy", method = "post", operation_id = "x402_deploy")]
    async fn deploy(
        &self,
        app: Data<&AppState>,
        _public: Public,
        req: &Request,
        body: Json<TokenSpec>,
        /// x402 v2: base64(JSON PaymentPayload).
        #[oai(name = "PAYMENT-SIGNATURE")]
        signature: Header<Option<String>>,
        /// x402 v1: base64(JSON v1 PaymentPayload) `{x402Version: 1, scheme, network,
        /// payload: {signature, authorization}}`.
        #[oai(name = "X-PAYMENT")]
        x_payment: Header<Option<String>>,
    ) -> Result<X402Response, Errors<X402Deploy>> {
        let payment = PaymentHeader::of(signature.0, x_payment.0)?;
        let ctx = app.context();
        let chain = ctx.chain().map_err(ApiError::from)?;
        let data = deployments::check(body.0.request()).map_err(ApiError::from)?;
        let offer =
            payments::offer_of(&ctx, chain, app.contracts.deploy_price).map_err(ApiError::from)?;
        let resource = Resource {
            url: resource_url(req),
            description: format!("deployment of the token {}", data.symbol),
            mime_type: "application/json".into(),
        };
        match payment {
            Some(header) => Ok(pay(&app, &offer, resource, &header, Buy::Deployment(data)).await?),
            None => Ok(required(
                &offer,
                resource,
                "payment_required",
                "Payment required",
                SettlementHeaders::default(),
            )),
        }
    }
}

/// Mints paid with x402: the handler of `POST /x402/mint` and the old `/api/x402-batch-mint`.
pub async fn paid_mint(
    app: &AppState,
    req: &Request,
    body: X402MintBody,
    payment: Option<PaymentHeader>,
) -> Result<X402Response, ApiError> {
    let ctx = app.context();
    let chain = ctx.chain()?;
    let quantity = mints::quantity(body.quantity.map(Declared::into_inner))?;
    // A malformed order is a bad request, not a reason to ask for payment.
    for (field, address) in [("recipient", &body.recipient), ("token", &body.token)] {
        if let Some(address) = address {
            parse_address(field, address)?;
        }
    }
    let offer = payments::offer(&ctx, chain, u64::from(quantity))?;
    let resource = Resource {
        url: resource_url(req),
        description: format!("{quantity} mint(s)"),
        mime_type: "application/json".into(),
    };
    let Some(header) = payment else {
        return Ok(required(
            &offer,
            resource,
            "payment_required",
            "Payment required",
            SettlementHeaders::default(),
        ));
    };
    let order = Order {
        recipient: body.recipient.map(Declared::into_inner),
        token: body.token.map(Declared::into_inner),
        quantity,
    };
    pay(app, &offer, resource, &header, Buy::Mints(order)).await
}

/// Decodes and verifies the payment header, creates the payment with what it buys, and
/// answers once it is settled (or refused).
pub async fn pay(
    app: &AppState,
    offer: &Offer,
    resource: Resource,
    header: &PaymentHeader,
    buy: Buy,
) -> Result<X402Response, ApiError> {
    let ctx = app.context();
    let chain = ctx.chain()?;
    let payload = header.payload(offer)?;
    // A refused payment is an x402 answer too, so that the client sees the offer again.
    let refused = |code: &str, message: &str| {
        Ok(required(
            offer,
            resource,
            code,
            message,
            SettlementHeaders::default(),
        ))
    };
    let placed = match x402::pay(&ctx, chain, offer, &payload, buy).await {
        Ok(Paid::Placed(placed)) => placed,
        Ok(Paid::Replayed(payment)) => {
            let message = format!("this payment was already made (payment {payment})");
            return refused(&Reason::NonceUsed.code(), &message);
        }
        Err(e) => {
            if let Some(reason) = e.x402_reason() {
                return refused(&reason.code(), &format!("the payment is refused: {reason}"));
            }
            return match ApiError::from(e) {
                // Refused for what the payer has under way (open payments, reverted
                // settlements).
                ApiError::PaymentRequired(Json(body)) => refused(body.code.as_str(), &body.message),
                other => Err(other),
            };
        }
    };
    settle(app, offer, header.version(), placed).await
}

/// Waits for the settlement (`x402::settlement`) and answers with its outcome.
async fn settle(
    app: &AppState,
    offer: &Offer,
    version: Version,
    placed: Placed,
) -> Result<X402Response, ApiError> {
    let Settlement { payment, outcome } =
        x402::settlement(&app.context(), offer, placed.payment).await?;
    let view = view(payment);
    let paid = X402Paid {
        payment_id: placed.payment,
        mint_ids: placed.mint_ids,
        deployment_id: placed.deployment_id,
        status: view.status.as_str().to_owned(),
        tx_hash: view.tx_hash.clone(),
    };
    let response = |error_reason: Option<&str>| SettlementResponse {
        success: error_reason.is_none(),
        error_reason: error_reason.map(Into::into),
        transaction: view.tx_hash.clone().unwrap_or_default(),
        network: offer.network(),
        payer: view.payer.clone(),
    };
    Ok(match outcome {
        Outcome::Confirmed => {
            let settled = version.settlement(response(None), offer);
            X402Response::Paid(Json(paid), settled.v2, settled.v1)
        }
        Outcome::Failed => {
            let reason = "invalid_transaction_state";
            let settled = version.settlement(response(Some(reason)), offer);
            let message = view.error.unwrap_or_else(|| "the settlement failed".into());
            let resource = Resource {
                url: String::new(),
                description: String::new(),
                mime_type: "application/json".into(),
            };
            required(offer, resource, reason, &message, settled)
        }
        Outcome::Unsettled => X402Response::Settling(Json(paid)),
    })
}

impl From<WaitError> for ApiError {
    fn from(e: WaitError) -> Self {
        match e {
            WaitError::NotFound(_) => ApiError::not_found("payment_not_found", e.to_string()),
            WaitError::Database(e) => e.into(),
        }
    }
}

fn required(
    offer: &Offer,
    resource: Resource,
    code: &str,
    message: &str,
    settlement: SettlementHeaders,
) -> X402Response {
    X402Response::Required(
        X402RequiredError::new(offer, &resource, code, message),
        encode_header(&offer.payment_required(resource, message)),
        settlement.v2,
        settlement.v1,
        "no-store".into(),
    )
}

/// The URL the client asked for, as x402's `resource.url`.
fn resource_url(req: &Request) -> String {
    let host = req
        .header(poem::http::header::HOST)
        .unwrap_or("localhost")
        .to_owned();
    format!("http://{host}{}", req.uri().path())
}
