//! Public-reads benchmark: what the overview reads (`/v1/stats`, `/queue/status`, `/metrics`)
//! cost on a PostgreSQL table of many finished workflows, and whether a flood of them slows
//! the work: mints' request-to-confirmed latency without readers, then with `--readers`
//! clients reading as fast as they are answered. The integration test `tests/public_reads.rs`
//! runs the same measurement on a smaller table and asserts it.
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use alloy::signers::local::PrivateKeySigner;
use anyhow::Context;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::mint::deploy_bench_token;
use super::scratch::{ScratchArgs, Store, on_scratch};
use super::{cores, percentile, service_config};
use crate::chain::ChainConfig;
use crate::chain::local::{find_anvil, spawn_anvil};
use crate::ops::counts::Tally;
use crate::service::{ChainSetup, Contracts, Service, ServiceConfig};
use crate::{store, workflows};

#[derive(Debug, clap::Args)]
pub struct PublicReadsBenchArgs {
    /// Finished mint workflows in the table before anything is measured.
    #[arg(long, default_value_t = 1_000_000)]
    pub rows: u64,
    /// Mints timed in each run (one after another, request to confirmed).
    #[arg(long, default_value_t = 20)]
    pub mints: usize,
    /// Clients reading the overview at once during the loaded run.
    #[arg(long, default_value_t = 200)]
    pub readers: usize,
    #[command(flatten)]
    pub databases: ScratchArgs,
}

/// The paths the readers cycle through.
pub const READ_PATHS: [&str; 3] = ["/v1/stats", "/queue/status", "/metrics"];

/// The benchmark service's admin token: it lets the mints and the reads through whatever keys
/// the routes require (the service listens on loopback only).
const ADMIN_TOKEN: &str = "bench-admin-token";

/// Seconds between anvil's blocks: short, so that block time weighs little in the latency the
/// readers might stretch (a mint is confirmed one block after the block that holds it).
pub const BLOCK_TIME_SECS: f64 = 0.2;
/// How often a timed mint's status is read.
const STATUS_POLL: Duration = Duration::from_millis(20);
/// Longest one mint may take to confirm.
const MINT_TIMEOUT: Duration = Duration::from_secs(60);
/// Runs of each SQL measurement (the median is printed).
const SQL_RUNS: usize = 5;

pub async fn run(args: PublicReadsBenchArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.mints > 0 && args.readers > 0,
        "--mints and --readers must be positive"
    );
    let anvil = find_anvil()?;
    println!(
        "mintflow bench public-reads: PostgreSQL with {} finished mints; {} mints timed \
         without readers and with {} readers of {}; anvil mining a block every \
         {BLOCK_TIME_SECS} s; {} cores",
        args.rows,
        args.mints,
        args.readers,
        READ_PATHS.join(", "),
        cores()
    );
    let node = spawn_anvil(anvil, Some(BLOCK_TIME_SECS)).await?;
    let result = on_scratch(
        Store::Postgres,
        "reads",
        &args.databases,
        async |url, db| {
            let started = Instant::now();
            insert_finished_mints(&db, args.rows).await?;
            println!(
                "inserted {} finished mints in {:.1} s",
                args.rows,
                started.elapsed().as_secs_f64()
            );
            sql_costs(&db).await?;
            service_run(&args, url, &db, &node).await
        },
    )
    .await;
    // Dropping the instance stops anvil and waits for it: not on the runtime.
    let _ = tokio::task::spawn_blocking(move || drop(node)).await;
    result
}

