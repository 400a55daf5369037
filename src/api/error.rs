//! One error shape for every failure: `{code, message}` with the right status. Handlers build
//! `ApiError`s and return them as `Errors<G>`, where the group `G` lists the statuses their
//! operation can answer with: the document declares those and no others. Everything poem
//! itself rejects (unparsable parameters or bodies, unknown routes, oversized bodies) is
//! converted by `to_json_error`.
//!
//! Each status has its own body schema whose `code` is an enum of every code the server
//! sends with that status (tests/error_codes.rs checks the lists against the source).
//!
//! 405 is declared nowhere: the router answers it (with `Allow`) for a method a path does not
//! have, which is an operation the document does not list, so there is no operation to hang it
//! on.
use std::borrow::Cow;
use std::marker::PhantomData;

use poem::http::StatusCode;
use poem::{Endpoint, IntoResponse, Middleware, Request, Response, Result};
use poem_openapi::registry::{MetaResponses, MetaSchema, MetaSchemaRef, Registry};
use poem_openapi::types::{ParseError, ParseFromJSON, ParseResult, ToJSON, Type};
use poem_openapi::{ApiResponse, Object, payload::Json};

use crate::x402::Reason;

/// The `{code, message}` shape as it goes on the wire, for errors answered outside a handler.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct ErrorBody {
    /// Stable machine-readable code in snake_case, e.g. `invalid_id`.
    pub code: String,
    /// What went wrong, for a person.
    pub message: String,
}

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
        "authorization_reused",
        "events_forgotten",
        "idempotency_conflict",
        "key_already_revoked",
        "mint_not_pending",
        "no_mints",
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

/// Every error a handler, an extractor or the edge can answer with. Operations declare the
/// part of it they can produce through `Errors<G>`.
#[derive(Debug, ApiResponse)]
pub enum ApiError {
    /// The request is malformed: a bad id, filter, parameter or body.
    #[oai(status = 400)]
    BadRequest(Json<BadRequestError>),
    /// Missing, unknown, revoked or expired credentials.
    #[oai(status = 401)]
    Unauthorized(Json<UnauthorizedError>),
    /// The payment is missing or refused; `code` is the x402 `errorReason` or mintflow's own.
    #[oai(status = 402)]
    PaymentRequired(Json<PaymentRequiredError>),
    /// The key is valid but lacks the scope this needs, or asks for more than it may (a mint
    /// priority above its `maxPriority`).
    #[oai(status = 403)]
    Forbidden(Json<ForbiddenError>),
    /// No such resource.
    #[oai(status = 404)]
    NotFound(Json<NotFoundError>),
    /// The resource is in a state that does not allow this, or the idempotency key was used
    /// with another request.
    #[oai(status = 409)]
    Conflict(Json<ConflictError>),
    /// The request body is larger than the server accepts.
    #[oai(status = 413)]
    PayloadTooLarge(Json<PayloadTooLargeError>),
    /// The request body is not `application/json`.
    #[oai(status = 415)]
    UnsupportedMediaType(Json<UnsupportedMediaTypeError>),
    /// The request is well-formed but a value is not acceptable.
    #[oai(status = 422)]
    Unprocessable(Json<UnprocessableError>),
    /// A rate limit, a per-client share or the queue depth limit was reached; retry after
    /// `Retry-After` seconds.
    #[oai(status = 429)]
    TooManyRequests(
        Json<TooManyRequestsError>,
        #[oai(header = "Retry-After")] u64,
    ),
    /// Something failed on the server; details are in its logs.
    #[oai(status = 500)]
    Internal(Json<InternalError>),
    /// A dependency (the database, the chain) is unreachable or slow, or the request took
    /// longer than the server gives one.
    #[oai(status = 503)]
    Unavailable(Json<UnavailableError>),
}

impl ApiError {
    pub fn bad_request(code: &str, message: impl Into<String>) -> Self {
        ApiError::BadRequest(BadRequestError::new(code, message))
    }
    pub fn payment_required(code: &str, message: impl Into<String>) -> Self {
        ApiError::PaymentRequired(PaymentRequiredError::new(code, message))
    }
    pub fn unauthorized(code: &str, message: impl Into<String>) -> Self {
        ApiError::Unauthorized(UnauthorizedError::new(code, message))
    }
    pub fn forbidden(code: &str, message: impl Into<String>) -> Self {
        ApiError::Forbidden(ForbiddenError::new(code, message))
    }
    pub fn not_found(code: &str, message: impl Into<String>) -> Self {
        ApiError::NotFound(NotFoundError::new(code, message))
    }
    pub fn conflict(code: &str, message: impl Into<String>) -> Self {
        ApiError::Conflict(ConflictError::new(code, message))
    }
    pub fn unprocessable(code: &str, message: impl Into<String>) -> Self {
        ApiError::Unprocessable(UnprocessableError::new(code, message))
    }
    pub fn too_many_requests(
        code: &str,
        message: impl Into<String>,
        retry_after_secs: u64,
    ) -> Self {
        ApiError::TooManyRequests(TooManyRequestsError::new(code, message), retry_after_secs)
    }
    pub fn unavailable(code: &str, message: impl Into<String>) -> Self {
        ApiError::Unavailable(UnavailableError::new(code, message))
    }
    fn internal() -> Self {
        ApiError::Internal(InternalError::new(
            "internal",
            "internal error; see the server log",
        ))
    }

