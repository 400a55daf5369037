//! Engine benchmark: throughput of 3-step workflows, latency under a steady load, and the
//! start latency of one workflow on an idle engine.
use std::time::{Duration, Instant};

use anyhow::Context;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};

use super::scratch::{ScratchArgs, on_scratch};
use super::{BackendChoice, cores, percentile, sorted_ms};
use crate::config::SettingsHandle;
use crate::engine::{Client, Engine, EngineConfig, Registry, StartOptions, Waker};
use crate::store::{self, workflows::Status};
use crate::workflows::probe::{Probe, ProbeData, ProbeState};

#[derive(Debug, clap::Args)]
pub struct EngineBenchArgs {
    /// Workflows in the throughput run.
    #[arg(long, default_value_t = 20_000)]
    pub workflows: usize,
    /// Workflows per second offered in the latency run.
    #[arg(long, default_value_t = 500)]
    pub rate: u64,
    /// Seconds the latency run lasts.
    #[arg(long, default_value_t = 5)]
    pub seconds: u64,
    #[command(flatten)]
    pub databases: ScratchArgs,
    /// Which backends to measure.
    #[arg(long, value_enum, default_value = "both")]
    pub backend: BackendChoice,
}

pub async fn run(args: EngineBenchArgs) -> anyhow::Result<()> {
    println!(
        "mintflow bench engine: 3 checkpointed steps per workflow, {} cores",
        cores()
    );
    for (store, name) in args.backend.stores() {
        on_scratch(store, "engine", &args.databases, async |_, db| {
            bench_backend(name, db, &args).await
        })
        .await?;
    }
    Ok(())
}

async fn bench_backend(
    name: &str,
    db: DatabaseConnection,
    args: &EngineBenchArgs,
) -> anyhow::Result<()> {
    let settings = SettingsHandle::load(&db).await?;
    let registry = Registry::new().register(Probe);
    println!("\n== {name} ==");

    // 1. Throughput: a backlog of N workflows drained by one engine.
    enqueue_backlog(&db, args.workflows).await?;
    let waker = Waker::default();
    let started = Instant::now();
    let engine = Engine::start(
        db.clone(),
        registry.clone(),
        settings.clone(),
        waker.clone(),
        EngineConfig::generated(),
    );
    wait_all_completed(&db, args.workflows as i64, Duration::from_secs(600)).await?;
    let elapsed = started.elapsed().as_secs_f64();
    let n = args.workflows as f64;
    println!(
        "throughput: {} workflows in {:.2} s = {:.0} workflows/s, {:.0} transitions/s",
        args.workflows,
        elapsed,
        n / elapsed,
        n * 3.0 / elapsed
    );

    // 2. Latency under a steady offered load.
    db.execute_unprepared("DELETE FROM workflows WHERE kind = 'probe'")
        .await?;
    let client = Client::new(db.clone(), waker.clone());
    let total = (args.rate * args.seconds) as usize;
    let interval = Duration::from_secs_f64(1.0 / args.rate as f64);
    let mut ticker = tokio::time::interval(interval);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..total {
        ticker.tick().await;
        let client = client.clone();
        tasks.spawn(async move {
            client
                .start::<Probe>(
                    ProbeState::First,
                    &ProbeData::default(),
                    StartOptions::default(),
                )
                .await
        });
    }
    while let Some(r) = tasks.join_next().await {
        r??;
    }
    wait_all_completed(&db, total as i64, Duration::from_secs(600)).await?;
    let lat = latencies(&db).await?;
    println!(
        "steady load {} workflows/s for {} s: enqueue->complete p50 {:.1} ms, p99 {:.1} ms",
        args.rate,
        args.seconds,
        percentile(&lat, 50.0),
        percentile(&lat, 99.0)
    );

    print_breakdown(&db).await?;

    // 3. Start latency when idle: one workflow at a time; on PostgreSQL through a client that
    // does not share the engine's in-process waker, so the wake-up travels by LISTEN/NOTIFY as
    // it does from an API process to a worker process.
    db.execute_unprepared("DELETE FROM workflows WHERE kind = 'probe'")
        .await?;
    let remote = db.get_database_backend() == DbBackend::Postgres;
    let client = Client::new(
        db.clone(),
        if remote {
            Waker::default()
        } else {
            waker.clone()
        },
    );
    let mut first_step = Vec::new();
    let mut complete = Vec::new();
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let id = client
            .start::<Probe>(
                ProbeState::First,
                &ProbeData::default(),
                StartOptions::default(),
            )
            .await?
            .id();
        wait_all_completed(&db, first_step.len() as i64 + 1, Duration::from_secs(10)).await?;
        let history = store::events::history(&db, id).await?;
        let created = history.first().context("created event")?.at_ms;
        let stepped = history
            .iter()
            .find(|e| e.event == "step")
            .context("step event")?
            .at_ms;
        first_step.push((stepped - created) as f64);
        complete.push((history.last().context("event")?.at_ms - created) as f64);
    }
    first_step.sort_by(f64::total_cmp);
    complete.sort_by(f64::total_cmp);
    println!(
        "idle start{}: enqueue->first step checkpointed p50 {:.0} ms, p99 {:.0} ms; enqueue->complete p50 {:.0} ms, p99 {:.0} ms",
        if remote {
            " (woken by LISTEN/NOTIFY)"
        } else {
            ""
        },
        percentile(&first_step, 50.0),
        percentile(&first_step, 99.0),
        percentile(&complete, 50.0),
        percentile(&complete, 99.0)
    );
    engine.shutdown().await;
    db.execute_unprepared("DELETE FROM workflows WHERE kind = 'probe'")
        .await?;
    Ok(())
}

