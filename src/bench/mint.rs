//! Mint benchmark: the whole service (HTTP API, batcher, engine, sender) against a local anvil
//! that mines a block every second with a 150M gas limit, like Base. It measures how fast
//! `POST /v1/mints` accepts requests, how many mints per minute end up confirmed against what
//! the chain can carry, the latency of a steady load, and what a mint costs in gas alone and
//! inside a batch.
use std::collections::HashMap;
use std::time::{Duration, Instant};

use alloy::node_bindings::AnvilInstance;
use alloy::primitives::{Address, U256};
use alloy::signers::local::PrivateKeySigner;
use anyhow::Context;

use crate::app::keys::{self, NewKey, Scope, Scopes};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

use super::events::LiveViews;
use super::scratch::{ScratchArgs, on_scratch};
use super::{BackendChoice, cores, percentile, service_config};
use crate::chain::deploy::{TokenParams, deploy_token};
use crate::chain::local::{SenderTask, find_anvil, spawn_anvil};
use crate::chain::{Chain, ChainConfig};
use crate::config::{SettingsHandle, settings};
use crate::service::{ChainSetup, Contracts, Service, ServiceConfig};
use crate::store::entity::workflow_event;
use crate::store::mints;
use crate::store::overview::{self, WorkflowCount};
use crate::workflows::mint::MintState;
use crate::{store, workflows};

mod cost;
mod gas;
mod load;
mod split;
mod trend;

use gas::{block_gas_limit, print_ceiling, print_gas};
use load::{enqueue, steady};

#[derive(Debug, clap::Args)]
pub struct MintBenchArgs {
    /// Mint requests of the throughput run.
    #[arg(long, default_value_t = 20_000)]
    pub requests: usize,
    /// HTTP clients sending them concurrently.
    #[arg(long, default_value_t = 64)]
    pub clients: usize,
    /// Mint requests of the latency run, sent at a steady 100 requests/s.
    #[arg(long, default_value_t = 500)]
    pub steady_requests: usize,
    /// The `max_batch_size` setting.
    #[arg(long, default_value_t = 1000)]
    pub batch_size: i64,
    /// The `max_batch_wait_ms` setting.
    #[arg(long, default_value_t = 200)]
    pub batch_wait_ms: i64,
    #[command(flatten)]
    pub databases: ScratchArgs,
    /// Which backends to measure.
    #[arg(long, value_enum, default_value = "both")]
    pub backend: BackendChoice,
    /// Run the service as separate `mintflow serve --role api` processes, this many, with the
    /// requests spread over them (with --worker-processes): PostgreSQL only, measured with 1
    /// API + 1 worker process first, then with N + M, in place of the in-process runs.
    #[arg(long, requires = "worker_processes")]
    pub api_processes: Option<usize>,
    /// The `mintflow serve --role worker` processes of a split run (with --api-processes).
    #[arg(long, requires = "api_processes")]
    pub worker_processes: Option<usize>,
    /// PostgreSQL connections of each process of a split run (`DATABASE_MAX_CONNECTIONS`;
    /// each also opens `READ_POOL_CONNECTIONS` for reads and one to LISTEN), so that 2 + 2
    /// processes fit a server's default `max_connections` of 100.
    #[arg(long, default_value_t = 8)]
    pub process_connections: u32,
}

/// Seconds between anvil's blocks: Base's block time.
const BLOCK_TIME_SECS: f64 = 1.0;
/// Requests per second of the latency run.
const STEADY_RATE: u64 = 100;
/// The benchmark service's admin token (it listens on loopback only).
const ADMIN_TOKEN: &str = "bench-admin-token";
/// How often the sender looks at its transactions when nothing wakes it.
const SENDER_POLL_MS: u64 = 100;
/// How often the database is asked how many mints are settled.
const SETTLED_POLL: Duration = Duration::from_millis(100);
/// Longest a run may take to confirm every mint it queued.
const WAIT: Duration = Duration::from_secs(900);
/// Longest one setup or gas-measurement transaction may take.
const TX_TIMEOUT: Duration = Duration::from_secs(120);
/// Mints in the `batchMint` whose gas is compared with a single `mint`.
const GAS_BATCH: usize = 100;

