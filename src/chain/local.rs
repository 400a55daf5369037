//! Running the pipeline from a command rather than a service: a local anvil, the sender loop
//! in this process, and waiting for one transaction's outcome (`dev`, `deploy`, the benchmarks
//! and the tests' setup).
use std::path::{Path, PathBuf};
use std::time::Duration;

use alloy::node_bindings::{Anvil, AnvilInstance};
use anyhow::Context;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::{Chain, TxOutcome};

/// Where `npm ci --prefix tools` puts anvil (relative to the repository root).
pub const LOCAL_ANVIL: &str = "tools/node_modules/.bin/anvil";

/// `tools/node_modules/.bin/anvil`, then `ANVIL_PATH`, then `anvil` on the PATH.
pub fn find_anvil() -> anyhow::Result<PathBuf> {
    let local = Path::new(LOCAL_ANVIL);
    if local.is_file() {
        return Ok(local.to_path_buf());
    }
    if let Some(path) = std::env::var_os("ANVIL_PATH").filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        anyhow::ensure!(
            path.is_file(),
            "ANVIL_PATH is {} but there is no file there",
            path.display()
        );
        return Ok(path);
    }
    if let Some(found) = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("anvil"))
            .find(|p| p.is_file())
    }) {
        return Ok(found);
    }
    anyhow::bail!(
        "anvil not found (looked for {LOCAL_ANVIL}, ANVIL_PATH and the PATH): install it with \
         `npm ci --prefix tools` from the repository root"
    )
}

/// Starts anvil at `path` on a free port of 127.0.0.1 with a 150M block gas limit, mining a
/// block every `block_time` seconds, or one per transaction when `None`. Dropping the instance
/// stops it.
pub async fn spawn_anvil(path: PathBuf, block_time: Option<f64>) -> anyhow::Result<AnvilInstance> {
    let mut anvil = Anvil::at(&path)
        .host("127.0.0.1")
        .args(["--gas-limit", "150000000"]);
    if let Some(secs) = block_time {
        anvil = anvil.block_time_f64(secs);
    }
    let instance = tokio::task::spawn_blocking(move || anvil.try_spawn())
        .await?
        .with_context(|| format!("starting anvil ({})", path.display()))?;
    tracing::info!(endpoint = %instance.endpoint(), "anvil started");
    Ok(instance)
}

/// A sender loop running in this process until `stop` is awaited.
pub struct SenderTask {
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl SenderTask {
    /// Starts `chain`'s sender under a fresh owner name starting with `role`.
    pub fn start(chain: &Chain, role: &str) -> SenderTask {
        let owner = format!(
            "{role}-{}-{}",
            std::process::id(),
            &Uuid::new_v4().simple().to_string()[..8]
        );
        let stop = CancellationToken::new();
        let task = tokio::spawn(chain.clone().run_senders(owner, stop.clone()));
        SenderTask { stop, task }
    }

    /// Stops the loop and releases the sender lease.
    pub async fn stop(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }
}

/// How often `wait_final` looks at a transaction. The pipeline has no per-transaction
/// notification for callers without an owner workflow, so this polls one indexed row.
const FINAL_POLL: Duration = Duration::from_millis(50);

/// Waits until transaction `id` is final and returns its outcome (a revert or failure is an
/// outcome, not an error); errors after `timeout`.
pub async fn wait_final(chain: &Chain, id: Uuid, timeout: Duration) -> anyhow::Result<TxOutcome> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut tick = tokio::time::interval(FINAL_POLL);
    loop {
        tick.tick().await;
        match chain.outcome(id).await? {
            TxOutcome::Pending { status } => anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "transaction {id} is still {status} after {timeout:?}"
            ),
            done => return Ok(done),
        }
    }
}
