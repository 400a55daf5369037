//! The durable engine on PostgreSQL and SQLite: crash recovery, fencing, idempotency,
//! retries, operator actions, timers, wake-ups and parking.
#[macro_use]
mod common;

use std::time::Duration;

use common::{Backend, TestDb, engine, eventually, fast_settings};
use mintflow::engine::{
    Client, Engine, EngineConfig, Registry, StartError, StartOptions, Started, StarterError, Waker,
};
use mintflow::store::{
    self,
    time::Clock,
    workflows::{self as rows, ActionOutcome, Actor, Checkpoint, Status},
};
use mintflow::workflows::probe::{Hang, HangPoint, Probe, ProbeData, ProbeState};
use sea_orm::ConnectionTrait;
use serde_json::json;
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(30);

on_both_backends!(
    crash_after_effect_before_checkpoint,
    crash_after_checkpoint,
    stale_worker_is_fenced,
    idempotency_keys,
    transient_errors_retry_then_succeed,
    transient_errors_exhaust_attempts,
    permanent_error_then_operator_retry,
    operator_cancel,
    waiting_workflow_runs_when_woken,
    timers_and_priority,
    unknown_schema_version_is_parked,
    graceful_shutdown_releases_leases,
    wake_during_a_step_is_not_lost,
);

fn registry() -> Registry {
    Registry::new().register(Probe)
}

async fn setup(backend: Backend, lease_seconds: i64) -> (TestDb, mintflow::config::SettingsHandle) {
    let t = TestDb::new(backend).await;
    Probe::create_tables(&t.db).await.unwrap();
    let settings = fast_settings(&t.db, lease_seconds).await;
    (t, settings)
}

/// A recorded probe that hangs forever at `point` of `state` when `worker` runs it.
fn hanging(worker: &str, state: ProbeState, point: HangPoint) -> ProbeData {
    ProbeData {
        hang: Some(Hang {
            worker: worker.into(),
            state,
            point,
        }),
        ..recorded()
    }
}

/// Starts a probe in its first state and returns its id.
async fn start_probe(
    client: &mintflow::engine::Client,
    data: &ProbeData,
    opts: StartOptions,
) -> Uuid {
    client
        .start::<Probe>(ProbeState::First, data, opts)
        .await
        .unwrap()
        .id()
}

fn recorded() -> ProbeData {
    ProbeData {
        record: true,
        ..Default::default()
    }
}

async fn status_of(t: &TestDb, id: Uuid) -> (Status, String) {
    let row = rows::find(&t.db, id)
        .await
        .unwrap()
        .expect("workflow exists");
    (Status::parse(&row.status).unwrap(), row.state)
}

async fn wait_status(t: &TestDb, id: Uuid, want: Status) {
    eventually(WAIT, &format!("{id} to be {want:?}"), || async {
        (status_of(t, id).await.0 == want).then_some(())
    })
    .await
}

async fn count(t: &TestDb, sql: &str) -> i64 {
    t.scalar_i64(sql).await
}

async fn history_events(t: &TestDb, id: Uuid) -> Vec<String> {
    store::events::history(&t.db, id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event)
        .collect()
}

fn who() -> Actor {
    Actor {
        actor: "alice".into(),
        via: "test".into(),
        reason: Some("because".into()),
    }
}

/// A worker dies after a step's external effect and before its checkpoint: a second engine
/// takes the expired lease over and finishes. Effects inside the checkpoint transaction happen
/// exactly once; the external effect of the interrupted step happened twice (at least once).
async fn crash_after_effect_before_checkpoint(backend: Backend) {
    let (t, settings) = setup(backend, 2).await;
    let (first, client) = engine(&t.db, registry(), &settings, "w1");
    let data = hanging("w1", ProbeState::Second, HangPoint::AfterEffect);
    let id = start_probe(&client, &data, StartOptions::default()).await;
    let runs_of_step2 =
        format!("SELECT count(*) FROM probe_runs WHERE workflow_id = '{id}' AND step = 2");
    eventually(WAIT, "w1 to run step 2's external effect", || async {
        (count(&t, &runs_of_step2).await == 1).then_some(())
    })
    .await;
    first.abort().await;

    let (second, _) = engine(&t.reconnect().await, registry(), &settings, "w2");
    wait_status(&t, id, Status::Completed).await;
    second.shutdown().await;

    for step in 1..=3 {
        let effects = count(
            &t,
            &format!(
                "SELECT count(*) FROM probe_effects WHERE workflow_id = '{id}' AND step = {step}"
            ),
        )
        .await;
        assert_eq!(
            effects, 1,
            "transactional effect of step {step} applied exactly once"
        );
    }
    assert_eq!(
        count(&t, &runs_of_step2).await,
        2,
        "the interrupted step ran again after takeover"
    );
    let history = store::events::history(&t.db, id).await.unwrap();
    let takeover = history
        .iter()
        .find(|e| e.event == "takeover")
        .expect("history shows the takeover");
    assert_eq!(takeover.detail.as_ref().unwrap()["previous_owner"], "w1");
    assert_eq!(takeover.worker.as_deref(), Some("w2"));
    let row = rows::find(&t.db, id).await.unwrap().unwrap();
    assert_eq!(
        row.data["steps_done"], 3,
        "checkpoint data survived the crash"
    );
    assert_eq!(row.lease_owner, None);
}

