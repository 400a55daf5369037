//! The JSON the x402 v2 HTTP transport carries, and its base64 header encoding.
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use serde_json::Value as Json;

pub const X402_VERSION: u32 = 2;

/// What was paid for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Resource {
    pub url: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub mime_type: String,
}

/// One way to pay (an entry of `accepts`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentRequirements {
    pub scheme: String,
    /// CAIP-2, `eip155:<chainId>`.
    pub network: String,
    /// Token base units, as a decimal string.
    pub amount: String,
    pub asset: String,
    pub pay_to: String,
    pub max_timeout_seconds: u64,
    /// `{name, version}`: the asset's EIP-712 domain.
    #[serde(default)]
    pub extra: Json,
}

/// The body of the `PAYMENT-REQUIRED` header of a 402.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentRequired {
    pub x402_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub resource: Resource,
    pub accepts: Vec<PaymentRequirements>,
}

/// An EIP-3009 `TransferWithAuthorization`, as the client signed it (decimal strings).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Authorization {
    pub from: String,
    pub to: String,
    pub value: String,
    pub valid_after: String,
    pub valid_before: String,
    /// 32 bytes, 0x-hex.
    pub nonce: String,
}

/// The `exact` scheme's payload: the authorization and its signature (65 bytes, r|s|v).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExactPayload {
    pub authorization: Authorization,
    pub signature: String,
}

/// The body of the `PAYMENT-SIGNATURE` header.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentPayload {
    pub x402_version: u32,
    pub payload: ExactPayload,
    #[serde(default)]
    pub resource: Option<Resource>,
    /// The offer the client chose, verbatim.
    pub accepted: PaymentRequirements,
}

/// The body of the `PAYMENT-RESPONSE` header.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SettlementResponse {
    pub success: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_reason: Option<String>,
    /// The settlement transaction's hash ("" when none).
    pub transaction: String,
    pub network: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payer: Option<String>,
}

/// Why a header could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("not standard base64: {0}")]
    Base64(#[from] base64::DecodeError),
    #[error("not the expected JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// `base64(JSON)`, standard alphabet with padding, as x402 headers carry it.
pub fn encode_header<T: Serialize>(value: &T) -> String {
    STANDARD.encode(serde_json::to_vec(value).expect("x402 types serialize"))
}

pub fn decode_header<T: DeserializeOwned>(header: &str) -> Result<T, DecodeError> {
    let bytes = STANDARD.decode(header.trim())?;
    Ok(serde_json::from_slice(&bytes)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_round_trip_and_refuse_garbage() {
        let s = SettlementResponse {
            success: true,
            error_reason: None,
            transaction: "0xab".into(),
            network: "eip155:31337".into(),
            payer: Some("0x01".into()),
        };
        let h = encode_header(&s);
        assert_eq!(decode_header::<SettlementResponse>(&h).unwrap(), s);
        assert!(matches!(
            decode_header::<SettlementResponse>("%%%"),
            Err(DecodeError::Base64(_))
        ));
        let not_json = STANDARD.encode(b"{nope");
        assert!(matches!(
            decode_header::<SettlementResponse>(&not_json),
            Err(DecodeError::Json(_))
        ));
    }

    #[test]
    fn reads_what_the_official_client_sends() {
        let json = r#"{"x402Version":2,
          "payload":{"authorization":{"from":"0x1","to":"0x2","value":"1000000","validAfter":"0",
            "validBefore":"1795320144","nonce":"0x00"},"signature":"0x11"},
          "resource":{"url":"http://h/x402/mint","description":"d","mimeType":"application/json"},
          "accepted":{"scheme":"exact","network":"eip155:31337","amount":"1000000","asset":"0xa",
            "payTo":"0xb","maxTimeoutSeconds":60,"extra":{"name":"USD Coin","version":"2"}}}"#;
        let p: PaymentPayload = serde_json::from_str(json).unwrap();
        assert_eq!(p.accepted.pay_to, "0xb");
        assert_eq!(p.payload.authorization.valid_before, "1795320144");
    }
}