pub async fn run(args: MintBenchArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.requests > 0 && args.clients > 0 && args.steady_requests > 0,
        "--requests, --clients and --steady-requests must be positive"
    );
    // Refused here rather than by a service that would read an out-of-range setting.
    settings::validate("max_batch_size", &args.batch_size.into())?;
    settings::validate("max_batch_wait_ms", &args.batch_wait_ms.into())?;
    let anvil = find_anvil()?;
    if let (Some(api), Some(workers)) = (args.api_processes, args.worker_processes) {
        return split::run(&args, &anvil, api, workers).await;
    }
    println!(
        "mintflow bench mint: the whole service (HTTP API, batcher, engine, sender) on \
         127.0.0.1 against anvil mining a block every {BLOCK_TIME_SECS} s; max_batch_size {}, \
         max_batch_wait_ms {}, confirmations 1, no rate limits; {} requests from {} HTTP \
         clients, then {} at {STEADY_RATE} requests/s; {} cores",
        args.batch_size,
        args.batch_wait_ms,
        args.requests,
        args.clients,
        args.steady_requests,
        cores()
    );
    for (i, (store, name)) in args.backend.stores().enumerate() {
        // Gas per mint depends on the contract only: measured once, on the first backend.
        on_scratch(store, "mint", &args.databases, async |url, db| {
            bench_backend(name, url, db, &anvil, &args, i == 0).await
        })
        .await?;
    }
    Ok(())
}

async fn bench_backend(
    name: &str,
    url: &str,
    db: DatabaseConnection,
    anvil_path: &std::path::Path,
    args: &MintBenchArgs,
    measure_gas: bool,
) -> anyhow::Result<()> {
    println!("\n== {name} ==");
    let node = spawn_anvil(anvil_path.to_path_buf(), Some(BLOCK_TIME_SECS)).await?;
    let result = bench_on(url, &db, &node, args, measure_gas).await;
    db.close().await.ok();
    // Dropping the instance stops anvil and waits for it: not on the runtime.
    let _ = tokio::task::spawn_blocking(move || drop(node)).await;
    result
}

/// Sets up the token and the service on `node`, runs the measurements, stops the service.
async fn bench_on(
    url: &str,
    db: &DatabaseConnection,
    node: &AnvilInstance,
    args: &MintBenchArgs,
    measure_gas: bool,
) -> anyhow::Result<()> {
    store_settings(db, args).await?;
    let signer = PrivateKeySigner::from(node.first_key().clone());
    let chain_config = ChainConfig {
        rpc_url: node.endpoint(),
        poll_ms: SENDER_POLL_MS,
        ..ChainConfig::default()
    };
    let token = deploy_bench_token(db, signer.clone(), chain_config.clone()).await?;
    let chain = ChainSetup {
        config: chain_config,
        signers: vec![signer],
        contracts: Contracts {
            token: Some(token),
            usdc: None,
            ..Default::default()
        },
    };
    let config = ServiceConfig {
        // Only for subscribing the benchmark's webhook receiver.
        admin_token: Some(ADMIN_TOKEN.into()),
        // The benchmark's webhook receiver runs in this process, on 127.0.0.1.
        webhook_targets: crate::webhooks::target::TargetPolicy {
            allow_private: true,
        },
        ..service_config(url, chain)
    };
    let service = Service::start(config, workflows::registry).await?;
    let result = measure(&service, db, token, args, measure_gas).await;
    service.stop().await;
    result
}

/// The settings of every run: nothing throttles the load, one block confirms.
async fn store_settings(db: &DatabaseConnection, args: &MintBenchArgs) -> anyhow::Result<()> {
    let values = [
        ("payer_rate_per_minute", 0),
        ("ip_rate_per_minute", 0),
        ("max_queue_depth", 10_000_000),
        ("confirmations", 1),
        ("max_batch_size", args.batch_size),
        ("max_batch_wait_ms", args.batch_wait_ms),
    ];
    for (key, value) in values {
        store::settings::put(
            db,
            key,
            value.into(),
            "mintflow bench mint",
            store::now_ms(),
        )
        .await?;
    }
    Ok(())
}

