//! The mint benchmark with the service split into processes, as a deployment grows past one:
//! `mintflow serve --role api` processes take the requests (spread over them as a round-robin
//! load balancer would) and `--role worker` processes run the batcher, the engine and the
//! sender, all on one PostgreSQL database and one anvil. The same load runs on 1 API + 1
//! worker process, then on N + M, each on a fresh database and chain. Next to the throughput,
//! each process's CPU time per 1,000 confirmed mints: what sizes a deployment, whatever the
//! speed of the machine the figures were taken on.
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use alloy::node_bindings::AnvilInstance;
use alloy::primitives::Address;
use alloy::providers::ProviderBuilder;
use alloy::signers::local::PrivateKeySigner;
use anyhow::Context;
use sea_orm::DatabaseConnection;
use tokio::process::{Child, Command};

use super::gas::{block_gas_limit, print_ceiling};
use super::load::enqueue;
use super::{
    BLOCK_TIME_SECS, MintBenchArgs, SENDER_POLL_MS, deploy_bench_token, mint_client,
    store_settings, wait_settled,
};
use crate::bench::cpu::{postgres_pids, process_ms};
use crate::bench::scratch::{Store, on_scratch};
use crate::bench::{cores, percentile};
use crate::chain::ChainConfig;
use crate::chain::local::spawn_anvil;
use crate::service::shutdown_signal;

/// Longest a process may take to answer `/ready` once started.
const READY_WAIT: Duration = Duration::from_secs(60);
/// How often a starting process is asked whether it is ready.
const READY_POLL: Duration = Duration::from_millis(100);
/// Lines of a process's log shown when it fails to start.
const LOG_TAIL_LINES: usize = 20;

/// The headline figures of one layout, compared at the end.
struct Figures {
    accepted_per_s: f64,
    confirmed_per_min: f64,
    /// CPU ms of the service's processes and PostgreSQL's per 1,000 confirmed mints.
    service_cpu_per_1k: f64,
}

pub(super) async fn run(
    args: &MintBenchArgs,
    anvil: &Path,
    api: usize,
    workers: usize,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        api > 0 && workers > 0,
        "--api-processes and --worker-processes must be positive"
    );
    let exe = std::env::current_exe().context("finding the mintflow binary")?;
    println!(
        "mintflow bench mint, split: `mintflow serve --role api` and `--role worker` processes \
         on one PostgreSQL database and one anvil mining a block every {BLOCK_TIME_SECS} s; \
         max_batch_size {}, max_batch_wait_ms {}, confirmations 1, no rate limits; {} requests \
         from {} HTTP clients spread round-robin over the API processes; {} PostgreSQL \
         connections per process; {} cores",
        args.batch_size,
        args.batch_wait_ms,
        args.requests,
        args.clients,
        args.process_connections,
        cores()
    );
    let mut layouts = vec![(1, 1)];
    if (api, workers) != (1, 1) {
        layouts.push((api, workers));
    }
    let mut figures = Vec::new();
    for (api, workers) in layouts {
        on_scratch(
            Store::Postgres,
            "mint_split",
            &args.databases,
            async |url, db| {
                let node = spawn_anvil(anvil.to_path_buf(), Some(BLOCK_TIME_SECS)).await?;
                // On Ctrl-C the processes are dropped, which kills them, and the database is
                // removed as after any failed run.
                let result = tokio::select! {
                    r = layout(&exe, url, &db, &node, args, api, workers) => r,
                    () = shutdown_signal() => Err(anyhow::anyhow!("interrupted")),
                };
                db.close().await.ok();
                // Dropping the instance stops anvil and waits for it: not on the runtime.
                let _ = tokio::task::spawn_blocking(move || drop(node)).await;
                figures.push((format!("{api}+{workers}"), result?));
                Ok(())
            },
        )
        .await?;
    }
    if let [(from_name, from), (to_name, to)] = &figures[..] {
        let change = |a: f64, b: f64| format!("{a:.0} -> {b:.0} (x{:.2})", b / a);
        println!(
            "\n{from_name} -> {to_name} processes: accepted requests/s {}; confirmed mints/min \
             {}; service CPU ms per 1,000 confirmed mints {}",
            change(from.accepted_per_s, to.accepted_per_s),
            change(from.confirmed_per_min, to.confirmed_per_min),
            change(from.service_cpu_per_1k, to.service_cpu_per_1k)
        );
    }
    Ok(())
}

