//! Live transitions read from the outbox by position: where a stream starts, and the stream
//! itself, read page by page and then as the outbox head moves. The HTTP API serves them as
//! server-sent events.
use std::collections::VecDeque;
use std::time::Duration;

use futures::stream::{self, BoxStream, StreamExt};
use sea_orm::{DatabaseConnection, DbErr};
use uuid::Uuid;

use crate::engine::outbox::event::TransitionEvent;
use crate::engine::outbox::{OutboxFeed, Subscription};
use crate::store::outbox::{self, OutboxEvent, OutboxFilter};
use crate::store::workflows::{self as rows, Status};

/// Events read from the database per query.
const PAGE: u64 = 500;
/// Pause after a failed read before the stream tries again (it is not ended).
const RETRY_READ: Duration = Duration::from_secs(1);

pub type Transitions = BoxStream<'static, TransitionEvent>;

#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// Retention deleted events after the place to resume: resuming would skip them silently.
    #[error(
        "retention deleted the events after {after} up to {last}: resume with \
         `?after={last}` (without Last-Event-ID) to accept the gap, and read the \
         workflows' current state from `GET /v1/workflows`"
    )]
    Forgotten { after: i64, last: i64 },
    #[error("no workflow {0}")]
    WorkflowNotFound(Uuid),
    /// This process serves as many streams as it may.
    #[error("this server already serves {0} event streams; retry later or on another instance")]
    TooManyStreams(usize),
    #[error(transparent)]
    Database(#[from] DbErr),
}

/// Every transition of `kinds` (all when empty) after position `after`, or from now on.
pub async fn all(
    db: &DatabaseConnection,
    feed: &OutboxFeed,
    kinds: Vec<String>,
    after: Option<i64>,
) -> Result<Transitions, StreamError> {
    let start = match after {
        Some(position) => {
            refuse_forgotten(db, position).await?;
            position
        }
        None => outbox::head(db).await?,
    };
    let filter = OutboxFilter {
        kinds,
        ..Default::default()
    };
    Ok(tail(db.clone(), subscribe(feed)?, filter, start, false))
}

/// Workflow `id`'s transitions after position `after` (from its first without), ending after
/// the one into a final status.
pub async fn one(
    db: &DatabaseConnection,
    feed: &OutboxFeed,
    id: Uuid,
    after: Option<i64>,
) -> Result<Transitions, StreamError> {
    rows::find(db, id)
        .await?
        .ok_or(StreamError::WorkflowNotFound(id))?;
    let filter = OutboxFilter {
        workflow_id: Some(id),
        ..Default::default()
    };
    Ok(tail(
        db.clone(),
        subscribe(feed)?,
        filter,
        after.unwrap_or(0),
        true,
    ))
}

fn subscribe(feed: &OutboxFeed) -> Result<Subscription, StreamError> {
    feed.subscribe()
        .ok_or_else(|| StreamError::TooManyStreams(feed.capacity()))
}

async fn refuse_forgotten(db: &DatabaseConnection, after: i64) -> Result<(), StreamError> {
    match outbox::forgotten_after(db, after).await? {
        None => Ok(()),
        Some(last) => Err(StreamError::Forgotten { after, last }),
    }
}

/// Where a stream is: what it has read and not yet sent, and what it has sent.
struct Tail {
    db: DatabaseConnection,
    /// The head to wait on; holds the stream's slot while the stream lives.
    feed: Subscription,
    filter: OutboxFilter,
    cursor: i64,
    buffered: VecDeque<OutboxEvent>,
    /// Ends the stream after a transition into a final status (one-workflow streams).
    until_finished: bool,
    finished: bool,
}

/// Events after `start` matching `filter`, read page by page and then as the head moves.
fn tail(
    db: DatabaseConnection,
    feed: Subscription,
    filter: OutboxFilter,
    start: i64,
    until_finished: bool,
) -> Transitions {
    let state = Tail {
        db,
        feed,
        filter,
        cursor: start,
        buffered: VecDeque::new(),
        until_finished,
        finished: false,
    };
    stream::unfold(state, |mut t| async move {
        if t.finished {
            return None;
        }
        loop {
            if let Some(e) = t.buffered.pop_front() {
                t.finished =
                    t.until_finished && Status::parse(&e.status).is_some_and(Status::is_terminal);
                return Some((e.into(), t));
            }
            // Mark the head as seen before reading, so a move during the read wakes us. Every
            // position up to it was visible when the read began.
            let seen = *t.feed.head.borrow_and_update();
            match outbox::read(&t.db, t.cursor, &t.filter, PAGE).await {
                Ok(page) if !page.is_empty() => {
                    let last = page.last().map_or(t.cursor, |e| e.position);
                    // A short page holds every match up to `seen`: skip past the rest, so a
                    // filtered stream does not scan the same positions again.
                    t.cursor = if (page.len() as u64) < PAGE {
                        last.max(seen)
                    } else {
                        last
                    };
                    t.buffered.extend(page);
                }
                Ok(_) => {
                    t.cursor = t.cursor.max(seen);
                    // A finished workflow whose last events are gone (retention) would
                    // otherwise keep its stream open for ever.
                    if let Some(id) = t.filter.workflow_id.filter(|_| t.until_finished)
                        && matches!(outbox::more_for(&t.db, id, t.cursor).await, Ok(false))
                    {
                        return None;
                    }
                    if t.feed.head.changed().await.is_err() {
                        return None; // the process is shutting down
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "event stream: reading the outbox failed");
                    tokio::time::sleep(RETRY_READ).await;
                }
            }
        }
    })
    .boxed()
}
