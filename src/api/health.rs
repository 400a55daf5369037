//! Liveness: is the process up and its database reachable.
use poem_openapi::{ApiResponse, Object, OpenApi, Tags, payload::Json};

use poem::web::Data;

use super::AppState;

#[derive(Tags)]
pub enum HealthTag {
    /// Process and dependency health.
    Health,
}

#[derive(Object)]
pub struct Health {
    /// `ok` or `unavailable`.
    pub status: String,
    /// `ok`, or what failed.
    pub database: String,
    /// Whether every migration this build knows is applied.
    pub migrations_current: bool,
}

#[derive(ApiResponse)]
pub enum HealthResponse {
    /// Healthy.
    #[oai(status = 200)]
    Ok(Json<Health>),
    /// A dependency is down.
    #[oai(status = 503)]
    Unavailable(Json<Health>),
}

pub struct HealthApi;

#[OpenApi(tag = "HealthTag::Health")]
impl HealthApi {
    /// Health check: answers 200 when the database is reachable.
    #[oai(path = "/health", method = "get", operation_id = "health")]
    async fn health(&self, app: Data<&AppState>) -> HealthResponse {
        match crate::store::migrations_current(&app.db).await {
            Ok(current) => HealthResponse::Ok(Json(Health {
                status: "ok".into(),
                database: "ok".into(),
                migrations_current: current,
            })),
            Err(e) => {
                tracing::warn!(error = %e, "health check: database unreachable");
                HealthResponse::Unavailable(Json(Health {
                    status: "unavailable".into(),
                    database: "unreachable".into(),
                    migrations_current: false,
                }))
            }
        }
    }
}
