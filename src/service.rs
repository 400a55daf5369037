//! Wiring: database, migrations, settings, engine, periodic jobs and the HTTP server of one
//! `mintflow serve` process, and their orderly shutdown.
mod config;
mod http;

use std::net::SocketAddr;
use std::sync::Arc;

use alloy::primitives::Address;
use anyhow::Context;
use sea_orm::DatabaseConnection;
use tokio_cron_scheduler::JobScheduler;
use tokio_util::sync::CancellationToken;

use crate::api::{self, AppState};
use crate::chain::Chain;
use crate::chain::signer::address_key;
use crate::config::SettingsHandle;
pub use crate::config::contracts::Contracts;
use crate::engine::{Client, Engine, Registry, Waker, jobs, outbox};
use crate::ops::snapshot::SharedSnapshot;
use crate::store::{self, entity::token, read_pool, time::Clock};
use crate::webhooks::Dispatcher;
use crate::workflows::batcher::{Batcher, QueueSignal};
use crate::workflows::settlement_batcher::{SettlementBatcher, resume_parked_without_settler};
pub use config::{ChainSetup, Limits, Role, ServiceConfig};
pub use http::shutdown_signal;
use http::{Http, serve_http};

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
    /// The settlement batcher (the same, with a settler configured).
    settlement_batcher: Option<Background>,
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
        // The one clock of this process: everything below stamps and compares times on it.
        let clock = Clock::system();
        let waker = Waker::default();
        let client = Client::with_clock(db.clone(), waker.clone(), clock.clone());
        let runs_workers = config.role != Role::Api;
        let (chain, contracts) = match config.chain {
            Some(setup) => {
                let chain = Chain::connect_with_clock(
                    db.clone(),
                    settings.clone(),
                    setup.signers,
                    setup.config,
                    runs_workers.then(|| {
                        let waker = waker.clone();
                        Arc::new(move || waker.wake()) as crate::chain::OnOwnerWoken
                    }),
                    clock.clone(),
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
        if let Some(chain) = &chain {
            chain
                .check_settler()
                .await
                .context("checking SETTLER_ADDRESS")?;
        }
        let registry = kinds(chain.as_ref());
        let engine = runs_workers.then(|| {
            Engine::start_with_clock(
                db.clone(),
                registry,
                settings.clone(),
                waker.clone(),
                config.engine.clone(),
                clock.clone(),
            )
        });
        let scheduler = jobs::start(
            db.clone(),
            settings.clone(),
            runs_workers.then_some(waker),
            crate::workflows::RECORDS,
            clock.clone(),
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
                    .run_senders(config.engine.worker_id.clone(), stop.clone()),
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
                std::time::Duration::from_secs(config.limits.webhook_timeout_secs as u64),
                config.webhook_targets,
                clock.clone(),
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
        let settlement_batcher = match chain.as_ref().filter(|_| runs_workers) {
            Some(chain) => match chain.settler() {
                Some(settler) => {
                    let batcher =
                        SettlementBatcher::new(client.clone(), settings.clone(), chain, settler)
                            .await
                            .context("starting the settlement batcher")?;
                    let stop = CancellationToken::new();
                    let task = tokio::spawn(batcher.run(stop.clone()));
                    Some(Background { stop, task })
                }
                None => {
                    resume_parked_without_settler(&client)
                        .await
                        .context("resuming payments parked for a settlement batch")?;
                    None
                }
            },
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
                    clock.clone(),
                ),
                chain: chain.clone(),
                contracts: contracts.clone(),
                queue: queue.clone(),
                admission: Default::default(),
                outbox,
                edge: config.edge.clone(),
                snapshot: SharedSnapshot::new(read_db.clone(), chain.clone(), clock.clone()),
                read_db: read_db.clone(),
                webhook_targets: config.webhook_targets,
                doctor: Default::default(),
                clock,
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
            settlement_batcher,
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
        if let Some(batcher) = self.settlement_batcher.take() {
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
            created_at_ms: chain.clock().now_ms(),
        },
    )
    .await?;
    Ok(())
}
