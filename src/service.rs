//! Wiring: database, migrations, settings, engine, periodic jobs and the HTTP server of one
//! `mintflow serve` process, and their orderly shutdown.
use std::net::SocketAddr;
use std::sync::Arc;

use alloy::primitives::Address;
use alloy::signers::local::PrivateKeySigner;
use anyhow::Context;
use poem::Endpoint;
use poem::listener::{Acceptor, Listener, TcpListener};
use sea_orm::DatabaseConnection;
use tokio::sync::oneshot;
use tokio_cron_scheduler::JobScheduler;
use tokio_util::sync::CancellationToken;

use crate::api::edge::{EdgeConfig, conn::EdgeAcceptor};
use crate::api::{self, AppState};
use crate::chain::signer::address_key;
use crate::chain::{Chain, ChainConfig};
pub use crate::config::contracts::Contracts;
use crate::config::{Secret, SettingsHandle};
use crate::engine::{Client, Engine, EngineConfig, Registry, Waker, jobs, outbox};
use crate::ops::snapshot::SharedSnapshot;
use crate::store::{
    self,
    entity::token,
    read_pool::{self, ReadPool},
};
use crate::webhooks::{self, Dispatcher, target::TargetPolicy};
use crate::workflows::batcher::{Batcher, QueueSignal};

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
/// holds a connection to its receiver for up to 10 s).
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
    pub signer: PrivateKeySigner,
    pub contracts: Contracts,
}

pub struct Service {
    pub db: DatabaseConnection,
    pub client: Client,
    pub settings: SettingsHandle,
    /// The transaction pipeline, when a chain is configured.
    pub chain: Option<Chain>,
    pub contracts: Contracts,
    engine: Option<Engine>,
    /// The signer's sender loop (roles `worker` and `all` with a chain).
    sender: Option<Background>,
    /// The mint batcher (roles `worker` and `all` with a chain).
    batcher: Option<Background>,
    /// The outbox sequencer (every role).
    sequencer: Background,
    /// The webhook dispatcher (roles `worker` and `all`).
    webhooks: Option<Background>,
    scheduler: JobScheduler,
    http: Option<Http>,
    /// The API's read pool (on SQLite, `db` again).
    read_db: DatabaseConnection,
}

/// A task of this process that runs until told to stop.
struct Background {
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Background {
    async fn stop(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }
}

struct Http {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Service {
    /// Connects, migrates, and starts what `config.role` asks for. `kinds` builds the registry
    /// of workflow kinds, given the chain when one is configured.
    pub async fn start(
        config: ServiceConfig,
        kinds: impl FnOnce(Option<&Chain>) -> Registry,
    ) -> anyhow::Result<Service> {
        let db = store::connect_with_pool(&config.database_url, config.database_max_connections)
            .await
            .context("connecting to the database (DATABASE_URL)")?;
        store::migrate(&db).await.context("applying migrations")?;
        let read_db = read_pool::connect(&config.database_url, config.limits.reads, &db)
            .await
            .context("opening the read pool (DATABASE_URL)")?;
        let settings = SettingsHandle::load(&db)
            .await
            .context("loading settings")?;
        // Before the engine and the sender start, so their first steps are recorded.
        crate::ops::metrics::install();
        let waker = Waker::default();
        let client = Client::new(db.clone(), waker.clone());
        let runs_workers = config.role != Role::Api;
        let (chain, contracts) = match config.chain {
            Some(setup) => {
                let chain = Chain::connect(
                    db.clone(),
                    settings.clone(),
                    setup.signer,
                    setup.config,
                    runs_workers.then(|| {
                        let waker = waker.clone();
                        Arc::new(move || waker.wake()) as crate::chain::OnOwnerWoken
                    }),
                )
                .await
                .context("connecting to the chain (RPC_URL)")?;
                (Some(chain), setup.contracts)
            }
            None => {
                tracing::info!("no RPC_URL: running without a chain");
                (None, Contracts::default())
            }
        };
        if let (Some(chain), Some(token)) = (&chain, contracts.token) {
            register_token(&db, chain, token)
                .await
                .context("registering the default token (TOKEN_ADDRESS)")?;
        }
        let registry = kinds(chain.as_ref());
        let engine = runs_workers.then(|| {
            Engine::start(
                db.clone(),
                registry,
                settings.clone(),
                waker.clone(),
                config.engine.clone(),
            )
        });
        let scheduler = jobs::start(
            db.clone(),
            settings.clone(),
            runs_workers.then_some(waker),
            crate::workflows::RECORDS,
        )
        .await
        .context("starting periodic jobs")?;
        // The balance trend is sampled where the sender runs: API-only processes stay off the
        // node unless asked.
        if let Some(chain) = chain.as_ref().filter(|_| runs_workers) {
            crate::ops::balance_samples::schedule(&scheduler, db.clone(), chain.clone())
                .await
                .context("starting the balance samples")?;
        }
        // The sender runs where the workflows run, named like this process's worker.
        let sender = chain.as_ref().filter(|_| runs_workers).map(|chain| {
            let stop = CancellationToken::new();
            let task = tokio::spawn(
                chain
                    .clone()
                    .run_sender(config.engine.worker_id.clone(), stop.clone()),
            );
            Background { stop, task }
        });
        let sequencer_stop = CancellationToken::new();
        let (outbox, task) = outbox::spawn(
            db.clone(),
            sequencer_stop.clone(),
            config.limits.event_streams,
        );
        let sequencer = Background {
            stop: sequencer_stop,
            task,
        };
        let webhooks = runs_workers.then(|| {
            let stop = CancellationToken::new();
            let dispatcher = Dispatcher::new(
                db.clone(),
                settings.clone(),
                config.limits.webhook_requests,
                config.limits.webhook_requests_per_subscription,
                config.webhook_targets,
            );
            let task = tokio::spawn(dispatcher.run(stop.clone()));
            Background { stop, task }
        });
        let queue = QueueSignal::default();
        let batcher = match chain.as_ref().filter(|_| runs_workers) {
            Some(chain) => {
                let batcher = Batcher::new(client.clone(), settings.clone(), chain, queue.clone())
                    .await
                    .context("starting the mint batcher")?;
                let stop = CancellationToken::new();
                let task = tokio::spawn(batcher.run(stop.clone()));
                Some(Background { stop, task })
            }
            None => None,
        };
        let http = {
            let state = AppState {
                db: db.clone(),
                client: client.clone(),
                settings: settings.clone(),
                auth: api::auth::Authenticator::new(
                    db.clone(),
                    config.admin_token.as_deref(),
                    config.public_reads,
                ),
                chain: chain.clone(),
                contracts: contracts.clone(),
                queue: queue.clone(),
                admission: Default::default(),
                outbox,
                edge: config.edge.clone(),
                snapshot: SharedSnapshot::new(read_db.clone(), chain.clone()),
                read_db: read_db.clone(),
                webhook_targets: config.webhook_targets,
                doctor: Default::default(),
            };
            // A worker serves only /health, /ready and /metrics.
            if config.role == Role::Worker {
                serve_http(&config.listen_addr, &config.edge, api::ops_app(state)).await?
            } else {
                serve_http(&config.listen_addr, &config.edge, api::app(state)).await?
            }
        };
        if config.admin_token.as_deref().is_none_or(str::is_empty) && config.role != Role::Worker {
            tracing::warn!(
                "ADMIN_TOKEN is not set: only API keys with the admin scope reach admin endpoints \
                 (create one with `mintflow keys create --scope admin`)"
            );
        }
        Ok(Service {
            db,
            client,
            settings,
            chain,
            contracts,
            engine,
            sender,
            batcher,
            sequencer,
            webhooks,
            scheduler,
            http: Some(http),
            read_db,
        })
    }

