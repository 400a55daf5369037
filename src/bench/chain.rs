//! Transaction pipeline benchmark against a local automining anvil: how fast `submit` signs and
//! persists, how fast the sender drains stored transactions to confirmed, and both together.
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use alloy::node_bindings::AnvilInstance;
use alloy::primitives::{Address, Bytes, U256};
use alloy::signers::local::PrivateKeySigner;
use anyhow::Context;
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};

use super::scratch::{ScratchArgs, on_scratch};
use super::{BackendChoice, cores, percentile, sorted_ms};
use crate::chain::local::{SenderTask, find_anvil, spawn_anvil};
use crate::chain::{Call, Chain, ChainConfig, Submit};
use crate::config::SettingsHandle;
use crate::store;
use crate::store::chain::TxStatus;

#[derive(Debug, clap::Args)]
pub struct ChainBenchArgs {
    /// Transactions in each run.
    #[arg(long, default_value_t = 2_000)]
    pub txs: usize,
    /// Tasks submitting concurrently.
    #[arg(long, default_value_t = 50)]
    pub concurrency: usize,
    #[command(flatten)]
    pub databases: ScratchArgs,
    /// Which backends to measure.
    #[arg(long, value_enum, default_value = "both")]
    pub backend: BackendChoice,
}

/// How often the sender looks at its transactions when nothing wakes it, in this benchmark.
const POLL_MS: u64 = 50;
const WAIT: Duration = Duration::from_secs(900);

pub async fn run(args: ChainBenchArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.txs > 0 && args.concurrency > 0,
        "--txs and --concurrency must be positive"
    );
    let anvil = find_anvil()?;
    println!(
        "mintflow bench chain: zero-value transfers (21,000 gas) from one signer to an automining \
         anvil, {} submitting tasks, sender poll {POLL_MS} ms; the `confirmations` setting is 0 \
         for this bench (automine makes no blocks on top); {} cores",
        args.concurrency,
        cores()
    );
    for (store, name) in args.backend.stores() {
        on_scratch(store, "chain", &args.databases, async |_, db| {
            bench_backend(name, db, &anvil, &args).await
        })
        .await?;
    }
    Ok(())
}

async fn bench_backend(
    name: &str,
    db: DatabaseConnection,
    anvil_path: &std::path::Path,
    args: &ChainBenchArgs,
) -> anyhow::Result<()> {
    println!("\n== {name} ==");
    let node = spawn_anvil(anvil_path.to_path_buf(), None).await?;
    let result = bench_on(&db, &node, args).await;
    db.close().await.ok();
    let _ = tokio::task::spawn_blocking(move || drop(node)).await;
    result
}

async fn bench_on(
    db: &DatabaseConnection,
    node: &AnvilInstance,
    args: &ChainBenchArgs,
) -> anyhow::Result<()> {
    store::settings::put(
        db,
        "confirmations",
        0.into(),
        "mintflow bench chain",
        store::now_ms(),
    )
    .await?;
    // Every transaction of a run may be in flight at once.
    store::settings::put(
        db,
        "max_in_flight_per_signer",
        (2 * args.txs as i64 + 100).into(),
        "mintflow bench chain",
        store::now_ms(),
    )
    .await?;
    let settings = SettingsHandle::load(db).await?;
    let config = ChainConfig {
        rpc_url: node.endpoint(),
        poll_ms: POLL_MS,
        ..ChainConfig::default()
    };
    let signer = PrivateKeySigner::from(node.first_key().clone());
    let chain = Chain::connect(db.clone(), settings, signer, config, None).await?;
    let to = *node
        .addresses()
        .get(1)
        .context("anvil has a second account")?;
    let n = args.txs;

    // (a) Submits alone: simulate-free (fixed gas), nonce, sign, store.
    let started = Instant::now();
    let mut latencies = submit_all(&chain, "a", to, n, args.concurrency).await?;
    let secs = started.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    println!(
        "submit, no sender: {n} txs signed and persisted in {secs:.2} s = {:.0} txs/s \
         (per submit p50 {:.1} ms, p99 {:.1} ms)",
        n as f64 / secs,
        percentile(&latencies, 50.0),
        percentile(&latencies, 99.0)
    );

    // (b) The sender drains what is stored: broadcast, receipt, confirmation.
    let started = Instant::now();
    let sender = SenderTask::start(&chain, "bench");
    wait_confirmed(db, n as i64).await?;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "sender drains {n} stored txs to confirmed in {secs:.2} s = {:.0} confirmed txs/s",
        n as f64 / secs
    );

    // (c) Both at once: submitted -> confirmed, end to end.
    let since_ms = store::now_ms();
    let started = Instant::now();
    submit_all(&chain, "c", to, n, args.concurrency).await?;
    let submitted = started.elapsed().as_secs_f64();
    wait_confirmed(db, 2 * n as i64).await?;
    let secs = started.elapsed().as_secs_f64();
    let lat = confirm_latencies(db, since_ms).await?;
    println!(
        "submit with the sender running: {n} txs submitted in {submitted:.2} s, all confirmed \
         in {secs:.2} s = {:.0} confirmed txs/s end to end (submit->confirmed p50 {:.0} ms, \
         p99 {:.0} ms)",
        n as f64 / secs,
        percentile(&lat, 50.0),
        percentile(&lat, 99.0)
    );
    sender.stop().await;
    Ok(())
}