/// One layout: deploys the token, starts the processes, sends the load, waits until every
/// mint is confirmed, prints the figures. The processes are killed when this returns.
async fn layout(
    exe: &Path,
    url: &str,
    db: &DatabaseConnection,
    node: &AnvilInstance,
    args: &MintBenchArgs,
    api: usize,
    workers: usize,
) -> anyhow::Result<Figures> {
    println!(
        "\n== {api} API + {workers} worker processes (load average {} when started) ==",
        load_average()
    );
    store_settings(db, args).await?;
    let signer = PrivateKeySigner::from(node.first_key().clone());
    let chain_config = ChainConfig {
        rpc_url: node.endpoint(),
        poll_ms: SENDER_POLL_MS,
        ..ChainConfig::default()
    };
    let token = deploy_bench_token(db, signer.clone(), chain_config).await?;
    let logs = tempfile::Builder::new()
        .prefix("mintflow-bench-split-")
        .tempdir()
        .context("creating the directory of the processes' logs")?;
    let setup = Setup {
        exe,
        database_url: url,
        rpc_url: node.endpoint(),
        signer_key: alloy::hex::encode(signer.to_bytes()),
        token,
        connections: args.process_connections,
        logs: logs.path(),
    };
    let mut processes = Vec::with_capacity(api + workers);
    for n in 1..=api {
        processes.push(Process::start(&setup, "api", n)?);
    }
    for n in 1..=workers {
        processes.push(Process::start(&setup, "worker", n)?);
    }
    let probe = reqwest::Client::new();
    for process in &mut processes {
        process.wait_ready(&probe).await?;
    }
    let provider = ProviderBuilder::new().connect_http(node.endpoint().parse()?);
    let gas_limit = block_gas_limit(&provider).await?;
    let http = mint_client(db, args.clients).await?;
    let urls: Vec<String> = processes[..api]
        .iter()
        .map(|p| format!("http://{}/v1/mints", p.addr))
        .collect();

    let before = CpuTimes::now(&processes, db).await?;
    let started = Instant::now();
    let (latencies_ms, accepted, _answered) =
        enqueue(&http, &urls, args.requests, args.clients).await?;
    let secs = started.elapsed().as_secs_f64();
    let accepted_per_s = accepted as f64 / secs;
    println!(
        "enqueue: {} requests over {api} API processes in {secs:.2} s = {accepted_per_s:.0} \
         accepted requests/s (per request p50 {:.1} ms, p99 {:.1} ms; {} not 202)",
        args.requests,
        percentile(&latencies_ms, 50.0),
        percentile(&latencies_ms, 99.0),
        args.requests - accepted
    );
    let failed = wait_settled(db, accepted).await?;
    let secs = started.elapsed().as_secs_f64();
    // Read before the processes stop: an exited process or backend takes its time with it.
    let after = CpuTimes::now(&processes, db).await?;
    let confirmed = accepted - failed;
    let confirmed_per_min = confirmed as f64 / secs * 60.0;
    println!(
        "end to end: {accepted} mints settled {secs:.1} s after the first request = \
         {confirmed_per_min:.0} confirmed mints/min ({failed} failed)"
    );
    print_ceiling(db, gas_limit, confirmed_per_min).await?;
    let service_cpu_per_1k = print_cpu(&processes, &before, &after, confirmed, secs);
    Ok(Figures {
        accepted_per_s,
        confirmed_per_min,
        service_cpu_per_1k,
    })
}

/// Prints each process's CPU time per 1,000 confirmed mints (and the share of a core it used
/// over the run); returns that of the service's processes and PostgreSQL together.
fn print_cpu(
    processes: &[Process],
    before: &CpuTimes,
    after: &CpuTimes,
    confirmed: usize,
    secs: f64,
) -> f64 {
    let per_1k = |ms: u64| ms as f64 * 1000.0 / confirmed.max(1) as f64;
    let share = |ms: u64| 100.0 * ms as f64 / (secs * 1000.0);
    let mut parts = Vec::new();
    let mut service_ms = 0;
    for (i, process) in processes.iter().enumerate() {
        let ms = after.processes[i].saturating_sub(before.processes[i]);
        service_ms += ms;
        parts.push(format!(
            "{} {:.0} ({:.0}% of a core)",
            process.name,
            per_1k(ms),
            share(ms)
        ));
    }
    // A backend opened during the run counts whole; one closed during it is lost.
    let postgres_ms: u64 = after
        .postgres
        .iter()
        .map(|(pid, ms)| ms.saturating_sub(before.postgres.get(pid).copied().unwrap_or(0)))
        .sum();
    service_ms += postgres_ms;
    parts.push(format!(
        "PostgreSQL ({} processes) {:.0} ({:.0}% of a core)",
        after.postgres.len(),
        per_1k(postgres_ms),
        share(postgres_ms)
    ));
    let bench_ms = after.bench.saturating_sub(before.bench);
    println!(
        "CPU ms per 1,000 confirmed mints: {}; all of them {:.0}; this bench's HTTP load and \
         polling {:.0} ({:.0}% of a core)",
        parts.join(", "),
        per_1k(service_ms),
        per_1k(bench_ms),
        share(bench_ms)
    );
    per_1k(service_ms)
}

