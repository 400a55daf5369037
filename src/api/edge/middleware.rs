//! The edge middleware, run before the router: it resolves the client, applies the
//! per-client limits of the route the request is for, bounds the request's time, and gives
//! 405 answers their `Allow`.
//!
//! Limits are chosen by the request's operation (found in the spec's paths, see `routes`),
//! so handlers stay as they are and a limit cannot be forgotten on one of two routes that
//! share a handler (`/x402/mint` and `/api/x402-batch-mint`).
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use poem::http::{HeaderValue, StatusCode, header};
use poem::{Body, Endpoint, IntoResponse, Middleware, PathPattern, Request, Response, Result};

use super::EdgeConfig;
use super::policy::{RateClass, is_stream, rate_classes, waits_for_settlement};
use super::proxy::TrustedProxies;
use super::rate::RateLimit;
use super::routes::Routes;
use super::slots::{ClientSlots, Slot};
use crate::api::client::{self, ClientIp};
use crate::api::error::{self, ApiError};
use crate::config::SettingsHandle;
use crate::x402::SETTLEMENT_WAIT_SECS;

/// Seconds a client over its share of streams or waiting payments is told to wait: both are
/// held for a while.
const RETRY_HELD_SECS: u64 = 5;

/// The headers that make a request a paid one (x402 v2, and v1's name).
const PAYMENT_HEADERS: [&str; 2] = ["payment-signature", "x-payment"];

/// The middleware; its limiters are shared by every request of the process.
#[derive(Clone)]
pub struct Edge(Arc<Shared>);

struct Shared {
    settings: SettingsHandle,
    routes: Routes,
    proxies: TrustedProxies,
    payment: RateLimit,
    deploy: RateLimit,
    public_read: RateLimit,
    streams: ClientSlots,
    streams_per_client: usize,
    waits: ClientSlots,
    waits_per_client: usize,
    request_timeout: Duration,
}

impl Edge {
    /// The edge of the API described by `spec`, in a process serving `max_streams` event
    /// streams at once.
    pub fn new(
        config: &EdgeConfig,
        settings: SettingsHandle,
        max_streams: usize,
        spec: &str,
    ) -> Edge {
        Edge(Arc::new(Shared {
            settings,
            routes: Routes::from_spec(spec),
            proxies: config.trusted_proxies.clone(),
            payment: RateLimit::default(),
            deploy: RateLimit::default(),
            public_read: RateLimit::default(),
            streams: ClientSlots::default(),
            streams_per_client: config.streams_per_client(max_streams),
            waits: ClientSlots::default(),
            waits_per_client: config.max_x402_waits_per_client as usize,
            request_timeout: config.request_timeout(),
        }))
    }
}

/// What an admitted request holds: a stream's slot until its body ends, a paid request's
/// until its answer is ready.
struct Held {
    stream: Option<Slot>,
    _wait: Option<Slot>,
}

impl Shared {
    /// The per-client limits of a request for `operation`, carrying a payment or not.
    fn admit(&self, operation: Option<&str>, paid: bool, key: &str) -> Result<Held, ApiError> {
        let mut held = Held {
            stream: None,
            _wait: None,
        };
        if let Some(op) = operation {
            self.check_rates(op, key)?;
            if is_stream(op) {
                held.stream = Some(self.stream_slot(key)?);
            }
        }
        if paid {
            held._wait = Some(self.wait_slot(key)?);
        }
        Ok(held)
    }

    fn rate(&self, class: RateClass) -> &RateLimit {
        match class {
            RateClass::Payment => &self.payment,
            RateClass::Deploy => &self.deploy,
            RateClass::PublicRead => &self.public_read,
        }
    }

    /// 429 when `key` is over one of `operation`'s rates.
    fn check_rates(&self, operation: &str, key: &str) -> Result<(), ApiError> {
        let classes = rate_classes(operation);
        if classes.is_empty() {
            return Ok(());
        }
        let settings = self.settings.get();
        for &class in classes {
            let per_minute = class.per_minute(&settings);
            self.rate(class).check(per_minute, key, 1).map_err(|wait| {
                ApiError::too_many_requests(
                    class.code(),
                    format!(
                        "this client may make {per_minute} {} per minute",
                        class.what()
                    ),
                    wait,
                )
            })?;
        }
        Ok(())
    }

