//! Live transitions as server-sent events, read from the outbox by position.
//!
//! Each message's SSE `id` is its outbox position. A client that reconnects with
//! `Last-Event-ID` (browsers' `EventSource` does so by itself) resumes right after the last
//! event it saw, on any instance: positions are global and survive restarts.
use std::time::Duration;

use poem::IntoResponse;
use poem::web::Data;
use poem::web::sse::Event;
use poem_openapi::registry::{MetaSchema, MetaSchemaRef, Registry};
use poem_openapi::{
    ApiResponse, OpenApi, Tags,
    param::{Header, Path, Query},
    payload::{EventStream, Payload},
    types::{ToJSON, Type},
};

use super::AppState;
use super::auth::{Access, Read};
use super::declared::{Declared, EventIdShape, PositionShape, UuidText};
use super::error::{ApiError, Errors, KeyedByIdInState, Stream, errors_from, parse_uuid};
use super::names::{KindListShape, kind_list};
use crate::app::events::{self, StreamError, Transitions};
use crate::engine::outbox::event::TransitionEvent;

/// A comment line this often keeps proxies from closing an idle stream.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

#[derive(Tags)]
pub enum EventsTag {
    /// Live workflow transitions (server-sent events).
    Events,
}

/// A live stream of transitions.
#[derive(ApiResponse)]
pub enum TransitionStream {
    /// `text/event-stream`, open while the client reads: one message per transition,
    /// `event: transition`, `id: <position>`, `data: <one TransitionEvent as JSON>`, and a
    /// comment line every 15 s while idle. The schema is that of one message's `data`.
    #[oai(status = 200)]
    Events(TransitionEvents),
}

/// The messages of a stream, declared as one message: its `event`, `id` and `data` fields.
/// poem-openapi's `EventStream` declares an array of `data` values, which no message is, so
/// validators read every message as a schema violation.
pub struct TransitionEvents(EventStream<Transitions>);

impl Payload for TransitionEvents {
    const CONTENT_TYPE: &'static str = "text/event-stream";

    fn schema_ref() -> MetaSchemaRef {
        let field = |description: &'static str, schema: MetaSchema| {
            MetaSchemaRef::Inline(Box::new(MetaSchema {
                description: Some(description),
                ..schema
            }))
        };
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            title: Some("TransitionMessage".into()),
            description: Some("One server-sent event: one transition."),
            required: vec!["event", "id", "data"],
            properties: vec![
                (
                    "event",
                    field(
                        "Always `transition`.",
                        MetaSchema {
                            enum_items: vec![serde_json::Value::String("transition".into())],
                            ..MetaSchema::new("string")
                        },
                    ),
                ),
                (
                    "id",
                    field(
                        "The transition's `position`: send it back as `Last-Event-ID`.",
                        MetaSchema {
                            pattern: Some("^[0-9]{1,18}$".into()),
                            ..MetaSchema::new("string")
                        },
                    ),
                ),
                (
                    "data",
                    field(
                        "One `TransitionEvent` (see its schema) as JSON.",
                        MetaSchema::new("string"),
                    ),
                ),
            ],
            ..MetaSchema::new("object")
        }))
    }

    fn register(registry: &mut Registry) {
        TransitionEvent::register(registry);
    }
}

impl IntoResponse for TransitionEvents {
    fn into_response(self) -> poem::Response {
        self.0.into_response()
    }
}

pub struct EventsApi;

#[OpenApi(tag = "EventsTag::Events")]
impl EventsApi {
    /// Stream every workflow transition, live (server-sent events)
    ///
    /// Who may call: a key with the `read` scope (or `admin`).
    ///
    /// The answer is `text/event-stream` and stays open until the client leaves. Each
    /// transition of any workflow (of the `kind`s asked for) is one message, in position order:
    ///
    /// ```text
    /// event: transition
    /// id: 1042
    /// data: {"position":1042,"eventId":5310,"workflowId":"0193...","kind":"mint",...}
    /// ```
    ///
    /// `data` is one `TransitionEvent` as JSON (the body a webhook receives), `id` its
    /// `position`. A comment line (`:`) every 15 s keeps an idle stream open through proxies.
    ///
    /// **Where it starts.** Without `Last-Event-ID` or `after`: at the present (transitions
    /// committed after the request). With either: right after that position, on any instance,
    /// so a client that reconnects with the last `id` it saw misses nothing and sees nothing
    /// twice (`EventSource` sends `Last-Event-ID` by itself; the header wins over `after`).
    /// Retention deletes events older than `retention_days`: resuming from a position whose
    /// next events are gone answers 409 `events_forgotten`, naming the last position deleted;
    /// read the workflows' current state from `GET /v1/workflows`, then resume with
    /// `?after=<that position>` and no `Last-Event-ID`. A `Last-Event-ID` that is not a
    /// position (up to 18 digits; empty is none) is 400 `invalid_last_event_id`; a negative
    /// `after`, 400 `invalid_position`; a `kind` not listed, 400 `invalid_filter`.
    ///
    /// **Limits.** 503 `too_many_streams` when this process already serves
    /// `MAX_EVENT_STREAMS` streams (retry, or use another instance); 429
    /// `too_many_streams_for_client` beyond `MAX_EVENT_STREAMS_PER_CLIENT` for one client.
    /// Browsers' `EventSource` cannot send an `Authorization` header: read the stream with
    /// `fetch` instead.
    #[oai(path = "/v1/events", method = "get", operation_id = "stream_events")]
    async fn all(
        &self,
        app: Data<&AppState>,
        _auth: Access<Read>,
        /// Only these kinds (comma-separated, e.g. `mint,payment`).
        kind: Query<Option<Declared<KindListShape>>>,
        /// Start after this position (what `Last-Event-ID` also says; the header wins).
        after: Query<Option<Declared<PositionShape, i64>>>,
        /// The `id` of the last message received: the stream resumes right after it.
        #[oai(name = "Last-Event-ID")]
        last_event_id: Header<Option<Declared<EventIdShape>>>,
    ) -> Result<TransitionStream, Errors<Stream>> {
        let kinds = match kind.0 {
            Some(list) => kind_list("kind", &list)?,
            None => Vec::new(),
        };
        let after = resume_point(
            last_event_id.0.map(Declared::into_inner),
            after.0.map(Declared::into_inner),
        )?;
        Ok(sse(events::all(&app.db, &app.outbox, kinds, after).await?))
    }

