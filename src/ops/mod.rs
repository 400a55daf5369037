//! What operators watch: one snapshot of the service (`overview`, shared by every reader
//! through `snapshot`, its workflow counts kept by `counts`) that `GET /v1/stats`, `/metrics`
//! and the queue views render, the Prometheus recorder and metric names (`metrics`), and the
//! readiness checks of `GET /ready` (`readiness`), and the consistency checks of `mintflow
//! doctor` and `GET /v1/doctor` (`doctor`), and the dashboard's last hour (`activity`, with the
//! signer balance samples of `balance_samples`).
pub mod activity;
pub mod balance_samples;
pub mod counts;
pub mod doctor;
pub mod import_legacy;
pub mod metrics;
pub mod overview;
pub mod readiness;
pub mod snapshot;

use std::future::IntoFuture;
use std::time::Duration;

/// How long the chain node gets to answer an operator's question (a scrape, a readiness
/// probe) before the answer is reported as missing: probes come every few seconds and must
/// not pile up behind a node that hangs.
pub const CHAIN_TIMEOUT: Duration = Duration::from_secs(2);

/// How long the database gets to answer a scrape or a readiness probe. Longer than the
/// node's: a process's first snapshot counts the finished workflows in full. Without it, a
/// database that is down would hold the answer for the pool's 30 s acquire timeout, past any
/// probe's or scraper's patience.
pub const DATABASE_TIMEOUT: Duration = Duration::from_secs(5);

/// Runs a chain call with `CHAIN_TIMEOUT`; what went wrong, as text, otherwise.
pub async fn ask_chain<T, E: std::fmt::Display>(
    call: impl IntoFuture<Output = Result<T, E>>,
) -> Result<T, String> {
    match tokio::time::timeout(CHAIN_TIMEOUT, call.into_future()).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!(
            "the node did not answer within {}s",
            CHAIN_TIMEOUT.as_secs()
        )),
    }
}
