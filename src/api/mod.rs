//! The HTTP API: poem-openapi resources, their DTOs, errors and auth, Swagger UI at `/docs`
//! and the spec at `/openapi.json`; the dashboard (`crate::ui`) at `/ui`. Handlers parse,
//! authorize, call one use case of `crate::app` (or an `ops` reading) and map its result; each
//! use case's error enum has one `From` conversion to `ApiError`.
pub mod activity;
pub mod admission;
pub mod audit;
pub mod auth;
pub mod client;
pub mod dead_letters;
pub mod declared;
pub mod deployments;
pub mod doctor;
pub mod edge;
pub mod error;
pub mod events;
mod examples;
pub mod facilitator;
pub mod health;
pub mod keys;
pub mod legacy;
pub mod legacy_payments;
pub mod metrics;
pub mod mint_views;
pub mod mints;
pub mod names;
pub mod payments;
pub mod settings;
pub mod stats;
pub mod text;
pub mod tokens;
pub mod webhooks;
pub mod workflows;
pub mod x402;

use poem::{Endpoint, EndpointExt, Route, get, middleware::Tracing};
use poem_openapi::{ContactObject, LicenseObject, OpenApiService, ServerObject};
use sea_orm::DatabaseConnection;

use crate::app::Context;
use crate::chain::Chain;
use crate::config::SettingsHandle;
use crate::config::contracts::Contracts;
use crate::engine::Client;
use crate::engine::outbox::OutboxFeed;
use crate::ops::snapshot::SharedSnapshot;
use crate::workflows::batcher::QueueSignal;
use admission::Admission;

/// Largest request body accepted, in bytes.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// What every handler may use.
#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub client: Client,
    pub settings: SettingsHandle,
    /// Checks API keys and the admin token.
    pub auth: auth::Authenticator,
    /// The transaction pipeline; `None` when no chain is configured.
    pub chain: Option<Chain>,
    /// The token and USDC contracts this process works with, when configured.
    pub contracts: Contracts,
    /// Wakes this process's mint batcher.
    pub queue: QueueSignal,
    /// Rate limits and queue depth for mint requests.
    pub admission: Admission,
    /// The outbox head this process has seen: what event streams wait on.
    pub outbox: OutboxFeed,
    /// Per-client limits, timeouts, trusted proxies and CORS of the HTTP edge.
    pub edge: edge::EdgeConfig,
    /// The pool for reads that change nothing (lists, searches, histories, the overview):
    /// few connections with a statement timeout, apart from the engine's and the sender's.
    /// Intake and every read that precedes a write stay on `db`.
    pub read_db: DatabaseConnection,
    /// The overview every stats, metrics and queue read renders, taken at most once a second.
    pub snapshot: SharedSnapshot,
    /// Where webhooks may be delivered (checked when a URL is set).
    pub webhook_targets: crate::webhooks::target::TargetPolicy,
    /// The findings of this service's latest `GET /v1/doctor`, which `/metrics` shows.
    pub doctor: crate::ops::doctor::latest::LatestRun,
    /// The process's clock (the one its engine, client and chain read): every time a handler
    /// needs comes from here or from the use case it calls.
    pub clock: crate::store::time::Clock,
}

impl AppState {
    /// What the use cases of `app` work with, borrowed from this process's state.
    pub fn context(&self) -> Context<'_> {
        Context {
            db: &self.db,
            read_db: &self.read_db,
            client: &self.client,
            chain: self.chain.as_ref(),
            contracts: &self.contracts,
            settings: &self.settings,
            queue: &self.queue,
            clock: &self.clock,
        }
    }
}

/// Declares the type of the served APIs and the value of it from one list: each API is a unit
/// struct, so the same tokens name its type and make its value.
macro_rules! apis {
    ($($api:tt)*) => {
        type Apis = ($($api)*);
        const APIS: Apis = ($($api)*);
    };
}