/// Deploys a MintToken no run can exhaust, with a sender of its own that is stopped before the
/// service starts its own (one sender per signer).
pub(super) async fn deploy_bench_token(
    db: &DatabaseConnection,
    signer: PrivateKeySigner,
    config: ChainConfig,
) -> anyhow::Result<Address> {
    let settings = SettingsHandle::load(db).await?;
    let chain = Chain::connect(db.clone(), settings, signer, config, None)
        .await
        .context("connecting to anvil")?;
    let params = TokenParams {
        name: "Bench".into(),
        symbol: "BENCH".into(),
        amount_per_mint: U256::from(10u64).pow(U256::from(18u64)),
        max_supply: U256::MAX,
        admin: chain.signer(),
        minters: chain.signers(),
    };
    let sender = SenderTask::start(&chain, "bench-setup");
    let token = deploy_token(&chain, "bench-token", &params, TX_TIMEOUT).await;
    sender.stop().await;
    token.context("deploying MintToken")
}

/// The four measurements against a running service.
async fn measure(
    service: &Service,
    db: &DatabaseConnection,
    token: Address,
    args: &MintBenchArgs,
    measure_gas: bool,
) -> anyhow::Result<()> {
    let chain = service.chain.as_ref().context("the service has no chain")?;
    let addr = service
        .http_addr()
        .context("the service has no HTTP address")?;
    let gas_limit = block_gas_limit(chain.provider()).await?;
    println!(
        "anvil: chain id {}, block gas limit {gas_limit}, a block every {BLOCK_TIME_SECS} s",
        chain.chain_id()
    );
    let http = mint_client(db, args.clients).await?;
    let mints_url = format!("http://{addr}/v1/mints");
    let live = LiveViews::start(&format!("http://{addr}"), ADMIN_TOKEN).await?;

    // Enqueue throughput; the end-to-end clock starts with its first request.
    let cost = cost::CostProbe::start(db).await?;
    let started = Instant::now();
    let started_ms = store::now_ms();
    let (latencies_ms, accepted, answered) = enqueue(
        &http,
        std::slice::from_ref(&mints_url),
        args.requests,
        args.clients,
    )
    .await?;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "enqueue: {} requests from {} clients in {secs:.2} s = {:.0} accepted requests/s \
         (per request p50 {:.1} ms, p99 {:.1} ms; {} not 202)",
        args.requests,
        args.clients,
        accepted as f64 / secs,
        percentile(&latencies_ms, 50.0),
        percentile(&latencies_ms, 99.0),
        args.requests - accepted
    );
    trend::print(&answered);

    // End to end: until every accepted mint is confirmed (or failed).
    let failed = wait_settled(db, accepted).await?;
    let secs = started.elapsed().as_secs_f64();
    let per_min = (accepted - failed) as f64 / secs * 60.0;
    println!(
        "end to end: {accepted} mints settled {secs:.1} s after the first request = \
         {per_min:.0} confirmed mints/min ({failed} failed)"
    );
    print_ceiling(db, gas_limit, per_min).await?;
    wait_webhooks(&live, accepted - failed).await;
    cost.print(db, accepted - failed).await?;
    live.print("live views under that load", started_ms);

    // Latency of a steady load, on a drained queue.
    let steady_ms = store::now_ms();
    let starts = steady(&http, &mints_url, args.requests, args.steady_requests).await?;
    let settled_failed = wait_settled(db, accepted + starts.len()).await?;
    wait_webhooks(&live, accepted + starts.len() - settled_failed).await;
    let failed = settled_failed - failed;
    let (to_sent, to_confirmed) = event_latencies(db, &starts).await?;
    println!(
        "steady {STEADY_RATE} requests/s: {} accepted of {} ({failed} failed): request->sent \
         p50 {:.0} ms, p99 {:.0} ms; request->confirmed p50 {:.0} ms, p99 {:.0} ms",
        starts.len(),
        args.steady_requests,
        percentile(&to_sent, 50.0),
        percentile(&to_sent, 99.0),
        percentile(&to_confirmed, 50.0),
        percentile(&to_confirmed, 99.0)
    );

    live.print(
        &format!("live views at {STEADY_RATE} requests/s"),
        steady_ms,
    );

    if measure_gas {
        print_gas(chain, token).await?;
    }
    Ok(())
}