    /// The address the HTTP server listens on (useful with port 0).
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http.as_ref().map(|h| h.addr)
    }

    /// Runs until SIGINT or SIGTERM, then stops gracefully.
    pub async fn run_until_signal(self) -> anyhow::Result<()> {
        shutdown_signal().await;
        tracing::info!("shutdown requested");
        self.stop().await;
        Ok(())
    }

    /// Stops taking requests and claims, lets in-flight work finish (or releases it), stops the
    /// sender (releasing its lease) and closes the database pool.
    pub async fn stop(mut self) {
        // First: its feed closing ends every open event stream, which graceful shutdown
        // would otherwise wait for.
        self.sequencer.stop().await;
        if let Some(http) = self.http.take() {
            let _ = http.stop.send(());
            let _ = http.task.await;
        }
        if let Some(batcher) = self.batcher.take() {
            batcher.stop().await;
        }
        if let Some(engine) = self.engine.take() {
            engine.shutdown().await;
        }
        if let Some(sender) = self.sender.take() {
            sender.stop().await;
        }
        if let Some(webhooks) = self.webhooks.take() {
            webhooks.stop().await;
        }
        let _ = self.scheduler.shutdown().await;
        let _ = self.read_db.close().await;
        let _ = self.db.close().await;
    }
}

/// Records the token at `address` in the token registry, read from the chain.
async fn register_token(
    db: &DatabaseConnection,
    chain: &Chain,
    address: Address,
) -> anyhow::Result<()> {
    let info = chain.token_info(address).await?;
    store::tokens::upsert(
        db,
        &token::Model {
            chain_id: chain.chain_id() as i64,
            address: address_key(address),
            name: info.name,
            symbol: info.symbol,
            amount_per_mint: info.amount_per_mint.to_string(),
            max_supply: info.max_supply.to_string(),
            deployer: None,
            deploy_tx_hash: None,
            deploy_block: None,
            created_at_ms: store::now_ms(),
        },
    )
    .await?;
    Ok(())
}

async fn serve_http(
    listen_addr: &str,
    edge: &EdgeConfig,
    app: impl Endpoint + 'static,
) -> anyhow::Result<Http> {
    let acceptor = TcpListener::bind(listen_addr.to_owned())
        .into_acceptor()
        .await
        .with_context(|| format!("listening on {listen_addr} (LISTEN_ADDR)"))?;
    let addr = acceptor
        .local_addr()
        .first()
        .and_then(|a| a.as_socket_addr().copied())
        .context("listener has no socket address")?;
    let acceptor = EdgeAcceptor::new(
        acceptor,
        edge.max_connections as usize,
        edge.header_timeout(),
    );
    let (stop, stopped) = oneshot::channel::<()>();
    let idle_timeout = edge.idle_timeout();
    let task = tokio::spawn(async move {
        poem::Server::new_with_acceptor(acceptor)
            .idle_timeout(idle_timeout)
            .run_with_graceful_shutdown(
                app,
                async {
                    let _ = stopped.await;
                },
                Some(std::time::Duration::from_secs(10)),
            )
            .await
    });
    tracing::info!(%addr, "HTTP API listening (Swagger UI at /docs)");
    Ok(Http { addr, stop, task })
}

/// Resolves at the first SIGINT or SIGTERM (handlers are installed when first polled).
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing the SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
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
                signer: crate::chain::signer::load(Some(key), None, None).unwrap(),
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
