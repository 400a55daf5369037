//! Wiring: database, migrations, settings, engine, periodic jobs and the HTTP server of one
//! `mintflow serve` process, and their orderly shutdown.
use std::net::SocketAddr;

use anyhow::Context;
use poem::listener::{Acceptor, Listener, TcpListener};
use sea_orm::DatabaseConnection;
use tokio::sync::oneshot;
use tokio_cron_scheduler::JobScheduler;

use crate::api::{self, AppState};
use crate::config::SettingsHandle;
use crate::engine::{Client, Engine, EngineConfig, Registry, Waker, jobs};
use crate::store;

/// What a process does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    /// Serve HTTP only; workflows run in worker processes sharing the database.
    Api,
    /// Run workflows only, no HTTP.
    Worker,
    /// Both (the default).
    All,
}

#[derive(Clone, Debug)]
pub struct ServiceConfig {
    pub database_url: String,
    /// Most PostgreSQL connections this process opens.
    pub database_max_connections: u32,
    pub listen_addr: String,
    pub admin_token: Option<String>,
    pub role: Role,
    pub engine: EngineConfig,
}

pub struct Service {
    pub db: DatabaseConnection,
    pub client: Client,
    pub settings: SettingsHandle,
    engine: Option<Engine>,
    scheduler: JobScheduler,
    http: Option<Http>,
}

struct Http {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Service {
    /// Connects, migrates, and starts what `config.role` asks for with the kinds of `registry`.
    pub async fn start(config: ServiceConfig, registry: Registry) -> anyhow::Result<Service> {
        let db = store::connect_with_pool(&config.database_url, config.database_max_connections)
            .await
            .context("connecting to the database (DATABASE_URL)")?;
        store::migrate(&db).await.context("applying migrations")?;
        let settings = SettingsHandle::load(&db)
            .await
            .context("loading settings")?;
        let waker = Waker::default();
        let client = Client::new(db.clone(), waker.clone());
        let runs_workers = config.role != Role::Api;
        let engine = runs_workers.then(|| {
            Engine::start(
                db.clone(),
                registry,
                settings.clone(),
                waker.clone(),
                config.engine.clone(),
            )
        });
        let scheduler = jobs::start(db.clone(), settings.clone(), runs_workers.then_some(waker))
            .await
            .context("starting periodic jobs")?;
        let http = if config.role != Role::Worker {
            let state = AppState {
                db: db.clone(),
                client: client.clone(),
                settings: settings.clone(),
                admin_token: config.admin_token.clone(),
            };
            Some(serve_http(&config.listen_addr, state).await?)
        } else {
            None
        };
        if config.admin_token.as_deref().is_none_or(str::is_empty) && http.is_some() {
            tracing::warn!(
                "ADMIN_TOKEN is not set: admin endpoints (retry, cancel, settings) are closed"
            );
        }
        Ok(Service {
            db,
            client,
            settings,
            engine,
            scheduler,
            http,
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

    /// Stops taking requests and claims, lets in-flight work finish (or releases it), and
    /// closes the database pool.
    pub async fn stop(mut self) {
        if let Some(http) = self.http.take() {
            let _ = http.stop.send(());
            let _ = http.task.await;
        }
        if let Some(engine) = self.engine.take() {
            engine.shutdown().await;
        }
        let _ = self.scheduler.shutdown().await;
        let _ = self.db.close().await;
    }
}

async fn serve_http(listen_addr: &str, state: AppState) -> anyhow::Result<Http> {
    let acceptor = TcpListener::bind(listen_addr.to_owned())
        .into_acceptor()
        .await
        .with_context(|| format!("listening on {listen_addr} (LISTEN_ADDR)"))?;
    let addr = acceptor
        .local_addr()
        .first()
        .and_then(|a| a.as_socket_addr().copied())
        .context("listener has no socket address")?;
    let (stop, stopped) = oneshot::channel::<()>();
    let app = api::app(state);
    let task = tokio::spawn(async move {
        poem::Server::new_with_acceptor(acceptor)
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

async fn shutdown_signal() {
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
