//! The `mintflow` command line: every env var has a `--flag` twin that overrides it.
pub mod archive;
pub mod chain;
pub mod deploy;
pub mod dev;
pub mod doctor;
pub mod import_legacy;
pub mod keys;
pub mod progress;
pub mod tokens;
pub mod webhooks;
pub mod workflows;

use clap::{Parser, Subcommand};

use crate::service::Role;

#[derive(Debug, Parser)]
#[command(
    name = "mintflow",
    version,
    about = "Durable workflows for token mints, USDC payments and token deployments"
)]
pub struct Cli {
    /// PostgreSQL (`postgres://...`) or SQLite (`sqlite://path?mode=rwc`) database.
    #[arg(long, env = "DATABASE_URL", global = true, default_value = crate::store::DEFAULT_DATABASE_URL)]
    pub database_url: String,
    /// Log format.
    #[arg(
        long,
        env = "LOG_FORMAT",
        global = true,
        value_enum,
        default_value = "text"
    )]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the API and/or the workers (applies pending migrations first).
    Serve(Box<ServeArgs>),
    /// Deploy MintToken (and with --mock-usdc a test USDC) through the transaction pipeline;
    /// prints `{"chainId","usdc","token"}` as one JSON line.
    Deploy(deploy::DeployArgs),
    /// The one-command demo: a local anvil, MockUSDC and MintToken deployed, test USDC for
    /// anvil's accounts 1-9, and the API with the chain (fresh ./data/dev.db every run unless
    /// DATABASE_URL is given).
    Dev(dev::DevArgs),
    /// Apply pending database migrations and exit.
    Migrate,
    /// Print the OpenAPI document.
    Openapi,
    /// Inspect and act on workflows in the database.
    #[command(subcommand)]
    Workflows(workflows::WorkflowsCommand),
    /// Inspect webhook subscriptions and their deliveries; redeliver given-up ones.
    #[command(subcommand)]
    Webhooks(webhooks::WebhooksCommand),
    /// Create, list and revoke API keys.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Register a token mintflow did not deploy, after checking it on chain.
    #[command(subcommand)]
    Tokens(tokens::TokensCommand),
    /// Write finished payments, mints, batches and deployments older than a date to a JSONL
    /// file, then delete them (never their payment receipts).
    Archive(archive::ArchiveArgs),
    /// Check the database against the chain and itself; print each finding with its
    /// workflows and what to run. Exit code 0 when clean, 1 with findings, 2 when the checks
    /// could not run. Reads a sample (--sample): bounded time on any database.
    Doctor(Box<doctor::DoctorArgs>),
    /// Import the old server's mint queue and settings (read from its PostgreSQL database)
    /// as mintflow mints and settings; run again, it imports nothing twice.
    ImportLegacy(import_legacy::ImportLegacyArgs),
    /// Measure performance; prints figures, asserts nothing.
    #[cfg(feature = "bench")]
    #[command(subcommand)]
    Bench(crate::bench::BenchCommand),
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// What this process runs; several processes of each role can share one PostgreSQL.
    #[arg(long, env = "ROLE", value_enum, default_value = "all")]
    pub role: Role,
    /// Most PostgreSQL connections this process opens (all processes must fit the server's
    /// max_connections).
    #[arg(long, env = "DATABASE_MAX_CONNECTIONS", default_value_t = crate::store::DEFAULT_POOL_SIZE)]
    pub database_max_connections: u32,
    /// HTTP listen address. A `worker` serves only /health, /ready and /metrics there: give
    /// each process on one host its own.
    #[arg(long, env = "LISTEN_ADDR", default_value = "127.0.0.1:4021")]
    pub listen_addr: String,
    /// Bearer token for admin endpoints; without it they are closed. Prefer
    /// --admin-token-file or the environment: `ps` shows flags.
    #[arg(long, env = "ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<crate::config::Secret>,
    /// A file holding the admin token (instead of ADMIN_TOKEN).
    #[arg(long, env = "ADMIN_TOKEN_FILE", conflicts_with = "admin_token")]
    pub admin_token_file: Option<std::path::PathBuf>,
    /// Let operator reads (lists, histories, events, stats, settings, audit, webhooks,
    /// /metrics) through without a key. Only for a private network: they show every payer.
    #[arg(long, env = "PUBLIC_READS", default_value_t = false, action = clap::ArgAction::Set)]
    pub public_reads: bool,
    /// Name of this worker in leases and history (default: host-pid-random).
    #[arg(long, env = "WORKER_ID")]
    pub worker_id: Option<String>,
    /// Seconds in-flight steps get to finish on shutdown.
    #[arg(long, env = "SHUTDOWN_GRACE_SECS", default_value_t = 10)]
    pub shutdown_grace_secs: u64,
    /// The chain (optional: without RPC_URL the process runs without one).
    #[command(flatten)]
    pub chain: chain::ChainArgs,
    #[command(flatten)]
    pub contracts: chain::ContractArgs,
    #[command(flatten)]
    pub limits: crate::service::Limits,
    #[command(flatten)]
    pub edge: crate::api::edge::EdgeConfig,
    #[command(flatten)]
    pub webhook_targets: crate::webhooks::target::TargetPolicy,
}
