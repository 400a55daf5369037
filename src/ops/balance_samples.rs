//! Records the signer's balance once a minute in `signer_balance_samples`, for the dashboard's
//! balance trend (`ops::activity`), and deletes samples older than `KEPT`. A periodic job of
//! each worker with a chain; workers sharing a signer write the same minute's row.
use std::time::Duration;

use alloy::providers::Provider;
use sea_orm::DatabaseConnection;
use tokio_cron_scheduler::{JobScheduler, JobSchedulerError};

use super::ask_chain;
use crate::chain::Chain;
use crate::chain::signer::address_key;
use crate::engine::jobs::repeated;
use crate::store::{self, activity::BalanceSample, activity::MINUTE_MS};

/// How often the balance is sampled.
pub const EVERY: Duration = Duration::from_secs(60);
/// How long samples are kept: a day, 1440 rows per signer.
pub const KEPT: Duration = Duration::from_secs(86_400);

/// Adds the sampling job to `scheduler`, and takes a first sample now rather than a minute
/// after start.
pub async fn schedule(
    scheduler: &JobScheduler,
    db: DatabaseConnection,
    chain: Chain,
) -> Result<(), JobSchedulerError> {
    tokio::spawn({
        let (db, chain) = (db.clone(), chain.clone());
        async move { sample(&db, &chain).await }
    });
    scheduler
        .add(repeated(EVERY, move || {
            let (db, chain) = (db.clone(), chain.clone());
            async move { sample(&db, &chain).await }
        })?)
        .await?;
    Ok(())
}

/// Records this minute's balance and drops the samples past `KEPT`. A node or database that
/// fails skips the minute: the trend shows a gap, nothing retries.
pub async fn sample(db: &DatabaseConnection, chain: &Chain) {
    let signer = chain.signer();
    let balance = match ask_chain(chain.provider().get_balance(signer)).await {
        Ok(balance) => balance,
        Err(e) => {
            tracing::warn!(error = %e, "balance sample: the node did not answer");
            return;
        }
    };
    let now = chain.clock().now_ms();
    let sample = BalanceSample {
        chain_id: chain.chain_id() as i64,
        signer: address_key(signer),
        minute_ms: now - now.rem_euclid(MINUTE_MS),
        balance_wei: balance.to_string(),
    };
    if let Err(e) = store::activity::record_balance(db, &sample).await {
        tracing::warn!(error = %e, "balance sample: could not record it");
        return;
    }
    let before = now - KEPT.as_millis() as i64;
    if let Err(e) = store::activity::delete_balances_before(db, before).await {
        tracing::warn!(error = %e, "balance sample: could not delete old samples");
    }
}