/// Adds `rows` completed mints that finished a day ago or earlier, as a busy service's history
/// would hold, in one statement, then vacuums and analyzes the table as autovacuum would have.
/// Their ids sort before any real workflow's (UUID v7 of the epoch), like older work. PostgreSQL
/// only.
pub async fn insert_finished_mints(db: &DatabaseConnection, rows: u64) -> anyhow::Result<()> {
    anyhow::ensure!(
        db.get_database_backend() == DbBackend::Postgres,
        "finished mints are inserted on PostgreSQL only"
    );
    let day_ago = store::now_ms() - 86_400_000;
    db.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        r#"INSERT INTO workflows (id, kind, status, state, data, schema_version, priority,
                                  attempt, version, wake_pending, idempotency_key, payer,
                                  token, created_at_ms, updated_at_ms, finished_at_ms)
           SELECT ('00000000-0000-7000-8000-' || lpad(to_hex(g), 12, '0'))::uuid, 'mint',
                  'completed', 'confirmed', '{}'::jsonb, 1, 0, 0, 1, FALSE,
                  'bench-history-' || g, '0x70997970c51812dc3a010c7d01b50e0d17dc79c8',
                  '0x5fbdb2315678afecb367f032d93f642f64180aa3',
                  $2 - g - 1000, $2 - g, $2 - g
           FROM generate_series(1, $1) AS g"#,
        [(rows as i64).into(), day_ago.into()],
    ))
    .await
    .context("inserting finished mints")?;
    db.execute_unprepared("VACUUM ANALYZE workflows").await?;
    Ok(())
}

/// What the overview's counts cost in SQL: the grouped count of the whole table that every
/// read ran before, against the snapshot's first count (the tally's full count, once per
/// process) and its counts after that (every second at most). Medians of `SQL_RUNS`.
async fn sql_costs(db: &DatabaseConnection) -> anyhow::Result<()> {
    let mut full_scan = Vec::new();
    for _ in 0..SQL_RUNS {
        let started = Instant::now();
        db.execute_unprepared(
            "SELECT kind, state, status, count(*) FROM workflows GROUP BY kind, state, status",
        )
        .await?;
        full_scan.push(ms_since(started));
    }
    let mut tally = Tally::default();
    let started = Instant::now();
    tally.counts(db, store::now_ms()).await?;
    let first = ms_since(started);
    let mut steady = Vec::new();
    for _ in 0..SQL_RUNS {
        let started = Instant::now();
        tally.counts(db, store::now_ms()).await?;
        steady.push(ms_since(started));
    }
    println!(
        "workflow counts: whole-table grouped count (each read before) {:.1} ms; snapshot: \
         first (full tally, once per process) {first:.1} ms, then {:.2} ms",
        median(full_scan),
        median(steady)
    );
    Ok(())
}

fn ms_since(started: Instant) -> f64 {
    started.elapsed().as_secs_f64() * 1000.0
}

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    percentile(&samples, 50.0)
}

/// The service on `node`: mint latency without and with readers.
async fn service_run(
    args: &PublicReadsBenchArgs,
    url: &str,
    db: &DatabaseConnection,
    node: &alloy::node_bindings::AnvilInstance,
) -> anyhow::Result<()> {
    for (key, value) in [
        ("payer_rate_per_minute", 0),
        ("ip_rate_per_minute", 0),
        ("confirmations", 1),
        ("max_batch_wait_ms", 0),
    ] {
        store::settings::put(
            db,
            key,
            value.into(),
            "mintflow bench public-reads",
            store::now_ms(),
        )
        .await?;
    }
    let signer = PrivateKeySigner::from(node.first_key().clone());
    let chain_config = ChainConfig {
        rpc_url: node.endpoint(),
        poll_ms: 100,
        ..ChainConfig::default()
    };
    let token = deploy_bench_token(db, signer.clone(), chain_config.clone()).await?;
    let chain = ChainSetup {
        config: chain_config,
        signers: vec![signer],
        contracts: Contracts {
            token: Some(token),
            ..Default::default()
        },
    };
    let config = ServiceConfig {
        admin_token: Some(ADMIN_TOKEN.into()),
        ..service_config(url, chain)
    };
    let service = Service::start(config, workflows::registry).await?;
    let base = format!(
        "http://{}",
        service
            .http_addr()
            .context("the service has no HTTP address")?
    );
    let result = compare_and_print(&base, args).await;
    service.stop().await;
    result
}

