//! `mintflow bench ...`: benchmarks that print their figures (nothing here is asserted).
pub mod chain;
pub mod engine;
mod events;
pub mod mint;
pub mod payments;
pub mod public_reads;

use anyhow::Context;
use clap::Subcommand;
use sea_orm::{ConnectionTrait, DatabaseConnection};

use crate::store;

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
    /// settled payments per minute, on PostgreSQL and SQLite.
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

/// Which backends a benchmark measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum BackendChoice {
    Postgres,
    Sqlite,
    Both,
}

pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// A migrated, empty PostgreSQL database at `url`, dropped and created again: benchmark rows
/// of an earlier run (and chain rows of an earlier anvil) must not count.
pub async fn fresh_postgres(url: &str) -> anyhow::Result<DatabaseConnection> {
    let (server, name) = url
        .rsplit_once('/')
        .context("postgres url needs a database name")?;
    anyhow::ensure!(
        name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
        "the benchmark database name may hold letters, digits and _ only"
    );
    let admin = store::connect(&format!("{server}/postgres"))
        .await
        .context("connecting to PostgreSQL")?;
    admin
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await?;
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await?;
    admin.close().await?;
    let db = store::connect(url).await?;
    store::migrate(&db).await?;
    Ok(db)
}

/// A migrated, empty SQLite database: the file (and its WAL) is deleted first.
pub async fn fresh_sqlite(url: &str) -> anyhow::Result<DatabaseConnection> {
    let path = url
        .trim_start_matches("sqlite://")
        .split('?')
        .next()
        .unwrap_or_default();
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{path}{suffix}"));
    }
    let db = store::connect(url).await?;
    store::migrate(&db).await?;
    Ok(db)
}
