//! `ApiError`: every error a handler, an extractor or the edge answers with, one variant per
//! status, and the conversions of the failures handlers meet everywhere (the database, the
//! overview snapshot).
use poem_openapi::{ApiResponse, payload::Json};

use super::bodies::{
    BadRequestError, ConflictError, ForbiddenError, InternalError, NotFoundError,
    PayloadTooLargeError, PaymentRequiredError, TooManyRequestsError, UnauthorizedError,
    UnavailableError, UnprocessableError, UnsupportedMediaTypeError,
};

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
    /// A fault of this process, not of the request: its cause goes to the log, the caller gets
    /// `internal`.
    pub fn fault(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "a fault of this process while serving a request");
        ApiError::internal()
    }
    pub(super) fn internal() -> Self {
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
