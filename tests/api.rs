//! The HTTP API against a real server on both backends: typed errors that change nothing,
//! admin auth, filters and pagination, operator actions and live settings.
#[macro_use]
mod common;

use std::time::Duration;

use common::spec::{assert_matches, send_checked};
use common::{Backend, TestDb, eventually, ready_check};
use mintflow::engine::{EngineConfig, Registry, StartOptions};
use mintflow::service::{Role, Service, ServiceConfig};
use mintflow::webhooks::target::TargetPolicy;
use mintflow::workflows::probe::{Probe, ProbeData, ProbeState};
use reqwest::StatusCode;
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

const TOKEN: &str = "test-admin-token";

on_both_backends!(
    bad_input_changes_nothing,
    operator_actions_over_http,
    list_filters_and_pages,
    settings_change_live,
    answers_are_what_the_spec_says,
    twenty_failed_authentications_lock_the_client_out,
    a_failed_database_read_is_internal,
);

struct Server {
    t: TestDb,
    service: Service,
    base: String,
    /// Sends the admin token, or without one a `read` key.
    http: reqwest::Client,
    /// Sends no credentials.
    anon: reqwest::Client,
}

async fn server(backend: Backend, admin_token: Option<&str>) -> Server {
    let t = TestDb::new(backend).await;
    Probe::create_tables(&t.db).await.unwrap();
    common::fast_settings(&t.db, 2).await;
    let config = ServiceConfig {
        database_url: t.url.clone(),
        database_max_connections: 8,
        listen_addr: "127.0.0.1:0".into(),
        admin_token: admin_token.map(Into::into),
        public_reads: false,
        role: Role::All,
        engine: EngineConfig {
            worker_id: "api-test".into(),
            shutdown_grace: Duration::from_secs(2),
        },
        limits: Default::default(),
        edge: Default::default(),
        // Webhooks here point at this machine (nothing listens there): never outside it.
        webhook_targets: TargetPolicy {
            allow_private: true,
        },
        chain: None,
    };
    let service = Service::start(config, |_| Registry::new().register(Probe))
        .await
        .unwrap();
    let base = format!("http://{}", service.http_addr().unwrap());
    let reader = match admin_token {
        Some(token) => token.to_owned(),
        None => common::create_key(&t.db, "reader", "read").await,
    };
    Server {
        t,
        service,
        base,
        http: common::http_as(&reader),
        anon: reqwest::Client::new(),
    }
}

impl Server {
    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send(self.http.get(format!("{}{path}", self.base)))
            .await
    }

    /// Sends `req`; an error answer is checked against the spec.
    async fn send(&self, req: reqwest::RequestBuilder) -> (StatusCode, Value) {
        let (status, body, _) = send_checked(req).await;
        (status, body)
    }

    fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.post(format!("{}{path}", self.base))
    }

    fn put(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.put(format!("{}{path}", self.base))
    }

    async fn probe(&self, data: ProbeData, opts: StartOptions) -> uuid::Uuid {
        self.service
            .client
            .start::<Probe>(ProbeState::First, &data, opts)
            .await
            .unwrap()
            .id()
    }

    /// Everything a rejected request could have changed.
    async fn snapshot(&self) -> (Value, Value, i64, i64) {
        let (_, settings) = self.get("/v1/settings").await;
        let (_, workflows) = self.get("/v1/workflows?limit=500").await;
        let events = self
            .t
            .scalar_i64("SELECT count(*) FROM workflow_events")
            .await;
        let keys = self.t.scalar_i64("SELECT count(*) FROM api_keys").await;
        (settings, workflows, events, keys)
    }
}

fn assert_error(got: (StatusCode, Value), status: StatusCode, code: &str) {
    assert_eq!(got.0, status, "body: {}", got.1);
    assert_eq!(got.1["code"], code, "body: {}", got.1);
    assert!(
        got.1["message"].as_str().is_some_and(|m| !m.is_empty()),
        "a human message: {}",
        got.1
    );
}

