//! The x402 v2 facilitator API, for other resource servers (the official `@x402/express`
//! middleware with an HTTP facilitator client pointed at `/x402/facilitator`):
//! `GET /supported` (public), `POST /verify` and `POST /settle` (a `facilitate` key). Settled
//! payments are ordinary `payment` workflows, to payees `FACILITATOR_PAY_TO` allows (a key with
//! payees of its own: those of them only).
use std::collections::{BTreeMap, HashMap};

use poem::web::Data;
use poem_openapi::{Object, OpenApi, payload::Json};
use uuid::Uuid;

use super::AppState;
use super::auth::{Access, Facilitate, Public};
use super::error::{ApiError, Errors, FacilitatorCalls, FacilitatorInfo};
use super::payments::view;
use super::x402::X402Tag;
use crate::app::facilitator::{self, Invalid, Request, SettleError, Settled};
use crate::app::x402::{Outcome, Settlement};
use crate::x402::types::X402_VERSION;

/// A JSON object: the x402 messages are checked field by field by the use case, but a body
/// without them, or with something else than an object, is a malformed request (400).
pub type JsonObject = BTreeMap<String, serde_json::Value>;

/// What a resource server sends to `/verify` and `/settle`.
#[derive(Object)]
#[oai(example, rename_all = "camelCase")]
pub struct FacilitatorRequest {
    /// `2`; another version is answered as invalid (`invalid_x402_version`).
    pub x402_version: u32,
    /// The buyer's x402 v2 `PaymentPayload` (the decoded `PAYMENT-SIGNATURE`):
    /// `{x402Version, payload: {authorization, signature}, resource, accepted}`.
    pub payment_payload: JsonObject,
    /// The resource server's `PaymentRequirements` for the request: `{scheme, network,
    /// amount, asset, payTo, maxTimeoutSeconds, extra}`.
    pub payment_requirements: JsonObject,
}

impl FacilitatorRequest {
    fn request(self) -> Request {
        Request {
            x402_version: self.x402_version,
            payment_payload: serde_json::Value::Object(self.payment_payload.into_iter().collect()),
            payment_requirements: serde_json::Value::Object(
                self.payment_requirements.into_iter().collect(),
            ),
        }
    }
}

/// The x402 v2 `VerifyResponse`.
#[derive(Object)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
pub struct FacilitatorVerifyResponse {
    pub is_valid: bool,
    /// Why not: an x402 reason (`invalid_exact_evm_nonce_already_used`, ...), or mintflow's
    /// own `pay_to_not_allowed`, `unsupported_asset`, `authorization_validity_too_short`,
    /// `too_many_open_payments`, `insufficient_balance_for_open_payments`,
    /// `payer_settlements_reverted`.
    pub invalid_reason: Option<String>,
    pub invalid_message: Option<String>,
    /// Who signed the authorization.
    pub payer: Option<String>,
}

/// The x402 v2 `SettleResponse`.
#[derive(Object)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
pub struct FacilitatorSettleResponse {
    pub success: bool,
    /// Why not: the reasons of `/verify`, `invalid_transaction_state` (the settlement failed),
    /// or `settlement_pending` (not confirmed within 60 s: the payment still settles;
    /// follow `paymentId`).
    pub error_reason: Option<String>,
    pub error_message: Option<String>,
    pub payer: Option<String>,
    /// The settlement transaction's hash; empty when there is none.
    pub transaction: String,
    /// `eip155:<chainId>`.
    pub network: String,
    /// mintflow's payment (`GET /v1/payments/{id}`), once one was created.
    pub payment_id: Option<Uuid>,
}

/// One kind of payment settled: `{x402Version, scheme, network}`.
#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub struct SupportedKind {
    pub x402_version: u32,
    pub scheme: String,
    pub network: String,
}

/// The x402 v2 `SupportedResponse`.
#[derive(Object)]
pub struct FacilitatorSupported {
    pub kinds: Vec<SupportedKind>,
    /// None.
    pub extensions: Vec<String>,
    /// The address that sends settlements, by network.
    pub signers: HashMap<String, Vec<String>>,
}

pub struct FacilitatorApi;

