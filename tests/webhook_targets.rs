//! Webhook targets (server-side request forgery): a webhook cannot make the service post to
//! loopback, private, link-local or other non-public addresses unless the operator allows it,
//! neither when it is created or changed (422) nor when a delivery connects (the address is
//! checked again then, after resolution).
#[macro_use]
mod common;

use std::time::Duration;

use common::ops::Receiver;
use common::{Backend, TestDb, eventually};
use mintflow::engine::{EngineConfig, Registry, StartOptions};
use mintflow::service::{Role, Service, ServiceConfig};
use mintflow::webhooks::target::TargetPolicy;
use mintflow::workflows::probe::{Probe, ProbeData, ProbeState};
use serde_json::{Value, json};

on_both_backends!(private_targets_are_refused_at_creation_and_at_delivery);

const TOKEN: &str = "targets-admin-token";
const WAIT: Duration = Duration::from_secs(30);

async fn start(t: &TestDb, allow_private: bool) -> Service {
    let config = ServiceConfig {
        database_url: t.url.clone(),
        database_max_connections: 4,
        listen_addr: "127.0.0.1:0".into(),
        admin_token: Some(TOKEN.into()),
        public_reads: false,
        role: Role::All,
        engine: EngineConfig {
            worker_id: "targets".into(),
            shutdown_grace: Duration::from_secs(2),
        },
        limits: Default::default(),
        edge: Default::default(),
        chain: None,
        webhook_targets: TargetPolicy { allow_private },
    };
    Service::start(config, |_| Registry::new().register(Probe))
        .await
        .unwrap()
}

/// Sends `body` to `/v1/webhooks[/{id}]` with `method`; the status and JSON answer.
async fn send(s: &Service, method: reqwest::Method, path: &str, body: Value) -> (u16, Value) {
    let res = reqwest::Client::new()
        .request(method, format!("http://{}{path}", s.http_addr().unwrap()))
        .bearer_auth(TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap();
    (
        res.status().as_u16(),
        res.json().await.unwrap_or(Value::Null),
    )
}

async fn private_targets_are_refused_at_creation_and_at_delivery(backend: Backend) {
    let t = TestDb::new(backend).await;
    Probe::create_tables(&t.db).await.unwrap();
    common::fast_settings(&t.db, 2).await;
    let receiver = Receiver::start(0).await;
    // By name this time: the delivery's resolver must refuse what `localhost` resolves to.
    let by_name = receiver.url.replace("127.0.0.1", "localhost");

    // Created while private targets are allowed (a receiver on this host).
    let open = start(&t, true).await;
    let mut hooks = Vec::new();
    for url in [&receiver.url, &by_name] {
        let (status, hook) = send(
            &open,
            reqwest::Method::POST,
            "/v1/webhooks",
            json!({ "url": url, "kinds": ["probe"] }),
        )
        .await;
        assert_eq!(status, 201, "{hook}");
        hooks.push(hook["id"].as_str().unwrap().to_owned());
    }
    open.stop().await;

    let strict = start(&t, false).await;
    for url in [
        "http://127.0.0.1:9/hook",
        "http://10.1.2.3/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:127.0.0.1]/hook",
        "http://[fe80::1]/hook",
        "http://localhost:9/hook",
    ] {
        let (status, answer) = send(
            &strict,
            reqwest::Method::POST,
            "/v1/webhooks",
            json!({ "url": url }),
        )
        .await;
        assert_eq!(status, 422, "{url}: {answer}");
        assert_eq!(answer["code"], "webhook_target_refused", "{url}: {answer}");
    }
    let (status, answer) = send(
        &strict,
        reqwest::Method::PATCH,
        &format!("/v1/webhooks/{}", hooks[0]),
        json!({ "url": "http://192.168.0.10/hook" }),
    )
    .await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(answer["code"], "webhook_target_refused");

    // Both webhooks now point where this process may not post: each delivery is a failure
    // that says so, and the receiver hears nothing.
    strict
        .client
        .start::<Probe>(
            ProbeState::First,
            &ProbeData::default(),
            StartOptions::default(),
        )
        .await
        .unwrap();
    let http = reqwest::Client::new();
    for (hook, refused) in hooks.iter().zip(["127.0.0.1", "localhost"]) {
        let url = format!(
            "http://{}/v1/webhooks/{hook}/deliveries",
            strict.http_addr().unwrap()
        );
        let error = eventually(WAIT, "a refused delivery recorded", || async {
            let page: Value = http
                .get(&url)
                .bearer_auth(TOKEN)
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            page["items"]
                .as_array()?
                .iter()
                .find_map(|d| d["lastError"].as_str().map(str::to_owned))
        })
        .await;
        assert!(
            error.starts_with(&format!("refused target: {refused}")),
            "{error}"
        );
        assert!(error.contains("WEBHOOK_ALLOW_PRIVATE_TARGETS"), "{error}");
    }
    assert!(receiver.accepted().is_empty());
    assert_eq!(receiver.refused(), 0);
    strict.stop().await;
}