/// A worker dies right after a checkpoint committed: nothing of that step runs again.
async fn crash_after_checkpoint(backend: Backend) {
    let (t, settings) = setup(backend, 2).await;
    let (first, client) = engine(&t.db, registry(), &settings, "w1");
    let data = hanging("w1", ProbeState::Third, HangPoint::Start);
    let id = start_probe(&client, &data, StartOptions::default()).await;
    eventually(WAIT, "step 2's checkpoint", || async {
        (status_of(&t, id).await.1 == "third").then_some(())
    })
    .await;
    first.abort().await;

    let (second, _) = engine(&t.reconnect().await, registry(), &settings, "w2");
    wait_status(&t, id, Status::Completed).await;
    second.shutdown().await;
    for step in 1..=3 {
        let sql = format!(
            "SELECT count(*) FROM probe_effects WHERE workflow_id = '{id}' AND step = {step}"
        );
        assert_eq!(count(&t, &sql).await, 1, "step {step} effect once");
        let sql =
            format!("SELECT count(*) FROM probe_runs WHERE workflow_id = '{id}' AND step = {step}");
        assert_eq!(count(&t, &sql).await, 1, "step {step} ran once");
    }
    let events = history_events(&t, id).await;
    assert_eq!(events, ["created", "step", "step", "takeover", "completed"]);
}

fn checkpoint(id: Uuid, version: i64, state: &str) -> Checkpoint {
    Checkpoint {
        id,
        version,
        status: Status::Running,
        state: state.into(),
        data: json!({ "written_by_version": version }),
        schema_version: 1,
        run_at_ms: Some(0),
        attempt: 0,
        keep_lease: false,
        last_error: None,
        event: "step".into(),
        from_state: "first".into(),
        detail: None,
    }
}

/// A worker whose lease was taken over cannot write: its checkpoint changes nothing, and it does
/// not hold back a valid checkpoint committed in the same group.
async fn stale_worker_is_fenced(backend: Backend) {
    let (t, _) = setup(backend, 2).await;
    let client = mintflow::engine::Client::new(t.db.clone(), Default::default());
    let urgent = start_probe(
        &client,
        &ProbeData::default(),
        StartOptions {
            priority: 5,
            ..Default::default()
        },
    )
    .await;
    let other = start_probe(&client, &ProbeData::default(), StartOptions::default()).await;
    let now = store::now_ms();
    let a = rows::claim_due(&t.db, "a", &["probe"], 10, now, 1000)
        .await
        .unwrap();
    assert_eq!(a.len(), 2);
    assert!(a.iter().all(|c| c.previous_owner.is_none()));
    let a_urgent = a.iter().find(|c| c.id == urgent).unwrap().clone();
    let a_other = a.iter().find(|c| c.id == other).unwrap().clone();

    // Before the lease expires nobody else can claim.
    assert!(
        rows::claim_due(&t.db, "b", &["probe"], 10, now + 500, 1000)
            .await
            .unwrap()
            .is_empty()
    );
    // After expiry, b takes over the higher-priority row only (limit 1).
    let b = rows::claim_due(&t.db, "b", &["probe"], 1, now + 1500, 1000)
        .await
        .unwrap();
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].id, urgent);
    assert_eq!(b[0].previous_owner.as_deref(), Some("a"));
    assert_eq!(
        b[0].version,
        a_urgent.version + 1,
        "each claim bumps the fencing version"
    );

    let events_before = count(&t, "SELECT count(*) FROM workflow_events").await;
    let txn = store::begin_write(&t.db).await.unwrap();
    let won = rows::apply_checkpoints(
        &txn,
        "a",
        now + 1600,
        &[
            checkpoint(urgent, a_urgent.version, "second"),
            checkpoint(other, a_other.version, "second"),
        ],
    )
    .await
    .unwrap();
    txn.commit().await.unwrap();
    assert_eq!(
        won.into_iter().collect::<Vec<_>>(),
        vec![other],
        "only the unfenced checkpoint is written"
    );
    let row = rows::find(&t.db, urgent).await.unwrap().unwrap();
    assert_eq!(
        (row.state.as_str(), row.version, row.lease_owner.as_deref()),
        ("first", b[0].version, Some("b"))
    );
    assert_eq!(
        row.data,
        json!({ "record": false, "transient_failures": 0, "hang": null, "steps_done": 0 })
    );
    assert_eq!(
        rows::find(&t.db, other).await.unwrap().unwrap().state,
        "second"
    );
    assert_eq!(
        count(&t, "SELECT count(*) FROM workflow_events").await,
        events_before + 1
    );

    // The same stale version presented by the new owner's name fails too: the version is the fence.
    let won = rows::apply_checkpoints(
        &t.db,
        "b",
        now + 1700,
        &[checkpoint(urgent, a_urgent.version, "third")],
    )
    .await
    .unwrap();
    assert!(won.is_empty());
    let won = rows::apply_checkpoints(
        &t.db,
        "b",
        now + 1700,
        &[checkpoint(urgent, b[0].version, "third")],
    )
    .await
    .unwrap();
    assert!(won.contains(&urgent));
}

