//! The two x402 transports on the same routes. v2 pays with `PAYMENT-SIGNATURE` and reads the
//! offer from `PAYMENT-REQUIRED` and the settlement from `PAYMENT-RESPONSE`; v1 (the old
//! server's buyers, `x402-fetch` 1.x) pays with `X-PAYMENT` and reads the offer from the 402's
//! JSON body and the settlement from `X-PAYMENT-RESPONSE`. A first request carries neither
//! header, so every 402 serves both: the v2 header and the v1 body (v2 clients read the header
//! first and ignore the body).
use poem_openapi::Object;
use poem_openapi::payload::Json;

use crate::api::error::{ApiError, PaymentRequiredError};
use crate::x402::types::{DecodeError, decode_header, encode_header};
use crate::x402::v1::{self, V1Payment, X402Version1};
use crate::x402::{Offer, PaymentPayload, Resource, SettlementResponse};

/// The payment a request carries, still encoded.
pub enum PaymentHeader {
    /// `PAYMENT-SIGNATURE`: base64(JSON v2 `PaymentPayload`).
    V2(String),
    /// `X-PAYMENT`: base64(JSON v1 `PaymentPayload`).
    V1(String),
}

/// Which version a payment came in: its answer's settlement header is that version's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    V1,
    V2,
}

impl PaymentHeader {
    /// The payment of a request: at most one of the two headers, since a client speaks one
    /// version and paying with both could not be answered in both.
    pub fn of(
        signature: Option<String>,
        x_payment: Option<String>,
    ) -> Result<Option<Self>, ApiError> {
        match (signature, x_payment) {
            (Some(_), Some(_)) => Err(ApiError::bad_request(
                "invalid_payment_signature",
                "send PAYMENT-SIGNATURE (x402 v2) or X-PAYMENT (x402 v1), not both",
            )),
            (Some(v2), None) => Ok(Some(PaymentHeader::V2(v2))),
            (None, Some(v1)) => Ok(Some(PaymentHeader::V1(v1))),
            (None, None) => Ok(None),
        }
    }

    pub fn version(&self) -> Version {
        match self {
            PaymentHeader::V1(_) => Version::V1,
            PaymentHeader::V2(_) => Version::V2,
        }
    }

    /// The payload `verify` checks for `offer`; an unreadable header is a bad request (400).
    pub fn payload(&self, offer: &Offer) -> Result<PaymentPayload, ApiError> {
        match self {
            PaymentHeader::V2(header) => {
                decode_header(header).map_err(|e| unreadable("PAYMENT-SIGNATURE", "v2", e))
            }
            PaymentHeader::V1(header) => decode_header::<V1Payment>(header)
                .map(|payment| v1::into_v2(payment, offer))
                .map_err(|e| unreadable("X-PAYMENT", "v1", e)),
        }
    }
}

fn unreadable(header: &str, version: &str, e: DecodeError) -> ApiError {
    let what = match e {
        DecodeError::Base64(_) => "is not standard base64".to_owned(),
        DecodeError::Json(_) => format!("is not an x402 {version} PaymentPayload"),
    };
    ApiError::bad_request("invalid_payment_signature", format!("{header} {what}: {e}"))
}

/// The settlement headers of an answer: one of them, in the version the client paid with.
#[derive(Debug, Default)]
pub struct SettlementHeaders {
    /// `PAYMENT-RESPONSE`.
    pub v2: Option<String>,
    /// `X-PAYMENT-RESPONSE`.
    pub v1: Option<String>,
}

impl Version {
    /// `response` about a payment for `offer`, encoded for this version's header.
    pub fn settlement(self, response: SettlementResponse, offer: &Offer) -> SettlementHeaders {
        match self {
            Version::V2 => SettlementHeaders {
                v2: Some(encode_header(&response)),
                v1: None,
            },
            Version::V1 => SettlementHeaders {
                v2: None,
                v1: Some(encode_header(&v1::settlement(response, offer))),
            },
        }
    }
}

/// The body of an x402 402: why (`code`, `message`), and for x402 v1 clients the offer (v2
/// clients read it from `PAYMENT-REQUIRED`).
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
pub struct X402RequiredError {
    #[oai(flatten)]
    pub refusal: PaymentRequiredError,
    /// `1`, with `accepts`: the offer for x402 v1 clients. Absent on a chain x402 v1 has no
    /// network name for (v1 names networks: `base` is chain 8453, `base-sepolia` 84532).
    #[oai(validator(minimum(value = "1"), maximum(value = "1")))]
    pub x402_version: Option<u8>,
    /// x402 v1 `PaymentRequirements`: `scheme` (`exact`), `network` (the v1 name),
    /// `maxAmountRequired` (USDC base units), `resource`, `description`, `mimeType`, `payTo`,
    /// `maxTimeoutSeconds`, `asset`, `extra` (`{name, version}`, the asset's EIP-712 domain).
    /// Pay one with `X-PAYMENT`.
    pub accepts: Option<Vec<serde_json::Value>>,
}

impl X402RequiredError {
    pub fn new(offer: &Offer, resource: &Resource, code: &str, message: &str) -> Json<Self> {
        let accepts = v1::requirements(offer, resource).map(|requirements| {
            vec![serde_json::to_value(requirements).expect("x402 types serialize")]
        });
        Json(X402RequiredError {
            refusal: PaymentRequiredError::new(code, message).0,
            x402_version: accepts.is_some().then_some(X402Version1::VALUE),
            accepts,
        })
    }
}
