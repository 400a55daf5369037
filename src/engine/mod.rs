//! The generic durable engine: claims due workflows with leases, runs their steps, and commits
//! each result with its history event under a fence. It knows nothing of chains or tokens.
pub mod client;
mod decide;
pub mod jobs;
pub mod outbox;
pub mod registry;
pub mod retry;
mod starter;
pub mod wake;
pub mod worker;
pub mod workflow;
mod writer;

use std::sync::Arc;
use std::time::Duration;

use sea_orm::DatabaseConnection;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

pub use client::{Client, StartError, StartOptions, Started, StarterError};
pub use registry::Registry;
pub use wake::Waker;
pub use workflow::{
    Effect, Step, StepCtx, StepError, Transition, Workflow, WriteCtx, Writes, Writing,
};

use crate::config::SettingsHandle;
use crate::store::time::Clock;
use worker::Shared;

#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Names this process in leases and history; unique per running engine.
    pub worker_id: String,
    /// How long in-flight steps may take to finish on shutdown before they are abandoned.
    pub shutdown_grace: Duration,
}

impl EngineConfig {
    /// A worker id of host, pid and a random suffix.
    pub fn generated() -> Self {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "mintflow".into());
        let suffix = &uuid::Uuid::new_v4().simple().to_string()[..8];
        EngineConfig {
            worker_id: format!("{host}-{}-{suffix}", std::process::id()),
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// A running engine: claim loop, group-commit writer, lease heartbeat and wake-up listener.
pub struct Engine {
    shared: Arc<Shared>,
    claimer: tokio::task::JoinHandle<()>,
    background: JoinSet<()>,
}

impl Engine {
    pub fn start(
        db: DatabaseConnection,
        registry: Registry,
        settings: SettingsHandle,
        waker: Waker,
        config: EngineConfig,
    ) -> Engine {
        Engine::start_with_clock(db, registry, settings, waker, config, Clock::system())
    }

    /// `start` with the clock its claims, leases and checkpoints read (tests set one).
    pub fn start_with_clock(
        db: DatabaseConnection,
        registry: Registry,
        settings: SettingsHandle,
        waker: Waker,
        config: EngineConfig,
        clock: Clock,
    ) -> Engine {
        let (tx, rx) = mpsc::channel(4096);
        let shared = Arc::new(Shared {
            db: db.clone(),
            registry,
            worker_id: config.worker_id.clone().into(),
            settings,
            clock: clock.clone(),
            waker: waker.clone(),
            writer: tx,
            stopping: CancellationToken::new(),
            config,
        });
        let mut background = JoinSet::new();
        background.spawn(writer::run(
            db.clone(),
            shared.worker_id.to_string(),
            clock,
            rx,
        ));
        background.spawn(worker::heartbeat(shared.clone()));
        background.spawn(wake::listen_postgres(db, waker.clone()));
        let claimer = tokio::spawn(worker::claim_loop(shared.clone()));
        waker.wake();
        tracing::info!(worker = %shared.worker_id, "engine started");
        Engine {
            shared,
            claimer,
            background,
        }
    }

    pub fn worker_id(&self) -> &str {
        &self.shared.worker_id
    }

    /// Stops claiming, lets in-flight steps finish (up to the grace period) and releases every
    /// lease this worker still holds so others can resume that work at once.
    pub async fn shutdown(mut self) {
        self.shared.stopping.cancel();
        let _ = (&mut self.claimer).await;
        match crate::store::workflows::release_leases(&self.shared.db, &self.shared.worker_id).await
        {
            Ok(n) if n > 0 => tracing::info!(released = n, "released leases"),
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "could not release leases; they expire on their own")
            }
        }
        self.background.abort_all();
        while self.background.join_next().await.is_some() {}
        tracing::info!(worker = %self.shared.worker_id, "engine stopped");
    }

    /// Stops every task at once without releasing leases or finishing steps: what a crash
    /// looks like to the database. For tests of recovery.
    pub async fn abort(mut self) {
        self.claimer.abort();
        let _ = (&mut self.claimer).await;
        self.background.abort_all();
        while self.background.join_next().await.is_some() {}
    }
}