async fn idempotency_keys(backend: Backend) {
    let (t, _) = setup(backend, 2).await;
    let client = mintflow::engine::Client::new(t.db.clone(), Default::default());
    let opts = |body: &str| StartOptions {
        idempotency_key: Some("order-42".into()),
        request_body: Some(body.as_bytes().to_vec()),
        ..Default::default()
    };
    let first = client
        .start::<Probe>(ProbeState::First, &ProbeData::default(), opts("{\"n\":1}"))
        .await
        .unwrap();
    let Started::Created(id) = first else {
        panic!("first start creates")
    };
    let again = client
        .start::<Probe>(ProbeState::First, &ProbeData::default(), opts("{\"n\":1}"))
        .await
        .unwrap();
    assert_eq!(again, Started::Existing(id));
    match client
        .start::<Probe>(ProbeState::First, &ProbeData::default(), opts("{\"n\":2}"))
        .await
    {
        Err(StarterError::Start(StartError::IdempotencyConflict { existing })) => {
            assert_eq!(existing, id)
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    // Concurrent identical requests: one workflow, every caller gets it.
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            let opts = StartOptions {
                idempotency_key: Some("burst".into()),
                request_body: Some(b"same".to_vec()),
                ..Default::default()
            };
            client
                .start::<Probe>(ProbeState::First, &ProbeData::default(), opts)
                .await
                .unwrap()
                .id()
        }));
    }
    let mut ids = Vec::new();
    for task in tasks {
        ids.push(task.await.unwrap());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "all concurrent callers got the same workflow");
    assert_eq!(count(&t, "SELECT count(*) FROM workflows").await, 2);
}

