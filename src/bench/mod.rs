//! `mintflow bench ...`: benchmarks that print their figures (nothing here is asserted).
pub mod chain;
pub mod cpu;
pub mod engine;
mod events;
pub mod mint;
pub mod payments;
pub mod public_reads;
pub mod scratch;

use clap::Subcommand;
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};

use crate::engine::EngineConfig;
use crate::service::{ChainSetup, Role, ServiceConfig};
use crate::store;
use scratch::Store;

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// The durable engine alone: 3-step probe workflows on PostgreSQL and SQLite.
    Engine(engine::EngineBenchArgs),
    /// The transaction pipeline against a local automining anvil: submit, send, confirm, on
    /// PostgreSQL and SQLite.
    Chain(chain::ChainBenchArgs),
    /// The whole service: mint requests over HTTP, batched and confirmed on a local anvil with
    /// 1 s blocks, on PostgreSQL and SQLite.
    Mint(mint::MintBenchArgs),
    /// Gasless payments over HTTP, settled and confirmed on a local anvil with 1 s blocks: the
    /// settled payments per minute and gas per payment, one transaction each and batched
    /// through the Settler side by side, on PostgreSQL and SQLite.
    Payments(payments::PaymentsBenchArgs),
    /// The overview reads (`/v1/stats`, `/queue/status`, `/metrics`) on a table of many
    /// finished workflows: their SQL cost, and mint latency while 200 clients read them.
    PublicReads(public_reads::PublicReadsBenchArgs),
}

pub async fn run(cmd: BenchCommand) -> anyhow::Result<()> {
    match cmd {
        BenchCommand::Engine(args) => engine::run(args).await,
        BenchCommand::Chain(args) => chain::run(args).await,
        BenchCommand::Mint(args) => mint::run(args).await,
        BenchCommand::Payments(args) => payments::run(args).await,
        BenchCommand::PublicReads(args) => public_reads::run(args).await,
    }
}

/// The `p`-th percentile (0..=100) of sorted samples.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// The `ms` column of the rows `query` selects, sorted (for `percentile`).
pub async fn sorted_ms(db: &DatabaseConnection, query: Statement) -> anyhow::Result<Vec<f64>> {
    let rows = db.query_all_raw(query).await?;
    let mut v: Vec<f64> = rows
        .iter()
        .map(|r| r.try_get::<i64>("", "ms").map(|x| x as f64))
        .collect::<Result<_, _>>()?;
    v.sort_by(f64::total_cmp);
    Ok(v)
}

/// A benchmark's service: every role, on loopback, on the database at `url` and `chain`; no
/// admin token, and webhooks to public addresses only, unless the benchmark says otherwise.
pub fn service_config(url: &str, chain: ChainSetup) -> ServiceConfig {
    ServiceConfig {
        database_url: url.to_owned(),
        database_max_connections: store::DEFAULT_POOL_SIZE,
        listen_addr: "127.0.0.1:0".into(),
        admin_token: None,
        public_reads: false,
        role: Role::All,
        engine: EngineConfig::generated(),
        limits: Default::default(),
        edge: Default::default(),
        webhook_targets: Default::default(),
        chain: Some(chain),
    }
}

/// Which backends a benchmark measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum BackendChoice {
    Postgres,
    Sqlite,
    Both,
}

impl BackendChoice {
    /// The stores chosen, PostgreSQL first, with their names for the report.
    pub fn stores(self) -> impl Iterator<Item = (Store, &'static str)> {
        [(Store::Postgres, "PostgreSQL"), (Store::Sqlite, "SQLite")]
            .into_iter()
            .filter(move |(store, _)| match self {
                BackendChoice::Postgres => *store == Store::Postgres,
                BackendChoice::Sqlite => *store == Store::Sqlite,
                BackendChoice::Both => true,
            })
    }
}

pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