/// CPU milliseconds used so far by the run's processes (in their order), PostgreSQL's
/// processes working for the database (by pid) and this one.
struct CpuTimes {
    processes: Vec<u64>,
    postgres: HashMap<u32, u64>,
    bench: u64,
}

impl CpuTimes {
    async fn now(processes: &[Process], db: &DatabaseConnection) -> anyhow::Result<CpuTimes> {
        let postgres = postgres_pids(db)
            .await?
            .into_iter()
            .filter_map(|pid| Some((pid, process_ms(pid)?)))
            .collect();
        Ok(CpuTimes {
            processes: processes
                .iter()
                .map(|p| process_ms(p.pid).unwrap_or(0))
                .collect(),
            postgres,
            bench: process_ms(std::process::id()).unwrap_or(0),
        })
    }
}

/// What every process of a layout is given.
struct Setup<'a> {
    exe: &'a Path,
    database_url: &'a str,
    rpc_url: String,
    /// Hex; passed in the environment, which `ps` does not show.
    signer_key: String,
    token: Address,
    connections: u32,
    /// Where each process's log goes.
    logs: &'a Path,
}

/// One `mintflow serve` process, killed when dropped (so also on an error or a panic).
struct Process {
    name: String,
    child: Child,
    pid: u32,
    addr: SocketAddr,
    log: PathBuf,
}

impl Process {
    /// Starts `mintflow serve --role <role>` as process `n` of its role, on a free port.
    fn start(setup: &Setup<'_>, role: &str, n: usize) -> anyhow::Result<Process> {
        let name = format!("{role} {n}");
        let addr = free_addr().context("finding a free port")?;
        let log = setup.logs.join(format!("{role}-{n}.log"));
        let log_file =
            std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        // Only what is set here: nothing from the caller's environment changes the run.
        let child = Command::new(setup.exe)
            .arg("serve")
            .env_clear()
            .env("ROLE", role)
            .env("LISTEN_ADDR", addr.to_string())
            .env("WORKER_ID", format!("bench-{role}-{n}"))
            .env("DATABASE_URL", setup.database_url)
            .env("DATABASE_MAX_CONNECTIONS", setup.connections.to_string())
            .env("RPC_URL", &setup.rpc_url)
            .env("SIGNER_PRIVATE_KEY", &setup.signer_key)
            .env("TOKEN_ADDRESS", setup.token.to_string())
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {name} ({})", setup.exe.display()))?;
        let pid = child.id().context("the process has no id")?;
        Ok(Process {
            name,
            child,
            pid,
            addr,
            log,
        })
    }

    /// Waits until the process answers `GET /ready` with 200; fails, with the end of its log,
    /// if it exits first or takes longer than `READY_WAIT`.
    async fn wait_ready(&mut self, http: &reqwest::Client) -> anyhow::Result<()> {
        let url = format!("http://{}/ready", self.addr);
        let deadline = Instant::now() + READY_WAIT;
        let mut tick = tokio::time::interval(READY_POLL);
        loop {
            tick.tick().await;
            if let Some(status) = self.child.try_wait()? {
                anyhow::bail!(
                    "{} exited ({status}) before it was ready; its log ends:\n{}",
                    self.name,
                    self.log_tail()
                );
            }
            let ready = http.get(&url).send().await;
            if ready.is_ok_and(|r| r.status().is_success()) {
                return Ok(());
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "{} was not ready after {READY_WAIT:?}; its log ends:\n{}",
                self.name,
                self.log_tail()
            );
        }
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n")
    }
}

/// A loopback address no listener holds now. The process binds it a moment later; a program
/// taking it in between makes that process fail to start, and the run with it, visibly.
fn free_addr() -> std::io::Result<SocketAddr> {
    std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()
}

/// The machine's 1-minute load average, to say how busy it was (other work skews the
/// figures).
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "unknown".into())
}
