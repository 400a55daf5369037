//! What mint admission reads from the database, each through a short-lived cache so a burst
//! of requests costs one query: whether a token is registered, how many mints wait, and how
//! long recent batches took.
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sea_orm::{DatabaseConnection, DbErr};

use crate::store;

/// How long a reading of the queue depth serves admission (one count per window, not one per
/// request).
const DEPTH_TTL: Duration = Duration::from_millis(100);
/// How long a measured batch latency serves estimates.
const LATENCY_TTL: Duration = Duration::from_secs(5);
/// Batches the latency is averaged over.
const LATENCY_BATCHES: i64 = 20;

/// Shared by every request of a process.
#[derive(Clone, Default)]
pub struct MintQueue {
    depth: Arc<Mutex<Depth>>,
    latency: Arc<Mutex<Latency>>,
    /// Tokens found in the registry (never removed from it, so never stale).
    known_tokens: Arc<Mutex<HashSet<(i64, String)>>>,
}

#[derive(Default)]
struct Latency {
    read_at: Option<Instant>,
    ms: Option<f64>,
}

#[derive(Default)]
struct Depth {
    read_at: Option<Instant>,
    pending: i64,
    /// Admitted in this process since the reading.
    admitted: i64,
}

impl MintQueue {
    /// Whether `address` (lowercase hex) is a registered token of chain `chain_id`.
    pub async fn token_known(
        &self,
        db: &DatabaseConnection,
        chain_id: i64,
        address: &str,
    ) -> Result<bool, DbErr> {
        let key = (chain_id, address.to_owned());
        if self
            .known_tokens
            .lock()
            .expect("tokens lock")
            .contains(&key)
        {
            return Ok(true);
        }
        let found = store::tokens::find(db, chain_id, address).await?.is_some();
        if found {
            self.known_tokens.lock().expect("tokens lock").insert(key);
        }
        Ok(found)
    }

    /// Records that `quantity` mints were queued, for the next estimates.
    pub fn admitted(&self, quantity: u32) {
        self.depth.lock().expect("depth lock").admitted += i64::from(quantity);
    }

    /// Recent batches' mean time from creation to confirmation, in ms; `None` without any.
    pub async fn batch_latency_ms(&self, db: &DatabaseConnection) -> Result<Option<f64>, DbErr> {
        let cached = {
            let l = self.latency.lock().expect("latency lock");
            l.read_at
                .filter(|at| at.elapsed() < LATENCY_TTL)
                .map(|_| l.ms)
        };
        if let Some(ms) = cached {
            return Ok(ms);
        }
        let ms = store::mints::recent_batch_latency_ms(db, LATENCY_BATCHES).await?;
        *self.latency.lock().expect("latency lock") = Latency {
            read_at: Some(Instant::now()),
            ms,
        };
        Ok(ms)
    }

    /// The queue depth: a recent reading plus what this process admitted since.
    pub async fn pending(&self, db: &DatabaseConnection) -> Result<i64, DbErr> {
        {
            let d = self.depth.lock().expect("depth lock");
            if d.read_at.is_some_and(|at| at.elapsed() < DEPTH_TTL) {
                return Ok(d.pending + d.admitted);
            }
        }
        let stats = store::mints::pending_stats(db).await?;
        let mut d = self.depth.lock().expect("depth lock");
        *d = Depth {
            read_at: Some(Instant::now()),
            pending: stats.count,
            admitted: 0,
        };
        Ok(stats.count)
    }
}
