//! Liveness: is the process up, its database reachable and, when configured, its chain node.
use std::time::Duration;

use alloy::providers::Provider;
use poem_openapi::{ApiResponse, Object, OpenApi, Tags, payload::Json};

use poem::web::Data;

use super::AppState;
use crate::chain::Chain;

/// How long the node gets to answer before the chain counts as unreachable.
const CHAIN_TIMEOUT: Duration = Duration::from_secs(3);

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
    /// The chain node this process sends transactions through.
    pub chain: ChainHealth,
}

#[derive(Object)]
pub struct ChainHealth {
    /// `ok`, `unreachable` (the node did not answer) or `not_configured` (no `RPC_URL`).
    pub status: String,
    /// The chain id learned when the process connected.
    pub chain_id: Option<u64>,
    /// The address transactions are signed with.
    pub signer: Option<String>,
    /// The node's latest block number.
    pub block: Option<u64>,
}

#[derive(ApiResponse)]
pub enum HealthResponse {
    /// Healthy (a chain that is not configured is not a failure).
    #[oai(status = 200)]
    Ok(Json<Health>),
    /// The database or a configured chain node is unreachable.
    #[oai(status = 503)]
    Unavailable(Json<Health>),
}

pub struct HealthApi;

#[OpenApi(tag = "HealthTag::Health")]
impl HealthApi {
    /// Health check: answers 200 when the database (and the chain node, if one is configured)
    /// is reachable.
    #[oai(path = "/health", method = "get", operation_id = "health")]
    async fn health(&self, app: Data<&AppState>) -> HealthResponse {
        let (database, chain) = tokio::join!(
            crate::store::migrations_current(&app.db),
            chain_health(app.chain.as_ref())
        );
        let (database, migrations_current) = match database {
            Ok(current) => ("ok", current),
            Err(e) => {
                tracing::warn!(error = %e, "health check: database unreachable");
                ("unreachable", false)
            }
        };
        let healthy = database == "ok" && chain.status != "unreachable";
        let health = Health {
            status: if healthy { "ok" } else { "unavailable" }.into(),
            database: database.into(),
            migrations_current,
            chain,
        };
        if healthy {
            HealthResponse::Ok(Json(health))
        } else {
            HealthResponse::Unavailable(Json(health))
        }
    }
}

async fn chain_health(chain: Option<&Chain>) -> ChainHealth {
    let Some(chain) = chain else {
        return ChainHealth {
            status: "not_configured".into(),
            chain_id: None,
            signer: None,
            block: None,
        };
    };
    let block = match tokio::time::timeout(CHAIN_TIMEOUT, chain.provider().get_block_number()).await
    {
        Ok(Ok(block)) => Some(block),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "health check: chain node unreachable");
            None
        }
        Err(_) => {
            tracing::warn!(timeout = ?CHAIN_TIMEOUT, "health check: chain node did not answer");
            None
        }
    };
    ChainHealth {
        status: if block.is_some() { "ok" } else { "unreachable" }.into(),
        chain_id: Some(chain.chain_id()),
        signer: Some(chain.signer().to_string()),
        block,
    }
}
