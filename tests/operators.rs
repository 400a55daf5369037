//! Operators' live views on both backends: server-sent events resumed across restarts and
//! instances, signed webhooks that survive a failing receiver, the timeline with search and
//! dead letters, and admin actions that need the token and leave an audit trail.
#[macro_use]
mod common;

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::ops::{Receiver, Sse, SseClient};
use common::{Backend, TestDb, eventually, metrics};
use hmac::{Hmac, Mac};
use mintflow::api::edge::EdgeConfig;
use mintflow::engine::{EngineConfig, Registry, StartOptions};
use mintflow::service::{Limits, Role, Service, ServiceConfig};
use mintflow::store::workflows::Status;
use mintflow::webhooks::target::TargetPolicy;
use mintflow::webhooks::{CONCURRENCY, PER_WEBHOOK};
use mintflow::workflows::probe::{Probe, ProbeData, ProbeState};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::Sha256;
use uuid::Uuid;

const TOKEN: &str = "operator-token";

on_both_backends!(
    events_resume_after_restart,
    webhooks_survive_a_failing_receiver,
    given_up_deliveries_are_sent_again,
    a_hanging_receiver_holds_few_request_slots,
    timeline_search_and_dead_letters,
    the_stream_limit_is_configured,
    admin_actions_need_the_token
);

async fn start(t: &TestDb, role: Role, worker: &str) -> Service {
    start_with(t, role, worker, Limits::default()).await
}

async fn start_with(t: &TestDb, role: Role, worker: &str, limits: Limits) -> Service {
    let config = ServiceConfig {
        database_url: t.url.clone(),
        database_max_connections: 6,
        listen_addr: "127.0.0.1:0".into(),
        admin_token: Some(TOKEN.into()),
        public_reads: false,
        role,
        engine: EngineConfig {
            worker_id: worker.into(),
            shutdown_grace: Duration::from_secs(2),
        },
        limits,
        // Every test client is 127.0.0.1: its share is more than all the streams, so the
        // process-wide limit is what refuses (the per-client share is tested in tests/edge.rs).
        edge: EdgeConfig {
            max_event_streams_per_client: Some(limits.event_streams as u64 + 1),
            ..Default::default()
        },
        chain: None,
        // The test receivers listen on 127.0.0.1.
        webhook_targets: TargetPolicy {
            allow_private: true,
        },
    };
    Service::start(config, |_| Registry::new().register(Probe))
        .await
        .unwrap()
}

async fn setup(backend: Backend) -> TestDb {
    let t = TestDb::new(backend).await;
    Probe::create_tables(&t.db).await.unwrap();
    common::fast_settings(&t.db, 2).await;
    t
}

fn base(s: &Service) -> String {
    format!("http://{}", s.http_addr().unwrap())
}

async fn probe(s: &Service, data: &ProbeData) -> Uuid {
    s.client
        .start::<Probe>(ProbeState::First, data, StartOptions::default())
        .await
        .unwrap()
        .id()
}

/// GETs `url` with the admin token; its JSON.
async fn admin_get(http: &reqwest::Client, url: String) -> Value {
    let res = http.get(&url).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK, "{url}");
    res.json().await.unwrap()
}

/// History event ids of a workflow, from the database.
async fn history_ids(t: &TestDb, id: Uuid) -> Vec<i64> {
    mintflow::store::events::history(&t.db, id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect()
}

/// 100 workflows run while a client follows `/v1/events`; the server it reads from restarts
/// half-way and the client resumes with `Last-Event-ID`. On PostgreSQL the workflows run on
/// another instance than the one streaming, and the client resumes on a third. Every
/// transition of every workflow arrives once, in order.
async fn events_resume_after_restart(backend: Backend) {
    let t = setup(backend).await;
    let pg = backend == Backend::Postgres;
    let runner = start(&t, Role::All, "runner").await;
    let streamer = if pg {
        Some(start(&t, Role::Api, "streamer").await)
    } else {
        None
    };
    let url = |s: &Service| format!("{}/v1/events?kind=probe", base(s));
    let mut client =
        SseClient::connect(&url(streamer.as_ref().unwrap_or(&runner)), TOKEN, None).await;

    let mut ids = Vec::new();
    for _ in 0..100 {
        ids.push(probe(&runner, &ProbeData::default()).await);
    }
    let wanted: HashSet<Uuid> = ids.iter().copied().collect();
    let mut seen: BTreeMap<Uuid, Vec<i64>> = BTreeMap::new();
    let mut positions = Vec::new();
    let mut finished = HashSet::new();
    let record = |e: Sse,
                  seen: &mut BTreeMap<Uuid, Vec<i64>>,
                  positions: &mut Vec<i64>,
                  finished: &mut HashSet<Uuid>| {
        assert_eq!(e.event, "transition");
        assert_eq!(e.data["position"], e.id);
        assert_eq!(e.data["kind"], "probe");
        let wf: Uuid = e.data["workflowId"].as_str().unwrap().parse().unwrap();
        positions.push(e.id);
        seen.entry(wf)
            .or_default()
            .push(e.data["eventId"].as_i64().unwrap());
        if e.data["status"] == "completed" {
            finished.insert(wf);
        }
    };
    // Half of the transitions (each probe makes 4: created and three steps), then a restart.
    while positions.len() < 200 {
        let e = client.next().await.expect("the stream stays open");
        record(e, &mut seen, &mut positions, &mut finished);
    }
    let last = *positions.last().unwrap();
    let (kept, resumed_on) = match streamer {
        Some(streamer) => {
            // The streaming instance goes away; the client resumes on a new one.
            streamer.stop().await;
            while client.next().await.is_some() {}
            (Some(runner), start(&t, Role::Api, "streamer-2").await)
        }
        None => {
            // The only process restarts, in the middle of the work.
            runner.stop().await;
            while client.next().await.is_some() {}
            (None, start(&t, Role::All, "runner-2").await)
        }
    };
    let mut client = SseClient::connect(&url(&resumed_on), TOKEN, Some(last)).await;
    while !wanted.iter().all(|id| finished.contains(id)) {
        let e = client.next().await.expect("the resumed stream stays open");
        record(e, &mut seen, &mut positions, &mut finished);
    }
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "positions strictly increase: no event twice, none out of order"
    );
    for id in &ids {
        assert_eq!(
            seen.get(id).cloned().unwrap_or_default(),
            history_ids(&t, *id).await,
            "workflow {id}: every transition, in order"
        );
    }
    resumed_on.stop().await;
    if let Some(runner) = kept {
        runner.stop().await;
    }
}