    /// The status this error is answered with.
    pub fn status(&self) -> u16 {
        match self {
            ApiError::BadRequest(_) => 400,
            ApiError::Unauthorized(_) => 401,
            ApiError::PaymentRequired(_) => 402,
            ApiError::Forbidden(_) => 403,
            ApiError::NotFound(_) => 404,
            ApiError::Conflict(_) => 409,
            ApiError::PayloadTooLarge(_) => 413,
            ApiError::UnsupportedMediaType(_) => 415,
            ApiError::Unprocessable(_) => 422,
            ApiError::TooManyRequests(..) => 429,
            ApiError::Internal(_) => 500,
            ApiError::Unavailable(_) => 503,
        }
    }
}

/// The statuses a family of operations can answer with an error: what a handler returns,
/// and what its extractors (credentials), its parameters and body (poem's 400, 413, 415) and
/// the edge (rates, shares, the request timeout) answer before it runs.
pub trait Group: Send + Sync + 'static {
    const STATUSES: &'static [u16];
    /// Statuses the operation's success type documents itself (the x402 402, with
    /// `PAYMENT-REQUIRED`): answered, but not declared a second time.
    const DOCUMENTED_BY_SUCCESS: &'static [u16] = &[];
}

/// The errors of an operation of group `G`: an `ApiError` whose status `G` declares.
#[derive(Debug)]
pub struct Errors<G: Group>(ApiError, PhantomData<G>);

impl<G: Group> From<ApiError> for Errors<G> {
    fn from(e: ApiError) -> Self {
        let status = e.status();
        if G::STATUSES.contains(&status) || G::DOCUMENTED_BY_SUCCESS.contains(&status) {
            return Errors(e, PhantomData);
        }
        // A status the document does not promise for this operation would lie to clients;
        // a 500 at least says the server is at fault. Debug runs (every test) stop here.
        tracing::error!(
            status,
            error = ?e,
            group = std::any::type_name::<G>(),
            "an operation produced an error its group does not declare; answering 500"
        );
        debug_assert!(
            false,
            "{status} is not declared by {}: {e:?}",
            std::any::type_name::<G>()
        );
        Errors(ApiError::internal(), PhantomData)
    }
}

/// Database and snapshot failures reach handlers directly: 500, or 503 `read_timeout`.
impl<G: Group> From<sea_orm::DbErr> for Errors<G> {
    fn from(e: sea_orm::DbErr) -> Self {
        ApiError::from(e).into()
    }
}

impl<G: Group> From<crate::ops::snapshot::SnapshotError> for Errors<G> {
    fn from(e: crate::ops::snapshot::SnapshotError) -> Self {
        ApiError::from(e).into()
    }
}

impl<G: Group> IntoResponse for Errors<G> {
    fn into_response(self) -> Response {
        self.0.into_response()
    }
}

impl<G: Group> From<Errors<G>> for poem::Error {
    fn from(e: Errors<G>) -> Self {
        poem::Error::from_response(e.into_response())
    }
}

impl<G: Group> ApiResponse for Errors<G> {
    fn meta() -> MetaResponses {
        let mut meta = ApiError::meta();
        meta.responses
            .retain(|r| r.status.is_some_and(|s| G::STATUSES.contains(&s)));
        meta
    }

    fn register(registry: &mut Registry) {
        ApiError::register(registry);
    }
}