async fn bad_input_changes_nothing(backend: Backend) {
    let s = server(backend, Some(TOKEN)).await;
    let waiting = s
        .probe(
            ProbeData::default(),
            StartOptions {
                waiting: true,
                ..Default::default()
            },
        )
        .await;
    let before = s.snapshot().await;
    let bearer = |r: reqwest::RequestBuilder, t: &str| r.bearer_auth(t);

    assert_error(
        s.get("/v1/workflows/not-a-uuid").await,
        StatusCode::BAD_REQUEST,
        "invalid_id",
    );
    assert_error(
        s.get("/v1/workflows/not-a-uuid/history").await,
        StatusCode::BAD_REQUEST,
        "invalid_id",
    );
    assert_error(
        s.get("/v1/workflows?payer_address=0x1").await,
        StatusCode::BAD_REQUEST,
        "unknown_filter",
    );
    assert_error(
        s.get("/v1/workflows?status=sleepy").await,
        StatusCode::BAD_REQUEST,
        "invalid_parameter",
    );
    assert_error(
        s.get("/v1/workflows?limit=0").await,
        StatusCode::BAD_REQUEST,
        "invalid_parameter",
    );
    assert_error(
        s.get("/v1/workflows?createdAfter=yesterday").await,
        StatusCode::BAD_REQUEST,
        "invalid_parameter",
    );
    assert_error(
        s.get("/v1/workflows?cursor=42").await,
        StatusCode::BAD_REQUEST,
        "invalid_id",
    );
    // Kinds and states are the spec's enums: a typo is refused, not a filter matching nothing.
    assert_error(
        s.get("/v1/workflows?kind=mints").await,
        StatusCode::BAD_REQUEST,
        "invalid_filter",
    );
    assert_error(
        s.get("/v1/workflows?state=Confirmed").await,
        StatusCode::BAD_REQUEST,
        "invalid_filter",
    );
    assert_error(
        s.get("/v1/dead-letters?kind=nope").await,
        StatusCode::BAD_REQUEST,
        "invalid_filter",
    );
    // A string field takes a JSON string only (poem's own `String` would take `false`).
    assert_error(
        s.send(
            bearer(s.post("/v1/keys"), TOKEN).json(&json!({ "name": false, "scopes": ["read"] })),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_body",
    );
    // Spaces pass the body's length check, and name nothing.
    assert_error(
        s.send(
            bearer(s.post("/v1/keys"), TOKEN).json(&json!({ "name": "   ", "scopes": ["read"] })),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_key_request",
    );
    assert_error(
        s.get("/v1/events?after=-1").await,
        StatusCode::BAD_REQUEST,
        "invalid_position",
    );
    // This server has no chain: a well-formed mint cannot be taken.
    assert_error(
        s.send(
            bearer(s.post("/v1/mints"), TOKEN)
                .json(&json!({ "payer": "0x70997970C51812dc3A010C7d01b50e0d17dc79C8" })),
        )
        .await,
        StatusCode::SERVICE_UNAVAILABLE,
        "no_chain",
    );
    // A header poem cannot read as text would be dropped, and the mint made without a key.
    let unreadable = reqwest::header::HeaderValue::from_bytes(b"\xd7\xf8").unwrap();
    assert_error(
        s.send(
            bearer(s.post("/v1/mints"), TOKEN)
                .header("Idempotency-Key", unreadable)
                .json(&json!({ "payer": "0x70997970C51812dc3A010C7d01b50e0d17dc79C8" })),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_idempotency_key",
    );
    let missing = uuid::Uuid::now_v7();
    assert_error(
        s.get(&format!("/v1/workflows/{missing}")).await,
        StatusCode::NOT_FOUND,
        "workflow_not_found",
    );
    // Every resource's unknown id is 404 with the code that names the resource.
    for (path, code) in [
        (format!("/v1/mints/{missing}"), "mint_not_found"),
        (format!("/v1/batches/{missing}"), "batch_not_found"),
        (format!("/v1/payments/{missing}"), "payment_not_found"),
        (format!("/v1/deployments/{missing}"), "deployment_not_found"),
        (format!("/v1/webhooks/{missing}"), "webhook_not_found"),
    ] {
        assert_error(s.get(&path).await, StatusCode::NOT_FOUND, code);
    }
    assert_error(
        s.send(bearer(
            s.http.delete(format!("{}/v1/keys/{missing}", s.base)),
            TOKEN,
        ))
        .await,
        StatusCode::NOT_FOUND,
        "key_not_found",
    );
    assert_error(
        s.get("/v1/nothing-here").await,
        StatusCode::NOT_FOUND,
        "not_found",
    );

    let cancel = format!("/v1/workflows/{waiting}/cancel");
    assert_error(
        s.send(s.anon.post(format!("{}{cancel}", s.base))).await,
        StatusCode::UNAUTHORIZED,
        "missing_credentials",
    );
    assert_error(
        s.send(bearer(s.post(&cancel), "guess")).await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    );
    assert_error(
        s.send(bearer(
            s.post(&format!("/v1/workflows/{waiting}/retry")),
            TOKEN,
        ))
        .await,
        StatusCode::CONFLICT,
        "wrong_status",
    );
    assert_error(
        s.send(bearer(
            s.post(&format!("/v1/workflows/{missing}/retry")),
            TOKEN,
        ))
        .await,
        StatusCode::NOT_FOUND,
        "workflow_not_found",
    );
    assert_error(
        s.send(bearer(s.post("/v1/workflows/xyz/retry"), TOKEN))
            .await,
        StatusCode::BAD_REQUEST,
        "invalid_id",
    );

    let setting = "/v1/settings/max_batch_size";
    assert_error(
        s.send(
            s.anon
                .put(format!("{}{setting}", s.base))
                .json(&json!({"value": 7})),
        )
        .await,
        StatusCode::UNAUTHORIZED,
        "missing_credentials",
    );
    assert_error(
        s.send(bearer(s.put(setting), "guess").json(&json!({"value": 7})))
            .await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    );
    assert_error(
        s.send(bearer(s.put(setting), TOKEN).json(&json!({"value": "seven"})))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_value",
    );
    assert_error(
        s.send(bearer(s.put(setting), TOKEN).json(&json!({"value": 0})))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_value",
    );
    assert_error(
        s.send(bearer(s.put(setting), TOKEN).json(&json!({"value": 1.5})))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_value",
    );
    assert_error(
        s.send(bearer(s.put("/v1/settings/no_such_thing"), TOKEN).json(&json!({"value": 1})))
            .await,
        StatusCode::NOT_FOUND,
        "setting_not_found",
    );
    let malformed = bearer(s.put(setting), TOKEN)
        .header("content-type", "application/json")
        .body("{\"value\": ");
    assert_error(
        s.send(malformed).await,
        StatusCode::BAD_REQUEST,
        "invalid_body",
    );
    let not_json = bearer(s.put(setting), TOKEN)
        .header("content-type", "text/plain")
        .body("7");
    assert_error(
        s.send(not_json).await,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_content_type",
    );
    // Refused before its body is read, an oversized request's connection is closed: these go on
    // a client of their own, so that no later request is sent on a connection being closed.
    let oversized = || {
        reqwest::Client::new()
            .put(format!("{}{setting}", s.base))
            .bearer_auth(TOKEN)
    };
    let huge = json!({ "value": 7, "padding": "x".repeat(80_000) });
    assert_error(
        s.send(oversized().json(&huge)).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    );
    // Chunked (no Content-Length) is limited too.
    let stream = futures::stream::iter((0..20).map(|_| Ok::<_, std::io::Error>(vec![b' '; 4096])));
    let chunked = oversized()
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(stream));
    assert_error(
        s.send(chunked).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    );

    assert_eq!(
        s.snapshot().await,
        before,
        "no rejected request changed anything"
    );
    s.service.stop().await;

    // Without a configured token the admin token door is closed, whatever is presented, and a
    // `read` key is no admin.
    let closed = server(backend, None).await;
    let id = closed
        .probe(
            ProbeData::default(),
            StartOptions {
                waiting: true,
                ..Default::default()
            },
        )
        .await;
    let cancel = closed
        .post(&format!("/v1/workflows/{id}/cancel"))
        .bearer_auth("anything");
    assert_error(
        closed.send(cancel).await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    );
    assert_error(
        closed
            .send(closed.post(&format!("/v1/workflows/{id}/cancel")))
            .await,
        StatusCode::FORBIDDEN,
        "insufficient_scope",
    );
    let put = closed
        .put("/v1/settings/max_batch_size")
        .bearer_auth("anything")
        .json(&json!({"value": 7}));
    assert_error(
        closed.send(put).await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    );
    assert_eq!(
        closed.get(&format!("/v1/workflows/{id}")).await.1["status"],
        "waiting"
    );
    closed.service.stop().await;
}

/// A read the database fails is 500 `internal` with a generic message: the database's own
/// words go to the server log only. Once the database answers again, so does the route.
async fn a_failed_database_read_is_internal(backend: Backend) {
    let s = server(backend, Some(TOKEN)).await;
    let id = s
        .probe(
            ProbeData::default(),
            StartOptions {
                waiting: true,
                ..Default::default()
            },
        )
        .await;
    let history = format!("/v1/workflows/{id}/history");
    assert_eq!(s.get(&history).await.0, StatusCode::OK);
    // The table the history is read from goes away under the running service (the waiting
    // probe takes no step that would write to it).
    let rename = |from: &str, to: &str| format!("ALTER TABLE {from} RENAME TO {to}");
    s.t.db
        .execute_unprepared(&rename("workflow_events", "workflow_events_away"))
        .await
        .unwrap();
    let failed = s.get(&history).await;
    assert!(
        !failed.1.to_string().contains("workflow_events"),
        "the database's words leaked: {}",
        failed.1
    );
    assert_error(failed, StatusCode::INTERNAL_SERVER_ERROR, "internal");
    s.t.db
        .execute_unprepared(&rename("workflow_events_away", "workflow_events"))
        .await
        .unwrap();
    assert_eq!(s.get(&history).await.0, StatusCode::OK);
    s.service.stop().await;
}

async fn operator_actions_over_http(backend: Backend) {
    let s = server(backend, Some(TOKEN)).await;
    let (status, health) = s.get("/health").await;
    assert_eq!(
        (status, health["status"].as_str()),
        (StatusCode::OK, Some("ok"))
    );
    let (status, ready) = s.get("/ready").await;
    assert_eq!(status, StatusCode::OK, "{ready}");
    assert_eq!(ready_check(&ready, "database")["ok"], true, "{ready}");
    // Without a chain, the chain checks pass; no check says more than its verdict.
    assert_eq!(ready_check(&ready, "rpc")["ok"], true, "{ready}");
    assert_eq!(ready_check(&ready, "rpc").get("detail"), None, "{ready}");

    let id = s
        .probe(
            ProbeData {
                record: true,
                ..Default::default()
            },
            StartOptions {
                waiting: true,
                ..Default::default()
            },
        )
        .await;
    s.t.db
        .execute_unprepared(&format!(
            "INSERT INTO probe_failpoints VALUES ('{id}', 1, 'bad recipient')"
        ))
        .await
        .unwrap();
    s.service.client.wake(id, "test").await.unwrap();
    let path = format!("/v1/workflows/{id}");
    eventually(Duration::from_secs(20), "the workflow to fail", || async {
        (s.get(&path).await.1["status"] == "failed").then_some(())
    })
    .await;
    let (_, failed) = s.get(&path).await;
    assert_eq!(failed["lastError"], "bad recipient");
    s.t.db
        .execute_unprepared("DELETE FROM probe_failpoints")
        .await
        .unwrap();

    let retry = s
        .post(&format!("{path}/retry?reason=fixed%20the%20recipient"))
        .bearer_auth(TOKEN)
        .header("X-Actor", "bob");
    let (status, body) = s.send(retry).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "running");
    eventually(
        Duration::from_secs(20),
        "the retried workflow to complete",
        || async { (s.get(&path).await.1["status"] == "completed").then_some(()) },
    )
    .await;
    let (status, history) = s.get(&format!("{path}/history")).await;
    assert_eq!(status, StatusCode::OK);
    let events: Vec<&str> = history["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        events,
        [
            "created",
            "woken",
            "failed",
            "retried",
            "step",
            "step",
            "completed"
        ]
    );
    let retried = &history["events"][3];
    assert_eq!(
        (
            retried["detail"]["actor"].as_str(),
            retried["detail"]["reason"].as_str()
        ),
        (Some("admin (bob)"), Some("fixed the recipient"))
    );
    assert_eq!(retried["detail"]["via"], "api");
    // Every event after the first carries its time in the previous state: all of them.
    let events = history["events"].as_array().unwrap();
    let at_ms = |e: &Value| {
        chrono::DateTime::parse_from_rfc3339(e["at"].as_str().unwrap())
            .unwrap()
            .timestamp_millis()
    };
    assert!(events[0]["sincePreviousMs"].is_null(), "{history}");
    for pair in events.windows(2) {
        assert_eq!(
            pair[1]["sincePreviousMs"].as_i64(),
            Some(at_ms(&pair[1]) - at_ms(&pair[0])),
            "{history}"
        );
    }
    // The retry is in the audit log, with its operator and reason.
    let (_, audit) = s.get("/v1/audit").await;
    let entry = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "workflow.retry" && e["target"] == id.to_string())
        .unwrap_or_else(|| panic!("no retry of {id} in the audit log: {audit}"));
    assert_eq!(entry["actor"], "admin (bob)", "{entry}");
    assert_eq!(entry["detail"]["reason"], "fixed the recipient", "{entry}");

    let later = s
        .probe(
            ProbeData::default(),
            StartOptions {
                run_at_ms: Some(mintflow::store::now_ms() + 600_000),
                ..Default::default()
            },
        )
        .await;
    let (status, body) = s
        .send(
            s.post(&format!("/v1/workflows/{later}/cancel"))
                .bearer_auth(TOKEN),
        )
        .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("cancelled"))
    );
    let (_, history) = s.get(&format!("/v1/workflows/{later}/history")).await;
    assert_eq!(history["events"][1]["detail"]["actor"], "admin");
    s.service.stop().await;
}

