//! The errors answered outside a handler: poem's own rejections, unreadable checked headers and
//! oversized bodies, in the same `{code, message}` shape.
use poem::http::StatusCode;
use poem::{Endpoint, IntoResponse, Middleware, Request, Response, Result};

use super::ApiError;
use super::bodies::PayloadTooLargeError;

/// The `{code, message}` shape as it goes on the wire, for errors answered outside a handler.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct ErrorBody {
    /// Stable machine-readable code in snake_case, e.g. `invalid_id`.
    pub code: String,
    /// What went wrong, for a person.
    pub message: String,
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