/// Declares groups: `Name = [statuses]` and, for x402 operations, `documented [402]`.
macro_rules! groups {
    ($($(#[$doc:meta])* $name:ident = [$($status:literal),*] $(documented [$($own:literal),*])?;)*) => {
        $(
            $(#[$doc])*
            pub enum $name {}

            impl Group for $name {
                const STATUSES: &'static [u16] = &[$($status),*];
                $(const DOCUMENTED_BY_SUCCESS: &'static [u16] = &[$($own),*];)?
            }
        )*
    };
}

// Every operation can answer 500, and 503 when the edge's request timeout runs out (or the
// database read pool times out). 401 and 429 (`too_many_auth_failures`) come with any
// credentials; 403 with a scope; 400 with parameters; 400, 413 and 415 with a JSON body;
// 429 with an edge rate class (src/api/edge/policy.rs).
groups! {
    /// Public reads by id, under the public read rate.
    PublicRead = [400, 404, 429, 500, 503];
    /// Reads with a key and no parameter.
    KeyedRead = [401, 403, 429, 500, 503];
    /// What the key itself is: any key, no scope.
    AnyKeyRead = [401, 429, 500, 503];
    /// Lists with a key and filters.
    KeyedList = [400, 401, 403, 429, 500, 503];
    /// Reads and deletes by id with a key.
    KeyedById = [400, 401, 403, 404, 429, 500, 503];
    /// Operations by id that the resource's state can refuse (actions, a workflow's stream).
    KeyedByIdInState = [400, 401, 403, 404, 409, 429, 500, 503];
    /// The event stream: a filter, a place to start that may be forgotten, a share of streams.
    Stream = [400, 401, 403, 409, 429, 500, 503];
    /// Writes with a key and a JSON body.
    KeyedBody = [400, 401, 403, 413, 415, 429, 500, 503];
    /// Writes by id with a key and a JSON body.
    KeyedBodyById = [400, 401, 403, 404, 413, 415, 429, 500, 503];
    /// Creations with a key and a JSON body whose values are checked.
    KeyedCreate = [400, 401, 403, 413, 415, 422, 429, 500, 503];
    /// Creations with a key and a checked JSON body, refused when the resource exists already.
    KeyedCreateUnique = [400, 401, 403, 409, 413, 415, 422, 429, 500, 503];
    /// Updates by id with a key and a JSON body whose values are checked.
    KeyedUpdate = [400, 401, 403, 404, 413, 415, 422, 429, 500, 503];
    /// Updates by id with a key and a checked JSON body that the resource's state can refuse.
    KeyedUpdateInState = [400, 401, 403, 404, 409, 413, 415, 422, 429, 500, 503];
    /// Mints with a key: a token that may be unknown, an idempotency key, the queue's depth.
    MintIntake = [400, 401, 403, 404, 409, 413, 415, 422, 429, 500, 503];
    /// Payments (a transfer or an authorization), public and under the payment rate.
    PaidWrite = [400, 402, 404, 409, 413, 415, 422, 429, 500, 503];
    /// Deployments, public, paid by an authorization and under the deployment rate.
    PaidDeploy = [400, 402, 409, 413, 415, 422, 429, 500, 503];
    /// x402 mints: their 402 is the success type's, with `PAYMENT-REQUIRED`.
    X402 = [400, 404, 409, 413, 415, 422, 429, 500, 503] documented [402];
    /// x402 deployments.
    X402Deploy = [400, 409, 413, 415, 422, 429, 500, 503] documented [402];
    /// The old `POST /mint`: an x402 mint that a `mint` key may call for free.
    KeyedX402 = [400, 401, 403, 404, 409, 413, 415, 422, 429, 500, 503] documented [402];
}

impl From<sea_orm::DbErr> for ApiError {
    fn from(e: sea_orm::DbErr) -> Self {
        if crate::store::read_pool::is_timeout(&e) {
            tracing::warn!(error = %e, "a database read timed out while serving a request");
            return ApiError::unavailable(
                "read_timeout",
                "the database did not answer in time; try again shortly",
            );
        }
        // The database's words stay in the log: they can name tables, hosts or values.
        tracing::error!(error = %e, "database error while serving a request");
        ApiError::internal()
    }
}

impl From<crate::ops::snapshot::SnapshotError> for ApiError {
    fn from(e: crate::ops::snapshot::SnapshotError) -> Self {
        use crate::ops::snapshot::SnapshotError;
        match e {
            SnapshotError::Database(e) => e.into(),
            SnapshotError::Timeout => {
                ApiError::unavailable("read_timeout", format!("{e}; try again shortly"))
            }
        }
    }
}

/// Parses a path id, naming the parameter in the error.
pub fn parse_uuid(field: &str, raw: &str) -> Result<uuid::Uuid, ApiError> {
    uuid::Uuid::parse_str(raw).map_err(|_| {
        ApiError::bad_request(
            "invalid_id",
            format!("`{field}` must be a UUID, got `{raw}`"),
        )
    })
}

/// Converts any error that reached the top of the router into the JSON error shape, keeping
/// responses our handlers built themselves.
pub async fn to_json_error(err: poem::Error) -> Response {
    if err.is_from_response() {
        return err.into_response();
    }
    let status = err.status();
    let code = if err.is::<poem_openapi::error::ParseParamError>() {
        "invalid_parameter"
    } else if err.is::<poem_openapi::error::ParseRequestPayloadError>()
        || err.is::<poem_openapi::error::ParsePathError>()
    {
        "invalid_body"
    } else if err.is::<poem_openapi::error::ContentTypeError>() {
        "unsupported_content_type"
    } else if err.is::<poem_openapi::error::AuthorizationError>() {
        return json_error(
            status,
            "unauthorized",
            "this endpoint needs an `Authorization: Bearer <key>` header".into(),
        );
    } else {
        match status {
            StatusCode::NOT_FOUND => "not_found",
            StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
            StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
            StatusCode::BAD_REQUEST => "bad_request",
            StatusCode::UNAUTHORIZED => "unauthorized",
            s if s.is_server_error() => "internal",
            _ => "error",
        }
    };
    let message = if status.is_server_error() {
        tracing::error!(error = %err, "request failed");
        "internal error; see the server log".to_owned()
    } else {
        err.to_string()
    };
    json_error(status, code, message)
}

fn json_error(status: StatusCode, code: &str, message: String) -> Response {
    Response::builder()
        .status(status)
        .content_type("application/json; charset=utf-8")
        .body(
            serde_json::to_vec(&ErrorBody {
                code: code.into(),
                message,
            })
            .expect("serializes"),
        )
}

/// Headers whose value the document constrains, with the code of a bad one. poem reads a
/// header that is not visible ASCII as absent, so `Idempotency-Key: ×ø` would be a request
/// without a key; such a value is refused here instead.
const CHECKED_HEADERS: &[(&str, &str)] = &[
    ("idempotency-key", "invalid_idempotency_key"),
    ("last-event-id", "invalid_last_event_id"),
];

/// Refuses a request whose checked header poem could not read (400, the header's code).
pub async fn refuse_unreadable_headers<E: Endpoint>(
    next: std::sync::Arc<E>,
    req: Request,
) -> Result<Response> {
    for (name, code) in CHECKED_HEADERS {
        if req
            .headers()
            .get_all(*name)
            .iter()
            .any(|v| v.to_str().is_err())
        {
            return Err(poem::Error::from_response(
                ApiError::bad_request(code, format!("`{name}` must be visible ASCII"))
                    .into_response_inner(),
            ));
        }
    }
    next.call(req).await.map(IntoResponse::into_response)
}

/// Refuses request bodies over `max` bytes with 413 before any handler reads them, whether
/// they declare a Content-Length or are chunked.
pub struct BodyLimit(pub usize);

impl<E: Endpoint> Middleware<E> for BodyLimit {
    type Output = BodyLimitEndpoint<E>;
    fn transform(&self, inner: E) -> Self::Output {
        BodyLimitEndpoint { inner, max: self.0 }
    }
}

pub struct BodyLimitEndpoint<E> {
    inner: E,
    max: usize,
}

impl<E: Endpoint> Endpoint for BodyLimitEndpoint<E> {
    type Output = E::Output;

    async fn call(&self, mut req: Request) -> Result<Self::Output> {
        let too_large = || {
            poem::Error::from_response(
                ApiError::PayloadTooLarge(PayloadTooLargeError::new(
                    "payload_too_large",
                    format!("request body exceeds {} bytes", self.max),
                ))
                .into_response_inner(),
            )
        };
        let declared = req
            .header(poem::http::header::CONTENT_LENGTH)
            .and_then(|v| v.parse::<usize>().ok());
        if declared.is_some_and(|n| n > self.max) {
            return Err(too_large());
        }
        let bytes = req
            .take_body()
            .into_bytes_limit(self.max)
            .await
            .map_err(|e| match e {
                poem::error::ReadBodyError::PayloadTooLarge => too_large(),
                other => other.into(),
            })?;
        req.set_body(bytes);
        self.inner.call(req).await
    }
}

impl ApiError {
    fn into_response_inner(self) -> Response {
        poem::IntoResponse::into_response(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statuses<G: Group>() -> Vec<u16> {
        Errors::<G>::meta()
            .responses
            .iter()
            .filter_map(|r| r.status)
            .collect()
    }

    #[test]
    fn a_group_declares_its_statuses_only() {
        assert_eq!(statuses::<PublicRead>(), [400, 404, 429, 500, 503]);
        // The x402 402 is its success type's: not declared twice.
        assert!(!statuses::<X402>().contains(&402));
        let paid: Errors<X402> = ApiError::payment_required("payment_required", "pay").into();
        assert_eq!(paid.0.status(), 402);
        let missing: Errors<PublicRead> = ApiError::not_found("mint_not_found", "no").into();
        assert_eq!(missing.0.status(), 404);
    }

    /// Every test runs with debug assertions: an operation that reaches a status its group does
    /// not declare fails the test that reached it (a release build answers 500 and logs).
    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "401 is not declared")]
    fn an_undeclared_status_stops_a_debug_run() {
        let _: Errors<PublicRead> = ApiError::unauthorized("missing_credentials", "who").into();
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "is not declared")]
    fn an_undeclared_code_stops_a_debug_run() {
        ApiError::bad_request("made_up", "no such code");
    }
}
