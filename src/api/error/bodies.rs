//! The body of each error status: `{code, message}` whose `code` is an enum of every code the
//! server sends with that status, so the document lists them (tests/error_codes.rs checks the
//! lists against the source).
use std::borrow::Cow;
use std::marker::PhantomData;

use poem_openapi::registry::{MetaSchema, MetaSchemaRef};
use poem_openapi::types::{ParseError, ParseFromJSON, ParseResult, ToJSON, Type};
use poem_openapi::{Object, payload::Json};

use crate::x402::Reason;

/// The codes one status can carry.
pub trait Codes: Send + Sync + 'static {
    const CODES: &'static [&'static str];
}

/// A code of the status `C` is for: a string on the wire, an enum of `C::CODES` in the document.
pub struct Code<C: Codes>(String, PhantomData<C>);

impl<C: Codes> Code<C> {
    fn new(code: &str) -> Self {
        // Every code sent is declared: tests/error_codes.rs checks the literal ones; this
        // catches one built at run time (an x402 reason, a refusal) in any debug run.
        debug_assert!(
            C::CODES.contains(&code),
            "error code `{code}` is not declared"
        );
        Code(code.to_owned(), PhantomData)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<C: Codes> std::fmt::Debug for Code<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl<C: Codes> Type for Code<C> {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        "string".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            enum_items: C::CODES.iter().map(|c| (*c).into()).collect(),
            ..MetaSchema::new("string")
        }))
    }

    fn as_raw_value(&self) -> Option<&Self> {
        Some(self)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self> + 'a> {
        Box::new(self.as_raw_value().into_iter())
    }
}

impl<C: Codes> ToJSON for Code<C> {
    fn to_json(&self) -> Option<serde_json::Value> {
        Some(self.0.clone().into())
    }
}

impl<C: Codes> ParseFromJSON for Code<C> {
    fn parse_from_json(value: Option<serde_json::Value>) -> ParseResult<Self> {
        match value {
            Some(serde_json::Value::String(code)) if C::CODES.contains(&code.as_str()) => {
                Ok(Code(code, PhantomData))
            }
            other => Err(ParseError::expected_type(other.unwrap_or_default())),
        }
    }
}