apis!(
    health::HealthApi,
    mints::MintsApi,
    payments::PaymentsApi,
    // One element: poem-openapi implements `OpenApi` for tuples of at most 16 APIs, so related
    // APIs share a slot.
    (deployments::DeploymentsApi, tokens::TokensApi),
    workflows::WorkflowsApi,
    dead_letters::DeadLettersApi,
    events::EventsApi,
    webhooks::WebhooksApi,
    keys::KeysApi,
    audit::AuditApi,
    settings::SettingsApi,
    (stats::StatsApi, activity::ActivityApi),
    doctor::DoctorApi,
    (x402::X402Api, facilitator::FacilitatorApi),
    legacy::LegacyApi,
    legacy_payments::LegacyPaymentsApi,
);

fn service() -> OpenApiService<Apis, ()> {
    OpenApiService::new(APIS, "mintflow", env!("CARGO_PKG_VERSION"))
        .description(
            "Durable workflows for token mints, USDC payments and token deployments. Every request \
         becomes a persisted workflow; operators inspect and act on them here. Errors are \
         `{code, message}` JSON with a stable `code`.",
        )
        .license(LicenseObject::new("MIT").url("https://opensource.org/license/mit"))
        .contact(ContactObject::new().name("mintflow maintainers"))
        // The relative server is whichever one serves this document, so Swagger UI's "Try it out"
        // calls the server it was opened on; the second is what `mintflow dev` listens on.
        .server(ServerObject::new("/").description("The server that serves this document"))
        .server(
            ServerObject::new("http://127.0.0.1:4021")
                .description("`mintflow dev` on this machine"),
        )
}

/// The OpenAPI document, as `mintflow openapi` prints it and `openapi/openapi.json` holds.
pub fn spec_json() -> String {
    service().spec()
}

// Mint and payment lists page their workflow rows the same way.
pub use crate::app::workflows::page;

/// The position a `cursor` parameter of a page ordered by a number (the audit log, a delivery
/// log) names. Every page's `nextCursor` is a string, whatever orders it, so clients treat
/// cursors alike.
pub fn parse_position_cursor(cursor: Option<String>) -> Result<Option<i64>, error::ApiError> {
    cursor
        .map(|c| {
            c.parse().map_err(|_| {
                error::ApiError::bad_request(
                    "invalid_parameter",
                    format!("`cursor` must be a `nextCursor` of this list, got `{c}`"),
                )
            })
        })
        .transpose()
}

/// The whole HTTP application. It installs the process's metrics recorder if nothing did.
pub fn app(state: AppState) -> impl Endpoint {
    crate::ops::metrics::install();
    let api = service();
    let spec = api.spec();
    let http_metrics = metrics::HttpMetrics::new(&spec);
    let edge = edge::Edge::new(
        &state.edge,
        state.settings.clone(),
        state.outbox.capacity(),
        &spec,
    );
    let cors_origins = state.edge.cors_allowed_origins.clone();
    let app = Route::new()
        .at("/openapi.json", api.spec_endpoint())
        .at("/metrics", get(metrics::scrape))
        .nest("/docs", api.swagger_ui())
        .nest("/ui", crate::ui::routes())
        .nest("/", api)
        .data(state)
        .with(error::BodyLimit(MAX_BODY_BYTES))
        .around(error::refuse_unreadable_headers)
        // Outside the body limit, so its request timeout covers a slow body too.
        .with(edge)
        .with(Tracing)
        // Inside the error conversion, so it sees the route an error came from.
        .with(http_metrics)
        .catch_all_error(error::to_json_error);
    // Outermost, so refusals (429 with Retry-After) reach a cross-origin script too.
    edge::cors::wrap(&cors_origins, app)
}

/// What a worker-only process serves on its `LISTEN_ADDR`: liveness, readiness and its own
/// metrics (steps, batches and transactions are recorded where they run, so only a worker can
/// show them). Nothing else: no workflow or admin endpoint.
pub fn ops_app(state: AppState) -> impl Endpoint {
    crate::ops::metrics::install();
    let api = OpenApiService::new(
        health::HealthApi,
        "mintflow worker",
        env!("CARGO_PKG_VERSION"),
    );
    Route::new()
        .at("/metrics", get(metrics::scrape))
        .nest("/", api)
        .data(state)
        .with(Tracing)
        .catch_all_error(error::to_json_error)
}
