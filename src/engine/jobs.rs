//! Periodic jobs on tokio-cron-scheduler: the recovery sweep, settings reload and retention.
use std::future::Future;
use std::time::Duration;

use sea_orm::DatabaseConnection;
use tokio_cron_scheduler::{Job, JobScheduler, JobSchedulerError};

use super::Waker;
use crate::config::SettingsHandle;
use crate::store::{self, time::Clock};

/// How often due timers and expired leases are looked for, beyond the instant wake-ups.
pub const SWEEP_EVERY: Duration = Duration::from_secs(1);
/// How often every process re-reads `system_settings`.
pub const SETTINGS_RELOAD_EVERY: Duration = Duration::from_secs(5);
/// How often old finished workflows are deleted.
pub const RETENTION_EVERY: Duration = Duration::from_secs(3600);

/// The engine's periodic jobs. `waker` is `None` in a process that runs no workers; `kept`
/// are the kinds retention never deletes (see `run_retention`).
pub async fn start(
    db: DatabaseConnection,
    settings: SettingsHandle,
    waker: Option<Waker>,
    kept: &'static [&'static str],
    clock: Clock,
) -> Result<JobScheduler, JobSchedulerError> {
    let sched = JobScheduler::new().await?;
    if let Some(waker) = waker {
        // Recovery sweep: the claim query itself finds due timers and expired leases, so the
        // sweep only has to make every worker look.
        sched
            .add(repeated(SWEEP_EVERY, move || {
                let waker = waker.clone();
                async move { waker.wake() }
            })?)
            .await?;
        let (db, settings) = (db.clone(), settings.clone());
        sched
            .add(repeated(RETENTION_EVERY, move || {
                let (db, settings, now) = (db.clone(), settings.clone(), clock.now_ms());
                async move { run_retention(&db, &settings, kept, now).await }
            })?)
            .await?;
    }
    sched
        .add(repeated(SETTINGS_RELOAD_EVERY, move || {
            let (db, settings) = (db.clone(), settings.clone());
            async move {
                if let Err(e) = settings.reload(&db).await {
                    tracing::warn!(error = %e, "settings reload failed");
                }
            }
        })?)
        .await?;
    sched.start().await?;
    Ok(sched)
}

/// Deletes what is older than `retention_days`: completed and cancelled workflows with their
/// history, except those of the `kept` kinds (records, whatever their age: the engine does
/// not know which kinds are, its caller does), outbox rows, and webhook deliveries that are
/// over, `now_ms` being now.
pub async fn run_retention(
    db: &DatabaseConnection,
    settings: &SettingsHandle,
    kept: &[&str],
    now_ms: i64,
) {
    let days = settings.get().retention_days;
    let before = now_ms - days * 86_400_000;
    match store::workflows::delete_finished_before(db, before, kept).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(deleted = n, days, "retention removed finished workflows"),
        Err(e) => tracing::warn!(error = %e, "retention failed"),
    }
    // Streams and webhooks resume within the same window; older positions are gone for them.
    match store::outbox::delete_before(db, before).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(deleted = n, days, "retention removed old outbox rows"),
        Err(e) => tracing::warn!(error = %e, "outbox retention failed"),
    }
    match store::webhooks::delete_finished_before(db, before).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(
            deleted = n,
            days,
            "retention removed old webhook deliveries"
        ),
        Err(e) => tracing::warn!(error = %e, "webhook delivery retention failed"),
    }
}

/// A job running `f` every `every` (the first time `every` after the scheduler starts).
pub fn repeated<F, Fut>(every: Duration, f: F) -> Result<Job, JobSchedulerError>
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    Job::new_repeated_async(every, move |_id, _sched| Box::pin(f()))
}
