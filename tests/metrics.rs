//! Operators' views against a real anvil, on both backends: `/metrics` parses as Prometheus
//! text and its figures follow the work done, `/v1/stats` matches it, and `/ready` names what
//! is wrong (an unfunded signer, a node that is gone) while `/health` stays up.
#[macro_use]
mod common;

use std::time::Duration;

use alloy::primitives::U256;
use common::stack::{ADMIN_TOKEN, Stack, StackOptions, anvil_rpc};
use common::{Backend, DEV_KEY, eventually, metrics, ready_check};
use prometheus_parse::{LineInfo, Scrape, Value as Prom};
use reqwest::StatusCode;
use serde_json::{Value, json};

on_both_backends!(
    metrics_and_stats_follow_the_work,
    a_stuck_transaction_shows_and_its_fee_bump_counts,
    ready_names_what_is_wrong
);

const MINTS: u64 = 3;

/// A `/metrics` scrape, refused unless every line is a comment, blank, or a sample whose value
/// is a number (the parser itself skips what it does not understand).
async fn scrape(stack: &Stack) -> Scrape {
    let res = stack
        .http
        .get(format!("{}/metrics", stack.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let content_type = res.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let text = res.text().await.unwrap();
    for line in text.lines() {
        match LineInfo::parse(line) {
            LineInfo::Doc { .. } | LineInfo::Type { .. } | LineInfo::Empty => {}
            LineInfo::Sample { value, .. } => assert!(
                value.parse::<f64>().is_ok(),
                "not a number in `{line}`:\n{text}"
            ),
            LineInfo::Ignored => panic!("not Prometheus text: `{line}`\n{text}"),
        }
    }
    Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap()
}

/// The first scrape in which `ready` holds: the overview is a snapshot up to a second old, so
/// what the test just did shows within a moment, not at once.
async fn scrape_when(stack: &Stack, what: &str, ready: impl Fn(&Scrape) -> bool) -> Scrape {
    eventually(Duration::from_secs(10), what, || async {
        let s = scrape(stack).await;
        ready(&s).then_some(s)
    })
    .await
}

/// The first `/v1/stats` answer in which `ready` holds (see `scrape_when`).
async fn stats_when(stack: &Stack, what: &str, ready: impl Fn(&Value) -> bool) -> Value {
    eventually(Duration::from_secs(10), what, || async {
        let (status, stats) = stack.get("/v1/stats").await;
        assert_eq!(status, 200, "{stats}");
        ready(&stats).then_some(stats)
    })
    .await
}

/// The sum of the samples named `metric` whose labels include `labels`; `None` without any.
fn value(scrape: &Scrape, metric: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let matching: Vec<f64> = scrape
        .samples
        .iter()
        .filter(|s| s.metric == metric && labels.iter().all(|(k, v)| s.labels.get(k) == Some(v)))
        .map(|s| match s.value {
            Prom::Counter(v) | Prom::Gauge(v) | Prom::Untyped(v) => v,
            ref other => panic!("{metric} is not a single value: {other:?}"),
        })
        .collect();
    (!matching.is_empty()).then(|| matching.iter().sum())
}

fn count(scrape: &Scrape, histogram: &str, labels: &[(&str, &str)]) -> f64 {
    value(scrape, &format!("{histogram}_count"), labels).unwrap_or(0.0)
}

/// Histograms and counters are per process: every test here holds `metrics::exclusive`, so
/// what they moved between two scrapes is this test's work. The gauges come from this stack's
/// own database and node.
async fn metrics_and_stats_follow_the_work(backend: Backend) {
    let _counters = metrics::exclusive().await;
    let stack = Stack::start(
        backend,
        StackOptions {
            // Mints wait in the queue until the test lowers this.
            settings: &[("max_batch_wait_ms", 600_000)],
            ..Default::default()
        },
    )
    .await;
    let before = scrape(&stack).await;
    assert_eq!(value(&before, "mintflow_overview_up", &[]), Some(1.0));
    assert_eq!(
        value(&before, "mintflow_mint_queue_pending", &[]),
        Some(0.0)
    );
    let posts = |s: &Scrape| {
        count(
            s,
            "mintflow_http_request_duration_seconds",
            &[
                ("method", "POST"),
                ("route", "/v1/mints"),
                ("status", "202"),
            ],
        )
    };

    let requested = std::time::Instant::now();
    let (status, body) = stack
        .post("/v1/mints", &json!({"payer": DEV_PAYER, "quantity": MINTS}))
        .await;
    assert_eq!(status, 202, "{body}");
    let ids: Vec<String> = serde_json::from_value(body["ids"].clone()).unwrap();
    assert_eq!(ids.len() as u64, MINTS);

    // Queued, not batched yet.
    let queued = scrape_when(&stack, "the queued mints in the scrape", |s| {
        value(s, "mintflow_mint_queue_pending", &[]) == Some(MINTS as f64)
    })
    .await;
    assert_eq!(posts(&queued), posts(&before) + 1.0);
    let mint_pending = [
        ("kind", "mint"),
        ("state", "pending"),
        ("status", "waiting"),
    ];
    assert_eq!(
        value(&queued, "mintflow_workflows", &mint_pending),
        Some(MINTS as f64)
    );
    // The age of these mints: no older than the time since they were requested.
    let age = value(
        &queued,
        "mintflow_mint_queue_oldest_pending_age_seconds",
        &[],
    )
    .unwrap();
    assert!(
        (0.0..=requested.elapsed().as_secs_f64()).contains(&age),
        "{age}"
    );
    let stats = stats_when(&stack, "the queued mints in the stats", |s| {
        s["mintQueue"]["pending"] == MINTS
    })
    .await;
    let age_ms = stats["mintQueue"]["oldestPendingAgeMs"].as_i64().unwrap();
    assert!(
        (0..=requested.elapsed().as_millis() as i64).contains(&age_ms),
        "{stats}"
    );
    assert_eq!(workflow_count(&stats, "mint", "pending", "waiting"), MINTS);

    // Flush, and wait for every mint to be confirmed.
    stack.put_setting("max_batch_wait_ms", 0).await;
    for id in &ids {
        eventually(Duration::from_secs(60), "the mint to confirm", || async {
            let (_, mint) = stack.get(&format!("/v1/mints/{id}")).await;
            (mint["status"] == "confirmed").then_some(())
        })
        .await;
    }

    let confirmed = [
        ("kind", "mint"),
        ("state", "confirmed"),
        ("status", "completed"),
    ];
    let after = scrape_when(&stack, "the confirmed mints in the scrape", |s| {
        value(s, "mintflow_workflows", &confirmed) == Some(MINTS as f64)
            && value(s, "mintflow_tx_open", &[]) == Some(0.0)
    })
    .await;
    assert_eq!(value(&after, "mintflow_workflows", &mint_pending), None);
    assert_eq!(value(&after, "mintflow_mint_queue_pending", &[]), Some(0.0));
    assert_eq!(
        value(
            &after,
            "mintflow_mint_queue_oldest_pending_age_seconds",
            &[]
        ),
        Some(0.0)
    );
    for (histogram, labels) in [
        (
            "mintflow_step_duration_seconds",
            &[("kind", "mint_batch")][..],
        ),
        ("mintflow_mint_batch_size", &[]),
        ("mintflow_tx_confirmation_seconds", &[]),
    ] {
        assert!(
            count(&after, histogram, labels) > count(&before, histogram, labels),
            "{histogram} did not move"
        );
    }
    let batch_sum = |s: &Scrape| value(s, "mintflow_mint_batch_size_sum", &[]).unwrap_or(0.0);
    assert_eq!(batch_sum(&after), batch_sum(&before) + MINTS as f64);
    // Every request so far is labelled with its route template, never its path.
    let per_mint = [("route", "/v1/mints/:id"), ("status", "200")];
    let reads = |s: &Scrape| count(s, "mintflow_http_request_duration_seconds", &per_mint);
    assert!(
        reads(&after) - reads(&before) >= ids.len() as f64,
        "GET /v1/mints/{{id}} is not labelled by its template: {:?}",
        after
            .samples
            .iter()
            .filter_map(|s| s.labels.get("route"))
            .collect::<std::collections::BTreeSet<_>>()
    );
    assert!(
        after
            .samples
            .iter()
            .filter_map(|s| s.labels.get("route"))
            .all(|route| !ids.iter().any(|id| route.contains(id.as_str())))
    );

    let signer = [("chain_id", "31337"), ("signer", SIGNER)];
    assert!(value(&after, "mintflow_signer_balance_wei", &signer).unwrap() > 0.0);
    assert_eq!(
        value(&after, "mintflow_signer_nonce_drift", &signer),
        Some(0.0)
    );
    assert_eq!(value(&after, "mintflow_tx_open", &signer), Some(0.0));
    assert_eq!(
        value(&after, "mintflow_signer_next_nonce", &signer),
        value(&after, "mintflow_signer_chain_pending_nonce", &signer)
    );

    let stats = stats_when(&stack, "the confirmed mints in the stats", |s| {
        workflow_count(s, "mint", "confirmed", "completed") == MINTS && s["signer"]["openTxs"] == 0
    })
    .await;
    let batches = workflow_count(&stats, "mint_batch", "confirmed", "completed");
    assert!(batches >= 1, "{stats}");
    let sizes = |s: &Scrape| count(s, "mintflow_mint_batch_size", &[]);
    assert_eq!(
        sizes(&after) - sizes(&before),
        batches as f64,
        "one size per batch"
    );
    assert_eq!(
        stats["mintQueue"],
        json!({"pending": 0, "oldestPendingAgeMs": null})
    );
    let s = &stats["signer"];
    assert_eq!(
        (s["address"].as_str(), s["chainId"].as_u64()),
        (Some(SIGNER), Some(31337))
    );
    let balance: U256 = s["balanceWei"].as_str().unwrap().parse().unwrap();
    let on_chain = balance_of_signer(&stack).await;
    // Nothing is open: the signer spends nothing between the two reads.
    assert_eq!(balance, on_chain);
    let next_nonce = s["nextNonce"].as_u64().unwrap();
    assert_eq!(s["chainPendingNonce"].as_u64(), Some(next_nonce), "{stats}");
    assert_eq!(s["nonceDrift"], 0);
    // The deployments of the token and USDC, and at least one batch.
    assert!(next_nonce >= 3, "{stats}");
    assert_eq!(
        (s["openTxs"].as_u64(), &s["oldestUnconfirmedAgeMs"]),
        (Some(0), &Value::Null)
    );
    assert!(
        chrono::DateTime::parse_from_rfc3339(stats["generatedAt"].as_str().unwrap()).is_ok(),
        "{stats}"
    );

    // The last hour, minute by minute: exactly these mints, requested and confirmed, each
    // confirmed minute with its median wait; and the signer's balance sampled at start.
    let (status, activity) = stack.get("/v1/stats/activity").await;
    assert_eq!(status, 200, "{activity}");
    let minutes = activity["minutes"].as_array().unwrap();
    assert_eq!(minutes.len(), 60, "{activity}");
    let total = |field: &str| -> u64 { minutes.iter().map(|m| m[field].as_u64().unwrap()).sum() };
    assert_eq!(
        (total("requested"), total("confirmed"), total("failed")),
        (MINTS, MINTS, 0),
        "{activity}"
    );
    for m in minutes {
        let confirmed = m["confirmed"].as_u64().unwrap();
        assert_eq!(m["p50ConfirmMs"].is_number(), confirmed > 0, "{m}");
    }
    let signers = activity["signers"].as_array().unwrap();
    assert_eq!(signers.len(), 1, "{activity}");
    assert_eq!(signers[0]["address"], SIGNER.to_lowercase(), "{activity}");
    let sampled: U256 = signers[0]["samples"][0]["balanceWei"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(sampled > U256::ZERO, "{activity}");
    stack.service.stop().await;
}

/// Nothing is mined until the test mines: the batch's transaction waits in the pool, open and
/// ageing, and is replaced with higher fees after a second.
async fn a_stuck_transaction_shows_and_its_fee_bump_counts(backend: Backend) {
    let _counters = metrics::exclusive().await;
    let stack = Stack::start(
        backend,
        StackOptions {
            anvil_args: &[],
            manual_mining: true,
            settings: &[("bump_after_secs", 1), ("max_batch_wait_ms", 0)],
            ..Default::default()
        },
    )
    .await;
    let bumps = |s: &Scrape| value(s, "mintflow_tx_fee_bumps_total", &[("kind", "tx")]).unwrap();
    let before = scrape(&stack).await;
    let (status, body) = stack.post("/v1/mints", &json!({"payer": DEV_PAYER})).await;
    assert_eq!(status, 202, "{body}");
    let id = body["id"].as_str().unwrap().to_owned();

    // A replacement in the database first: then the counter must have moved.
    eventually(Duration::from_secs(30), "a fee bump", || async {
        let attempts = stack
            .t
            .scalar_i64("SELECT count(*) FROM chain_tx_attempts")
            .await;
        let txs = stack.t.scalar_i64("SELECT count(*) FROM chain_txs").await;
        (attempts > txs).then_some(())
    })
    .await;
    let signer = [("chain_id", "31337"), ("signer", SIGNER)];
    let stuck = scrape_when(
        &stack,
        "the open transaction and its bump in the scrape",
        |s| value(s, "mintflow_tx_open", &signer) == Some(1.0) && bumps(s) > bumps(&before),
    )
    .await;
    assert!(
        value(
            &stuck,
            "mintflow_tx_oldest_unconfirmed_age_seconds",
            &signer
        )
        .unwrap()
            >= 1.0
    );
    // Broadcast, so in the node's pending count: no drift.
    assert_eq!(
        value(&stuck, "mintflow_signer_nonce_drift", &signer),
        Some(0.0)
    );
    let stats = stats_when(&stack, "the open transaction in the stats", |s| {
        s["signer"]["openTxs"] == 1
    })
    .await;
    assert!(stats["signer"]["oldestUnconfirmedAgeMs"].as_i64().unwrap() >= 1000);

    let endpoint = stack.anvil.endpoint();
    eventually(Duration::from_secs(60), "the mint to confirm", || async {
        anvil_rpc(&endpoint, "anvil_mine", json!([1])).await;
        let (_, mint) = stack.get(&format!("/v1/mints/{id}")).await;
        (mint["status"] == "confirmed").then_some(())
    })
    .await;
    let mined = scrape_when(&stack, "no open transaction in the scrape", |s| {
        value(s, "mintflow_tx_open", &signer) == Some(0.0)
    })
    .await;
    assert_eq!(
        value(
            &mined,
            "mintflow_tx_oldest_unconfirmed_age_seconds",
            &signer
        ),
        Some(0.0)
    );
    let confirmations = |s: &Scrape| count(s, "mintflow_tx_confirmation_seconds", &[]);
    assert!(confirmations(&mined) > confirmations(&stuck));
    stack.service.stop().await;
}

async fn ready_names_what_is_wrong(backend: Backend) {
    // Its requests move the HTTP histogram the other tests compare.
    let _counters = metrics::exclusive().await;
    let stack = Stack::start(backend, StackOptions::default()).await;
    let (status, ready) = stack.get("/ready").await;
    assert_eq!(status, 200, "{ready}");
    assert_eq!(ready["ready"], true);
    let names: Vec<&str> = checks(&ready)
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["database", "migrations", "rpc", "signer_funded"]);
    assert!(checks(&ready).iter().all(|c| c["ok"] == true), "{ready}");

    // Far from enough for ten batches at any gas price.
    let endpoint = stack.anvil.endpoint();
    anvil_rpc(&endpoint, "anvil_setBalance", json!([SIGNER, "0x3e8"])).await;
    let (status, ready) = stack.get("/ready").await;
    assert_eq!(status, 503, "{ready}");
    assert_eq!(failed(&ready), ["signer_funded"], "{ready}");
    // A public route: the verdict only, never the signer's balance.
    assert_eq!(ready_check(&ready, "signer_funded").get("detail"), None);
    assert!(!ready.to_string().contains("1000"), "{ready}");

    let Stack { anvil, service, .. } = stack;
    tokio::task::spawn_blocking(move || drop(anvil))
        .await
        .unwrap();
    let base = format!("http://{}", service.http_addr().unwrap());
    let http = common::http_as(ADMIN_TOKEN);
    let get = |path: &str| http.get(format!("{base}{path}")).send();
    let res = get("/ready").await.unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    let ready: Value = res.json().await.unwrap();
    assert_eq!(failed(&ready), ["rpc", "signer_funded"], "{ready}");
    assert_eq!(get("/health").await.unwrap().status(), StatusCode::OK);
    // The scrape goes on without what the node would have said.
    let text = metrics::text(&http, &base).await;
    let metrics = Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap();
    assert_eq!(value(&metrics, "mintflow_overview_up", &[]), Some(1.0));
    assert_eq!(value(&metrics, "mintflow_signer_balance_wei", &[]), None);
    assert_eq!(value(&metrics, "mintflow_signer_nonce_drift", &[]), None);
    assert!(value(&metrics, "mintflow_signer_next_nonce", &[]).is_some());
    service.stop().await;
}

/// Anvil's second account, a payer like any other.
const DEV_PAYER: &str = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";
/// The stack's signer, anvil's first account ([`DEV_KEY`]).
const SIGNER: &str = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";

#[test]
fn signer_is_the_dev_key() {
    use alloy::signers::local::PrivateKeySigner;
    assert_eq!(
        DEV_KEY
            .parse::<PrivateKeySigner>()
            .unwrap()
            .address()
            .to_string(),
        SIGNER
    );
}

async fn balance_of_signer(stack: &Stack) -> U256 {
    use alloy::providers::{Provider, RootProvider};
    let provider: RootProvider = RootProvider::new_http(stack.anvil.endpoint().parse().unwrap());
    provider.get_balance(SIGNER.parse().unwrap()).await.unwrap()
}

fn workflow_count(stats: &Value, kind: &str, state: &str, status: &str) -> u64 {
    stats["workflows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["kind"] == kind && w["state"] == state && w["status"] == status)
        .map_or(0, |w| w["count"].as_u64().unwrap())
}

fn checks(ready: &Value) -> &Vec<Value> {
    ready["checks"].as_array().unwrap()
}

fn failed(ready: &Value) -> Vec<&str> {
    checks(ready)
        .iter()
        .filter(|c| c["ok"] == false)
        .map(|c| c["name"].as_str().unwrap())
        .collect()
}