async fn transient_errors_retry_then_succeed(backend: Backend) {
    let (t, settings) = setup(backend, 2).await;
    let (engine, client) = engine(&t.db, registry(), &settings, "w1");
    let data = ProbeData {
        transient_failures: 3,
        ..recorded()
    };
    let id = start_probe(&client, &data, StartOptions::default()).await;
    wait_status(&t, id, Status::Completed).await;
    engine.shutdown().await;
    let history = store::events::history(&t.db, id).await.unwrap();
    let retries: Vec<_> = history
        .iter()
        .filter(|e| e.event == "retry_scheduled")
        .collect();
    assert_eq!(retries.len(), 3);
    assert_eq!(
        retries.iter().map(|e| e.attempt).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert!(
        retries[0].detail.as_ref().unwrap()["error"]
            .as_str()
            .unwrap()
            .contains("injected transient failure 1 of 3")
    );
    // Each retry waited: the scheduled delays are recorded and the attempts are spaced.
    for pair in retries.windows(2) {
        assert!(
            pair[1].at_ms
                >= pair[0].at_ms
                    + pair[0].detail.as_ref().unwrap()["retry_in_ms"]
                        .as_i64()
                        .unwrap()
        );
    }
    let effects = count(
        &t,
        &format!("SELECT count(*) FROM probe_effects WHERE workflow_id = '{id}'"),
    )
    .await;
    assert_eq!(effects, 3);
}

async fn transient_errors_exhaust_attempts(backend: Backend) {
    let (t, _) = setup(backend, 2).await;
    store::settings::put(
        &t.db,
        "retry_max_attempts",
        json!(2),
        "test",
        store::now_ms(),
    )
    .await
    .unwrap();
    let settings = mintflow::config::SettingsHandle::load(&t.db).await.unwrap();
    let (engine, client) = engine(&t.db, registry(), &settings, "w1");
    let data = ProbeData {
        transient_failures: 5,
        ..recorded()
    };
    let id = start_probe(&client, &data, StartOptions::default()).await;
    wait_status(&t, id, Status::Failed).await;
    engine.shutdown().await;
    let row = rows::find(&t.db, id).await.unwrap().unwrap();
    assert!(
        row.last_error
            .unwrap()
            .starts_with("gave up after 2 attempts"),
        "reason kept"
    );
    assert_eq!(row.state, "first");
    assert_eq!(
        history_events(&t, id).await,
        ["created", "retry_scheduled", "failed"]
    );
}

async fn permanent_error_then_operator_retry(backend: Backend) {
    let (t, settings) = setup(backend, 2).await;
    let (engine, client) = engine(&t.db, registry(), &settings, "w1");
    let id = start_probe(
        &client,
        &recorded(),
        StartOptions {
            waiting: true,
            ..Default::default()
        },
    )
    .await;
    t.db.execute_unprepared(&format!(
        "INSERT INTO probe_failpoints VALUES ('{id}', 2, 'recipient rejected')"
    ))
    .await
    .unwrap();
    assert!(client.wake(id, "test").await.unwrap());
    wait_status(&t, id, Status::Failed).await;
    let row = rows::find(&t.db, id).await.unwrap().unwrap();
    assert_eq!(
        (row.state.as_str(), row.last_error.as_deref()),
        ("second", Some("recipient rejected"))
    );
    let history = store::events::history(&t.db, id).await.unwrap();
    let failed = history.last().unwrap();
    assert_eq!(
        (
            failed.event.as_str(),
            failed.detail.as_ref().unwrap()["error"].as_str()
        ),
        ("failed", Some("recipient rejected"))
    );

    // Retrying only applies to failed workflows; cancelling a failed one is refused.
    assert!(matches!(
        client.cancel(id, &who()).await.unwrap(),
        ActionOutcome::WrongStatus(Status::Failed)
    ));
    assert_eq!(
        client.retry(Uuid::now_v7(), &who()).await.unwrap(),
        ActionOutcome::NotFound
    );

    t.db.execute_unprepared("DELETE FROM probe_failpoints")
        .await
        .unwrap();
    let ActionOutcome::Done(retried) = client.retry(id, &who()).await.unwrap() else {
        panic!("retry applies")
    };
    assert_eq!(retried.status, "running");
    wait_status(&t, id, Status::Completed).await;
    engine.shutdown().await;
    let history = store::events::history(&t.db, id).await.unwrap();
    let retried = history
        .iter()
        .find(|e| e.event == "retried")
        .expect("retry recorded");
    assert_eq!(retried.detail.as_ref().unwrap()["actor"], "alice");
    assert_eq!(retried.detail.as_ref().unwrap()["reason"], "because");
    assert!(matches!(
        client.retry(id, &who()).await.unwrap(),
        ActionOutcome::WrongStatus(Status::Completed)
    ));
    let effects = count(
        &t,
        &format!("SELECT count(*) FROM probe_effects WHERE workflow_id = '{id}'"),
    )
    .await;
    assert_eq!(
        effects, 3,
        "the failed step wrote nothing; after retry every step once"
    );
}

async fn operator_cancel(backend: Backend) {
    let (t, settings) = setup(backend, 2).await;
    let (engine, client) = engine(&t.db, registry(), &settings, "w1");
    // Due in a minute: cancelled before it ever runs.
    let later = start_probe(
        &client,
        &recorded(),
        StartOptions {
            run_at_ms: Some(store::now_ms() + 60_000),
            ..Default::default()
        },
    )
    .await;
    let ActionOutcome::Done(row) = client.cancel(later, &who()).await.unwrap() else {
        panic!("cancel applies")
    };
    assert_eq!((row.status.as_str(), row.run_at_ms), ("cancelled", None));
    // Running right now (stuck in its step on this worker): cancelling fences the step out.
    let stuck = hanging("w1", ProbeState::Second, HangPoint::Start);
    let running = start_probe(&client, &stuck, StartOptions::default()).await;
    eventually(WAIT, "the second step to start", || async {
        (status_of(&t, running).await.1 == "second").then_some(())
    })
    .await;
    assert!(matches!(
        client.cancel(running, &who()).await.unwrap(),
        ActionOutcome::Done(_)
    ));
    assert!(matches!(
        client.cancel(running, &who()).await.unwrap(),
        ActionOutcome::WrongStatus(Status::Cancelled)
    ));
    engine.abort().await;
    for id in [later, running] {
        let history = store::events::history(&t.db, id).await.unwrap();
        let cancelled = history.last().unwrap();
        assert_eq!(cancelled.event, "cancelled");
        assert_eq!(cancelled.detail.as_ref().unwrap()["actor"], "alice");
        assert_eq!(status_of(&t, id).await.0, Status::Cancelled);
    }
    assert_eq!(
        count(
            &t,
            &format!("SELECT count(*) FROM probe_runs WHERE workflow_id = '{later}'")
        )
        .await,
        0
    );
}

async fn waiting_workflow_runs_when_woken(backend: Backend) {
    let (t, settings) = setup(backend, 2).await;
    let (engine, client) = engine(&t.db, registry(), &settings, "w1");
    let id = start_probe(
        &client,
        &recorded(),
        StartOptions {
            waiting: true,
            ..Default::default()
        },
    )
    .await;
    // A workflow started after it is claimed and run to its end: claims have passed over the
    // waiting one, and nothing ran it.
    let later = start_probe(&client, &recorded(), StartOptions::default()).await;
    wait_status(&t, later, Status::Completed).await;
    assert_eq!(status_of(&t, id).await, (Status::Waiting, "first".into()));
    assert!(client.wake(id, "payment confirmed").await.unwrap());
    assert!(
        !client.wake(id, "again").await.unwrap() || status_of(&t, id).await.0 != Status::Waiting
    );
    wait_status(&t, id, Status::Completed).await;
    engine.shutdown().await;
    let history = store::events::history(&t.db, id).await.unwrap();
    let woken = history.iter().find(|e| e.event == "woken").unwrap();
    assert_eq!(
        woken.detail.as_ref().unwrap()["reason"],
        "payment confirmed"
    );
}

async fn timers_and_priority(backend: Backend) {
    let (t, settings) = setup(backend, 2).await;
    let client = mintflow::engine::Client::new(t.db.clone(), Default::default());
    let start = store::now_ms();
    let timer = start_probe(
        &client,
        &recorded(),
        StartOptions {
            run_at_ms: Some(start + 700),
            ..Default::default()
        },
    )
    .await;
    let low = start_probe(&client, &ProbeData::default(), StartOptions::default()).await;
    let high = start_probe(
        &client,
        &ProbeData::default(),
        StartOptions {
            priority: 10,
            ..Default::default()
        },
    )
    .await;
    let claimed = rows::claim_due(&t.db, "peek", &["probe"], 1, store::now_ms(), 1)
        .await
        .unwrap();
    assert_eq!(claimed[0].id, high, "higher priority is claimed first");
    let claimed = rows::claim_due(&t.db, "peek", &["probe"], 5, store::now_ms() + 2, 1)
        .await
        .unwrap();
    let mut ids: Vec<_> = claimed.iter().map(|c| c.id).collect();
    ids.sort();
    assert_eq!(
        ids,
        vec![low, high],
        "both due rows, and not the timer, which is not due yet"
    );

    let (engine, _) = engine(&t.db, registry(), &settings, "w1");
    wait_status(&t, timer, Status::Completed).await;
    engine.shutdown().await;
    let first_run = count(
        &t,
        &format!("SELECT min(started_us) FROM probe_runs WHERE workflow_id = '{timer}'"),
    )
    .await;
    assert!(
        first_run / 1000 >= start + 700,
        "the timer did not fire early"
    );
}

async fn unknown_schema_version_is_parked(backend: Backend) {
    let (t, settings) = setup(backend, 2).await;
    let client = mintflow::engine::Client::new(t.db.clone(), Default::default());
    let id = start_probe(&client, &recorded(), StartOptions::default()).await;
    t.db.execute_unprepared("UPDATE workflows SET schema_version = 99")
        .await
        .unwrap();
    let (engine, _) = engine(&t.db, registry(), &settings, "w1");
    wait_status(&t, id, Status::NeedsMigration).await;
    engine.shutdown().await;
    let row = rows::find(&t.db, id).await.unwrap().unwrap();
    assert!(
        row.last_error
            .unwrap()
            .contains("schema version 99 is newer")
    );
    assert_eq!(row.run_at_ms, None, "parked, never crash-looped");
    assert_eq!(
        row.schema_version, 99,
        "the stored version is kept for whoever migrates it"
    );
    assert_eq!(count(&t, "SELECT count(*) FROM probe_runs").await, 0);
    // An operator may give up on a parked workflow.
    let ActionOutcome::Done(cancelled) = client.cancel(id, &who()).await.unwrap() else {
        panic!("a parked workflow can be cancelled")
    };
    assert_eq!(cancelled.status, "cancelled");
}

/// On shutdown a step that does not finish within the grace period is abandoned and its lease
/// released, so another worker resumes it at once instead of after the lease expires.
async fn graceful_shutdown_releases_leases(backend: Backend) {
    let (t, settings) = setup(backend, 600).await;
    let waker = mintflow::engine::Waker::default();
    let config = mintflow::engine::EngineConfig {
        worker_id: "w1".into(),
        shutdown_grace: Duration::from_millis(300),
    };
    let first = mintflow::engine::Engine::start(
        t.db.clone(),
        registry(),
        settings.clone(),
        waker.clone(),
        config,
    );
    let client = mintflow::engine::Client::new(t.db.clone(), waker);
    let stuck = hanging("w1", ProbeState::Second, HangPoint::Start);
    let id = start_probe(&client, &stuck, StartOptions::default()).await;
    eventually(WAIT, "the hanging step", || async {
        (status_of(&t, id).await.1 == "second").then_some(())
    })
    .await;
    first.shutdown().await;
    assert_eq!(
        rows::find(&t.db, id).await.unwrap().unwrap().lease_owner,
        None
    );
    let (second, _) = engine(&t.db, registry(), &settings, "w2");
    // The lease is 10 minutes: finishing within the wait proves it was released.
    wait_status(&t, id, Status::Completed).await;
    second.shutdown().await;
}

/// Four engines (each with its own pool, as four processes would have) share one PostgreSQL
/// database and 2,000 workflows: each completes exactly once and no step ever runs twice at
/// the same time.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn four_engines_share_the_work_on_postgres() {
    let (t, settings) = setup(Backend::Postgres, 5).await;
    let mut engines = Vec::new();
    for n in 0..4 {
        let db = t.reconnect().await;
        engines.push(engine(&db, registry(), &settings, &format!("w{n}")).0);
    }
    let client = mintflow::engine::Client::new(t.db.clone(), Default::default());
    let mut starters = Vec::new();
    for chunk in 0..20 {
        let client = client.clone();
        starters.push(tokio::spawn(async move {
            for i in 0..100 {
                let opts = StartOptions {
                    idempotency_key: Some(format!("{chunk}-{i}")),
                    ..Default::default()
                };
                client
                    .start::<Probe>(ProbeState::First, &recorded(), opts)
                    .await
                    .unwrap();
            }
        }));
    }
    for s in starters {
        s.await.unwrap();
    }
    eventually(
        Duration::from_secs(180),
        "2,000 workflows to complete",
        || async {
            (count(
                &t,
                "SELECT count(*) FROM workflows WHERE status = 'completed'",
            )
            .await
                == 2000)
                .then_some(())
        },
    )
    .await;
    for e in engines {
        e.shutdown().await;
    }
    assert_eq!(count(&t, "SELECT count(*) FROM workflows").await, 2000);
    assert_eq!(
        count(
            &t,
            "SELECT count(*) FROM workflow_events WHERE event = 'completed'"
        )
        .await,
        2000,
        "each completed once"
    );
    assert_eq!(count(&t, "SELECT count(*) FROM probe_effects").await, 6000);
    assert_eq!(
        count(
            &t,
            "SELECT count(*) FROM (SELECT DISTINCT workflow_id, step FROM probe_effects) d"
        )
        .await,
        6000
    );
    assert_eq!(
        count(&t, "SELECT count(*) FROM probe_runs WHERE ended_us IS NULL").await,
        0
    );
    let overlapping = count(
        &t,
        "SELECT count(*) FROM probe_runs a JOIN probe_runs b
           ON a.workflow_id = b.workflow_id AND a.step = b.step AND a.id < b.id
          AND a.started_us < b.ended_us AND b.started_us < a.ended_us",
    )
    .await;
    assert_eq!(overlapping, 0, "no step ran concurrently with itself");
    let workers = count(&t, "SELECT count(DISTINCT worker) FROM probe_runs").await;
    assert!(
        workers >= 2,
        "the work was shared ({workers} workers ran steps)"
    );
}