async fn compare_and_print(base: &str, args: &PublicReadsBenchArgs) -> anyhow::Result<()> {
    let c = compare(base, args.mints, ROUNDS, args.readers, Some(ADMIN_TOKEN)).await?;
    let (p50, p50_loaded) = (c.p50(), c.p50_loaded());
    println!(
        "mint request -> confirmed: p50 {p50:.0} ms, p90 {:.0} ms without readers; p50 \
         {p50_loaded:.0} ms, p90 {:.0} ms with {} readers ({:.1}x the p50)",
        percentile(&c.unloaded, 90.0),
        percentile(&c.loaded, 90.0),
        args.readers,
        p50_loaded / p50
    );
    println!(
        "readers: {} answers in {:.1} s ({:.0}/s), {} not 200",
        c.load.answered,
        c.load.elapsed.as_secs_f64(),
        c.load.answered as f64 / c.load.elapsed.as_secs_f64(),
        c.load.refused
    );
    Ok(())
}

/// Runs with and without readers alternate, so that a change in what else the machine runs
/// weighs on both alike.
const ROUNDS: usize = 2;

/// Mint latencies without and with readers.
#[derive(Debug)]
pub struct Comparison {
    /// Request-to-confirmed latencies without readers, in ms, sorted.
    pub unloaded: Vec<f64>,
    /// The same with the readers reading.
    pub loaded: Vec<f64>,
    /// What the readers got, over every loaded run.
    pub load: ReadLoad,
}

impl Comparison {
    pub fn p50(&self) -> f64 {
        percentile(&self.unloaded, 50.0)
    }

    pub fn p50_loaded(&self) -> f64 {
        percentile(&self.loaded, 50.0)
    }
}

/// Times `mints` mints without readers then `mints` with `readers` reading the overview, in
/// `rounds` alternating rounds (the mints split among them), after one mint that pays for
/// connections and caches.
pub async fn compare(
    base: &str,
    mints: usize,
    rounds: usize,
    readers: usize,
    bearer: Option<&str>,
) -> anyhow::Result<Comparison> {
    let http = reqwest::Client::new();
    mint_latencies(&http, base, 1, bearer).await?;
    let mut c = Comparison {
        unloaded: Vec::new(),
        loaded: Vec::new(),
        load: ReadLoad {
            answered: 0,
            refused: 0,
            elapsed: Duration::ZERO,
        },
    };
    let per_round = mints.div_ceil(rounds.max(1));
    for _ in 0..rounds.max(1) {
        c.unloaded
            .extend(mint_latencies(&http, base, per_round, bearer).await?);
        let reading = Readers::start(base, readers, bearer);
        reading.wait_for_answers(readers as u64).await;
        let loaded = mint_latencies(&http, base, per_round, bearer).await;
        let load = reading.stop().await;
        c.loaded.extend(loaded?);
        c.load.answered += load.answered;
        c.load.refused += load.refused;
        c.load.elapsed += load.elapsed;
    }
    c.unloaded.sort_by(f64::total_cmp);
    c.loaded.sort_by(f64::total_cmp);
    Ok(c)
}

/// Request-to-confirmed latencies of `n` mints queued one after another, in ms.
pub async fn mint_latencies(
    http: &reqwest::Client,
    base: &str,
    n: usize,
    bearer: Option<&str>,
) -> anyhow::Result<Vec<f64>> {
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        let mut post = http
            .post(format!("{base}/v1/mints"))
            .json(&json!({"payer": "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"}));
        if let Some(token) = bearer {
            post = post.bearer_auth(token);
        }
        let res = post.send().await?;
        anyhow::ensure!(
            res.status() == 202,
            "POST /v1/mints answered {}",
            res.status()
        );
        let id = res.json::<Value>().await?["id"]
            .as_str()
            .context("no id in the answer")?
            .to_owned();
        loop {
            let mint: Value = http
                .get(format!("{base}/v1/mints/{id}"))
                .send()
                .await?
                .json()
                .await?;
            match mint["status"].as_str() {
                Some("confirmed") => break,
                Some("failed" | "cancelled") => anyhow::bail!("mint {id} ended {mint}"),
                _ if started.elapsed() > MINT_TIMEOUT => {
                    anyhow::bail!("mint {id} not confirmed within {MINT_TIMEOUT:?}")
                }
                _ => tokio::time::sleep(STATUS_POLL).await,
            }
        }
        samples.push(ms_since(started));
    }
    Ok(samples)
}