/// A receiver that fails its first 3 requests still gets every event once, signed with the
/// subscription's secret; the delivery log shows the failed attempts.
async fn webhooks_survive_a_failing_receiver(backend: Backend) {
    let _counters = metrics::exclusive().await;
    let t = setup(backend).await;
    mintflow::store::settings::put(
        &t.db,
        "webhook_retry_base_ms",
        json!(50),
        "test",
        mintflow::store::now_ms(),
    )
    .await
    .unwrap();
    let s = start(&t, Role::All, "hooks").await;
    let before = metrics::text(&common::http_as(TOKEN), &base(&s)).await;
    let subscribed = std::time::Instant::now();
    let received = Receiver::start(3).await;
    let secret = "a-shared-secret-of-32-characters";
    let http = common::http_as(TOKEN);
    let res = http
        .post(format!("{}/v1/webhooks", base(&s)))
        .bearer_auth(TOKEN)
        .json(
            &json!({ "url": received.url, "secret": secret, "kinds": ["probe"],
                       "description": "test receiver" }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let hook: Value = res.json().await.unwrap();
    assert_eq!(hook["secret"], secret, "the secret is shown at creation");
    let hook_id = hook["id"].as_str().unwrap().to_owned();
    // A second subscriber that is down the whole time (its port is ours and refuses).
    let (_down_port, port) = common::refused_port();
    let res = http
        .post(format!("{}/v1/webhooks", base(&s)))
        .bearer_auth(TOKEN)
        .json(&json!({ "url": format!("http://127.0.0.1:{port}/down"), "states": ["done"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let down: Value = res.json().await.unwrap();
    assert_eq!(
        down["secret"].as_str().unwrap().len(),
        64,
        "a generated secret"
    );

    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(probe(&s, &ProbeData::default()).await);
    }
    let mut expected = HashSet::new();
    for id in &ids {
        eventually(Duration::from_secs(20), "the probe to complete", || async {
            let events = history_ids(&t, *id).await;
            (events.len() == 4).then_some(())
        })
        .await;
        expected.extend(history_ids(&t, *id).await);
    }
    let got = eventually(Duration::from_secs(30), "every event delivered", || async {
        let got = received.accepted();
        (got.len() >= expected.len()).then_some(got)
    })
    .await;
    let mut event_ids = HashSet::new();
    for (headers, body) in &got {
        let signature = headers.get("mintflow-signature").unwrap();
        let timestamp = headers.get("mintflow-timestamp").unwrap();
        // Verified here independently of the server's code: HMAC-SHA256 of "<t>.<body>".
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("{timestamp}.{body}").as_bytes());
        let expected_sig = format!(
            "t={timestamp},v1={}",
            hex::encode(mac.finalize().into_bytes())
        );
        assert_eq!(signature, &expected_sig);
        let now = chrono::Utc::now().timestamp();
        assert!(mintflow::webhooks::signature::verify(
            secret, signature, body, now, 300
        ));
        assert!(
            !mintflow::webhooks::signature::verify(
                "a-wrong-secret-of-32-characters!",
                signature,
                body,
                now,
                300
            ),
            "a wrong secret fails verification"
        );
        let event: Value = serde_json::from_str(body).unwrap();
        assert_eq!(
            headers.get("mintflow-event-id").unwrap(),
            &event["position"].to_string()
        );
        assert!(
            event_ids.insert(event["eventId"].as_i64().unwrap()),
            "each event is accepted once: {body}"
        );
    }
    assert_eq!(
        event_ids, expected,
        "every event of the probes, nothing else"
    );
    assert_eq!(received.refused(), 3);

    // The log is written just after each answer: it catches up with the receiver.
    let log = eventually(
        Duration::from_secs(10),
        "the log to show every delivery",
        || {
            let url = format!("{}/v1/webhooks/{hook_id}/deliveries?limit=500", base(&s));
            let http = http.clone();
            async move {
                let log = admin_get(&http, url).await;
                let done = log["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|d| d["status"] == "delivered");
                done.then_some(log)
            }
        },
    )
    .await;
    let items = log["items"].as_array().unwrap();
    assert_eq!(items.len(), expected.len());
    let attempts: i64 = items.iter().map(|d| d["attempts"].as_i64().unwrap()).sum();
    assert_eq!(
        attempts,
        expected.len() as i64 + 3,
        "3 failed attempts logged"
    );
    assert!(
        items
            .iter()
            .any(|d| d["lastStatusCode"] == 200 && d["attempts"].as_i64() > Some(1)),
        "a retried delivery"
    );
    // The receiver that is down blocked nothing: its deliveries (only `done` transitions)
    // wait with their errors, every workflow finished, and the other receiver got everything.
    let down_url = format!(
        "{}/v1/webhooks/{}/deliveries",
        base(&s),
        down["id"].as_str().unwrap()
    );
    let attempted = |log: &Value| {
        let items = log["items"].as_array().unwrap();
        items.len() == ids.len()
            && items.iter().all(|d| {
                // The cause is named, not only that sending failed.
                d["lastError"].as_str().is_some_and(|e| {
                    e.contains("could not deliver") && e.to_lowercase().contains("refused")
                })
            })
    };
    let down_log = eventually(Duration::from_secs(10), "each down delivery tried", || {
        let (http, url) = (http.clone(), down_url.clone());
        async move { Some(admin_get(&http, url).await).filter(attempted) }
    })
    .await;
    assert!(
        down_log["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["status"] == "pending"),
        "still waiting for the receiver: {down_log}"
    );
    // What operators watch: the deliveries waiting (the down receiver's 5), their age (no
    // older than this test's subscriptions), and the attempts this test added to the process's
    // counters (the other tests that deliver wait for `metrics::exclusive`).
    // Both render a snapshot up to a second old: the first that shows the 5.
    let (after, stats) = eventually(Duration::from_secs(10), "the 5 in the scrape", || async {
        let (after, stats) = observe(&s).await;
        let pending = metrics::sum(&after, "mintflow_webhook_deliveries_pending", &[]);
        (pending == Some(5.0) && stats["events"]["webhookPending"] == 5).then_some((after, stats))
    })
    .await;
    let gauge = |name: &str| metrics::sum(&after, name, &[]);
    let age = gauge("mintflow_webhook_oldest_pending_age_seconds").unwrap();
    assert!(
        (0.0..=subscribed.elapsed().as_secs_f64()).contains(&age),
        "{age}"
    );
    let attempts = |text: &str, outcome: &str| {
        metrics::sum(
            text,
            "mintflow_webhook_attempts_total",
            &[("outcome", outcome)],
        )
        .unwrap_or(0.0)
    };
    assert!(attempts(&after, "retry") - attempts(&before, "retry") >= 3.0);
    assert!(
        attempts(&after, "delivered") - attempts(&before, "delivered") >= expected.len() as f64
    );
    assert_eq!(stats["events"]["webhookPending"], 5, "{stats}");
    // The secret is never shown again.
    let listed: Value = admin_get(&http, format!("{}/v1/webhooks", base(&s))).await;
    assert_eq!(listed.as_array().unwrap().len(), 2);
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .all(|h| h["secret"].is_null())
    );
    s.stop().await;
}

/// A receiver down for longer than the retries last: its deliveries are given up (`failed`),
/// kept in the log, and sent again when an operator asks, one by id or all of them, each
/// accepted once.
async fn given_up_deliveries_are_sent_again(backend: Backend) {
    // Its attempts count where `webhooks_survive_a_failing_receiver` compares its own.
    let _counters = metrics::exclusive().await;
    let t = setup(backend).await;
    for (key, value) in [("webhook_retry_base_ms", 20), ("webhook_max_attempts", 2)] {
        mintflow::store::settings::put(&t.db, key, json!(value), "test", mintflow::store::now_ms())
            .await
            .unwrap();
    }
    let s = start(&t, Role::All, "redeliver").await;
    // One probe makes 4 events; 2 attempts each are refused, so all 4 are given up.
    let received = Receiver::start(8).await;
    let http = common::http_as(TOKEN);
    let hook: Value = http
        .post(format!("{}/v1/webhooks", base(&s)))
        .bearer_auth(TOKEN)
        .json(&json!({ "url": received.url, "kinds": ["probe"] }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let hook_id = hook["id"].as_str().unwrap().to_owned();
    let first_secret = hook["secret"].as_str().unwrap().to_owned();
    let workflow = probe(&s, &ProbeData::default()).await;
    let expected: HashSet<i64> =
        eventually(Duration::from_secs(20), "the probe's 4 events", || {
            let t = &t;
            async move {
                let events = history_ids(t, workflow).await;
                (events.len() == 4).then(|| events.into_iter().collect())
            }
        })
        .await;
    let log_url = |status: &str| {
        format!(
            "{}/v1/webhooks/{hook_id}/deliveries?status={status}",
            base(&s)
        )
    };
    let failed = eventually(Duration::from_secs(20), "every delivery given up", || {
        let (http, url) = (http.clone(), log_url("failed"));
        async move {
            let log = admin_get(&http, url).await;
            (log["items"].as_array().unwrap().len() == 4).then_some(log)
        }
    })
    .await;
    assert_eq!(received.refused(), 8);
    assert!(received.accepted().is_empty());
    // Operators see them waiting for a redelivery in the metrics and the stats.
    wait_given_up(&s, 4).await;
    for d in failed["items"].as_array().unwrap() {
        assert_eq!(d["attempts"], 2, "{d}");
        assert_eq!(d["lastStatusCode"], 500, "{d}");
    }
    let bad = http
        .get(log_url("lost"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let err: Value = bad.json().await.unwrap();
    assert_eq!(err["code"], "invalid_parameter", "{err}");

    // The receiver moved: the subscription follows it with a new secret, keeping its log.
    let moved = Receiver::start(0).await;
    let hook_url = format!("{}/v1/webhooks/{hook_id}", base(&s));
    let patch = |url: String, body: Value| as_bob(&http, reqwest::Method::PATCH, url, body);
    for (body, code) in [
        (json!({ "url": "not a url" }), "invalid_url"),
        (json!({ "kinds": ["mints"] }), "invalid_filter"),
        (
            json!({ "secret": "another-secret-of-32-characters!", "rotateSecret": true }),
            "invalid_value",
        ),
        (json!({ "keepPreviousSecretSeconds": 60 }), "invalid_value"),
    ] {
        let (status, err) = patch(hook_url.clone(), body.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(err["code"], code, "{body}");
    }
    let (status, err) = patch(
        format!("{}/v1/webhooks/{}", base(&s), Uuid::now_v7()),
        json!({ "description": "x" }),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(err["code"], "webhook_not_found", "{err}");
    let unchanged = admin_get(&http, hook_url.clone()).await;
    assert_eq!(
        unchanged["url"],
        received.url.as_str(),
        "a refused change stores nothing"
    );
    let (status, updated) = patch(
        hook_url.clone(),
        json!({ "url": moved.url, "rotateSecret": true, "keepPreviousSecretSeconds": 3600,
                "description": "moved" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let secret = updated["secret"].as_str().unwrap().to_owned();
    assert_eq!(secret.len(), 64, "a generated secret, shown once");
    let stored = admin_get(&http, hook_url.clone()).await;
    assert_eq!(stored["url"], moved.url.as_str());
    assert_eq!(
        stored["kinds"],
        json!(["probe"]),
        "what was not given stays"
    );
    assert_eq!(stored["description"], "moved");
    assert_eq!(stored["position"], unchanged["position"]);
    assert!(stored["secret"].is_null());
    assert!(
        stored["previousSecretUntil"].is_string(),
        "the rotation window is shown: {stored}"
    );

    let redeliver = |body: Value| {
        let url = format!("{}/v1/webhooks/{hook_id}/redeliver", base(&s));
        let sent = as_bob(&http, reqwest::Method::POST, url, body);
        async move {
            let (status, answer) = sent.await;
            assert_eq!(status, StatusCode::OK, "{answer}");
            answer["requeued"].as_u64().unwrap()
        }
    };
    // One by id first: only it arrives.
    let first = failed["items"][0]["id"].as_i64().unwrap();
    assert_eq!(redeliver(json!({ "deliveryIds": [first] })).await, 1);
    eventually(Duration::from_secs(10), "the one delivery", || async {
        (moved.accepted().len() == 1).then_some(())
    })
    .await;
    // Then the rest; the delivered one is not sent again.
    assert_eq!(redeliver(json!({ "reason": "receiver is back" })).await, 3);
    let got = eventually(Duration::from_secs(10), "every delivery", || async {
        let got = moved.accepted();
        (got.len() >= 4).then_some(got)
    })
    .await;
    let now = chrono::Utc::now().timestamp();
    let event_ids: HashSet<i64> = got
        .iter()
        .map(|(headers, body)| {
            // During the rotation both secrets sign: a receiver with either accepts.
            let signature = &headers["mintflow-signature"];
            assert_eq!(signature.matches("v1=").count(), 2, "{signature}");
            for key in [&secret, &first_secret] {
                assert!(
                    mintflow::webhooks::signature::verify(key, signature, body, now, 300),
                    "signed with the new and the previous secret"
                );
            }
            serde_json::from_str::<Value>(body).unwrap()["eventId"]
                .as_i64()
                .unwrap()
        })
        .collect();
    assert_eq!(event_ids, expected, "each event accepted once");
    assert_eq!(got.len(), 4);
    assert!(
        received.accepted().is_empty(),
        "nothing went to the old address"
    );
    assert_eq!(redeliver(json!({})).await, 0, "nothing is failed any more");
    wait_given_up(&s, 0).await;
    eventually(
        Duration::from_secs(10),
        "the log to show them delivered",
        || {
            let (http, url) = (http.clone(), log_url("delivered"));
            async move {
                let log = admin_get(&http, url).await;
                (log["items"].as_array().unwrap().len() == 4).then_some(())
            }
        },
    )
    .await;
    // The log a page at a time: newest event first, no delivery twice, none left out.
    let mut positions = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = admin_get(&http, format!("{hook_url}/deliveries?limit=3{cursor}")).await;
        let items = page["items"].as_array().unwrap();
        positions.extend(items.iter().map(|d| d["position"].as_i64().unwrap()));
        match page["nextCursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => break,
        }
    }
    assert_eq!(positions.len(), 4, "{positions:?}");
    assert!(positions.windows(2).all(|w| w[0] > w[1]), "{positions:?}");
    let unknown = http
        .post(format!(
            "{}/v1/webhooks/{}/redeliver",
            base(&s),
            Uuid::now_v7()
        ))
        .bearer_auth(TOKEN)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    let err: Value = unknown.json().await.unwrap();
    assert_eq!(err["code"], "webhook_not_found", "{err}");
    let audit = admin_get(&http, format!("{}/v1/audit", base(&s))).await;
    let actions: Vec<(String, Value)> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] != "webhook.create")
        .map(|e| {
            assert_eq!(e["actor"], "admin (bob)");
            assert_eq!(e["target"], hook_id.as_str());
            (
                e["action"].as_str().unwrap().to_owned(),
                e["detail"].clone(),
            )
        })
        .collect();
    let requeued: Vec<&Value> = actions
        .iter()
        .filter(|(a, _)| a == "webhook.redeliver")
        .map(|(_, d)| &d["requeued"])
        .collect();
    assert_eq!(
        requeued,
        [0, 3, 1],
        "each redelivery in the audit log, newest first"
    );
    let (action, detail) = actions.last().unwrap();
    assert_eq!(action, "webhook.update", "refused changes are not recorded");
    assert_eq!(detail["url"], moved.url.as_str());
    assert_eq!(detail["secret"], "changed", "never the secret itself");
    s.stop().await;
}

/// `--max-event-streams`: beyond it a stream is refused with 503 `too_many_streams`, naming
/// the limit, and a closed stream frees its slot.
async fn the_stream_limit_is_configured(backend: Backend) {
    let t = setup(backend).await;
    let limits = Limits {
        event_streams: 2,
        ..Limits::default()
    };
    let s = start_with(&t, Role::All, "streams", limits).await;
    let url = format!("{}/v1/events", base(&s));
    let first = SseClient::connect(&url, TOKEN, None).await;
    let _second = SseClient::connect(&url, TOKEN, None).await;
    let http = common::http_as(TOKEN);
    let refused = http.get(&url).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    let err: Value = refused.json().await.unwrap();
    assert_eq!(err["code"], "too_many_streams");
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("serves 2 event streams"),
        "{err}"
    );
    drop(first);
    // The server notices a closed connection when a write to it fails, which takes an event
    // or two (the first write only draws the peer's reset) or the keep-alive comment (15 s):
    // each try makes events.
    eventually(Duration::from_secs(30), "a slot to come free", || async {
        probe(&s, &ProbeData::default()).await;
        let res = http.get(&url).send().await.unwrap();
        (res.status() == StatusCode::OK).then_some(())
    })
    .await;
    s.stop().await;
}

/// Waits until `mintflow_webhook_deliveries_failed` in `/metrics` and `events.webhook_failed`
/// in `/v1/stats` both show `want` (both render a snapshot up to a second old).
async fn wait_given_up(s: &Service, want: u64) {
    eventually(
        Duration::from_secs(10),
        &format!("{want} given-up deliveries in the metrics and the stats"),
        || async {
            let (metrics, stats) = observe(s).await;
            let shown = (
                metrics::sum(&metrics, "mintflow_webhook_deliveries_failed", &[]),
                stats["events"]["webhookFailed"].as_u64().unwrap(),
            );
            (shown == (Some(want as f64), want)).then_some(())
        },
    )
    .await;
}

/// An admin request by the operator `bob`: its status and JSON answer.
async fn as_bob(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    body: Value,
) -> (StatusCode, Value) {
    let res = http
        .request(method, url)
        .bearer_auth(TOKEN)
        .header("X-Actor", "bob")
        .json(&body)
        .send()
        .await
        .unwrap();
    (res.status(), res.json::<Value>().await.unwrap())
}

/// What operators watch: `/metrics` as text and `/v1/stats`.
async fn observe(s: &Service) -> (String, Value) {
    let http = common::http_as(TOKEN);
    let metrics = metrics::text(&http, &base(s)).await;
    let stats = http
        .get(format!("{}/v1/stats", base(s)))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (metrics, stats)
}

/// A receiver that accepts connections and never answers holds at most `PER_WEBHOOK` of the
/// `CONCURRENCY` request slots until its requests time out (10 s): another subscription's
/// receiver gets all of its events before then, although the hanging one was subscribed first
/// and its deliveries, more than every slot, come first in line.
async fn a_hanging_receiver_holds_few_request_slots(backend: Backend) {
    // Its attempts count where `webhooks_survive_a_failing_receiver` compares its own.
    let _counters = metrics::exclusive().await;
    let t = setup(backend).await;
    // A timeout far longer than the test: "none of the hanging requests has ended" must not
    // depend on how fast a loaded machine delivers the other receiver's events.
    let limits = Limits {
        webhook_timeout_secs: 600,
        ..Limits::default()
    };
    let s = start_with(&t, Role::All, "hang", limits).await;
    let http = common::http_as(TOKEN);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hanging_url = format!("http://{}/hook", listener.local_addr().unwrap());
    let held = Arc::new(Mutex::new(Vec::new()));
    let holder = held.clone();
    let acceptor = tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            holder.lock().unwrap().push(socket); // kept open, never answered
        }
    });
    let received = Receiver::start(0).await;
    for url in [&hanging_url, &received.url] {
        let res = http
            .post(format!("{}/v1/webhooks", base(&s)))
            .bearer_auth(TOKEN)
            .json(&json!({ "url": url, "kinds": ["probe"] }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::CREATED);
    }
    // Each probe makes 4 events: more than every slot for each receiver.
    let events = CONCURRENCY + 20;
    for _ in 0..events / 4 {
        probe(&s, &ProbeData::default()).await;
    }
    eventually(
        Duration::from_secs(60),
        "every event at the answering receiver",
        || async { (received.accepted().len() >= events).then_some(()) },
    )
    .await;
    // ... while the other still hangs: none of its requests has ended (timed out) yet.
    let ended = t
        .scalar_i64(&format!(
            "SELECT count(*) FROM webhook_deliveries WHERE (attempts > 0 OR last_error IS NOT \
             NULL) AND webhook_id IN (SELECT id FROM webhooks WHERE url = '{hanging_url}')"
        ))
        .await;
    assert_eq!(
        ended, 0,
        "the answering receiver waited for the hanging one's timeouts"
    );
    let owed = t
        .scalar_i64(&format!(
            "SELECT count(*) FROM webhook_deliveries \
             WHERE webhook_id IN (SELECT id FROM webhooks WHERE url = '{hanging_url}')"
        ))
        .await;
    assert!(
        owed >= events as i64,
        "the hanging receiver is owed {owed} deliveries"
    );
    let connections = held.lock().unwrap().len();
    assert!(
        (1..=PER_WEBHOOK).contains(&connections),
        "the hanging receiver holds {connections} requests"
    );
    // Closing the listener and the held connections ends those requests now, not at the
    // timeout (a request started later finds the port closed).
    acceptor.abort();
    let _ = acceptor.await;
    held.lock().unwrap().clear();
    s.stop().await;
}

/// A failed workflow shows up in the dead letters with its error; its timeline names every
/// transition with timing and its parent and children; search finds it by key and age; a bulk
/// retry brings it back.
async fn timeline_search_and_dead_letters(backend: Backend) {
    let t = setup(backend).await;
    let s = start(&t, Role::All, "ops").await;
    let http = common::http_as(TOKEN);
    let parent = probe(&s, &ProbeData::default()).await;
    let failing = s
        .client
        .start::<Probe>(
            ProbeState::First,
            &ProbeData {
                record: true,
                ..Default::default()
            },
            StartOptions {
                parent_id: Some(parent),
                idempotency_key: Some("search-me".into()),
                waiting: true,
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .id();
    mintflow::store::settings::put(
        &t.db,
        "retry_max_attempts",
        json!(1),
        "test",
        mintflow::store::now_ms(),
    )
    .await
    .unwrap();
    use sea_orm::ConnectionTrait;
    t.db.execute_unprepared(&format!(
        "INSERT INTO probe_failpoints (workflow_id, step, reason) VALUES ('{failing}', 1, 'boom')"
    ))
    .await
    .unwrap();
    s.client.wake(failing, "test").await.unwrap();
    eventually(Duration::from_secs(20), "the workflow to fail", || async {
        let w = s.client.get(failing).await.unwrap().unwrap();
        (w.status == Status::Failed.as_str()).then_some(())
    })
    .await;

    let get = |path: String| {
        let http = http.clone();
        let url = format!("{}{path}", base(&s));
        async move {
            let res = http.get(url).send().await.unwrap();
            assert_eq!(res.status(), StatusCode::OK);
            res.json::<Value>().await.unwrap()
        }
    };
    let dead = get("/v1/dead-letters".into()).await;
    let items = dead["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["id"], failing.to_string());
    assert!(items[0]["lastError"].as_str().unwrap().contains("boom"));

    let timeline = get(format!("/v1/workflows/{failing}/history")).await;
    assert_eq!(timeline["parent"]["id"], parent.to_string());
    assert_eq!(timeline["workflow"]["status"], "failed");
    let events = timeline["events"].as_array().unwrap();
    assert_eq!(events.first().unwrap()["event"], "created");
    let failed = events.last().unwrap();
    assert_eq!(failed["event"], "failed");
    assert!(failed["error"].as_str().unwrap().contains("boom"));
    let at_ms = |e: &Value| {
        chrono::DateTime::parse_from_rfc3339(e["at"].as_str().unwrap())
            .unwrap()
            .timestamp_millis()
    };
    let before_failing = &events[events.len() - 2];
    assert_eq!(
        failed["sincePreviousMs"].as_i64(),
        Some(at_ms(failed) - at_ms(before_failing)),
        "the time in the state it failed in: {timeline}"
    );
    let family = get(format!("/v1/workflows/{parent}/history")).await;
    assert_eq!(family["children"][0]["id"], failing.to_string());

    // Its stream replays every transition and ends: it is finished.
    let mut stream = SseClient::connect(
        &format!("{}/v1/workflows/{failing}/events", base(&s)),
        TOKEN,
        None,
    )
    .await;
    let mut streamed = Vec::new();
    while let Some(e) = stream.next().await {
        streamed.push(e.data["eventId"].as_i64().unwrap());
    }
    assert_eq!(streamed, history_ids(&t, failing).await);
    // Once retention has forgotten its events, its stream ends at once instead of hanging.
    mintflow::store::outbox::delete_before(&t.db, i64::MAX)
        .await
        .unwrap();
    let mut stream = SseClient::connect(
        &format!("{}/v1/workflows/{failing}/events", base(&s)),
        TOKEN,
        None,
    )
    .await;
    assert!(stream.next().await.is_none());
    // Resuming the all-events stream across the deleted events is refused, naming the gap;
    // from the head on it streams.
    let last = mintflow::store::outbox::forgotten_after(&t.db, 1)
        .await
        .unwrap()
        .expect("events after 1 were deleted");
    let resume = |last_event_id: &'static str| {
        let (http, url) = (http.clone(), format!("{}/v1/events", base(&s)));
        async move {
            let res = http
                .get(url)
                .header("Last-Event-ID", last_event_id)
                .send()
                .await
                .unwrap();
            (res.status(), res.json::<Value>().await.unwrap())
        }
    };
    let (status, body) = resume("1").await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["code"], "events_forgotten");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains(&format!("after 1 up to {last}")),
        "{body}"
    );
    let res = http
        .get(format!("{}/v1/events?after={last}", base(&s)))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    drop(res);
    for (path, status) in [
        (
            format!("/v1/workflows/{}/events", Uuid::now_v7()),
            StatusCode::NOT_FOUND,
        ),
        ("/v1/workflows/nope/events".into(), StatusCode::BAD_REQUEST),
        ("/v1/events?after=-1".into(), StatusCode::BAD_REQUEST),
    ] {
        let res = http
            .get(format!("{}{path}", base(&s)))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), status, "{path}");
    }
    let (status, err) = resume("yesterday").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(err["code"], "invalid_last_event_id");

    let by_key = get("/v1/workflows?idempotencyKey=search-me".into()).await;
    assert_eq!(by_key["items"].as_array().unwrap().len(), 1);
    let old = get("/v1/workflows?olderThanSeconds=3600".into()).await;
    assert!(old["items"].as_array().unwrap().is_empty());
    let none = get(format!("/v1/workflows?txHash=0x{}", "ab".repeat(32))).await;
    assert!(none["items"].as_array().unwrap().is_empty());

    t.db.execute_unprepared("DELETE FROM probe_failpoints")
        .await
        .unwrap();
    let res = http
        .post(format!("{}/v1/dead-letters/retry", base(&s)))
        .bearer_auth(TOKEN)
        .json(&json!({ "ids": [failing, Uuid::now_v7()], "reason": "fixed" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let out: Value = res.json().await.unwrap();
    assert_eq!(out["retried"], json!([failing]));
    assert_eq!(out["skipped"][0]["reason"], "not_found");
    eventually(
        Duration::from_secs(20),
        "the retried workflow to complete",
        || async {
            let w = s.client.get(failing).await.unwrap().unwrap();
            (w.status == Status::Completed.as_str()).then_some(())
        },
    )
    .await;
    let dead = get("/v1/dead-letters".into()).await;
    assert!(dead["items"].as_array().unwrap().is_empty());
    // The bulk retry is audited per workflow it retried, with its reason; the skipped id is not.
    let audit = admin_get(&http, format!("{}/v1/audit", base(&s))).await;
    let retries: Vec<&Value> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "workflow.retry")
        .collect();
    assert_eq!(retries.len(), 1, "{audit}");
    assert_eq!(retries[0]["target"], failing.to_string(), "{audit}");
    assert_eq!(retries[0]["detail"]["reason"], "fixed", "{audit}");
    s.stop().await;
}

/// Every admin action without a token or with a wrong one is 401 and changes nothing; with the
/// token it is done and recorded with its time (history for workflows, audit log for all).
async fn admin_actions_need_the_token(backend: Backend) {
    // Its refused deliveries count where `webhooks_survive_a_failing_receiver` compares its own.
    let _counters = metrics::exclusive().await;
    let t = setup(backend).await;
    let s = start(&t, Role::All, "admin").await;
    let http = reqwest::Client::new();
    let waiting = s
        .client
        .start::<Probe>(
            ProbeState::First,
            &ProbeData::default(),
            StartOptions {
                waiting: true,
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .id();
    // Its deliveries go to a port of ours that refuses them.
    let (_refusing, port) = common::refused_port();
    let refusing_base = format!("http://127.0.0.1:{port}");
    let (existing_hook, _) = {
        let res = http
            .post(format!("{}/v1/webhooks", base(&s)))
            .bearer_auth(TOKEN)
            .json(&json!({ "url": format!("{refusing_base}/hook") }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::CREATED);
        let v: Value = res.json().await.unwrap();
        (v["id"].as_str().unwrap().to_owned(), v)
    };
    let snapshot = || async {
        (
            t.scalar_i64("SELECT count(*) FROM workflow_events").await,
            mintflow::store::webhooks::list(&t.db)
                .await
                .unwrap()
                .into_iter()
                .map(|w| (w.url, w.secret))
                .collect::<Vec<_>>(),
            t.scalar_i64("SELECT count(*) FROM audit_log").await,
            s.client.get(waiting).await.unwrap().unwrap().status,
            mintflow::store::settings::load_all(&t.db)
                .await
                .unwrap()
                .into_iter()
                .map(|r| (r.key, r.value))
                .collect::<BTreeMap<_, _>>(),
        )
    };
    let reader = common::create_key(&t.db, "reader", "read").await;
    let before = snapshot().await;
    let actions: Vec<(reqwest::Method, String, Value)> = vec![
        (
            reqwest::Method::POST,
            format!("/v1/workflows/{waiting}/cancel"),
            Value::Null,
        ),
        (
            reqwest::Method::POST,
            format!("/v1/workflows/{waiting}/retry"),
            Value::Null,
        ),
        (
            reqwest::Method::POST,
            "/v1/dead-letters/retry".into(),
            json!({ "ids": [waiting] }),
        ),
        (
            reqwest::Method::PUT,
            "/v1/settings/max_batch_size".into(),
            json!({ "value": 7 }),
        ),
        (
            reqwest::Method::POST,
            "/v1/webhooks".into(),
            json!({ "url": format!("{refusing_base}/other") }),
        ),
        (
            reqwest::Method::DELETE,
            format!("/v1/webhooks/{existing_hook}"),
            Value::Null,
        ),
        (
            reqwest::Method::POST,
            format!("/v1/webhooks/{existing_hook}/redeliver"),
            json!({}),
        ),
        (
            reqwest::Method::PATCH,
            format!("/v1/webhooks/{existing_hook}"),
            json!({ "url": format!("{refusing_base}/moved") }),
        ),
        (reqwest::Method::GET, "/v1/webhooks".into(), Value::Null),
        (reqwest::Method::GET, "/v1/audit".into(), Value::Null),
    ];
    for (method, path, body) in &actions {
        for token in [None, Some("wrong-token")] {
            let mut req = http.request(method.clone(), format!("{}{path}", base(&s)));
            if let Some(token) = token {
                req = req.bearer_auth(token);
            }
            if !body.is_null() {
                req = req.json(body);
            }
            let res = req.send().await.unwrap();
            assert_eq!(
                res.status(),
                StatusCode::UNAUTHORIZED,
                "{method} {path} {token:?}"
            );
            let err: Value = res.json().await.unwrap();
            let code = if token.is_some() {
                "invalid_credentials"
            } else {
                "missing_credentials"
            };
            assert_eq!(err["code"], code, "{method} {path}");
        }
    }
    // A `read` key reads (the last two) but acts on nothing: 403.
    for (method, path, body) in &actions {
        let mut req = http
            .request(method.clone(), format!("{}{path}", base(&s)))
            .bearer_auth(&reader);
        if !body.is_null() {
            req = req.json(body);
        }
        let res = req.send().await.unwrap();
        if *method == reqwest::Method::GET {
            assert_eq!(res.status(), StatusCode::OK, "{method} {path}");
            continue;
        }
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{method} {path}");
        let err: Value = res.json().await.unwrap();
        assert_eq!(err["code"], "insufficient_scope", "{method} {path}");
    }
    // Bad subscriptions, with the token: a clear error each, and nothing stored.
    for (body, status, code) in [
        (
            json!({ "url": "ftp://example.com/hook" }),
            422,
            "invalid_url",
        ),
        (json!({ "url": "not a url" }), 422, "invalid_url"),
        (
            json!({ "url": format!("{refusing_base}/h"), "kinds": ["Mint!"] }),
            422,
            "invalid_filter",
        ),
        (
            json!({ "url": format!("{refusing_base}/h"), "states": [] }),
            400,
            "invalid_body",
        ),
        (
            json!({ "url": format!("{refusing_base}/h"), "secret": "short" }),
            400,
            "invalid_body",
        ),
    ] {
        let res = http
            .post(format!("{}/v1/webhooks", base(&s)))
            .bearer_auth(TOKEN)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), status, "{body}");
        let err: Value = res.json().await.unwrap();
        assert_eq!(err["code"], code, "{body}: {err}");
        assert!(err["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    assert_eq!(snapshot().await, before, "refused requests changed nothing");

    // With the token: each is done and leaves its trace.
    let send = |method: reqwest::Method, path: String, body: Value| {
        let mut req = http
            .request(method, format!("{}{path}", base(&s)))
            .bearer_auth(TOKEN)
            .header("X-Actor", "alice");
        if !body.is_null() {
            req = req.json(&body);
        }
        async move { req.send().await.unwrap().status() }
    };
    for (method, path, body, status) in [
        (
            reqwest::Method::PUT,
            "/v1/settings/max_batch_size".to_owned(),
            json!({ "value": 7 }),
            StatusCode::OK,
        ),
        (
            reqwest::Method::POST,
            format!("/v1/workflows/{waiting}/cancel"),
            Value::Null,
            StatusCode::OK,
        ),
        (
            reqwest::Method::DELETE,
            format!("/v1/webhooks/{existing_hook}"),
            Value::Null,
            StatusCode::NO_CONTENT,
        ),
    ] {
        assert_eq!(send(method, path, body).await, status);
    }
    let history = mintflow::store::events::history(&t.db, waiting)
        .await
        .unwrap();
    let cancelled = history.last().unwrap();
    assert_eq!(cancelled.event, "cancelled");
    assert_eq!(cancelled.detail.as_ref().unwrap()["actor"], "admin (alice)");
    let audit: Value = admin_get(&http, format!("{}/v1/audit", base(&s))).await;
    let entries: Vec<(String, String)> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            assert!(e["at"].as_str().is_some(), "recorded with its time");
            (
                e["action"].as_str().unwrap().to_owned(),
                e["actor"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        entries,
        vec![
            ("webhook.delete".into(), "admin (alice)".into()),
            ("workflow.cancel".into(), "admin (alice)".into()),
            ("settings.update".into(), "admin (alice)".into()),
            ("key.create".into(), "test".into()),
            ("webhook.create".into(), "admin".into()),
        ]
    );
    s.stop().await;
}