    /// The slot of one more event stream for `key`.
    fn stream_slot(&self, key: &str) -> Result<Slot, ApiError> {
        self.streams
            .take(key, self.streams_per_client)
            .ok_or_else(|| {
                ApiError::too_many_requests(
                    "too_many_streams_for_client",
                    format!(
                        "this client already holds {} event streams, its share of this server's",
                        self.streams_per_client
                    ),
                    RETRY_HELD_SECS,
                )
            })
    }

    /// The slot of one more paid request waiting for its settlement for `key`.
    fn wait_slot(&self, key: &str) -> Result<Slot, ApiError> {
        self.waits.take(key, self.waits_per_client).ok_or_else(|| {
            ApiError::too_many_requests(
                "too_many_payments_waiting",
                format!(
                    "this client already has {} paid requests waiting for their settlement",
                    self.waits_per_client
                ),
                RETRY_HELD_SECS,
            )
        })
    }
}

impl<E: Endpoint> Middleware<E> for Edge {
    type Output = EdgeEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        EdgeEndpoint {
            inner,
            edge: self.0.clone(),
        }
    }
}

pub struct EdgeEndpoint<E> {
    inner: E,
    edge: Arc<Shared>,
}

impl<E: Endpoint> Endpoint for EdgeEndpoint<E> {
    type Output = Response;

    async fn call(&self, mut req: Request) -> Result<Response> {
        let edge = &self.edge;
        if let Some(peer) = req.remote_addr().as_socket_addr().map(|a| a.ip()) {
            let forwarded = req
                .headers()
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|v| v.to_str().ok());
            let client = edge.proxies.client(peer, forwarded);
            req.extensions_mut().insert(ClientIp(client));
        }
        let key = client::key(&req);
        let operation = edge.routes.operation(req.method(), req.uri().path());
        let paid = PAYMENT_HEADERS
            .iter()
            .any(|h| req.headers().contains_key(*h));
        let path = req.uri().path().to_owned();
        // A refusal given before the router ran, labelled with its route in the metrics.
        let refuse = |refusal: ApiError| {
            let mut res = refusal.into_response();
            if let Some(pattern) = edge.routes.pattern(&path) {
                res.set_data(PathPattern(pattern));
            }
            Ok(res)
        };
        let held = match edge.admit(operation, paid, &key) {
            Ok(held) => held,
            Err(refusal) => return refuse(refusal),
        };
        // A paid request waits for its settlement (up to the offer's maxTimeoutSeconds) on
        // top of the usual time. The timeout covers reading the body and producing the
        // answer's head, not streaming a body out: event streams and assets are not cut.
        let settles = operation.is_some_and(waits_for_settlement);
        let budget = if paid || settles {
            edge.request_timeout + Duration::from_secs(SETTLEMENT_WAIT_SECS)
        } else {
            edge.request_timeout
        };
        let Ok(answered) = tokio::time::timeout(budget, self.inner.call(req)).await else {
            return refuse(ApiError::unavailable(
                "request_timed_out",
                format!("the request took longer than {} s", budget.as_secs()),
            ));
        };
        match answered {
            Ok(res) => {
                let res = res.into_response();
                Ok(match held.stream {
                    Some(slot) if res.status().is_success() => hold_while_streaming(res, slot),
                    _ => res,
                })
            }
            Err(e) if e.status() == StatusCode::METHOD_NOT_ALLOWED => {
                let mut res = error::to_json_error(e).await;
                if let Some(allow) = edge.routes.allow(&path)
                    && let Ok(value) = HeaderValue::from_str(&allow)
                {
                    res.headers_mut().insert(header::ALLOW, value);
                }
                Ok(res)
            }
            Err(e) => Err(e),
        }
    }
}

/// `res` with `slot` held until its body is dropped: a stream's slot lives as long as the
/// stream, not only as long as the handler.
fn hold_while_streaming(mut res: Response, slot: Slot) -> Response {
    let body = res.take_body().into_bytes_stream().map(move |chunk| {
        let _held = &slot;
        chunk
    });
    res.set_body(Body::from_bytes_stream(body));
    res
}
