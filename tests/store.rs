//! Every public function of `store::workflows` and `store::moves` on PostgreSQL and SQLite:
//! creation with idempotency, claims and leases, checkpoints under their fence, queries,
//! operator actions and wake-ups, retention, and moves of parked workflows.
#[macro_use]
mod common;

use common::{Backend, TestDb};
use mintflow::engine::{Client, Waker};
use mintflow::store::{
    self, audit, events,
    moves::{Move, move_parked},
    time::Clock,
    workflows::{
        self as rows, ActionOutcome, Actor, Checkpoint, Inserted, ListFilter, NewWorkflow, Status,
    },
};
use serde_json::json;
use uuid::Uuid;

on_both_backends!(
    insert_dedups_by_idempotency_key,
    claims_lease_by_priority_and_take_over_expired_leases,
    checkpoints_hold_only_under_their_fence,
    checkpoint_keeps_a_wake_up_that_came_during_the_step,
    queries_filter_and_list_children,
    operator_retry_and_cancel_with_children,
    operator_actions_are_stamped_by_the_clock_they_are_given,
    wake_makes_a_parked_workflow_due,
    retention_deletes_only_old_finished_rows,
    moves_are_guarded_bump_the_version_and_write_history,
);

/// A fixed clock for every write of a test, far from any real time.
const NOW: i64 = 1_000_000;

fn workflow(state: &str, waiting: bool) -> NewWorkflow {
    NewWorkflow {
        id: Uuid::now_v7(),
        kind: "test".into(),
        state: state.into(),
        data: json!({ "n": 1 }),
        schema_version: 1,
        priority: 0,
        run_at_ms: None,
        waiting,
        idempotency_key: None,
        request_hash: None,
        parent_id: None,
        payer: None,
        token: None,
        tx_hash: None,
    }
}

async fn create(t: &TestDb, wf: &NewWorkflow) -> Uuid {
    match rows::insert_workflow(&t.db, wf, NOW).await.unwrap() {
        Inserted::Created(id) => id,
        other => panic!("not created: {other:?}"),
    }
}

async fn row(t: &TestDb, id: Uuid) -> mintflow::store::entity::workflow::Model {
    rows::find(&t.db, id).await.unwrap().expect("the row")
}

/// The `(event, from_state, to_state, status)` of a workflow's history, oldest first.
async fn history(t: &TestDb, id: Uuid) -> Vec<(String, Option<String>, String, String)> {
    events::history(&t.db, id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.event, e.from_state, e.to_state, e.status))
        .collect()
}

fn ev(
    event: &str,
    from: Option<&str>,
    to: &str,
    status: &str,
) -> (String, Option<String>, String, String) {
    (event.into(), from.map(Into::into), to.into(), status.into())
}

fn checkpoint(id: Uuid, version: i64, state: &str, status: Status) -> Checkpoint {
    Checkpoint {
        id,
        version,
        status,
        state: state.into(),
        data: json!({ "n": 2 }),
        schema_version: 1,
        run_at_ms: matches!(status, Status::Running).then_some(NOW + 10),
        attempt: 0,
        keep_lease: false,
        last_error: None,
        event: "step".into(),
        from_state: "first".into(),
        detail: None,
    }
}

fn operator() -> Actor {
    Actor {
        actor: "alice".into(),
        via: "test".into(),
        reason: Some("because".into()),
    }
}

