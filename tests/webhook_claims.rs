//! The webhook dispatcher's claims on PostgreSQL and SQLite: each subscription's oldest due
//! deliveries within the room it has, the oldest of them all first, none claimed again while
//! its lease lasts; and each subscription's read answered by the index of its own pending
//! deliveries, whatever the backlog.
#[macro_use]
mod common;

use common::{Backend, TestDb, pg_stat};
use mintflow::store::webhooks::{self as hooks, Claim, WebhookRow};
use sea_orm::{ConnectionTrait, DbBackend, Statement, TransactionTrait, Value};
use uuid::Uuid;

on_both_backends!(claims_take_each_subscriptions_oldest_due_within_its_room);

/// A fixed clock, far from any real time.
const NOW: i64 = 1_000_000;
const LEASE_MS: i64 = 60_000;

async fn subscription(db: &impl ConnectionTrait, n: u128) -> Uuid {
    let row = WebhookRow {
        id: Uuid::from_u128(n),
        url: format!("https://example.com/{n}"),
        secret: "secret".into(),
        kinds: None,
        states: None,
        description: None,
        cursor: 0,
        created_at_ms: NOW,
        created_by: "test".into(),
        previous_secret: None,
        previous_secret_until_ms: None,
    };
    hooks::save(db, &row).await.unwrap();
    row.id
}

/// Pending deliveries of `hook`, each `(position, due at NOW + offset)`.
async fn deliveries(db: &impl ConnectionTrait, hook: Uuid, due: &[(i64, i64)]) {
    for (position, offset) in due {
        let sql = "INSERT INTO webhook_deliveries (webhook_id, position, event_id, workflow_id, \
                   status, attempts, next_attempt_at_ms, created_at_ms) \
                   VALUES ($1, $2, $2, $3, 'pending', 0, $4, $5)";
        let values: [Value; 5] = [
            hook.into(),
            (*position).into(),
            Uuid::from_u128(*position as u128).into(),
            (NOW + offset).into(),
            NOW.into(),
        ];
        let backend = db.get_database_backend();
        let sql = match backend {
            DbBackend::Postgres => sql.to_owned(),
            _ => sql.replace('$', "?"),
        };
        db.execute_raw(Statement::from_sql_and_values(backend, sql, values))
            .await
            .unwrap();
    }
}

fn claim(now_ms: i64, limit: u64, per_webhook: u64, room: &[(Uuid, u64)]) -> Claim<'_> {
    Claim {
        now_ms,
        lease_until_ms: now_ms + LEASE_MS,
        limit,
        per_webhook,
        room,
    }
}

/// (subscription, position) of each claimed delivery, in claim order of due time.
async fn claimed(t: &TestDb, claim: &Claim<'_>) -> Vec<(Uuid, i64)> {
    let mut due = hooks::claim_due(&t.db, claim).await.unwrap();
    for d in &due {
        assert_eq!(
            d.delivery.next_attempt_at_ms,
            Some(claim.lease_until_ms),
            "leased"
        );
    }
    due.sort_by_key(|d| d.delivery.position);
    due.iter()
        .map(|d| (d.delivery.webhook_id, d.delivery.position))
        .collect()
}

async fn claims_take_each_subscriptions_oldest_due_within_its_room(backend: Backend) {
    let t = TestDb::new(backend).await;
    let (a, b, c, full) = (
        subscription(&t.db, 1).await,
        subscription(&t.db, 2).await,
        subscription(&t.db, 3).await,
        subscription(&t.db, 4).await,
    );
    // a: five due, oldest first by position; b: three due, after a's; c: one due, one not yet;
    // `full` has requests under way up to its cap.
    deliveries(
        &t.db,
        a,
        &[(1, -50), (2, -40), (3, -30), (4, -20), (5, -10)],
    )
    .await;
    deliveries(&t.db, b, &[(11, -45), (12, -35), (13, -25)]).await;
    deliveries(&t.db, c, &[(21, -5), (22, 1_000)]).await;
    deliveries(&t.db, full, &[(31, -100)]).await;
    let room = [(b, 1), (full, 0)];

    // Two of a's (its cap), one of b's (its room), c's due one; `full` has no room; the
    // oldest four of those.
    assert_eq!(
        claimed(&t, &claim(NOW, 4, 2, &room)).await,
        [(a, 1), (a, 2), (b, 11), (c, 21)]
    );
    // Leased: the next claim takes the ones after them; the limit keeps the oldest.
    assert_eq!(
        claimed(&t, &claim(NOW, 3, 2, &[])).await,
        [(a, 3), (b, 12), (full, 31)]
    );
    assert_eq!(
        claimed(&t, &claim(NOW, 10, 2, &[])).await,
        [(a, 4), (a, 5), (b, 13)]
    );
    // c's other one is not due yet; nothing else waits.
    assert!(claimed(&t, &claim(NOW, 10, 2, &[])).await.is_empty());
    assert_eq!(
        claimed(&t, &claim(NOW + 1_000, 10, 2, &[])).await,
        [(c, 22)]
    );
    // A lease that ran out (its sender died) makes the delivery due again.
    assert_eq!(
        claimed(&t, &claim(NOW + LEASE_MS, 1, 2, &[])).await,
        [(a, 1)]
    );

    if backend == Backend::Postgres {
        a_backlog_is_not_read_to_claim_from_it(&t, a).await;
    }
}

/// 20,000 deliveries waiting for one subscription: a claim reads each subscription's oldest
/// from the index of pending deliveries (ranking them all cost more with every one waiting, and
/// the dispatcher fell further behind the more it had to do). PostgreSQL: the scans this
/// transaction made, from this connection's own statistics.
async fn a_backlog_is_not_read_to_claim_from_it(t: &TestDb, hook: Uuid) {
    let backlog = format!(
        "INSERT INTO webhook_deliveries (webhook_id, position, event_id, workflow_id, status, \
         attempts, next_attempt_at_ms, created_at_ms) \
         SELECT '{hook}', 1000 + g, 1000 + g, gen_random_uuid(), 'pending', 0, {NOW} - 1, {NOW} \
         FROM generate_series(1, 20000) g"
    );
    t.db.execute_unprepared(&backlog).await.unwrap();
    t.db.execute_unprepared("ANALYZE webhook_deliveries")
        .await
        .unwrap();
    let txn = t.db.begin().await.unwrap();
    let index = "idx_webhook_deliveries_pending";
    // Sequential scans of the table, and entries the index gave out.
    let read = async || {
        (
            pg_stat(&txn, "pg_stat_get_xact_numscans", "webhook_deliveries").await,
            pg_stat(&txn, "pg_stat_get_xact_tuples_returned", index).await,
        )
    };
    // This connection's statistics count what it did before too: the claim's are the
    // difference.
    let (scans_before, entries_before) = read().await;
    let room = [];
    let due = hooks::claim_due(&txn, &claim(NOW, 8, 4, &room))
        .await
        .unwrap();
    assert_eq!(due.len(), 4, "the subscription's cap");
    let (scans, entries) = read().await;
    assert_eq!(scans, scans_before, "sequential scans of the deliveries");
    // Its four, and the other subscriptions' few (none due): not the backlog.
    let entries = entries - entries_before;
    assert!((4..20).contains(&entries), "{entries} index entries read");
    txn.rollback().await.unwrap();
}
