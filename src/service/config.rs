//! What a process is told to be: its role, its limits, where its database, listener and chain
//! are. `Debug` never shows a secret.
use alloy::signers::local::PrivateKeySigner;

use crate::api::edge::EdgeConfig;
use crate::chain::ChainConfig;
use crate::config::Secret;
use crate::config::contracts::Contracts;
use crate::engine::{EngineConfig, outbox};
use crate::store::read_pool::ReadPool;
use crate::webhooks::{self, target::TargetPolicy};

/// What a process does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    /// Serve HTTP only; workflows run in worker processes sharing the database.
    Api,
    /// Run workflows only; HTTP serves only /health, /ready and /metrics.
    Worker,
    /// Both (the default).
    All,
}

/// What one process serves at once. The defaults suit two cores; raise them on bigger
/// machines (each stream reads the database whenever events arrive, each webhook request
/// holds a connection to its receiver for up to `--webhook-timeout-secs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::Args)]
pub struct Limits {
    /// Event streams (`/v1/events`, `/v1/workflows/{id}/events`) open at once; beyond them,
    /// 503 `too_many_streams`.
    #[arg(long = "max-event-streams", env = "MAX_EVENT_STREAMS", default_value_t = outbox::MAX_STREAMS, value_parser = at_least_one)]
    pub event_streams: usize,
    /// Webhook requests under way at once.
    #[arg(long, env = "WEBHOOK_REQUESTS", default_value_t = webhooks::CONCURRENCY, value_parser = at_least_one)]
    pub webhook_requests: usize,
    /// Webhook requests under way at once to one subscription, so that a receiver that hangs
    /// holds no more (at most `--webhook-requests`).
    #[arg(long, env = "WEBHOOK_REQUESTS_PER_SUBSCRIPTION", default_value_t = webhooks::PER_WEBHOOK, value_parser = at_least_one)]
    pub webhook_requests_per_subscription: usize,
    /// Seconds a webhook receiver gets to answer one delivery; a request that takes longer
    /// fails and is retried later.
    #[arg(long, env = "WEBHOOK_TIMEOUT_SECS", default_value_t = webhooks::TIMEOUT_SECS, value_parser = at_least_one)]
    pub webhook_timeout_secs: usize,
    /// The pool API reads run on.
    #[command(flatten)]
    pub reads: ReadPool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            event_streams: outbox::MAX_STREAMS,
            webhook_requests: webhooks::CONCURRENCY,
            webhook_requests_per_subscription: webhooks::PER_WEBHOOK,
            webhook_timeout_secs: webhooks::TIMEOUT_SECS,
            reads: ReadPool::default(),
        }
    }
}

fn at_least_one(raw: &str) -> Result<usize, String> {
    match raw.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!("`{raw}` is not a whole number of at least 1")),
    }
}

/// `Debug` shows no secret: the admin token and the signer's key are hidden by their types,
/// the RPC URL by `ChainConfig`, and the database URL (which may hold a password) here.
#[derive(Clone)]
pub struct ServiceConfig {
    pub database_url: String,
    /// Most PostgreSQL connections this process opens.
    pub database_max_connections: u32,
    pub listen_addr: String,
    pub admin_token: Option<Secret>,
    /// `PUBLIC_READS`: operator reads (lists, histories, events, stats, metrics) need no key.
    /// Only for a private network.
    pub public_reads: bool,
    pub role: Role,
    pub engine: EngineConfig,
    /// The chain this process sends transactions to; `None` runs without one.
    pub chain: Option<ChainSetup>,
    pub limits: Limits,
    /// Timeouts, connection cap, per-client limits, trusted proxies and CORS of the HTTP edge.
    pub edge: EdgeConfig,
    /// Where webhooks may be delivered.
    pub webhook_targets: TargetPolicy,
}

impl std::fmt::Debug for ServiceConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Destructured without `..`: a new field must be added here, shown or hidden.
        let ServiceConfig {
            database_url,
            database_max_connections,
            listen_addr,
            admin_token,
            public_reads,
            role,
            engine,
            chain,
            limits,
            edge,
            webhook_targets,
        } = self;
        let backend = database_url
            .split_once(':')
            .map_or("?", |(scheme, _)| scheme);
        f.debug_struct("ServiceConfig")
            .field("database_url", &format_args!("{backend}:***"))
            .field("database_max_connections", database_max_connections)
            .field("listen_addr", listen_addr)
            .field("admin_token", admin_token)
            .field("public_reads", public_reads)
            .field("role", role)
            .field("engine", engine)
            .field("chain", chain)
            .field("limits", limits)
            .field("edge", edge)
            .field("webhook_targets", webhook_targets)
            .finish()
    }
}

/// How a process reaches its chain. `Debug` shows the signer's address, never its key.
#[derive(Clone, Debug)]
pub struct ChainSetup {
    pub config: ChainConfig,
    /// The signer pool, the primary first (one signer is a pool of one).
    pub signers: Vec<PrivateKeySigner>,
    pub contracts: Contracts,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_no_secret() {
        let key = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
        let config = ServiceConfig {
            database_url: "postgres://mintflow:db-password@db.internal/mintflow".into(),
            database_max_connections: 4,
            listen_addr: "127.0.0.1:0".into(),
            admin_token: Some("admin-token-value".into()),
            public_reads: false,
            role: Role::All,
            engine: EngineConfig::generated(),
            chain: Some(ChainSetup {
                config: ChainConfig {
                    rpc_url: "https://node.example/v2/rpc-api-key".into(),
                    ..Default::default()
                },
                signers: vec![crate::chain::signer::load(Some(key), None, None).unwrap()],
                contracts: Contracts::default(),
            }),
            limits: Limits::default(),
            edge: Default::default(),
            webhook_targets: TargetPolicy::default(),
        };
        let shown = format!("{config:?} {:?}", config.chain);
        for secret in [
            "db-password",
            "admin-token-value",
            "rpc-api-key",
            &key[2..18],
        ] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(shown.contains("postgres:***"), "{shown}");
    }
}