/// Inserts `n` due probe workflows in transactions of 1,000.
async fn enqueue_backlog(db: &DatabaseConnection, n: usize) -> anyhow::Result<()> {
    let client = Client::new(db.clone(), Waker::default());
    let started = Instant::now();
    let mut left = n;
    while left > 0 {
        let chunk = left.min(1000);
        let txn = store::begin_write(db).await?;
        for _ in 0..chunk {
            client
                .start_in::<Probe, _>(
                    &txn,
                    ProbeState::First,
                    &ProbeData::default(),
                    StartOptions::default(),
                )
                .await?;
        }
        txn.commit().await?;
        left -= chunk;
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "enqueue: {n} workflows in {secs:.2} s = {:.0} workflows/s (transactions of 1,000)",
        n as f64 / secs
    );
    Ok(())
}

async fn wait_all_completed(
    db: &DatabaseConnection,
    n: i64,
    timeout: Duration,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        let done = count_status(db, Status::Completed).await?;
        if done >= n {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "only {done} of {n} workflows completed in {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn count_status(db: &DatabaseConnection, status: Status) -> anyhow::Result<i64> {
    let backend = db.get_database_backend();
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            store::sql(
                backend,
                "SELECT count(*) AS n FROM workflows WHERE kind = 'probe' AND status = $1",
            ),
            [status.as_str().into()],
        ))
        .await?
        .context("count")?;
    Ok(row.try_get("", "n")?)
}

/// Enqueue->complete latencies in ms, sorted.
async fn latencies(db: &DatabaseConnection) -> anyhow::Result<Vec<f64>> {
    let query = Statement::from_string(
        db.get_database_backend(),
        "SELECT finished_at_ms - created_at_ms AS ms FROM workflows WHERE kind = 'probe'"
            .to_owned(),
    );
    sorted_ms(db, query).await
}

/// Mean time spent before each kind of history event: where the latency goes.
async fn print_breakdown(db: &DatabaseConnection) -> anyhow::Result<()> {
    let backend = db.get_database_backend();
    let rows = db
        .query_all_raw(Statement::from_string(
            backend,
            r#"SELECT event, CAST(AVG(gap) AS DOUBLE PRECISION) AS mean_ms, COUNT(*) AS n FROM (
                   SELECT event, at_ms - LAG(at_ms) OVER (PARTITION BY workflow_id ORDER BY id) AS gap
                   FROM workflow_events) t
               WHERE gap IS NOT NULL GROUP BY event ORDER BY event"#
                .to_owned(),
        ))
        .await?;
    let parts: Vec<String> = rows
        .iter()
        .map(|r| {
            let event: String = r.try_get("", "event").unwrap_or_default();
            let mean: f64 = r.try_get("", "mean_ms").unwrap_or(f64::NAN);
            format!("{event} {mean:.1} ms")
        })
        .collect();
    println!("  mean time before each event: {}", parts.join(", "));
    Ok(())
}
