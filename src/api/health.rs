//! Liveness (`/health`: the process serves) and readiness (`/ready`: it can do its work now).
//! An orchestrator restarts a process that is not live, and stops sending traffic to one that
//! is not ready; a database or node outage must do the second, never the first.
use poem::web::Data;
use poem_openapi::{ApiResponse, Object, OpenApi, Tags, payload::Json};

use super::AppState;
use super::auth::Public;
use crate::ops::readiness;

#[derive(Tags)]
pub enum HealthTag {
    /// Process and dependency health.
    Health,
}

#[derive(Object)]
#[oai(example)]
pub struct Liveness {
    /// Always `ok`: an answer at all is the signal.
    pub status: String,
    /// This build's version.
    pub version: String,
}

#[derive(Object)]
#[oai(example)]
pub struct Readiness {
    /// Whether every check passed.
    pub ready: bool,
    /// `database`, `migrations`, `rpc` and `signer_funded`, in that order.
    pub checks: Vec<ReadinessCheck>,
}

/// A check's name and verdict; what was found is in the server log (this route is public).
#[derive(Object)]
pub struct ReadinessCheck {
    pub name: String,
    pub ok: bool,
}

#[derive(ApiResponse)]
pub enum ReadyResponse {
    /// Every check passed (a chain that is not configured is not a failure).
    #[oai(status = 200)]
    Ready(Json<Readiness>),
    /// At least one check failed; the server log says why.
    #[oai(status = 503)]
    NotReady(Json<Readiness>),
}

pub struct HealthApi;

#[OpenApi(tag = "HealthTag::Health")]
impl HealthApi {
    /// Check that the process is alive
    ///
    /// Who may call: anyone (public).
    ///
    /// Liveness: 200 with the version while the process serves HTTP, whatever its
    /// dependencies do, so an orchestrator restarts only a process that is stuck. It checks no
    /// dependency (see `GET /ready`).
    #[oai(path = "/health", method = "get", operation_id = "health")]
    async fn health(&self, _public: Public) -> Json<Liveness> {
        Json(Liveness {
            status: "ok".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        })
    }

    /// Check that the process is ready to serve
    ///
    /// Who may call: anyone (public).
    /// Limited by `public_read_rate_per_minute` per client.
    ///
    /// Readiness: 200 when the database answers with every migration applied and, if a chain
    /// is configured, the node answers and the signer holds the gas of 10 full mint batches at
    /// the current fees; 503 naming the failed checks (why they failed is in the server log
    /// only).
    #[oai(path = "/ready", method = "get", operation_id = "ready")]
    async fn ready(&self, app: Data<&AppState>, _public: Public) -> ReadyResponse {
        let checks = readiness::checks(&app.db, app.chain.as_ref(), &app.settings.get()).await;
        let body = Readiness {
            ready: checks.iter().all(|c| c.ok),
            checks: checks
                .into_iter()
                .map(|c| ReadinessCheck {
                    name: c.name.into(),
                    ok: c.ok,
                })
                .collect(),
        };
        if body.ready {
            ReadyResponse::Ready(Json(body))
        } else {
            ReadyResponse::NotReady(Json(body))
        }
    }
}