/// A workflow created through a client that does not share the engine's in-process waker (an
/// API process) is announced through LISTEN/NOTIFY: a listener like the engine's is woken by it
/// (rather than by its idle poll, which a timing could not tell apart on a slow machine), and
/// the engine runs the workflow.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn notify_wakes_workers_in_other_processes() {
    let (t, settings) = setup(Backend::Postgres, 5).await;
    let (engine, _) = engine(&t.reconnect().await, registry(), &settings, "w1");
    // A listener of our own, forwarding NOTIFYs to a waker nothing else wakes.
    let heard = mintflow::engine::Waker::default();
    let listener = tokio::spawn(mintflow::engine::wake::listen_postgres(
        t.reconnect().await,
        heard.clone(),
    ));
    // The listener wakes once when it starts listening (work may predate it); then it is woken
    // only by a NOTIFY.
    tokio::time::timeout(Duration::from_secs(30), heard.woken())
        .await
        .expect("the listener started");
    let api = mintflow::engine::Client::new(t.db.clone(), Default::default());
    let id = api
        .start::<Probe>(
            ProbeState::First,
            &ProbeData::default(),
            StartOptions::default(),
        )
        .await
        .unwrap()
        .id();
    tokio::time::timeout(Duration::from_secs(30), heard.woken())
        .await
        .expect("the new workflow's NOTIFY reached a listener in another connection");
    wait_status(&t, id, Status::Completed).await;
    listener.abort();
    engine.shutdown().await;
}

