//! `/metrics` in the Prometheus text format, and the middleware that times every HTTP request
//! by route template. Outside the OpenAPI document: it is for Prometheus, not for clients.
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use poem::http::Method;
use poem::web::Data;
use poem::{Endpoint, IntoResponse, Middleware, PathPattern, Request, Response, Result, handler};
use poem_openapi::OperationId;

use super::AppState;
use crate::ops::metrics;

/// The content type of the text exposition format.
const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";
/// The `route` of requests no route matched (404s): their paths are not labels, or any
/// scanner could create series at will.
const UNMATCHED: &str = "unmatched";

/// The scrape: this service's overview and this process's recorder, as rendered with the
/// shared snapshot (at most a second old). A database that fails or is slow leaves the
/// overview out (`mintflow_overview_up 0`) rather than failing the scrape.
#[handler]
pub async fn scrape(req: &poem::Request, app: Data<&AppState>) -> Response {
    // Like every operator read: a key with `read` (Prometheus sends it as a bearer token).
    if let Err(refused) = app.auth.require(req, crate::app::keys::Scope::Read).await {
        return poem::IntoResponse::into_response(refused);
    }
    let mut body = match app.snapshot.get().await {
        Ok(snapshot) => snapshot.metrics_text().to_owned(),
        Err(e) => {
            tracing::warn!(error = %e, "metrics: no overview for this scrape");
            metrics::render(None)
        }
    };
    metrics::render_doctor(&mut body, &app.doctor.per_check());
    Response::builder().content_type(TEXT_FORMAT).body(body)
}

/// Records `mintflow_http_request_duration_seconds` for every request, with its route template
/// (`/v1/mints/:id`, never the id itself) and the status the client gets.
pub struct HttpMetrics {
    /// The spec's path template of each operation id, with `:name` parameters. poem's own
    /// pattern of an OpenAPI route names them `:param0`, ...; the spec's names are the ones
    /// people read.
    templates: Arc<HashMap<String, String>>,
}

impl HttpMetrics {
    /// The middleware for the API described by `spec` (the OpenAPI document, as JSON).
    pub fn new(spec: &str) -> HttpMetrics {
        let spec: serde_json::Value = serde_json::from_str(spec).unwrap_or_default();
        let mut templates = HashMap::new();
        for (path, operations) in spec["paths"].as_object().into_iter().flatten() {
            for operation in operations.as_object().into_iter().flat_map(|o| o.values()) {
                if let Some(id) = operation["operationId"].as_str() {
                    templates.insert(id.to_owned(), colon_params(path));
                }
            }
        }
        HttpMetrics {
            templates: Arc::new(templates),
        }
    }
}

impl<E: Endpoint> Middleware<E> for HttpMetrics {
    type Output = HttpMetricsEndpoint<E>;

    fn transform(&self, ep: E) -> Self::Output {
        HttpMetricsEndpoint {
            inner: ep,
            templates: self.templates.clone(),
        }
    }
}

pub struct HttpMetricsEndpoint<E> {
    inner: E,
    templates: Arc<HashMap<String, String>>,
}

impl<E: Endpoint> HttpMetricsEndpoint<E> {
    /// The spec's template of the operation that answered, else the pattern poem matched
    /// (`/metrics`, `/docs/*`), else `unmatched`.
    fn route(&self, operation: Option<&OperationId>, pattern: Option<&PathPattern>) -> String {
        operation
            .and_then(|op| self.templates.get(op.0))
            .cloned()
            .or_else(|| pattern.map(|p| p.0.to_string()))
            .unwrap_or_else(|| UNMATCHED.to_owned())
    }
}

impl<E: Endpoint> Endpoint for HttpMetricsEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> Result<Response> {
        let method = method_label(req.method());
        let started = Instant::now();
        let result = self.inner.call(req).await.map(IntoResponse::into_response);
        let (status, route) = match &result {
            Ok(res) => (res.status(), self.route(res.data(), res.data())),
            Err(e) => (e.status(), self.route(e.data(), e.data())),
        };
        ::metrics::histogram!(
            crate::telemetry::names::HTTP_REQUEST_DURATION,
            "method" => method,
            "route" => route,
            "status" => status.as_str().to_owned(),
        )
        .record(started.elapsed());
        result
    }
}

/// `/v1/mints/{id}` as `/v1/mints/:id`: braces in label values are valid, but simple parsers
/// of the text format (and PromQL regexes) trip over them.
pub(crate) fn colon_params(template: &str) -> String {
    template
        .split('/')
        .map(
            |segment| match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(name) => format!(":{name}"),
                None => segment.to_owned(),
            },
        )
        .collect::<Vec<_>>()
        .join("/")
}

/// The method as a label; made-up methods share one value.
fn method_label(method: &Method) -> &'static str {
    const KNOWN: [Method; 7] = [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
        Method::HEAD,
        Method::OPTIONS,
    ];
    KNOWN
        .iter()
        .find(|m| *m == method)
        .map_or("other", Method::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_come_from_the_spec_with_colon_params() {
        let m = HttpMetrics::new(&super::super::spec_json());
        assert_eq!(m.templates["get_mint"], "/v1/mints/:id");
        assert_eq!(m.templates["legacy_queue_item"], "/queue/item/:queueId");
        assert_eq!(m.templates["create_mint"], "/v1/mints");
    }
}