async fn insert_dedups_by_idempotency_key(backend: Backend) {
    let t = TestDb::new(backend).await;
    let keyed = |hash: &str| NewWorkflow {
        idempotency_key: Some("k1".into()),
        request_hash: Some(hash.into()),
        ..workflow("first", false)
    };
    let first = keyed("h1");
    let id = create(&t, &first).await;
    let created = row(&t, id).await;
    assert_eq!(
        (created.status.as_str(), created.run_at_ms, created.version),
        ("running", Some(NOW), 0)
    );
    assert_eq!(
        history(&t, id).await,
        [ev("created", None, "first", "running")]
    );

    let again = rows::insert_workflows(
        &t.db,
        &[keyed("h1"), keyed("h2"), workflow("first", true)],
        NOW,
    )
    .await
    .unwrap();
    assert_eq!(
        again[0],
        Inserted::Existing {
            id,
            same_request: true
        }
    );
    assert_eq!(
        again[1],
        Inserted::Existing {
            id,
            same_request: false
        }
    );
    let Inserted::Created(parked) = again[2] else {
        panic!("an unkeyed workflow is always created: {again:?}");
    };
    let parked = row(&t, parked).await;
    assert_eq!(
        (parked.status.as_str(), parked.run_at_ms),
        ("waiting", None)
    );
}

async fn claims_lease_by_priority_and_take_over_expired_leases(backend: Backend) {
    let t = TestDb::new(backend).await;
    let low = create(&t, &workflow("first", false)).await;
    let high = create(
        &t,
        &NewWorkflow {
            priority: 5,
            ..workflow("first", false)
        },
    )
    .await;
    let later = create(
        &t,
        &NewWorkflow {
            run_at_ms: Some(NOW + 3_000),
            ..workflow("first", false)
        },
    )
    .await;
    create(
        &t,
        &NewWorkflow {
            kind: "other".into(),
            ..workflow("first", false)
        },
    )
    .await;

    let first = rows::claim_due(&t.db, "a", &["test"], 1, NOW, 1_000)
        .await
        .unwrap();
    assert_eq!(first[0].id, high, "the highest priority first");
    let rest = rows::claim_due(&t.db, "a", &["test"], 10, NOW, 1_000)
        .await
        .unwrap();
    assert_eq!(
        rest.iter().map(|c| c.id).collect::<Vec<_>>(),
        [low],
        "not yet due and other kinds never"
    );
    let a = [first, rest].concat();
    assert!(
        a.iter()
            .all(|c| c.version == 1 && c.previous_owner.is_none())
    );
    assert_eq!(row(&t, high).await.lease_until_ms, Some(NOW + 1_000));
    assert!(
        rows::claim_due(&t.db, "b", &["test"], 10, NOW + 500, 1_000)
            .await
            .unwrap()
            .is_empty(),
        "leased rows are not due"
    );

    assert_eq!(
        rows::renew_leases(&t.db, "a", NOW + 2_000).await.unwrap(),
        2
    );
    assert!(
        rows::claim_due(&t.db, "b", &["test"], 10, NOW + 1_500, 1_000)
            .await
            .unwrap()
            .is_empty(),
        "a renewed lease holds"
    );

    let b = rows::claim_due(&t.db, "b", &["test"], 1, NOW + 2_500, 1_000)
        .await
        .unwrap();
    assert_eq!(b.len(), 1);
    assert_eq!(
        (b[0].id, b[0].version, b[0].previous_owner.as_deref()),
        (high, 2, Some("a"))
    );

    assert_eq!(rows::release_leases(&t.db, "a").await.unwrap(), 1);
    let c = rows::claim_due(&t.db, "c", &["test"], 10, NOW + 3_000, 1_000)
        .await
        .unwrap();
    let mut c_ids: Vec<Uuid> = c.iter().map(|c| c.id).collect();
    c_ids.sort();
    assert_eq!(c_ids, [low, later], "released at once; the timer is due");
    assert!(c.iter().all(|c| c.previous_owner.is_none()));
    assert_eq!(rows::release_leases(&t.db, "nobody").await.unwrap(), 0);
}

