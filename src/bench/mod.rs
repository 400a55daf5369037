//! `mintflow bench ...`: benchmarks that print their figures (nothing here is asserted).
pub mod chain;
pub mod engine;

use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// The durable engine alone: 3-step probe workflows on PostgreSQL and SQLite.
    Engine(engine::EngineBenchArgs),
    /// The transaction pipeline against a local automining anvil: submit, send, confirm, on
    /// PostgreSQL and SQLite.
    Chain(chain::ChainBenchArgs),
}

pub async fn run(cmd: BenchCommand) -> anyhow::Result<()> {
    match cmd {
        BenchCommand::Engine(args) => engine::run(args).await,
        BenchCommand::Chain(args) => chain::run(args).await,
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