/// Retention deletes old completed and cancelled workflows with their history (probes here;
/// financial records never, see tests/receipts.rs), and keeps failed ones for operators.
#[tokio::test]
async fn retention_keeps_failed_workflows() {
    for backend in [Backend::Postgres, Backend::Sqlite] {
        let (t, settings) = setup(backend, 5).await;
        let client = mintflow::engine::Client::new(t.db.clone(), Default::default());
        let mut ids = Vec::new();
        for _ in 0..3 {
            ids.push(
                start_probe(
                    &client,
                    &ProbeData::default(),
                    StartOptions {
                        waiting: true,
                        ..Default::default()
                    },
                )
                .await,
            );
        }
        let old = store::now_ms() - 31 * 86_400_000;
        for (id, status) in ids.iter().zip(["completed", "cancelled", "failed"]) {
            let sql = if t.is_pg() {
                format!(
                    "UPDATE workflows SET status = '{status}', finished_at_ms = {old} WHERE id = '{id}'"
                )
            } else {
                format!(
                    "UPDATE workflows SET status = '{status}', finished_at_ms = {old} WHERE id = unhex(replace('{id}', '-', ''))"
                )
            };
            t.db.execute_unprepared(&sql).await.unwrap();
        }
        let recent = start_probe(&client, &ProbeData::default(), StartOptions::default()).await;
        t.db.execute_unprepared(&format!("UPDATE workflows SET status = 'completed', finished_at_ms = {} WHERE status = 'running'", store::now_ms())).await.unwrap();
        // The outbox: ordered, and events 1 and 3 as old as their history. Retention deletes a
        // prefix of the positions, so 2 goes with them and no hole is left behind.
        assert_eq!(store::outbox::sequence(&t.db).await.unwrap(), 4);
        t.db.execute_unprepared(&format!(
            "UPDATE outbox SET at_ms = {old} WHERE position IN (1, 3)"
        ))
        .await
        .unwrap();
        assert_eq!(
            store::outbox::forgotten_after(&t.db, 0).await.unwrap(),
            None
        );
        // A webhook's log: old deliveries that are over (1 delivered, 2 given up) go; an old
        // pending one (3) and a recent one (4) stay.
        let hook = store::webhooks::WebhookRow {
            id: Uuid::now_v7(),
            // Never delivered to (nothing dispatches here): a name that cannot resolve.
            url: "http://receiver.invalid/".into(),
            secret: "s".into(),
            kinds: None,
            states: None,
            description: None,
            cursor: 0,
            created_at_ms: old,
            created_by: "test".into(),
            previous_secret: None,
            previous_secret_until_ms: None,
        };
        store::webhooks::save(&t.db, &hook).await.unwrap();
        assert_eq!(store::webhooks::fan_out(&t.db, old).await.unwrap(), 4);
        t.db.execute_unprepared(&format!(
            "UPDATE webhook_deliveries SET status = CASE position WHEN 2 THEN 'failed' \
             WHEN 3 THEN 'pending' ELSE 'delivered' END, \
             created_at_ms = CASE position WHEN 4 THEN {} ELSE created_at_ms END",
            store::now_ms()
        ))
        .await
        .unwrap();
        mintflow::engine::jobs::run_retention(
            &t.db,
            &settings,
            mintflow::workflows::RECORDS,
            store::now_ms(),
        )
        .await;
        let kept: Vec<i64> = store::webhooks::deliveries(&t.db, hook.id, None, None, 10)
            .await
            .unwrap()
            .into_iter()
            .map(|d| d.position)
            .collect();
        assert_eq!(
            kept,
            vec![4, 3],
            "{backend:?}: old finished deliveries went"
        );
        assert_eq!(
            count(&t, "SELECT count(*) FROM outbox").await,
            1,
            "{backend:?}: old outbox rows went"
        );
        for (after, forgotten) in [(0, Some(3)), (2, Some(3)), (3, None), (4, None)] {
            assert_eq!(
                store::outbox::forgotten_after(&t.db, after).await.unwrap(),
                forgotten,
                "{backend:?}: resuming after {after}"
            );
        }
        start_probe(&client, &ProbeData::default(), StartOptions::default()).await;
        assert_eq!(store::outbox::sequence(&t.db).await.unwrap(), 1);
        assert_eq!(
            count(&t, "SELECT max(position) FROM outbox").await,
            5,
            "{backend:?}: positions go on after retention"
        );
        // The probe started just now is not part of what follows.
        t.db.execute_unprepared("DELETE FROM workflows WHERE finished_at_ms IS NULL")
            .await
            .unwrap();
        let left: Vec<Uuid> = rows::list(
            &t.db,
            &rows::ListFilter {
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .into_iter()
        .map(|w| w.id)
        .collect();
        assert_eq!(
            left,
            vec![recent, ids[2]],
            "{backend:?}: the recent and the failed ones stay"
        );
        assert_eq!(
            count(&t, "SELECT count(*) FROM workflow_events").await,
            2,
            "{backend:?}: history went with its workflows"
        );
    }
}

/// `serve --role api` and `serve --role worker` share one PostgreSQL: the API process starts
/// workflows, the worker process runs them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn api_and_worker_roles_split_the_work() {
    use mintflow::service::{Role, Service, ServiceConfig};
    let (t, _) = setup(Backend::Postgres, 5).await;
    let config = |role, worker: &str| ServiceConfig {
        database_url: t.url.clone(),
        database_max_connections: 8,
        listen_addr: "127.0.0.1:0".into(),
        admin_token: Some("split-roles-admin".into()),
        public_reads: false,
        role,
        engine: mintflow::engine::EngineConfig {
            worker_id: worker.into(),
            shutdown_grace: Duration::from_secs(2),
        },
        limits: Default::default(),
        edge: Default::default(),
        webhook_targets: Default::default(),
        chain: None,
    };
    let api = Service::start(config(Role::Api, "api"), |_| registry())
        .await
        .unwrap();
    let worker = Service::start(config(Role::Worker, "worker"), |_| registry())
        .await
        .unwrap();
    let id = start_probe(&api.client, &recorded(), StartOptions::default()).await;
    wait_status(&t, id, Status::Completed).await;
    let workers = count(
        &t,
        "SELECT count(DISTINCT worker) FROM probe_runs WHERE worker = 'worker'",
    )
    .await;
    assert_eq!(workers, 1, "the worker process ran the steps");
    // The worker serves its health and its metrics (the steps it ran), and nothing else.
    // A worker's /metrics needs a `read` key like the API's.
    let http = common::http_as("split-roles-admin");
    let on_worker = |path: &str| {
        let req = http.get(format!("http://{}{path}", worker.http_addr().unwrap()));
        async move {
            let res = req.send().await.unwrap();
            (res.status().as_u16(), res.text().await.unwrap())
        }
    };
    assert_eq!(on_worker("/health").await.0, 200);
    assert_eq!(on_worker("/ready").await.0, 200);
    let (status, metrics) = on_worker("/metrics").await;
    assert_eq!(status, 200);
    assert!(
        metrics.contains("mintflow_step_duration_seconds_count{kind=\"probe\"}"),
        "{metrics}"
    );
    assert_eq!(on_worker("/v1/workflows").await.0, 404);
    assert_eq!(on_worker("/v1/settings").await.0, 404);
    // A setting changed through the API process reaches the worker process by its own reload
    // (nothing tells it; the README says within 5 s, the deadline leaves room on a busy machine).
    let before = worker.settings.get().retry_max_attempts;
    let changed = before + 1;
    let res = http
        .put(format!(
            "http://{}/v1/settings/retry_max_attempts",
            api.http_addr().unwrap()
        ))
        .json(&serde_json::json!({ "value": changed }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    eventually(Duration::from_secs(20), "the worker to reload", || async {
        (worker.settings.get().retry_max_attempts == changed).then_some(())
    })
    .await;
    api.stop().await;
    worker.stop().await;
}

/// The event a step waits for can happen while the step runs (a transaction confirmed between
/// the step's look and its `Wait` checkpoint). The wake-up is kept and the checkpoint does not
/// park the workflow.
async fn wake_during_a_step_is_not_lost(backend: Backend) {
    let (t, _) = setup(backend, 5).await;
    let client = mintflow::engine::Client::new(t.db.clone(), Default::default());
    let mut ids = Vec::new();
    for _ in 0..2 {
        let started = client
            .start::<Probe>(
                ProbeState::First,
                &ProbeData::default(),
                StartOptions::default(),
            )
            .await
            .unwrap();
        ids.push(started.id());
    }
    let (woken, quiet) = (ids[0], ids[1]);
    let now = store::now_ms();
    let claimed = rows::claim_due(&t.db, "a", &["probe"], 10, now, 60_000)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 2);
    // While both steps run, one workflow's event happens.
    assert!(
        rows::wake(&t.db, woken, "transaction confirmed", store::now_ms())
            .await
            .unwrap()
    );
    let park = |id: Uuid| Checkpoint {
        status: Status::Waiting,
        run_at_ms: None,
        event: "wait".into(),
        ..checkpoint(
            id,
            claimed.iter().find(|c| c.id == id).unwrap().version,
            "second",
        )
    };
    let won = rows::apply_checkpoints(&t.db, "a", store::now_ms(), &[park(woken), park(quiet)])
        .await
        .unwrap();
    assert_eq!(won.len(), 2);
    let row = rows::find(&t.db, woken).await.unwrap().unwrap();
    assert_eq!(row.status, "running", "the wake-up was not lost");
    assert!(row.run_at_ms.is_some_and(|at| at <= store::now_ms()));
    assert!(!row.wake_pending);
    let row = rows::find(&t.db, quiet).await.unwrap().unwrap();
    assert_eq!(
        (row.status.as_str(), row.run_at_ms),
        ("waiting", None),
        "no event, it waits"
    );
    // A finished workflow cannot be woken.
    t.db.execute_unprepared("UPDATE workflows SET status = 'completed', run_at_ms = NULL")
        .await
        .unwrap();
    assert!(
        !rows::wake(&t.db, quiet, "late", store::now_ms())
            .await
            .unwrap()
    );
}

/// Rolling releases back and forward over a database that holds work keeps the work: every
/// migration but the first (which creates the workflow tables) is undone one by one, then all
/// are redone, and a workflow with its history is still there, whole, on both backends.
#[tokio::test]
async fn migrations_roll_back_and_forward_over_data() {
    use migration::MigratorTrait;
    for backend in [Backend::Postgres, Backend::Sqlite] {
        let t = TestDb::new(backend).await;
        Probe::create_tables(&t.db).await.unwrap();
        let client = mintflow::engine::Client::new(t.db.clone(), Default::default());
        let waiting = StartOptions {
            waiting: true,
            ..Default::default()
        };
        let id = start_probe(&client, &ProbeData::default(), waiting).await;
        let before = rows::find(&t.db, id).await.unwrap().unwrap();
        let history = store::events::history(&t.db, id).await.unwrap();
        for _ in 1..migration::Migrator::migrations().len() {
            migration::Migrator::down(&t.db, Some(1)).await.unwrap();
        }
        // Columns later migrations add are gone now: the row is counted, not read whole.
        assert_eq!(
            t.scalar_i64("SELECT count(*) FROM workflows").await,
            1,
            "{backend:?}: rolled back to the first migration"
        );
        migration::Migrator::up(&t.db, None).await.unwrap();
        assert_eq!(
            rows::find(&t.db, id).await.unwrap(),
            Some(before),
            "{backend:?}: migrated forward again"
        );
        assert_eq!(
            store::events::history(&t.db, id).await.unwrap(),
            history,
            "{backend:?}"
        );
    }
}

/// Every migration's `down` undoes its `up` on both backends: an operator can roll a release
/// back, and the schema comes back whole afterwards.
#[tokio::test]
async fn every_migration_rolls_back_and_forward() {
    use migration::MigratorTrait;
    for backend in [Backend::Postgres, Backend::Sqlite] {
        let t = TestDb::new(backend).await;
        let all = migration::Migrator::migrations().len();
        migration::Migrator::down(&t.db, None).await.unwrap();
        assert_eq!(
            migration::Migrator::get_pending_migrations(&t.db)
                .await
                .unwrap()
                .len(),
            all,
            "{backend:?}: everything rolled back"
        );
        migration::Migrator::up(&t.db, None).await.unwrap();
        assert!(
            migration::Migrator::get_pending_migrations(&t.db)
                .await
                .unwrap()
                .is_empty(),
            "{backend:?}"
        );
        // The schema works again: a workflow and its outbox row.
        Probe::create_tables(&t.db).await.unwrap();
        let client = mintflow::engine::Client::new(t.db.clone(), Default::default());
        start_probe(&client, &ProbeData::default(), StartOptions::default()).await;
        assert_eq!(
            store::outbox::sequence(&t.db).await.unwrap(),
            1,
            "{backend:?}"
        );
    }
}

on_both_backends!(claims_leases_and_checkpoints_read_the_engine_clock);

/// With a clock a test sets, the times the engine stores are the clock's: a checkpoint's end
/// time and history, a claim's lease expiry, and the lease once the clock moves on.
async fn claims_leases_and_checkpoints_read_the_engine_clock(backend: Backend) {
    let (t, settings) = setup(backend, 2).await;
    // An hour ahead of the system clock, so work created now is due at the engine's time.
    let at = store::now_ms() + 3_600_000;
    let clock = Clock::fixed(at);
    let waker = Waker::default();
    let config = EngineConfig {
        worker_id: "w1".into(),
        shutdown_grace: Duration::from_secs(5),
    };
    let engine = Engine::start_with_clock(
        t.db.clone(),
        registry(),
        settings.clone(),
        waker.clone(),
        config,
        clock.clone(),
    );
    let client = Client::new(t.db.clone(), waker);

    let done = start_probe(&client, &recorded(), StartOptions::default()).await;
    wait_status(&t, done, Status::Completed).await;
    let row = rows::find(&t.db, done).await.unwrap().unwrap();
    assert_eq!(row.finished_at_ms, Some(at));
    let history = store::events::history(&t.db, done).await.unwrap();
    assert!(history.len() > 1);
    for event in &history[1..] {
        assert_eq!(
            event.at_ms, at,
            "{} stamped by the engine's clock",
            event.event
        );
    }

    let data = hanging("w1", ProbeState::First, HangPoint::Start);
    let hung = start_probe(&client, &data, StartOptions::default()).await;
    let lease_until = |want: i64| {
        let db = t.db.clone();
        async move {
            eventually(WAIT, &format!("the lease to run until {want}"), || async {
                let row = rows::find(&db, hung).await.unwrap().unwrap();
                (row.lease_until_ms == Some(want)).then_some(())
            })
            .await
        }
    };
    lease_until(at + 2_000).await;
    clock.set(at + 10_000);
    lease_until(at + 12_000).await;
    engine.abort().await;
}