/// One status's body: `$body { code, message }` with `code` one of `$codes`.
macro_rules! error_body {
    ($(#[$doc:meta])* $body:ident, $codes:ident, [$($code:expr),* $(,)?]) => {
        pub struct $codes;

        impl Codes for $codes {
            const CODES: &'static [&'static str] = &[$($code),*];
        }

        $(#[$doc])*
        #[derive(Debug, Object)]
        pub struct $body {
            /// Stable machine-readable code in snake_case.
            pub code: Code<$codes>,
            /// What went wrong, for a person.
            pub message: String,
        }

        impl $body {
            pub fn new(code: &str, message: impl Into<String>) -> Json<Self> {
                Json($body {
                    code: Code::new(code),
                    message: message.into(),
                })
            }
        }
    };
}

error_body!(
    /// A 400 answer.
    BadRequestError,
    BadRequestCodes,
    [
        // poem's own, through `to_json_error`.
        "invalid_parameter",
        "invalid_body",
        "invalid_address",
        "invalid_authorization",
        "invalid_filter",
        "invalid_id",
        "invalid_idempotency_key",
        "invalid_last_event_id",
        "invalid_number",
        "invalid_payment_signature",
        "invalid_position",
        "invalid_recipient_signature",
        "invalid_tx_hash",
        "missing_authorization",
        "missing_tx_hash",
        "reserved_idempotency_key",
        "unknown_filter",
    ]
);
error_body!(
    /// A 401 answer.
    UnauthorizedError,
    UnauthorizedCodes,
    [
        "missing_credentials",
        "invalid_credentials",
        "key_revoked",
        "key_expired",
    ]
);
error_body!(
    /// A 402 answer: an x402 `errorReason` or one of mintflow's own refusals.
    PaymentRequiredError,
    PaymentRequiredCodes,
    [
        "payment_required",
        Reason::Version.as_str(),
        Reason::Scheme.as_str(),
        Reason::Network.as_str(),
        Reason::Requirements.as_str(),
        Reason::Payload.as_str(),
        Reason::Recipient.as_str(),
        Reason::Value.as_str(),
        Reason::NotYetValid.as_str(),
        Reason::Expired.as_str(),
        Reason::ValidityTooShort.as_str(),
        Reason::Signature.as_str(),
        Reason::NonceUsed.as_str(),
        Reason::InsufficientBalance.as_str(),
        Reason::Simulation.as_str(),
        // crate::workflows::payment::exposure::Refusal
        "payer_settlements_reverted",
        "too_many_open_payments",
        "insufficient_balance_for_open_payments",
        // crate::workflows::payment::custom::Refusal
        "transfer_not_found",
        "transfer_not_confirmed",
        "transfer_reverted",
        "transfer_wrong_recipient",
        "transfer_ambiguous",
        "transfer_not_from_payer",
        "transfer_from_service_signer",
        "transfer_too_small",
        "recipient_signature_required",
        "recipient_signature_invalid",
        "token_signature_required",
        "transfer_amount_mismatch",
    ]
);
error_body!(
    /// A 403 answer.
    ForbiddenError,
    ForbiddenCodes,
    ["insufficient_scope", "priority_above_key_maximum"]
);
error_body!(
    /// A 404 answer.
    NotFoundError,
    NotFoundCodes,
    [
        "batch_not_found",
        "deployment_not_found",
        "key_not_found",
        "mint_not_found",
        "payment_not_found",
        "setting_not_found",
        "unknown_token",
        "webhook_not_found",
        "workflow_not_found",
    ]
);
error_body!(
    /// A 409 answer.
    ConflictError,
    ConflictCodes,
    [
        "events_forgotten",
        "idempotency_conflict",
        "key_already_revoked",
        "mint_not_pending",
        "not_a_deployment",
        "token_already_registered",
        "tx_hash_already_used",
        "wrong_status",
    ]
);
error_body!(
    /// A 413 answer.
    PayloadTooLargeError,
    PayloadTooLargeCodes,
    ["payload_too_large"]
);
error_body!(
    /// A 415 answer.
    UnsupportedMediaTypeError,
    UnsupportedMediaTypeCodes,
    ["unsupported_content_type"]
);
error_body!(
    /// A 422 answer.
    UnprocessableError,
    UnprocessableCodes,
    [
        "conflicting_token_value",
        "invalid_filter",
        "invalid_key_request",
        "invalid_name",
        "invalid_recipient",
        "invalid_symbol",
        "invalid_supply",
        "invalid_url",
        "invalid_value",
        "missing_token_value",
        "no_default_token",
        "not_a_contract",
        "priority_out_of_range",
        "quantity_out_of_range",
        "signer_may_not_mint",
        "token_lacks_function",
        "webhook_target_refused",
    ]
);
error_body!(
    /// A 429 answer.
    TooManyRequestsError,
    TooManyRequestsCodes,
    [
        "ip_rate_limited",
        "key_quota_exceeded",
        "payer_rate_limited",
        "queue_full",
        "too_many_auth_failures",
        "too_many_payments_waiting",
        "too_many_streams_for_client",
        // crate::api::edge::policy::RateClass
        "payment_rate_limited",
        "deploy_rate_limited",
        "read_rate_limited",
    ]
);
error_body!(
    /// A 500 answer.
    InternalError,
    InternalCodes,
    ["internal"]
);
error_body!(
    /// A 503 answer.
    UnavailableError,
    UnavailableCodes,
    [
        "chain_unavailable",
        "no_chain",
        "payments_not_configured",
        "read_timeout",
        "request_timed_out",
        "too_many_streams",
    ]
);