    /// Stream one workflow's transitions from its first, until it finishes
    ///
    /// Who may call: a key with the `read` scope (or `admin`).
    ///
    /// `text/event-stream` with the same messages as `GET /v1/events` (`event: transition`,
    /// `id: <position>`, `data: <TransitionEvent>`), for this workflow only: every transition
    /// it has made, oldest first, then each new one live. The stream ends after the transition
    /// into a final status (`completed`, `failed` or `cancelled`); for a workflow that already
    /// finished, right after its history is replayed. A retried workflow is not final again
    /// until it ends again: follow it anew.
    ///
    /// **Resuming.** With `Last-Event-ID` the replay starts right after that position, so a
    /// reconnecting client sees nothing twice. The stream reads the event log, which keeps
    /// `retention_days` of events: a workflow's older transitions are no longer replayed (its
    /// whole timeline stays in `GET /v1/workflows/{id}/history`), and the stream of one that
    /// finished before then ends at once; it never answers `events_forgotten`. 404
    /// `workflow_not_found` for an unknown id; 400 `invalid_last_event_id` for a
    /// `Last-Event-ID` that is not up to 18 digits (empty is none); 503 `too_many_streams` and 429
    /// `too_many_streams_for_client` as on `GET /v1/events`.
    #[oai(
        path = "/v1/workflows/:id/events",
        method = "get",
        operation_id = "stream_workflow_events"
    )]
    async fn one(
        &self,
        app: Data<&AppState>,
        _auth: Access<Read>,
        id: Path<UuidText>,
        /// The `id` of the last message received: the replay resumes right after it.
        #[oai(name = "Last-Event-ID")]
        last_event_id: Header<Option<Declared<EventIdShape>>>,
    ) -> Result<TransitionStream, Errors<KeyedByIdInState>> {
        let id = parse_uuid("id", &id.0)?;
        let after = resume_point(last_event_id.0.map(Declared::into_inner), None)?;
        Ok(sse(events::one(&app.db, &app.outbox, id, after).await?))
    }
}

impl From<StreamError> for ApiError {
    fn from(e: StreamError) -> Self {
        match e {
            StreamError::Forgotten { .. } => ApiError::conflict("events_forgotten", e.to_string()),
            StreamError::WorkflowNotFound(_) => {
                ApiError::not_found("workflow_not_found", e.to_string())
            }
            StreamError::TooManyStreams(_) => {
                ApiError::unavailable("too_many_streams", e.to_string())
            }
            StreamError::Database(e) => e.into(),
        }
    }
}

errors_from!(StreamError);

fn sse(events: Transitions) -> TransitionStream {
    TransitionStream::Events(TransitionEvents(
        EventStream::new(events)
            .keep_alive(KEEP_ALIVE)
            .to_event(|e| {
                Event::message(e.to_json_string())
                    .id(e.position.to_string())
                    .event_type("transition")
            }),
    ))
}

/// The position to resume after: `Last-Event-ID` when present, else `after`.
fn resume_point(
    last_event_id: Option<String>,
    after: Option<i64>,
) -> Result<Option<i64>, ApiError> {
    // An empty id is none, as `EventSource` sends it after an event without an id.
    let position = match last_event_id.filter(|id| !id.is_empty()) {
        Some(id) => Some(
            (id.len() <= 18 && id.bytes().all(|b| b.is_ascii_digit()))
                .then(|| id.parse::<i64>().ok())
                .flatten()
                .ok_or_else(|| {
                    ApiError::bad_request(
                        "invalid_last_event_id",
                        format!("Last-Event-ID `{id}` is not an event position (digits)"),
                    )
                })?,
        ),
        None => after,
    };
    match position {
        Some(p) if p < 0 => Err(ApiError::bad_request(
            "invalid_position",
            "an event position is never negative",
        )),
        other => Ok(other),
    }
}