/// Clients reading `READ_PATHS` in turn, each sending its next request when the last is
/// answered. They run on a runtime of their own, on threads of their own, as clients on
/// other machines would: the service's tasks do not queue behind theirs.
pub struct Readers {
    stop: CancellationToken,
    runtime: std::thread::JoinHandle<()>,
    answered: Arc<AtomicU64>,
    refused: Arc<AtomicU64>,
    started: Instant,
}

/// What the readers got.
#[derive(Debug)]
pub struct ReadLoad {
    /// Answers with status 200.
    pub answered: u64,
    /// Other answers, and requests that failed.
    pub refused: u64,
    pub elapsed: Duration,
}

impl Readers {
    pub fn start(base: &str, clients: usize, bearer: Option<&str>) -> Readers {
        let stop = CancellationToken::new();
        let (answered, refused) = (Arc::<AtomicU64>::default(), Arc::<AtomicU64>::default());
        let urls = READ_PATHS.map(|p| format!("{base}{p}"));
        let bearer = bearer.map(str::to_owned);
        let (stopped, counts) = (stop.clone(), (answered.clone(), refused.clone()));
        let runtime = std::thread::spawn(move || {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .expect("a runtime for the readers")
                .block_on(read_until(stopped, clients, urls, bearer, counts));
        });
        Readers {
            stop,
            runtime,
            answered,
            refused,
            started: Instant::now(),
        }
    }

    /// Waits until the readers got `n` answers of any kind: the load is on.
    pub async fn wait_for_answers(&self, n: u64) {
        while self.answered.load(Ordering::Relaxed) + self.refused.load(Ordering::Relaxed) < n {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    pub async fn stop(self) -> ReadLoad {
        self.stop.cancel();
        let runtime = self.runtime;
        let _ = tokio::task::spawn_blocking(move || runtime.join()).await;
        ReadLoad {
            answered: self.answered.load(Ordering::Relaxed),
            refused: self.refused.load(Ordering::Relaxed),
            elapsed: self.started.elapsed(),
        }
    }
}

/// `clients` readers until `stop`, counting (200 answers, others) in `counts`.
async fn read_until(
    stop: CancellationToken,
    clients: usize,
    urls: [String; 3],
    bearer: Option<String>,
    counts: (Arc<AtomicU64>, Arc<AtomicU64>),
) {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .build()
        .expect("an HTTP client");
    let tasks: Vec<_> = (0..clients)
        .map(|i| {
            let (http, stop, urls) = (http.clone(), stop.clone(), urls.clone());
            let (bearer, (answered, refused)) = (bearer.clone(), counts.clone());
            tokio::spawn(async move {
                for url in urls.iter().cycle().skip(i) {
                    let mut get = http.get(url);
                    if let Some(token) = &bearer {
                        get = get.bearer_auth(token);
                    }
                    let res = tokio::select! {
                        _ = stop.cancelled() => return,
                        res = get.send() => res,
                    };
                    // The body is read too: a reader that hangs up early costs less.
                    let ok = match res {
                        Ok(res) => res.status() == 200 && res.bytes().await.is_ok(),
                        Err(_) => false,
                    };
                    let counter = if ok { &answered } else { &refused };
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for task in tasks {
        let _ = task.await;
    }
}