async fn checkpoints_hold_only_under_their_fence(backend: Backend) {
    let t = TestDb::new(backend).await;
    let id = create(&t, &workflow("first", false)).await;
    let other = create(&t, &workflow("first", false)).await;
    let claimed = rows::claim_due(&t.db, "a", &["test"], 10, NOW, 60_000)
        .await
        .unwrap();
    let version = claimed[0].version;

    let txn = store::begin_write(&t.db).await.unwrap();
    let won = rows::apply_checkpoints(
        &txn,
        "a",
        NOW + 1,
        &[
            Checkpoint {
                keep_lease: true,
                ..checkpoint(id, version, "second", Status::Running)
            },
            checkpoint(other, version + 1, "second", Status::Running),
        ],
    )
    .await
    .unwrap();
    txn.commit().await.unwrap();
    assert_eq!(
        won.into_iter().collect::<Vec<_>>(),
        [id],
        "a wrong version writes nothing"
    );
    let kept = row(&t, id).await;
    assert_eq!(
        (
            kept.state.as_str(),
            kept.version,
            kept.lease_owner.as_deref(),
            kept.run_at_ms,
            kept.data.clone()
        ),
        ("second", version, Some("a"), Some(NOW), json!({ "n": 2 })),
        "keeping the lease keeps the claim's version and due time"
    );
    assert_eq!(row(&t, other).await.state, "first");
    assert_eq!(history(&t, other).await.len(), 1);

    assert!(
        rows::apply_checkpoints(
            &t.db,
            "b",
            NOW + 2,
            &[checkpoint(id, version, "third", Status::Completed)]
        )
        .await
        .unwrap()
        .is_empty(),
        "another owner's checkpoint fails its fence"
    );
    let done = Checkpoint {
        from_state: "second".into(),
        event: "completed".into(),
        ..checkpoint(id, version, "third", Status::Completed)
    };
    assert!(
        rows::apply_checkpoints(&t.db, "a", NOW + 3, &[done])
            .await
            .unwrap()
            .contains(&id)
    );
    let done = row(&t, id).await;
    assert_eq!(
        (
            done.status.as_str(),
            done.finished_at_ms,
            done.lease_owner,
            done.run_at_ms
        ),
        ("completed", Some(NOW + 3), None, None)
    );
    assert_eq!(
        history(&t, id).await,
        [
            ev("created", None, "first", "running"),
            ev("step", Some("first"), "second", "running"),
            ev("completed", Some("second"), "third", "completed"),
        ]
    );
}

async fn checkpoint_keeps_a_wake_up_that_came_during_the_step(backend: Backend) {
    let t = TestDb::new(backend).await;
    let id = create(&t, &workflow("first", false)).await;
    let claimed = rows::claim_due(&t.db, "a", &["test"], 1, NOW, 60_000)
        .await
        .unwrap();
    assert!(
        rows::wake(&t.db, id, "a child finished", NOW + 1)
            .await
            .unwrap()
    );
    assert!(row(&t, id).await.wake_pending);

    let park = checkpoint(id, claimed[0].version, "second", Status::Waiting);
    assert!(
        rows::apply_checkpoints(&t.db, "a", NOW + 1, &[park])
            .await
            .unwrap()
            .contains(&id)
    );
    let woken = row(&t, id).await;
    assert_eq!(
        (woken.status.as_str(), woken.run_at_ms, woken.wake_pending),
        ("running", Some(NOW + 1), false),
        "the wait became a run now"
    );
}

