//! `CORS_ALLOWED_ORIGINS`: browser scripts from these origins may call the API, so a browser
//! x402 client on a shop's own site can pay: it must send `PAYMENT-SIGNATURE` and read
//! `PAYMENT-REQUIRED`, `PAYMENT-RESPONSE` and `Retry-After` (an x402 v1 client sends
//! `X-PAYMENT` and reads `X-PAYMENT-RESPONSE`).
//!
//! Requests from any other origin (or none) pass untouched, without CORS headers: the browser
//! then keeps the answer from the script. poem's `Cors` would refuse them with 403 instead,
//! which would also refuse the dashboard's own requests (browsers send `Origin` on a
//! same-origin POST).
use std::collections::HashSet;
use std::sync::Arc;

use poem::http::{HeaderValue, Method, header};
use poem::middleware::{Cors, CorsEndpoint};
use poem::{Endpoint, IntoResponse, Middleware, Request, Response, Result};

use crate::api::error;

/// Request headers a cross-origin script may send. `x402-fetch` 1.x sends
/// `Access-Control-Expose-Headers` with its paid retry (a response header, sent as a request
/// one): a preflight that names it must pass, or a browser never sends the payment.
const ALLOWED_HEADERS: [&str; 7] = [
    "authorization",
    "content-type",
    "payment-signature",
    "x-payment",
    "access-control-expose-headers",
    "idempotency-key",
    "last-event-id",
];
/// Response headers a cross-origin script may read.
const EXPOSED_HEADERS: [&str; 4] = [
    "payment-required",
    "payment-response",
    "x-payment-response",
    "retry-after",
];
/// Seconds a browser may cache a preflight's answer.
const MAX_AGE_SECS: i32 = 600;

/// The origins whose scripts may call the API; none turns CORS off.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AllowedOrigins(pub Vec<String>);

/// Parses `CORS_ALLOWED_ORIGINS`: comma-separated origins, empty entries ignored (so an empty
/// variable means none).
pub fn parse_list(raw: &str) -> Result<AllowedOrigins, String> {
    raw.split(',')
        .filter(|entry| !entry.trim().is_empty())
        .map(parse_origin)
        .collect::<Result<_, _>>()
        .map(AllowedOrigins)
}

/// Parses one `CORS_ALLOWED_ORIGINS` entry: `scheme://host[:port]`, as browsers send it.
fn parse_origin(raw: &str) -> Result<String, String> {
    let origin = raw.trim().trim_end_matches('/').to_ascii_lowercase();
    let host = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"));
    match host {
        Some(host)
            if !host.is_empty()
                && !host.contains('/')
                && HeaderValue::from_str(&origin).is_ok() =>
        {
            Ok(origin)
        }
        _ => Err(format!(
            "`{raw}` is not an origin like https://shop.example or http://localhost:3000"
        )),
    }
}

/// `ep`, answering CORS requests from `origins` (nothing changes when there are none).
pub fn wrap<E: Endpoint>(origins: &AllowedOrigins, ep: E) -> CorsIfAllowed<E> {
    let origins = &origins.0;
    let inner = Arc::new(ep);
    let cors = (!origins.is_empty()).then(|| {
        let allowed = origins
            .iter()
            .filter_map(|o| HeaderValue::from_str(o).ok())
            .collect();
        let cors = Cors::new()
            .allow_origins(origins.iter().map(String::as_str))
            .allow_methods([
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
            ])
            .allow_headers(ALLOWED_HEADERS)
            .expose_headers(EXPOSED_HEADERS)
            .max_age(MAX_AGE_SECS)
            .transform(inner.clone());
        (allowed, cors)
    });
    CorsIfAllowed { inner, cors }
}

pub struct CorsIfAllowed<E> {
    inner: Arc<E>,
    cors: Option<(HashSet<HeaderValue>, CorsEndpoint<Arc<E>>)>,
}

impl<E: Endpoint> Endpoint for CorsIfAllowed<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> Result<Response> {
        if let Some((allowed, cors)) = &self.cors
            && req
                .headers()
                .get(header::ORIGIN)
                .is_some_and(|o| allowed.contains(o))
        {
            return Ok(match cors.call(req).await {
                Ok(res) => res,
                // A preflight asking for a method or header we do not allow.
                Err(e) => error::to_json_error(e).await,
            });
        }
        self.inner.call(req).await.map(IntoResponse::into_response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_scheme_host_and_port() {
        assert_eq!(
            parse_origin("https://Shop.example/").unwrap(),
            "https://shop.example"
        );
        assert_eq!(
            parse_origin("http://localhost:3000").unwrap(),
            "http://localhost:3000"
        );
        assert!(parse_origin("shop.example").is_err());
        assert!(parse_origin("https://shop.example/pay").is_err());
        assert!(parse_origin("*").is_err());
        assert_eq!(parse_list("").unwrap(), AllowedOrigins::default());
    }
}
