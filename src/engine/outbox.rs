//! The outbox sequencer of one process, and the feed its event streams wait on.
//!
//! Every process runs one: whichever holds `outbox_head`'s lock orders the committed rows, the
//! others find it busy. Each round also reads the head, so a process learns of positions that
//! another instance gave (PostgreSQL) within one poll.
pub mod event;

use std::time::Duration;

use sea_orm::DatabaseConnection;
use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio_util::sync::CancellationToken;

use crate::store::outbox::{self, SEQUENCE_BATCH};

/// How often an idle sequencer looks for new rows: the added latency of a live event.
const POLL: Duration = Duration::from_millis(25);

/// Event streams one process serves at once unless configured (`--max-event-streams`): each
/// reads the database whenever the head moves, so their number is what bounds that load.
pub const MAX_STREAMS: usize = 512;

/// The newest visible outbox position, as this process last saw it, and the stream slots.
#[derive(Clone, Debug)]
pub struct OutboxFeed {
    head: watch::Receiver<i64>,
    streams: Arc<Semaphore>,
    capacity: usize,
}

/// A stream's hold on the feed: the head to wait on, and its slot until it is dropped.
pub struct Subscription {
    pub head: watch::Receiver<i64>,
    _slot: OwnedSemaphorePermit,
}

impl OutboxFeed {
    /// How many streams it serves at once.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// A subscription for one stream, or `None` when `capacity` are open.
    pub fn subscribe(&self) -> Option<Subscription> {
        let slot = self.streams.clone().try_acquire_owned().ok()?;
        Some(Subscription {
            head: self.head.clone(),
            _slot: slot,
        })
    }
}

/// Starts the sequencer task, with a feed for `max_streams` streams at once; it stops when
/// `stop` is cancelled.
pub fn spawn(
    db: DatabaseConnection,
    stop: CancellationToken,
    max_streams: usize,
) -> (OutboxFeed, tokio::task::JoinHandle<()>) {
    let (tx, rx) = watch::channel(0);
    let task = tokio::spawn(async move {
        loop {
            let ordered = match outbox::sequence(&db).await {
                Ok(n) => n,
                Err(e) => {
                    tracing::warn!(error = %e, "outbox sequencer: ordering failed; retrying");
                    0
                }
            };
            match outbox::head(&db).await {
                Ok(head) => {
                    tx.send_if_modified(|seen| {
                        let moved = head > *seen;
                        *seen = head.max(*seen);
                        moved
                    });
                }
                Err(e) => tracing::warn!(error = %e, "outbox sequencer: reading the head failed"),
            }
            if ordered as i64 == SEQUENCE_BATCH {
                continue; // more waiting: no pause
            }
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tokio::time::sleep(POLL) => {}
            }
        }
    });
    let feed = OutboxFeed {
        head: rx,
        streams: Arc::new(Semaphore::new(max_streams)),
        capacity: max_streams,
    };
    (feed, task)
}