/// An HTTP client for `clients` concurrent requests that sends the benchmark's own `mint` key,
/// checked on every request like a client's would be.
async fn mint_client(db: &DatabaseConnection, clients: usize) -> anyhow::Result<reqwest::Client> {
    let key = keys::create(
        db,
        NewKey {
            name: "bench".into(),
            scopes: Scopes::of([Scope::Read, Scope::Mint]),
            expires_in: None,
            mint_quota_per_minute: None,
            max_mint_priority: 0,
            facilitator_pay_to: None,
        },
        "mintflow bench mint",
        &crate::store::time::Clock::system(),
    )
    .await?
    .key;
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {}", key.as_str()).parse()?,
    );
    Ok(reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .default_headers(headers)
        .build()?)
}

/// Waits (at most a minute) until the webhook receiver has `confirmed` confirmations.
async fn wait_webhooks(live: &LiveViews, confirmed: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while live.counts().1 < confirmed && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the `n` mints queued so far are all confirmed or failed (the benchmark cancels
/// none: until no mint is live); returns how many failed. Nothing signals this process when a
/// mint settles, so it looks every 100 ms, through the partial indexes of live and of failed
/// workflows: counting every mint by state read the whole table ten times a second, a load on
/// the run it measured that grew with every mint.
async fn wait_settled(db: &DatabaseConnection, n: usize) -> anyhow::Result<usize> {
    let deadline = Instant::now() + WAIT;
    let mut tick = tokio::time::interval(SETTLED_POLL);
    let mints_of = |counts: Vec<WorkflowCount>| -> i64 {
        counts
            .iter()
            .filter(|c| c.kind == mints::MINT)
            .map(|c| c.count)
            .sum()
    };
    loop {
        tick.tick().await;
        let live = mints_of(overview::live_counts(db).await?);
        if live == 0 {
            return Ok(mints_of(overview::failed_counts(db).await?) as usize);
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "{live} of {n} mints neither confirmed nor failed after {WAIT:?}"
        );
    }
}

/// Request start -> first `sent` and -> `confirmed` event of each mint in `starts`, in ms,
/// sorted.
async fn event_latencies(
    db: &DatabaseConnection,
    starts: &HashMap<Uuid, i64>,
) -> anyhow::Result<(Vec<f64>, Vec<f64>)> {
    let (sent, confirmed) = (MintState::Sent.as_str(), MintState::Confirmed.as_str());
    let since = starts.values().copied().min().unwrap_or_default();
    // By time rather than by id: one query whatever the number of mints.
    let events = workflow_event::Entity::find()
        .filter(workflow_event::Column::AtMs.gte(since))
        .filter(workflow_event::Column::ToState.is_in([sent, confirmed]))
        .order_by_asc(workflow_event::Column::Id)
        .all(db)
        .await?;
    // A batch sent again moves its mints to `sent` again: the first event counts.
    let mut first = HashMap::new();
    for e in &events {
        if let Some(start) = starts.get(&e.workflow_id) {
            let ms = (e.at_ms - start) as f64;
            first
                .entry((e.workflow_id, e.to_state == sent))
                .or_insert(ms);
        }
    }
    let sorted = |want_sent: bool| {
        let mut v: Vec<f64> = first
            .iter()
            .filter(|((_, s), _)| *s == want_sent)
            .map(|(_, ms)| *ms)
            .collect();
        v.sort_by(f64::total_cmp);
        v
    };
    Ok((sorted(true), sorted(false)))
}
