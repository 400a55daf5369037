//! The HTTP API: poem-openapi resources, their DTOs, errors and auth, Swagger UI at `/docs`
//! and the spec at `/openapi.json`. Handlers call `engine` and `store`; they hold no SQL.
pub mod auth;
pub mod error;
pub mod health;
pub mod settings;
pub mod time;
pub mod workflows;

use poem::{Endpoint, EndpointExt, Route, middleware::Tracing};
use poem_openapi::OpenApiService;
use sea_orm::DatabaseConnection;

use crate::chain::Chain;
use crate::config::SettingsHandle;
use crate::engine::Client;
use crate::service::Contracts;

/// Largest request body accepted, in bytes.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// What every handler may use.
#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub client: Client,
    pub settings: SettingsHandle,
    /// `None` closes the admin endpoints.
    pub admin_token: Option<String>,
    /// The transaction pipeline; `None` when no chain is configured.
    pub chain: Option<Chain>,
    /// The token and USDC contracts this process works with, when configured.
    pub contracts: Contracts,
}

type Apis = (
    health::HealthApi,
    workflows::WorkflowsApi,
    settings::SettingsApi,
);

fn service() -> OpenApiService<Apis, ()> {
    OpenApiService::new(
        (
            health::HealthApi,
            workflows::WorkflowsApi,
            settings::SettingsApi,
        ),
        "mintflow",
        env!("CARGO_PKG_VERSION"),
    )
    .description(
        "Durable workflows for token mints, USDC payments and token deployments. Every request \
         becomes a persisted workflow; operators inspect and act on them here. Errors are \
         `{code, message}` JSON with a stable `code`.",
    )
}

/// The OpenAPI document, as `mintflow openapi` prints it and `openapi/openapi.json` holds.
pub fn spec_json() -> String {
    service().spec()
}

/// The whole HTTP application.
pub fn app(state: AppState) -> impl Endpoint {
    let api = service();
    Route::new()
        .at("/openapi.json", api.spec_endpoint())
        .nest("/docs", api.swagger_ui())
        .nest("/", api)
        .data(state)
        .with(error::BodyLimit(MAX_BODY_BYTES))
        .with(Tracing)
        .catch_all_error(error::to_json_error)
}
