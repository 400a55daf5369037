//! No internals leak: the node's and the database's own words (which quote the RPC URL, and
//! with it a hosted node's API key) reach the server log only. Everything a client or an
//! operator sees (answers, workflows and their histories, readiness, stats, the event stream,
//! webhook bodies) carries stable codes and generic messages instead.
#[macro_use]
mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::ops::{Receiver, SseClient};
use common::stack::{ADMIN_TOKEN, Stack, StackOptions};
use common::{Backend, eventually};
use reqwest::Method;
use serde_json::{Value, json};

on_both_backends!(a_secret_in_the_node_url_never_leaks);

const SECRET: &str = "SECRET-KEY-3f9a1c";
const WAIT: Duration = Duration::from_secs(120);

async fn a_secret_in_the_node_url_never_leaks(backend: Backend) {
    let stack = Stack::start(
        backend,
        StackOptions {
            node_secret: Some(SECRET),
            ..Default::default()
        },
    )
    .await;
    let proxy = stack.proxy.as_ref().unwrap();
    assert!(proxy.url().contains(SECRET));
    // Everything seen from outside, as text.
    let seen = Arc::new(Mutex::new(String::new()));
    let follower = tokio::spawn(follow(format!("{}/v1/events", stack.base), seen.clone()));
    let receiver = Receiver::start(0).await;
    let hook = json!({ "url": receiver.url });
    let (status, answer) = send(&stack, Method::POST, "/v1/webhooks", hook).await;
    assert_eq!(status, 201, "{answer}");

    proxy.down().await;
    let mut mints = Vec::new();
    for i in 0..3 {
        let payer = format!("0x{:040x}", 0x1000 + i);
        let (status, answer) =
            send(&stack, Method::POST, "/v1/mints", json!({ "payer": payer })).await;
        assert_eq!(status, 202, "{answer}");
        mints.push(answer["id"].as_str().unwrap().to_owned());
    }
    // Checking a custom payment asks the node while the client waits.
    let custom = json!({ "paymentType": "custom", "txHash": format!("0x{}", "11".repeat(32)) });
    let (status, answer) = send(&stack, Method::POST, "/v1/payments", custom).await;
    assert_eq!(status, 503, "{answer}");
    assert!(answer.to_string().contains("rpc_unavailable"), "{answer}");
    record(&seen, &answer);
    let (status, ready) = get(&stack, "/ready").await;
    assert_eq!(status, 503, "{ready}");
    record(&seen, &ready);
    // The batcher cannot read the token's supply cap without the node: the mints wait in the
    // queue, unbatched, and say so in their own views.
    for id in &mints {
        let (_, mint) = get(&stack, &format!("/v1/mints/{id}")).await;
        assert_eq!(mint["status"], "pending", "{mint}");
        record(&seen, &mint);
    }
    record(&seen, &get(&stack, "/v1/stats").await.1);

    proxy.up();
    for id in &mints {
        eventually(WAIT, "the mint confirmed once the node is back", || async {
            let (_, mint) = get(&stack, &format!("/v1/mints/{id}")).await;
            (mint["status"] == "confirmed").then_some(())
        })
        .await;
    }
    let delivered = eventually(WAIT, "the mints' confirmations delivered", || async {
        let bodies: Vec<String> = receiver.accepted().into_iter().map(|(_, b)| b).collect();
        let confirmed = bodies
            .iter()
            .filter(|b| b.contains("\"confirmed\""))
            .count();
        (confirmed >= mints.len()).then_some(bodies)
    })
    .await;
    seen.lock().unwrap().push_str(&delivered.join("\n"));
    let (_, page) = get(&stack, "/v1/workflows?limit=500").await;
    for workflow in page["items"].as_array().unwrap() {
        let id = workflow["id"].as_str().unwrap();
        record(&seen, &get(&stack, &format!("/v1/workflows/{id}")).await.1);
        record(
            &seen,
            &get(&stack, &format!("/v1/workflows/{id}/history")).await.1,
        );
    }
    record(&seen, &page);
    record(&seen, &get(&stack, "/ready").await.1);
    record(&seen, &get(&stack, "/v1/stats").await.1);
    follower.abort();

    let seen = seen.lock().unwrap().clone();
    assert!(
        seen.contains("rpc_unavailable: the chain node could not be reached"),
        "the node's failure is visible as a code: {seen}"
    );
    assert!(!seen.contains(SECRET), "the node URL leaked: {seen}");
    stack.service.stop().await;
}

/// A request as an operator (the admin token), and its status and JSON answer.
async fn send(stack: &Stack, method: Method, path: &str, body: Value) -> (u16, Value) {
    // The stack's client sends the admin token.
    let mut req = stack
        .http
        .request(method.clone(), format!("{}{path}", stack.base));
    if method != Method::GET {
        req = req.json(&body);
    }
    let res = req.send().await.unwrap();
    (
        res.status().as_u16(),
        res.json().await.unwrap_or(Value::Null),
    )
}

async fn get(stack: &Stack, path: &str) -> (u16, Value) {
    send(stack, Method::GET, path, Value::Null).await
}

fn record(seen: &Mutex<String>, value: &Value) {
    let mut seen = seen.lock().unwrap();
    seen.push_str(&value.to_string());
    seen.push('\n');
}

/// Appends every event of the stream at `url` to `seen`, from the first position on.
async fn follow(url: String, seen: Arc<Mutex<String>>) {
    let mut events = SseClient::connect(&url, ADMIN_TOKEN, Some(0)).await;
    while let Some(e) = events.next().await {
        record(&seen, &json!({ "event": e.event, "data": e.data }));
    }
}