/// Submits `n` transfers from `tasks` concurrent tasks; returns each submit's latency in ms.
async fn submit_all(
    chain: &Chain,
    run: &str,
    to: Address,
    n: usize,
    tasks: usize,
) -> anyhow::Result<Vec<f64>> {
    let next = Arc::new(AtomicUsize::new(0));
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..tasks.min(n) {
        let (chain, next, run) = (chain.clone(), next.clone(), run.to_owned());
        set.spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return Ok::<_, anyhow::Error>(latencies);
                }
                let started = Instant::now();
                chain
                    .submit(Submit {
                        key: format!("bench-{run}-{i}"),
                        owner: None,
                        purpose: "bench".into(),
                        call: Call {
                            to: Some(to),
                            input: Bytes::new(),
                            value: U256::ZERO,
                            gas_limit: Some(21_000),
                        },
                    })
                    .await
                    .with_context(|| format!("submit {i} of run {run}"))?;
                latencies.push(started.elapsed().as_secs_f64() * 1000.0);
            }
        });
    }
    let mut all = Vec::with_capacity(n);
    while let Some(r) = set.join_next().await {
        all.extend(r??);
    }
    Ok(all)
}

/// Waits until `n` transactions are confirmed. The pipeline signals owner workflows only, so
/// this counts rows every 20 ms.
async fn wait_confirmed(db: &DatabaseConnection, n: i64) -> anyhow::Result<()> {
    let deadline = Instant::now() + WAIT;
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    loop {
        tick.tick().await;
        let done = scalar(
            db,
            &format!(
                "SELECT count(*) AS n FROM chain_txs WHERE status = '{}'",
                TxStatus::Confirmed
            ),
        )
        .await?;
        if done >= n {
            return Ok(());
        }
        let failed = scalar(
            db,
            &format!(
                "SELECT count(*) AS n FROM chain_txs WHERE status IN ('{}', '{}')",
                TxStatus::Reverted,
                TxStatus::Failed
            ),
        )
        .await?;
        anyhow::ensure!(failed == 0, "{failed} transactions reverted or failed");
        anyhow::ensure!(
            Instant::now() < deadline,
            "only {done} of {n} transactions confirmed in {WAIT:?}"
        );
    }
}

async fn scalar(db: &DatabaseConnection, sql: &str) -> anyhow::Result<i64> {
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            sql.to_owned(),
        ))
        .await?
        .context("a count")?;
    Ok(row.try_get("", "n")?)
}

/// Created -> confirmed times in ms of the transactions created since `since_ms`, sorted.
async fn confirm_latencies(db: &DatabaseConnection, since_ms: i64) -> anyhow::Result<Vec<f64>> {
    let backend = db.get_database_backend();
    let query = Statement::from_sql_and_values(
        backend,
        store::sql(
            backend,
            "SELECT confirmed_at_ms - created_at_ms AS ms FROM chain_txs \
             WHERE created_at_ms >= $1 AND confirmed_at_ms IS NOT NULL",
        ),
        [since_ms.into()],
    );
    sorted_ms(db, query).await
}
