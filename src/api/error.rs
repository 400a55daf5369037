//! One error shape for every failure: `{code, message}` with the right status. Handlers return
//! `ApiError`; everything poem itself rejects (unparsable parameters or bodies, unknown routes,
//! oversized bodies, missing credentials) is converted by `to_json_error`.
use poem::http::StatusCode;
use poem::{Endpoint, Middleware, Request, Response, Result};
use poem_openapi::{ApiResponse, Object, payload::Json};

/// The body of every error response.
#[derive(Clone, Debug, Object, serde::Serialize, serde::Deserialize)]
pub struct ErrorBody {
    /// Stable machine-readable code in snake_case, e.g. `invalid_id`.
    pub code: String,
    /// What went wrong, for a person.
    pub message: String,
}

#[derive(Debug, ApiResponse)]
pub enum ApiError {
    /// The request is malformed: a bad id, filter or parameter.
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// The payment is missing or refused; `code` is the x402 `errorReason`.
    #[oai(status = 402)]
    PaymentRequired(Json<ErrorBody>),
    /// Missing, unknown, revoked or expired credentials (`missing_credentials`,
    /// `invalid_credentials`, `key_revoked`, `key_expired`).
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// The key is valid but lacks the scope this needs (`insufficient_scope`).
    #[oai(status = 403)]
    Forbidden(Json<ErrorBody>),
    /// No such resource.
    #[oai(status = 404)]
    NotFound(Json<ErrorBody>),
    /// The resource is in a state that does not allow this, or the idempotency key was used
    /// with another request.
    #[oai(status = 409)]
    Conflict(Json<ErrorBody>),
    /// The request body is larger than the server accepts.
    #[oai(status = 413)]
    PayloadTooLarge(Json<ErrorBody>),
    /// The request is well-formed but a value is not acceptable.
    #[oai(status = 422)]
    Unprocessable(Json<ErrorBody>),
    /// A rate limit or the queue depth limit was reached; retry after `Retry-After` seconds.
    #[oai(status = 429)]
    TooManyRequests(Json<ErrorBody>, #[oai(header = "Retry-After")] u64),
    /// Something failed on the server; details are in its logs.
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
    /// A dependency (the database) is unreachable.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>),
}

fn body(code: &str, message: impl Into<String>) -> Json<ErrorBody> {
    Json(ErrorBody {
        code: code.into(),
        message: message.into(),
    })
}

impl ApiError {
    pub fn bad_request(code: &str, message: impl Into<String>) -> Self {
        ApiError::BadRequest(body(code, message))
    }
    pub fn payment_required(code: &str, message: impl Into<String>) -> Self {
        ApiError::PaymentRequired(body(code, message))
    }
    pub fn unauthorized(code: &str, message: impl Into<String>) -> Self {
        ApiError::Unauthorized(body(code, message))
    }
    pub fn forbidden(code: &str, message: impl Into<String>) -> Self {
        ApiError::Forbidden(body(code, message))
    }
    pub fn not_found(code: &str, message: impl Into<String>) -> Self {
        ApiError::NotFound(body(code, message))
    }
    pub fn conflict(code: &str, message: impl Into<String>) -> Self {
        ApiError::Conflict(body(code, message))
    }
    pub fn unprocessable(code: &str, message: impl Into<String>) -> Self {
        ApiError::Unprocessable(body(code, message))
    }
    pub fn too_many_requests(
        code: &str,
        message: impl Into<String>,
        retry_after_secs: u64,
    ) -> Self {
        ApiError::TooManyRequests(body(code, message), retry_after_secs)
    }
    pub fn unavailable(code: &str, message: impl Into<String>) -> Self {
        ApiError::Unavailable(body(code, message))
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
        ApiError::Internal(body("internal", "internal error; see the server log"))
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
                ApiError::PayloadTooLarge(body(
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
