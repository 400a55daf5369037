//! Fan-out: each matching outbox event becomes one delivery row per subscription.

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement, Value};
use uuid::Uuid;

use crate::store::outbox::{self, OutboxEvent, OutboxFilter};
use crate::store::{begin_write, exec, query, sql};

use super::*;

/// Events fanned out per subscription per round.
const FAN_OUT_BATCH: u64 = 1_000;

/// Copies new outbox events into deliveries for every subscription behind the head. Returns
/// how many deliveries it created.
pub async fn fan_out(db: &DatabaseConnection, now_ms: i64) -> Result<u64, DbErr> {
    let head = outbox::head(db).await?;
    let backend = db.get_database_backend();
    let behind = db
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            sql(backend, "SELECT id FROM webhooks WHERE cursor < $1 LIMIT 1"),
            [head.into()],
        ))
        .await?;
    if behind.is_none() {
        return Ok(0);
    }
    let txn = begin_write(db).await?;
    let lock = match backend {
        // Another instance fanning out a subscription keeps it; this one takes the rest.
        DbBackend::Postgres => format!(
            "SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE cursor < $1 ORDER BY id FOR UPDATE SKIP LOCKED"
        ),
        _ => format!("SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE cursor < $1 ORDER BY id"),
    };
    let hooks: Vec<WebhookRow> = query(&txn, &lock, vec![head.into()]).await?;
    let mut created = 0;
    for hook in hooks {
        let filter = OutboxFilter {
            kinds: hook.kind_list(),
            workflow_id: None,
            to_states: hook.state_list(),
        };
        let events = outbox::read(&txn, hook.cursor, &filter, FAN_OUT_BATCH).await?;
        // A short read saw every match up to `head`.
        let cursor = if (events.len() as u64) < FAN_OUT_BATCH {
            head
        } else {
            events.last().map_or(hook.cursor, |e| e.position)
        };
        for chunk in events.chunks(200) {
            created += insert_deliveries(&txn, hook.id, chunk, now_ms).await?;
        }
        exec(
            &txn,
            "UPDATE webhooks SET cursor = $1 WHERE id = $2",
            vec![cursor.into(), hook.id.into()],
        )
        .await?;
    }
    txn.commit().await?;
    Ok(created)
}

async fn insert_deliveries<C: ConnectionTrait>(
    conn: &C,
    webhook_id: Uuid,
    events: &[OutboxEvent],
    now_ms: i64,
) -> Result<u64, DbErr> {
    if events.is_empty() {
        return Ok(0);
    }
    let mut values: Vec<Value> = Vec::with_capacity(events.len() * 4 + 2);
    values.push(webhook_id.into());
    values.push(now_ms.into());
    let rows: Vec<String> = events
        .iter()
        .map(|e| {
            values.push(e.position.into());
            values.push(e.event_id.into());
            values.push(e.workflow_id.into());
            let n = values.len();
            format!("($1, ${}, ${}, ${}, 'pending', 0, $2, $2)", n - 2, n - 1, n)
        })
        .collect();
    let statement = format!(
        "INSERT INTO webhook_deliveries (webhook_id, position, event_id, workflow_id, status, \
         attempts, next_attempt_at_ms, created_at_ms) VALUES {} \
         ON CONFLICT (webhook_id, position) DO NOTHING",
        rows.join(", ")
    );
    exec(conn, &statement, values).await
}