/// A generated client trusts the spec: what a waiting workflow, a history without a parent,
/// `/v1/stats` without a chain and a webhook with cleared filters send (their `null`s included)
/// is an instance of the schema the spec names for it.
async fn answers_are_what_the_spec_says(backend: Backend) {
    let s = server(backend, Some(TOKEN)).await;
    let id = s
        .probe(
            ProbeData::default(),
            StartOptions {
                waiting: true,
                ..Default::default()
            },
        )
        .await;
    let (status, workflow) = s.get(&format!("/v1/workflows/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{workflow}");
    assert!(workflow["finishedAt"].is_null(), "{workflow}");
    assert_matches("Workflow", &workflow);
    let (_, history) = s.get(&format!("/v1/workflows/{id}/history")).await;
    assert!(history["parent"].is_null(), "{history}");
    assert_matches("History", &history);
    let (_, page) = s.get("/v1/workflows?limit=1").await;
    assert_matches("WorkflowPage", &page);
    let (_, stats) = s.get("/v1/stats").await;
    assert!(stats["signer"].is_null(), "no chain, no signer: {stats}");
    assert_matches("Stats", &stats);

    // A port of ours where nothing listens, and filters no event of this test passes.
    let (_refusing, port) = common::refused_port();
    let hook = json!({ "url": format!("http://127.0.0.1:{port}/hook"), "kinds": ["deployment"],
                       "states": ["failed"], "description": "a receiver" });
    let (status, created) = s.send(s.post("/v1/webhooks").json(&hook)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_matches("Webhook", &created);
    // PATCH's tri-state filters: `null` clears them, as the spec's `nullable` says.
    let cleared = json!({ "kinds": null, "states": null, "description": null });
    let path = format!("{}/v1/webhooks/{}", s.base, created["id"].as_str().unwrap());
    let (status, changed) = s.send(s.http.patch(&path).json(&cleared)).await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(
        (
            &changed["kinds"],
            &changed["states"],
            &changed["description"]
        ),
        (&Value::Null, &Value::Null, &Value::Null),
        "{changed}"
    );
    assert_matches("Webhook", &changed);
    s.service.stop().await;
}

async fn list_filters_and_pages(backend: Backend) {
    let s = server(backend, Some(TOKEN)).await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(
            s.probe(
                ProbeData::default(),
                StartOptions {
                    waiting: true,
                    ..Default::default()
                },
            )
            .await,
        );
    }
    let done = s.probe(ProbeData::default(), StartOptions::default()).await;
    eventually(Duration::from_secs(20), "one completed", || async {
        (s.get(&format!("/v1/workflows/{done}")).await.1["status"] == "completed").then_some(())
    })
    .await;
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let q = cursor
            .as_ref()
            .map(|c| format!("&cursor={c}"))
            .unwrap_or_default();
        let (status, page) = s
            .get(&format!(
                "/v1/workflows?status=waiting&kind=probe&limit=2{q}"
            ))
            .await;
        assert_eq!(status, StatusCode::OK);
        for item in page["items"].as_array().unwrap() {
            assert_eq!(item["status"], "waiting");
            seen.push(item["id"].as_str().unwrap().parse::<uuid::Uuid>().unwrap());
        }
        match page["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    ids.reverse();
    assert_eq!(
        seen, ids,
        "every waiting workflow once, newest first, over three pages"
    );
    let (_, completed) = s.get("/v1/workflows?status=completed").await;
    assert_eq!(completed["items"].as_array().unwrap().len(), 1);
    let (_, none) = s.get("/v1/workflows?kind=mint").await;
    assert!(none["items"].as_array().unwrap().is_empty());
    let future = "2999-01-01T00:00:00Z";
    let (_, none) = s.get(&format!("/v1/workflows?createdAfter={future}")).await;
    assert!(none["items"].as_array().unwrap().is_empty());
    let (_, all) = s
        .get(&format!("/v1/workflows?createdBefore={future}&state=first"))
        .await;
    assert_eq!(all["items"].as_array().unwrap().len(), 5);
    s.service.stop().await;
}

/// A client that fails authentication 20 times in a minute is refused, even with a good key,
/// with 429 `too_many_auth_failures` and when to come back.
async fn twenty_failed_authentications_lock_the_client_out(backend: Backend) {
    let s = server(backend, Some(TOKEN)).await;
    for _ in 0..20 {
        assert_error(
            s.send(
                s.http
                    .get(format!("{}/v1/stats", s.base))
                    .bearer_auth("guess"),
            )
            .await,
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
        );
    }
    for token in ["guess", TOKEN] {
        let res = s
            .http
            .get(format!("{}/v1/stats", s.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert!(res.headers().contains_key("retry-after"), "{token}");
        let status = res.status();
        let body: Value = res.json().await.unwrap();
        assert_error(
            (status, body),
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_auth_failures",
        );
    }
    s.service.stop().await;
}

async fn settings_change_live(backend: Backend) {
    let s = server(backend, Some(TOKEN)).await;
    assert_eq!(s.service.settings.get().max_batch_size, 100);
    let put = s
        .put("/v1/settings/max_batch_size")
        .bearer_auth(TOKEN)
        .header("X-Actor", "carol")
        .json(&json!({"value": 25}));
    let (status, body) = s.send(put).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (body["value"].as_i64(), body["updatedBy"].as_str()),
        (Some(25), Some("admin (carol)"))
    );
    assert_eq!(
        s.service.settings.get().max_batch_size,
        25,
        "effective in this process at once"
    );
    let (_, list) = s.get("/v1/settings").await;
    let entry = list
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["key"] == "max_batch_size")
        .unwrap();
    assert_eq!(
        (entry["value"].as_i64(), entry["default"].as_i64()),
        (Some(25), Some(100))
    );
    // Another process sharing the database sees it on its next reload.
    let other = mintflow::config::SettingsHandle::load(&s.t.reconnect().await)
        .await
        .unwrap();
    assert_eq!(other.get().max_batch_size, 25);

    // Every setting's range is closed at the top too: its max is taken, one more is refused
    // with its code and leaves the max in place.
    for spec in mintflow::config::settings::SPECS {
        let path = format!("/v1/settings/{}", spec.key);
        let (status, body) = s
            .send(
                s.put(&path)
                    .bearer_auth(TOKEN)
                    .json(&json!({"value": spec.max})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{}: {body}", spec.key);
        assert_error(
            s.send(
                s.put(&path)
                    .bearer_auth(TOKEN)
                    // As u64: one setting's max is i64::MAX.
                    .json(&json!({"value": spec.max as u64 + 1})),
            )
            .await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_value",
        );
    }
    let (_, list) = s.get("/v1/settings").await;
    for spec in mintflow::config::settings::SPECS {
        let entry = list
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["key"] == spec.key);
        assert_eq!(
            entry.and_then(|e| e["value"].as_i64()),
            Some(spec.max),
            "{}: {list}",
            spec.key
        );
    }
    s.service.stop().await;
}

/// A service with a chain: `/ready` reports the node, the sender runs in role `all`, and a
/// node that goes away makes the service not ready while it stays live.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ready_reports_the_chain_and_the_sender_runs() {
    use alloy::primitives::{Address, Bytes, U256};
    use mintflow::chain::{Call, ChainConfig, Submit, TxOutcome};
    use mintflow::service::{ChainSetup, Contracts};

    let node = common::anvil(&[]);
    let t = TestDb::new(Backend::Sqlite).await;
    mintflow::store::settings::put(
        &t.db,
        "confirmations",
        json!(0),
        "test",
        mintflow::store::now_ms(),
    )
    .await
    .unwrap();
    let signer = mintflow::chain::signer::load(Some(common::DEV_KEY), None, None).unwrap();
    let address = signer.address();
    let config = ServiceConfig {
        database_url: t.url.clone(),
        database_max_connections: 8,
        listen_addr: "127.0.0.1:0".into(),
        admin_token: None,
        public_reads: false,
        role: Role::All,
        engine: EngineConfig {
            worker_id: "chain-health-test".into(),
            shutdown_grace: Duration::from_secs(2),
        },
        limits: Default::default(),
        edge: Default::default(),
        webhook_targets: Default::default(),
        chain: Some(ChainSetup {
            config: ChainConfig {
                rpc_url: node.endpoint(),
                poll_ms: 50,
                ..Default::default()
            },
            signers: vec![signer],
            contracts: Contracts::default(),
        }),
    };
    let service = Service::start(config, |_| Registry::new().register(Probe))
        .await
        .unwrap();
    let base = format!("http://{}", service.http_addr().unwrap());
    let get = |path: &'static str| {
        let url = format!("{base}{path}");
        async move {
            let res = reqwest::get(url).await.unwrap();
            (res.status(), res.json::<Value>().await.unwrap())
        }
    };

    let (status, ready) = get("/ready").await;
    assert_eq!(status, StatusCode::OK, "{ready}");
    assert_eq!(ready_check(&ready, "rpc")["ok"], true, "{ready}");
    assert_eq!(ready_check(&ready, "signer_funded")["ok"], true, "{ready}");
    // Public: verdicts only, not the signer nor its balance.
    assert!(!ready.to_string().contains(&address.to_string()), "{ready}");

    // Automine: the transaction is mined as soon as the service's sender broadcasts it.
    let chain = service.chain.clone().expect("the service has its chain");
    let id = chain
        .submit(Submit {
            key: "health-test-transfer".into(),
            owner: None,
            purpose: "test".into(),
            call: Call {
                to: Some(Address::repeat_byte(0x11)),
                input: Bytes::new(),
                value: U256::ZERO,
                gas_limit: Some(21_000),
            },
        })
        .await
        .unwrap();
    let outcome = eventually(Duration::from_secs(30), "the sender to confirm", || async {
        match chain.outcome(id).await.unwrap() {
            TxOutcome::Pending { .. } => None,
            done => Some(done),
        }
    })
    .await;
    assert!(
        matches!(outcome, TxOutcome::Confirmed { .. }),
        "{outcome:?}"
    );

    tokio::task::spawn_blocking(move || drop(node))
        .await
        .unwrap();
    let (status, ready) = get("/ready").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{ready}");
    assert_eq!(
        (
            ready["ready"].as_bool(),
            ready_check(&ready, "rpc")["ok"].as_bool()
        ),
        (Some(false), Some(false))
    );
    assert_eq!(ready_check(&ready, "database")["ok"], true, "{ready}");
    let (status, health) = get("/health").await;
    assert_eq!(
        status,
        StatusCode::OK,
        "liveness does not depend on the node: {health}"
    );
    drop(chain);
    service.stop().await;
}

#[test]
fn committed_openapi_spec_is_current() {
    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json"))
            .unwrap_or_default();
    let generated = mintflow::api::spec_json();
    assert!(
        committed.trim_end() == generated.trim_end(),
        "openapi/openapi.json differs from the code; regenerate it with:\n    cargo run -- openapi > openapi/openapi.json"
    );
}
