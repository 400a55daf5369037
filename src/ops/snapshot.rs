//! The one snapshot of the service that every overview read shares: `GET /v1/stats`,
//! `/metrics`, `GET /v1/queue`, `GET /queue/status` and `GET /api/payment-stats` all render
//! it. It is taken at most once a second per process, by one refresh at a time, whatever the
//! number of readers: a flood of these public reads costs the database one snapshot a second,
//! not one per request.
use std::ops::Deref;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use sea_orm::{DatabaseConnection, DbErr};
use tokio::sync::{Mutex, OwnedSemaphorePermit, Semaphore, watch};

use super::DATABASE_TIMEOUT;
use super::counts::Tally;
use super::overview::{self, Overview};
use crate::chain::Chain;
use crate::store::{self, entity::workflow, time::Clock};

/// How old a snapshot may be before a reader asks for a new one.
pub const MAX_AGE: Duration = Duration::from_secs(1);

/// Readers served at once; the others wait, parked. The snapshot spares the database, not
/// the CPU: each reader still turns it into JSON or text, and 200 of them at once would keep
/// as many tasks ready to run, each engine or sender task that wakes queueing behind them.
/// One at a time still answers a thousand reads a second on two cores (tests/public_reads.rs)
/// and leaves a core to the work.
const READERS_AT_ONCE: usize = 1;

/// The newest batches the queue views show.
const RECENT_BATCHES: u64 = 10;

pub struct Snapshot {
    pub overview: Overview,
    /// The mint queue: how many wait, since when, for how many payers.
    pub pending_mints: store::mints::PendingStats,
    /// The newest batches, newest first.
    pub recent_batches: Vec<workflow::Model>,
    /// `/metrics` as rendered from this snapshot by its first scrape.
    metrics_text: OnceLock<String>,
}

impl Snapshot {
    /// `/metrics`: the overview and this process's recorder, rendered once per snapshot. The
    /// recorder's figures are then up to `MAX_AGE` old too, which no scraper notices, while a
    /// flood of scrapes costs one rendering a second instead of one each.
    pub fn metrics_text(&self) -> &str {
        self.metrics_text
            .get_or_init(|| super::metrics::render(Some(&self.overview)))
    }
}

/// A snapshot, or why it could not be taken; either is kept for `MAX_AGE`, so a database
/// that fails is not asked again by every reader.
type Taken = Result<Arc<Snapshot>, DbErr>;

#[derive(Clone)]
struct Reading {
    /// When the refresh that took it finished.
    at: Instant,
    taken: Taken,
}

/// A process's snapshot cell; clones share it.
#[derive(Clone)]
pub struct SharedSnapshot {
    inner: Arc<Inner>,
}

struct Inner {
    db: DatabaseConnection,
    chain: Option<Chain>,
    /// What the overview's ages are measured on.
    clock: Clock,
    latest: watch::Sender<Option<Reading>>,
    /// Held by the refresh under way: the single flight. It guards the tally of finished
    /// workflows the refreshes keep between them.
    refresh: Arc<Mutex<Tally>>,
    /// `READERS_AT_ONCE` permits.
    readers: Arc<Semaphore>,
}

/// A snapshot, and this reader's turn: hold it while turning the snapshot into an answer.
pub struct Turn {
    snapshot: Arc<Snapshot>,
    _permit: OwnedSemaphorePermit,
}

impl Deref for Turn {
    type Target = Snapshot;

    fn deref(&self) -> &Snapshot {
        &self.snapshot
    }
}

impl SharedSnapshot {
    /// A cell reading `db` (the read pool) and `chain` on `clock`; nothing is read until asked.
    pub fn new(db: DatabaseConnection, chain: Option<Chain>, clock: Clock) -> SharedSnapshot {
        SharedSnapshot {
            inner: Arc::new(Inner {
                db,
                chain,
                clock,
                latest: watch::channel(None).0,
                refresh: Default::default(),
                readers: Arc::new(Semaphore::new(READERS_AT_ONCE)),
            }),
        }
    }

    /// The snapshot, at most `MAX_AGE` old when it was asked for (plus the time its refresh
    /// took), once it is this reader's turn. A reader that finds it older starts a refresh
    /// unless one is under way, and waits for that refresh with every other reader; the whole
    /// wait is bounded by `DATABASE_TIMEOUT`.
    pub async fn get(&self) -> Result<Turn, SnapshotError> {
        let read = async {
            let permit = self.inner.readers.clone().acquire_owned().await;
            let permit = permit.map_err(|_| SnapshotError::Timeout)?;
            let snapshot = self.latest().await?;
            Ok(Turn {
                snapshot,
                _permit: permit,
            })
        };
        tokio::time::timeout(DATABASE_TIMEOUT, read)
            .await
            .unwrap_or(Err(SnapshotError::Timeout))
    }

    async fn latest(&self) -> Result<Arc<Snapshot>, SnapshotError> {
        let mut next = self.inner.latest.subscribe();
        if let Some(reading) = next.borrow_and_update().as_ref()
            && reading.at.elapsed() < MAX_AGE
        {
            return reading.taken.clone().map_err(SnapshotError::Database);
        }
        self.start_refresh();
        // The sender lives in `inner`, which `self` holds: it cannot close while we wait.
        next.changed().await.map_err(|_| SnapshotError::Timeout)?;
        match next.borrow().as_ref() {
            Some(reading) => reading.taken.clone().map_err(SnapshotError::Database),
            None => Err(SnapshotError::Timeout),
        }
    }

    /// Spawns a refresh unless one is under way. Spawned, not run by the reader: a client
    /// that hangs up must not cancel the refresh the others wait for.
    fn start_refresh(&self) {
        let Ok(mut tally) = self.inner.refresh.clone().try_lock_owned() else {
            return;
        };
        let inner = self.inner.clone();
        tokio::spawn(async move {
            let taken = take(&inner, &mut tally).await;
            if let Err(e) = &taken {
                tracing::warn!(error = %e, "overview: could not take the snapshot");
            }
            inner.latest.send_replace(Some(Reading {
                at: Instant::now(),
                taken,
            }));
        });
    }
}

async fn take(inner: &Inner, tally: &mut Tally) -> Taken {
    let db = &inner.db;
    let (overview, pending_mints, recent_batches) = tokio::join!(
        overview::snapshot(db, inner.chain.as_ref(), tally, &inner.clock),
        store::mints::pending_stats(db),
        store::mints::recent_batches(db, RECENT_BATCHES),
    );
    Ok(Arc::new(Snapshot {
        overview: overview?,
        pending_mints: pending_mints?,
        recent_batches: recent_batches?,
        metrics_text: OnceLock::new(),
    }))
}

/// Why a reader got no snapshot.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error(transparent)]
    Database(DbErr),
    #[error("the overview was not read within {DATABASE_TIMEOUT:?}")]
    Timeout,
}