#[OpenApi(tag = "X402Tag::X402")]
impl FacilitatorApi {
    /// What this facilitator settles
    ///
    /// Who may call: anyone (public). x402 v2, scheme `exact`, on this chain
    /// (`eip155:<chainId>`), in this server's USDC.
    #[oai(
        path = "/x402/facilitator/supported",
        method = "get",
        operation_id = "facilitator_supported"
    )]
    async fn supported(
        &self,
        app: Data<&AppState>,
        _public: Public,
    ) -> Result<Json<FacilitatorSupported>, Errors<FacilitatorInfo>> {
        let ctx = app.context();
        let chain = ctx.chain().map_err(ApiError::from)?;
        let network = facilitator::facilitation(&ctx, chain)
            .map_err(ApiError::from)?
            .network();
        Ok(Json(FacilitatorSupported {
            kinds: vec![SupportedKind {
                x402_version: X402_VERSION,
                scheme: "exact".into(),
                network: network.clone(),
            }],
            extensions: Vec::new(),
            signers: HashMap::from([(network, vec![chain.signer().to_string()])]),
        }))
    }

    /// Verify a payment for a resource server
    ///
    /// Who may call: a key with the `facilitate` scope (or `admin`).
    ///
    /// Checks a buyer's payment against the resource server's requirements as x402 v2 says:
    /// `exact` on this chain in this server's USDC, a payee (`payTo`) that `FACILITATOR_PAY_TO`
    /// allows (and the key's own `facilitatorPayTo`, when it has one), the payment accepted
    /// exactly these requirements, the EIP-712 signature, the validity window, the nonce unused
    /// (on chain and by any payment of this server) and the settlement's simulation. Always
    /// 200: `isValid` says, `invalidReason` why not. Writes nothing.
    #[oai(
        path = "/x402/facilitator/verify",
        method = "post",
        operation_id = "facilitator_verify"
    )]
    async fn verify(
        &self,
        app: Data<&AppState>,
        access: Access<Facilitate>,
        body: Json<FacilitatorRequest>,
    ) -> Result<Json<FacilitatorVerifyResponse>, Errors<FacilitatorCalls>> {
        let ctx = app.context();
        let chain = ctx.chain().map_err(ApiError::from)?;
        let payees = access.caller.facilitator_pay_to.as_deref();
        let verdict = facilitator::verify(&ctx, chain, &body.0.request(), payees)
            .await
            .map_err(ApiError::from)?;
        Ok(Json(match verdict {
            Ok(payer) => FacilitatorVerifyResponse {
                is_valid: true,
                invalid_reason: None,
                invalid_message: None,
                payer: Some(payer.to_string()),
            },
            Err(invalid) => FacilitatorVerifyResponse {
                is_valid: false,
                invalid_reason: Some(invalid.code.into()),
                invalid_message: Some(invalid.message),
                payer: invalid.payer.map(|p| p.to_string()),
            },
        }))
    }

    /// Settle a payment for a resource server
    ///
    /// Who may call: a key with the `facilitate` scope (or `admin`).
    ///
    /// Checks the payment as `/verify` does, then creates a durable payment (the same
    /// pipeline as every payment of this server; it buys nothing here) and waits for its
    /// settlement, at most 60 s. Always 200: `success` with the transaction once it is
    /// confirmed; otherwise `errorReason` (`settlement_pending` when the wait ran out: the
    /// payment still settles, follow `paymentId`). An authorization settles once: the same
    /// payment again is refused with `invalid_exact_evm_nonce_already_used`.
    #[oai(
        path = "/x402/facilitator/settle",
        method = "post",
        operation_id = "facilitator_settle"
    )]
    async fn settle(
        &self,
        app: Data<&AppState>,
        access: Access<Facilitate>,
        body: Json<FacilitatorRequest>,
    ) -> Result<Json<FacilitatorSettleResponse>, Errors<FacilitatorCalls>> {
        let ctx = app.context();
        let chain = ctx.chain().map_err(ApiError::from)?;
        let network = facilitator::facilitation(&ctx, chain)
            .map_err(ApiError::from)?
            .network();
        let payees = access.caller.facilitator_pay_to.as_deref();
        let settled = facilitator::settle(&ctx, chain, &body.0.request(), payees)
            .await
            .map_err(ApiError::from)?;
        Ok(Json(match settled {
            Ok(settled) => answer(settled),
            Err(invalid) => refused(invalid, network),
        }))
    }
}

fn refused(invalid: Invalid, network: String) -> FacilitatorSettleResponse {
    FacilitatorSettleResponse {
        success: false,
        error_reason: Some(invalid.code.into()),
        error_message: Some(invalid.message),
        payer: invalid.payer.map(|p| p.to_string()),
        transaction: String::new(),
        network,
        payment_id: None,
    }
}

/// The answer about a created payment, as the wait for its settlement left it.
fn answer(settled: Settled) -> FacilitatorSettleResponse {
    let Settled {
        payment,
        payer,
        network,
        settlement: Settlement {
            payment: row,
            outcome,
        },
    } = settled;
    let view = view(row);
    let (error_reason, error_message) = match outcome {
        Outcome::Confirmed => (None, None),
        Outcome::Failed => (
            Some("invalid_transaction_state"),
            Some(view.error.unwrap_or_else(|| "the settlement failed".into())),
        ),
        Outcome::Unsettled => (
            Some("settlement_pending"),
            Some(format!(
                "payment {payment} is not settled yet; it settles without this request \
                 (GET /v1/payments/{payment})"
            )),
        ),
    };
    FacilitatorSettleResponse {
        success: error_reason.is_none(),
        error_reason: error_reason.map(Into::into),
        error_message,
        payer: Some(payer.to_string()),
        transaction: view.tx_hash.unwrap_or_default(),
        network,
        payment_id: Some(payment),
    }
}

impl From<SettleError> for ApiError {
    fn from(e: SettleError) -> Self {
        match e {
            SettleError::Payment(e) => e.into(),
            SettleError::Wait(e) => e.into(),
        }
    }
}
