//! The loop both batchers run: a pass, then a wait, until stopped.
use std::fmt::Display;
use std::future::Future;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// How a batcher's passes are paced.
pub struct Pacing<'a> {
    /// Named in its log lines.
    pub name: &'static str,
    /// The wait after a failed pass.
    pub after_failure: Duration,
    /// Wakes the loop before its wait is over (new work was queued), with `settle` more to
    /// let a burst of requests arrive.
    pub signal: Option<(&'a Notify, Duration)>,
}

/// Runs `pass`, which returns how long to wait before the next, until `stop`.
pub async fn run<F, Fut, E>(pacing: Pacing<'_>, stop: CancellationToken, mut pass: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Duration, E>>,
    E: Display,
{
    let name = pacing.name;
    loop {
        let wait = match pass().await {
            Ok(wait) => wait,
            Err(e) => {
                tracing::warn!(error = %e, "{name} pass failed; retrying");
                pacing.after_failure
            }
        };
        let signalled = async {
            match pacing.signal {
                Some((notify, settle)) => {
                    notify.notified().await;
                    tokio::time::sleep(settle).await;
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = signalled => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
    tracing::info!("{name} stopped");
}