async fn queries_filter_and_list_children(backend: Backend) {
    let t = TestDb::new(backend).await;
    let parent = create(
        &t,
        &NewWorkflow {
            payer: Some("0xpayer".into()),
            ..workflow("first", false)
        },
    )
    .await;
    let child = |kind: &str| NewWorkflow {
        kind: kind.into(),
        parent_id: Some(parent),
        ..workflow("held", true)
    };
    let mint = create(&t, &child("mint")).await;
    let deployment = create(&t, &child("deployment")).await;

    assert_eq!(
        rows::children(&t.db, parent).await.unwrap(),
        [
            (mint, "mint".to_owned()),
            (deployment, "deployment".to_owned())
        ]
    );
    assert!(rows::find(&t.db, Uuid::now_v7()).await.unwrap().is_none());
    let ids = |filter: ListFilter| {
        let db = t.db.clone();
        async move {
            rows::list(
                &db,
                &ListFilter {
                    limit: 10,
                    ..filter
                },
            )
            .await
            .unwrap()
            .into_iter()
            .map(|w| w.id)
            .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        ids(ListFilter::default()).await,
        [deployment, mint, parent],
        "newest first"
    );
    assert_eq!(
        ids(ListFilter {
            kind: Some("mint".into()),
            ..Default::default()
        })
        .await,
        [mint]
    );
    assert_eq!(
        ids(ListFilter {
            status: Some(Status::Waiting),
            ..Default::default()
        })
        .await,
        [deployment, mint]
    );
    assert_eq!(
        ids(ListFilter {
            state: Some("first".into()),
            ..Default::default()
        })
        .await,
        [parent]
    );
    assert_eq!(
        ids(ListFilter {
            payer: Some("0xpayer".into()),
            ..Default::default()
        })
        .await,
        [parent]
    );
    assert_eq!(
        ids(ListFilter {
            before_id: Some(deployment),
            ..Default::default()
        })
        .await,
        [mint, parent]
    );
    let page = ListFilter {
        limit: 1,
        ..Default::default()
    };
    assert_eq!(rows::list(&t.db, &page).await.unwrap().len(), 1);
    assert!(
        ids(ListFilter {
            dead_letters: true,
            ..Default::default()
        })
        .await
        .is_empty()
    );
    assert_eq!(
        ids(ListFilter {
            unfinished: true,
            ..Default::default()
        })
        .await
        .len(),
        3
    );
}

async fn operator_retry_and_cancel_with_children(backend: Backend) {
    let t = TestDb::new(backend).await;
    let parent = create(&t, &workflow("first", false)).await;
    let kid = create(
        &t,
        &NewWorkflow {
            parent_id: Some(parent),
            ..workflow("awaiting_payment", true)
        },
    )
    .await;

    assert_eq!(
        rows::retry(&t.db, parent, &operator(), NOW + 1)
            .await
            .unwrap(),
        ActionOutcome::WrongStatus(Status::Running)
    );
    assert_eq!(
        rows::cancel(&t.db, Uuid::now_v7(), &operator(), NOW + 1)
            .await
            .unwrap(),
        ActionOutcome::NotFound
    );

    let ActionOutcome::Done(cancelled) = rows::cancel(&t.db, parent, &operator(), NOW + 1)
        .await
        .unwrap()
    else {
        panic!("a running workflow can be cancelled");
    };
    assert_eq!(
        (cancelled.status.as_str(), cancelled.version),
        ("cancelled", 1)
    );
    let kid_row = row(&t, kid).await;
    assert_eq!(
        (
            kid_row.state.as_str(),
            kid_row.status.as_str(),
            kid_row.version
        ),
        ("cancelled", "cancelled", 1)
    );
    assert_eq!(
        t.scalar_i64("SELECT count(*) FROM audit_log WHERE action = 'workflow.cancel'")
            .await,
        1
    );

    let ActionOutcome::Done(retried) = rows::retry(&t.db, parent, &operator(), NOW + 2)
        .await
        .unwrap()
    else {
        panic!("a cancelled workflow can be retried");
    };
    assert_eq!(
        (
            retried.status.as_str(),
            retried.attempt,
            retried.finished_at_ms
        ),
        ("running", 0, None)
    );
    let kid_row = row(&t, kid).await;
    assert_eq!(
        (
            kid_row.state.as_str(),
            kid_row.status.as_str(),
            kid_row.version
        ),
        ("awaiting_payment", "waiting", 2),
        "the child is back where its parent's end found it"
    );
    assert_eq!(
        history(&t, kid).await,
        [
            ev("created", None, "awaiting_payment", "waiting"),
            ev(
                "parent_ended",
                Some("awaiting_payment"),
                "cancelled",
                "cancelled"
            ),
            ev(
                "parent_retried",
                Some("cancelled"),
                "awaiting_payment",
                "waiting"
            ),
        ]
    );
    assert_eq!(
        history(&t, parent)
            .await
            .into_iter()
            .map(|e| e.0)
            .collect::<Vec<_>>(),
        ["created", "cancelled", "retried"]
    );
}

/// A client on a fixed clock (the process's one, which a test sets): a cancel and a retry
/// stamp the row, its child, its history and the audit log with exactly that clock's times.
async fn operator_actions_are_stamped_by_the_clock_they_are_given(backend: Backend) {
    let t = TestDb::new(backend).await;
    let parent = create(&t, &workflow("first", false)).await;
    let kid = create(
        &t,
        &NewWorkflow {
            parent_id: Some(parent),
            ..workflow("awaiting_payment", true)
        },
    )
    .await;
    let clock = Clock::fixed(NOW + 10);
    let client = Client::with_clock(t.db.clone(), Waker::default(), clock.clone());

    let ActionOutcome::Done(cancelled) = client.cancel(parent, &operator()).await.unwrap() else {
        panic!("a running workflow can be cancelled");
    };
    assert_eq!(
        (cancelled.finished_at_ms, cancelled.updated_at_ms),
        (Some(NOW + 10), NOW + 10)
    );
    let kid_row = row(&t, kid).await;
    assert_eq!(
        (kid_row.finished_at_ms, kid_row.updated_at_ms),
        (Some(NOW + 10), NOW + 10),
        "the child is cancelled at its parent's time"
    );

    clock.set(NOW + 20);
    let ActionOutcome::Done(retried) = client.retry(parent, &operator()).await.unwrap() else {
        panic!("a cancelled workflow can be retried");
    };
    assert_eq!(
        (
            retried.run_at_ms,
            retried.updated_at_ms,
            retried.finished_at_ms
        ),
        (Some(NOW + 20), NOW + 20, None)
    );
    let times = |events: Vec<mintflow::store::entity::workflow_event::Model>| {
        events
            .into_iter()
            .map(|e| (e.event, e.at_ms))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        times(events::history(&t.db, parent).await.unwrap()),
        [
            ("created".to_owned(), NOW),
            ("cancelled".to_owned(), NOW + 10),
            ("retried".to_owned(), NOW + 20),
        ]
    );
    let audited: Vec<(String, i64)> = audit::list(&t.db, None, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|a| (a.action, a.at_ms))
        .collect();
    assert_eq!(
        audited,
        [
            ("workflow.retry".to_owned(), NOW + 20),
            ("workflow.cancel".to_owned(), NOW + 10),
        ],
        "newest first"
    );
}

async fn wake_makes_a_parked_workflow_due(backend: Backend) {
    let t = TestDb::new(backend).await;
    let parked = create(&t, &workflow("first", true)).await;
    let txn = store::begin_write(&t.db).await.unwrap();
    assert!(rows::wake(&txn, parked, "test", NOW + 1).await.unwrap());
    rows::notify_wake(&txn).await.unwrap();
    txn.commit().await.unwrap();
    let woken = row(&t, parked).await;
    assert_eq!(
        (woken.status.as_str(), woken.wake_pending),
        ("running", false)
    );
    assert!(woken.run_at_ms.is_some());
    assert_eq!(
        history(&t, parked).await[1],
        ev("woken", Some("first"), "first", "running")
    );

    let ActionOutcome::Done(_) = rows::cancel(&t.db, parked, &operator(), NOW + 1)
        .await
        .unwrap()
    else {
        panic!("cancel");
    };
    assert!(
        !rows::wake(&t.db, parked, "test", NOW + 1).await.unwrap(),
        "a finished workflow stays finished"
    );
}

async fn retention_deletes_only_old_finished_rows(backend: Backend) {
    let t = TestDb::new(backend).await;
    let finish = |status: Status| {
        let db = t.db.clone();
        async move {
            let wf = workflow("first", false);
            let id = match rows::insert_workflow(&db, &wf, NOW).await.unwrap() {
                Inserted::Created(id) => id,
                other => panic!("{other:?}"),
            };
            let claimed = rows::claim_due(&db, "a", &["test"], 1, NOW, 1_000)
                .await
                .unwrap();
            assert_eq!(claimed[0].id, id);
            rows::apply_checkpoints(
                &db,
                "a",
                NOW,
                &[checkpoint(id, claimed[0].version, "end", status)],
            )
            .await
            .unwrap();
            id
        }
    };
    let completed = finish(Status::Completed).await;
    let failed = finish(Status::Failed).await;
    let kept_kind = create(
        &t,
        &NewWorkflow {
            kind: "kept".into(),
            ..workflow("first", true)
        },
    )
    .await;
    let running = create(&t, &workflow("first", true)).await;

    assert_eq!(
        rows::delete_finished_before(&t.db, NOW, &["kept"])
            .await
            .unwrap(),
        0,
        "not older than the bound"
    );
    assert_eq!(
        rows::delete_finished_before(&t.db, NOW + 1, &["kept"])
            .await
            .unwrap(),
        1
    );
    assert!(rows::find(&t.db, completed).await.unwrap().is_none());
    assert!(
        events::history(&t.db, completed).await.unwrap().is_empty(),
        "its history goes with it"
    );
    for stays in [failed, kept_kind, running] {
        assert!(rows::find(&t.db, stays).await.unwrap().is_some());
    }
}

async fn moves_are_guarded_bump_the_version_and_write_history(backend: Backend) {
    let t = TestDb::new(backend).await;
    let a = create(&t, &workflow("pending", true)).await;
    let b = create(&t, &workflow("pending", true)).await;
    let elsewhere = create(&t, &workflow("sent", true)).await;
    let due = create(&t, &workflow("pending", false)).await;
    let ids = [a, b, elsewhere, due];
    let batched = Move {
        ids: &ids,
        from_states: &["pending"],
        from_statuses: &[Status::Waiting],
        to_state: "processing",
        to_status: Status::Waiting,
        event: "batched",
        patch: json!({ "batch_id": "b1" }),
        tx_hash: None,
        error: None,
        detail: Some(json!({ "size": 2 })),
        worker: Some("w"),
        run_now: false,
    };
    let txn = store::begin_write(&t.db).await.unwrap();
    let mut moved = move_parked(&txn, &batched, NOW + 1).await.unwrap();
    txn.commit().await.unwrap();
    moved.sort();
    assert_eq!(
        moved,
        [a, b],
        "only rows in the expected state and status move"
    );
    let a_row = row(&t, a).await;
    assert_eq!(
        (
            a_row.state.as_str(),
            a_row.status.as_str(),
            a_row.version,
            a_row.data.clone(),
            a_row.updated_at_ms
        ),
        (
            "processing",
            "waiting",
            1,
            json!({ "n": 1, "batch_id": "b1" }),
            NOW + 1
        )
    );
    assert_eq!(row(&t, elsewhere).await.version, 0);
    let events = events::history(&t.db, a).await.unwrap();
    let last = events.last().unwrap();
    assert_eq!(
        (
            last.event.as_str(),
            last.from_state.as_deref(),
            last.worker.as_deref(),
            last.detail.clone(),
            last.at_ms
        ),
        (
            "batched",
            Some("pending"),
            Some("w"),
            Some(json!({ "size": 2 })),
            NOW + 1
        )
    );

    let failed = Move {
        ids: &ids[..1],
        from_states: &["processing"],
        to_state: "failed",
        to_status: Status::Failed,
        event: "failed",
        patch: json!({}),
        tx_hash: Some("0xabc"),
        error: Some("reverted"),
        ..batched.clone()
    };
    assert_eq!(move_parked(&t.db, &failed, NOW + 2).await.unwrap(), [a]);
    let a_row = row(&t, a).await;
    assert_eq!(
        (
            a_row.status.as_str(),
            a_row.version,
            a_row.finished_at_ms,
            a_row.tx_hash.as_deref(),
            a_row.last_error.as_deref()
        ),
        ("failed", 2, Some(NOW + 2), Some("0xabc"), Some("reverted"))
    );
    let last = events::history(&t.db, a).await.unwrap().pop().unwrap();
    assert_eq!(
        last.detail,
        Some(json!({ "size": 2, "error": "reverted" })),
        "the error is in the history"
    );
    assert!(
        move_parked(&t.db, &failed, NOW + 3)
            .await
            .unwrap()
            .is_empty(),
        "a second move finds nothing"
    );

    let released = Move {
        ids: &ids[1..2],
        from_states: &["processing"],
        to_state: "pending",
        to_status: Status::Running,
        event: "paid",
        patch: json!({}),
        run_now: true,
        ..batched.clone()
    };
    assert_eq!(move_parked(&t.db, &released, NOW + 4).await.unwrap(), [b]);
    let b_row = row(&t, b).await;
    assert_eq!(
        (b_row.status.as_str(), b_row.run_at_ms, b_row.version),
        ("running", Some(NOW + 4), 2)
    );
    let claimed = rows::claim_due(&t.db, "a", &["test"], 10, NOW + 4, 1_000)
        .await
        .unwrap();
    let b_claim = claimed
        .iter()
        .find(|c| c.id == b)
        .expect("the released row is due");
    assert_eq!(
        b_claim.version, 3,
        "a claim after a move bumps the version again"
    );
    assert!(
        move_parked(
            &t.db,
            &Move {
                ids: &[],
                ..batched
            },
            NOW
        )
        .await
        .unwrap()
        .is_empty()
    );
}

/// The batcher's reads at every batch (its token's open batches, the mints batches carry, the
/// recent batches' latency) read partial indexes that hold only those rows: with every mint
/// the token ever had in the table they scanned them all, so each batch cost more than the last
/// and intake slowed down as the table grew. PostgreSQL: the indexes each read used in this
/// transaction, from its own statistics.
#[tokio::test]
async fn batch_reads_use_indexes_of_their_rows_only() {
    use sea_orm::{ConnectionTrait, TransactionTrait};
    let t = TestDb::new(Backend::Postgres).await;
    let token = "0x5fbdb2315678afecb367f032d93f642f64180aa3";
    // 5,000 confirmed mints and 20 confirmed batches (each took 1 s), then what is under way:
    // an open batch, 3 mints in it (one cancelled, still carried), 2 pending mints.
    let insert = |kind: &str, state: &str, status: &str, finished: &str, n: i64| {
        format!(
            "INSERT INTO workflows (id, kind, status, state, data, schema_version, \
             idempotency_key, token, created_at_ms, updated_at_ms, finished_at_ms) \
             SELECT gen_random_uuid(), '{kind}', '{status}', '{state}', '{{}}', 1, \
             '{kind}-{state}-{status}-' || g, '{token}', g, g, {finished} \
             FROM generate_series(1, {n}) g"
        )
    };
    for sql in [
        insert("mint", "confirmed", "completed", "g + 1000", 5000),
        insert("mint_batch", "confirmed", "completed", "g + 1000", 20),
        insert("mint_batch", "sent", "waiting", "NULL", 1),
        insert("mint", "sent", "waiting", "NULL", 2),
        insert("mint", "sent", "cancelled", "g", 1),
        insert("mint", "pending", "waiting", "NULL", 2),
        "ANALYZE workflows".to_owned(),
    ] {
        t.db.execute_unprepared(&sql).await.unwrap();
    }
    let txn = t.db.begin().await.unwrap();
    let scans =
        async |relation: &str| common::pg_stat(&txn, "pg_stat_get_xact_numscans", relation).await;

    assert_eq!(
        store::mints::open_batches(&txn, token).await.unwrap().len(),
        1
    );
    assert_eq!(
        store::mints::count_in_batches(&txn, token).await.unwrap(),
        3
    );
    assert_eq!(
        store::mints::recent_batch_latency_ms(&txn, 20)
            .await
            .unwrap(),
        Some(1000.0)
    );
    // One scan each, of the live workflows or of the batches (the planner's choice for the
    // open batches), of the mints in batches.
    let mut partial = 0;
    for index in [
        "idx_workflows_live",
        "idx_workflows_batched_mints",
        "idx_workflows_batches",
    ] {
        partial += scans(index).await;
    }
    assert_eq!(partial, 3);
    assert_eq!(
        scans("idx_workflows_batched_mints").await,
        1,
        "mints in batches"
    );
    assert_eq!(
        scans("idx_workflows_token").await,
        0,
        "every workflow of the token"
    );
    assert_eq!(
        scans("workflows_pkey").await,
        0,
        "every workflow, newest first"
    );
    assert_eq!(scans("workflows").await, 0, "sequential scans");
    txn.rollback().await.unwrap();
}

/// Every history event is copied to the outbox with its workflow's kind by a statement-level
/// trigger. It joined the inserted events to `workflows`; PL/pgSQL keeps the plan it made at a
/// connection's first insert, when the table was small, and hashing the whole table was cheap
/// then: from there on every group of new mints cost a scan of every workflow ever made, and
/// intake fell by three quarters over 100,000 requests. Each event's workflow is now looked up
/// by its key, whatever the table's size when the plan was made.
#[tokio::test]
async fn the_outbox_trigger_reads_workflows_by_key() {
    use sea_orm::{ConnectionTrait, DbBackend, Statement, TransactionTrait};
    let t = TestDb::new(Backend::Postgres).await;
    // One connection throughout (a transaction), as a pooled connection of the service is.
    let txn = t.db.begin().await.unwrap();
    let exec = async |sql: &str| {
        txn.execute_unprepared(sql).await.unwrap();
    };
    let count = async |sql: &str| {
        txn.query_one_raw(Statement::from_string(DbBackend::Postgres, sql.to_owned()))
            .await
            .unwrap()
            .unwrap()
            .try_get_by_index::<i64>(0)
            .unwrap()
    };
    let workflows = |from: i64, to: i64| {
        format!(
            "INSERT INTO workflows (id, kind, status, state, data, schema_version, \
             idempotency_key, created_at_ms, updated_at_ms, finished_at_ms) \
             SELECT gen_random_uuid(), 'mint', 'completed', 'confirmed', '{{}}', 1, 'mint-' || g, \
             g, g, g FROM generate_series({from}, {to}) g"
        )
    };
    let history = async |ids: Vec<Uuid>, at_ms: i64| {
        let new_events: Vec<events::NewEvent> = ids
            .iter()
            .map(|id| events::NewEvent {
                workflow_id: *id,
                event: "retried".into(),
                from_state: Some("confirmed".into()),
                to_state: "confirmed".into(),
                status: "completed".into(),
                attempt: 0,
                worker: None,
                detail: None,
                at_ms,
            })
            .collect();
        events::insert(&txn, &new_events).await.unwrap();
    };
    let ids = async |limit: i64| -> Vec<Uuid> {
        let sql = format!("SELECT id FROM workflows ORDER BY idempotency_key LIMIT {limit}");
        txn.query_all_raw(Statement::from_string(DbBackend::Postgres, sql))
            .await
            .unwrap()
            .iter()
            .map(|r| r.try_get("", "id").unwrap())
            .collect()
    };
    // The connection's first events, on an almost empty table.
    exec(&workflows(1, 3)).await;
    exec("ANALYZE workflows").await;
    history(ids(3).await, 1).await;
    // Then the table grows, as it does between two runs of autovacuum's ANALYZE.
    exec(&workflows(4, 20_000)).await;
    let fifty = ids(50).await;
    let scans_before = count("SELECT pg_stat_get_xact_numscans('workflows'::regclass)").await;
    history(fifty, 2).await;
    assert_eq!(
        count("SELECT count(*) FROM outbox WHERE kind = 'mint' AND at_ms = 2").await,
        50,
        "each event in the outbox with its workflow's kind"
    );
    assert_eq!(
        count("SELECT pg_stat_get_xact_numscans('workflows'::regclass)").await - scans_before,
        0,
        "sequential scans of workflows"
    );
    txn.rollback().await.unwrap();
}
