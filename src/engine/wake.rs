//! Wake-ups: a workflow that becomes due is claimed within milliseconds, in this process through
//! an in-memory notification and across PostgreSQL instances through LISTEN/NOTIFY.
use std::sync::Arc;
use std::time::Duration;

use sea_orm::{DatabaseConnection, DbBackend};
use tokio::sync::Notify;

use crate::store::workflows::WAKE_CHANNEL;

/// Wakes this process's claim loop. Notifications coalesce: many wakes before the loop looks
/// cost one claim.
#[derive(Clone, Debug, Default)]
pub struct Waker(Arc<Notify>);

impl Waker {
    pub fn wake(&self) {
        self.0.notify_one();
    }

    pub async fn woken(&self) {
        self.0.notified().await;
    }

    /// Wakes at `at_ms` (unix ms), `now_ms` being now: the in-process half of a durable timer.
    /// The database row stays due regardless, so a lost timer only costs the sweep's delay.
    pub fn wake_at(&self, at_ms: i64, now_ms: i64) {
        let delay = at_ms - now_ms;
        if delay <= 0 {
            self.wake();
            return;
        }
        let waker = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(delay as u64)).await;
            waker.wake();
        });
    }
}

/// Forwards NOTIFYs on the wake channel to `waker` until the task is dropped; reconnects after
/// errors. Does nothing on SQLite.
pub async fn listen_postgres(db: DatabaseConnection, waker: Waker) {
    if db.get_database_backend() != DbBackend::Postgres {
        return;
    }
    let pool = db.get_postgres_connection_pool().clone();
    loop {
        let mut listener = match sea_orm::sqlx::postgres::PgListener::connect_with(&pool).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "LISTEN connection failed; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if let Err(e) = listener.listen(WAKE_CHANNEL).await {
            tracing::warn!(error = %e, "LISTEN failed; retrying");
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        // Work may have been created while we were not listening.
        waker.wake();
        loop {
            match listener.recv().await {
                Ok(_) => waker.wake(),
                Err(e) => {
                    tracing::warn!(error = %e, "LISTEN connection lost; reconnecting");
                    break;
                }
            }
        }
    }
}
