//! Who may call what: unpaid mints need a `mint` key and count against its quota in mints, the
//! old `POST /mint` is paid unless a `mint` key sends it, operator reads need a `read` key,
//! revoked and expired keys are refused on every instance within a second, and keys are stored
//! only as hashes and never logged.
#[macro_use]
mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::stack::{Stack, StackOptions};
use common::{Backend, TestDb, create_key, eventually, http_as};
use mintflow::engine::{EngineConfig, Registry};
use mintflow::service::{Role, Service, ServiceConfig};
use mintflow::x402::types::PaymentRequired;
use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use serde_json::{Value, json};

on_both_backends!(unpaid_mints_need_a_mint_key_and_count_mints);

/// Anvil's second account, which pays and receives in these tests.
const PAYER: &str = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";
/// MINT_PRICE by default: 1 USDC.
const PRICE: u64 = 1_000_000;

/// Sends `req`; an error answer is checked against the spec.
async fn send(req: reqwest::RequestBuilder) -> (StatusCode, Value, reqwest::header::HeaderMap) {
    common::spec::send_checked(req).await
}

fn assert_refused(got: &(StatusCode, Value, reqwest::header::HeaderMap), status: u16, code: &str) {
    assert_eq!(got.0.as_u16(), status, "{}", got.1);
    assert_eq!(got.1["code"], code, "{}", got.1);
}

async fn mints_stored(stack: &Stack) -> i64 {
    stack
        .t
        .scalar_i64("SELECT count(*) FROM workflows WHERE kind = 'mint'")
        .await
}

async fn unpaid_mints_need_a_mint_key_and_count_mints(backend: Backend) {
    let stack = Stack::start(backend, StackOptions::default()).await;
    let url = format!("{}/v1/mints", stack.base);
    let anon = reqwest::Client::new();
    let body = json!({ "payer": PAYER, "quantity": 3 });

    // No key: 401. A read key: 403. Neither writes anything.
    assert_refused(
        &send(anon.post(&url).json(&body)).await,
        401,
        "missing_credentials",
    );
    let reader = create_key(&stack.t.db, "reader", "read").await;
    assert_refused(
        &send(http_as(&reader).post(&url).json(&body)).await,
        403,
        "insufficient_scope",
    );
    assert_refused(
        &send(http_as("mf_not-a-key").post(&url).json(&body)).await,
        401,
        "invalid_credentials",
    );
    assert_eq!(mints_stored(&stack).await, 0);

    // A mint key with a quota of 5 mints a minute: 3 pass, 3 more do not (6 > 5), 2 do.
    let minter = http_as(&quota_key(&stack, 5).await);
    let (status, accepted, _) = send(minter.post(&url).json(&body)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    assert_eq!(accepted["ids"].as_array().unwrap().len(), 3);
    let over = send(minter.post(&url).json(&body)).await;
    assert_refused(&over, 429, "key_quota_exceeded");
    assert!(over.2.contains_key("retry-after"));
    assert_eq!(
        mints_stored(&stack).await,
        3,
        "a refused request writes nothing"
    );
    let (status, two, _) = send(
        minter
            .post(&url)
            .json(&json!({ "payer": PAYER, "quantity": 2 })),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{two}");
    assert_eq!(mints_stored(&stack).await, 5);

    // The old `POST /mint` is a paid route: without payment, 402 with the x402 offer for
    // quantity x MINT_PRICE; nothing is written.
    let legacy = format!("{}/mint", stack.base);
    let (status, err, headers) = send(
        anon.post(&legacy)
            .json(&json!({ "payer": PAYER, "quantity": 2 })),
    )
    .await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED, "{err}");
    assert_eq!(headers["cache-control"], "no-store");
    let required: PaymentRequired = serde_json::from_slice(
        &STANDARD
            .decode(headers["payment-required"].to_str().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(required.x402_version, 2);
    let offer = &required.accepts[0];
    assert_eq!(offer.amount, (2 * PRICE).to_string());
    assert_eq!(offer.network, "eip155:31337");
    assert_eq!(
        offer.asset.to_lowercase(),
        stack.usdc.to_string().to_lowercase()
    );
    assert_eq!(mints_stored(&stack).await, 5);
    // A read key does not make it free; a mint key does.
    assert_refused(
        &send(
            http_as(&reader)
                .post(&legacy)
                .json(&json!({ "payer": PAYER })),
        )
        .await,
        403,
        "insufficient_scope",
    );
    let minter = http_as(&create_key(&stack.t.db, "shop", "mint").await);
    let (status, queued, _) = send(
        minter
            .post(&legacy)
            .json(&json!({ "payer": PAYER, "quantity": 1 })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{queued}");
    assert_eq!(queued["success"], true);
    assert_eq!(mints_stored(&stack).await, 6);
    stack.service.stop().await;
}

async fn quota_key(stack: &Stack, per_minute: i64) -> String {
    let res = stack
        .http
        .post(format!("{}/v1/keys", stack.base))
        .json(&json!({ "name": "quota", "scopes": ["mint"], "mintQuotaPerMinute": per_minute }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let created: Value = res.json().await.unwrap();
    assert_eq!(created["scopes"], json!(["mint"]));
    assert_eq!(created["mintQuotaPerMinute"], per_minute);
    created["key"].as_str().unwrap().to_owned()
}

/// Two API processes on one PostgreSQL, without a chain.
async fn api_process(t: &TestDb, admin_token: Option<&str>, public_reads: bool) -> Service {
    let config = ServiceConfig {
        database_url: t.url.clone(),
        database_max_connections: 4,
        listen_addr: "127.0.0.1:0".into(),
        admin_token: admin_token.map(Into::into),
        public_reads,
        role: Role::Api,
        engine: EngineConfig {
            worker_id: "access-test".into(),
            shutdown_grace: Duration::from_secs(2),
        },
        limits: Default::default(),
        edge: Default::default(),
        chain: None,
        webhook_targets: Default::default(),
    };
    Service::start(config, |_| Registry::new()).await.unwrap()
}

fn base(s: &Service) -> String {
    format!("http://{}", s.http_addr().unwrap())
}

/// Every operator read the service has, with a path that exists.
const READS: &[&str] = &[
    "/v1/workflows",
    "/v1/mints",
    "/v1/payments",
    "/v1/queue",
    "/v1/dead-letters",
    "/v1/stats",
    "/v1/stats/activity",
    "/v1/doctor",
    "/v1/settings",
    "/v1/audit",
    "/v1/webhooks",
    "/v1/tokens",
    "/v1/events",
    "/metrics",
    "/queue/status",
    "/api/payment-stats",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn keys_work_on_every_instance_and_stop_working_within_a_second() {
    let t = TestDb::new(Backend::Postgres).await;
    let admin = "access-admin-token";
    let a = api_process(&t, Some(admin), false).await;
    let b = api_process(&t, None, false).await;
    let anon = reqwest::Client::new();

    // Operator reads need a key; liveness does not.
    for path in READS {
        let res = anon
            .get(format!("{}{path}", base(&a)))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{path}");
        let err: Value = res.json().await.unwrap();
        assert_eq!(err["code"], "missing_credentials", "{path}");
    }
    let health = anon
        .get(format!("{}/health", base(&a)))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK);

    // A key created through instance A works on B (same database).
    let res = http_as(admin)
        .post(format!("{}/v1/keys", base(&a)))
        .header("X-Actor", "alice")
        .json(&json!({ "name": "ops", "scopes": ["read"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let created: Value = res.json().await.unwrap();
    let key = created["key"].as_str().unwrap().to_owned();
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(key.starts_with("mf_") && key.len() == 46, "{key}");
    assert_eq!(created["prefix"].as_str().unwrap(), &key[..11]);
    let reader = http_as(&key);
    for s in [&a, &b] {
        let res = reader
            .get(format!("{}/v1/workflows", base(s)))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let me: Value = reader
            .get(format!("{}/v1/whoami", base(s)))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(me["name"], "ops");
        assert_eq!(me["scopes"], json!(["read"]));
    }
    // Both caches hold the key now. Revoked through A, it is refused by B within a second.
    let res = http_as(admin)
        .delete(format!("{}/v1/keys/{id}", base(&a)))
        .header("X-Actor", "alice")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let revoked_at = Instant::now();
    for s in [&b, &a] {
        let err = eventually(
            Duration::from_secs(5),
            "the revoked key to be refused",
            || {
                let req = reader.get(format!("{}/v1/workflows", base(s)));
                async move {
                    let res = req.send().await.unwrap();
                    (res.status() == StatusCode::UNAUTHORIZED)
                        .then_some(())
                        .map(|()| res)
                }
            },
        )
        .await
        .json::<Value>()
        .await
        .unwrap();
        assert_eq!(err["code"], "key_revoked");
    }
    // "Within a second" is the documented behaviour (a cached key is read again after half a
    // second), so it is asserted as a time; the polling above gives up only after 5 s.
    assert!(
        revoked_at.elapsed() < Duration::from_secs(1),
        "refused after {:?}",
        revoked_at.elapsed()
    );
    // Revoking again is a conflict, with its code (an unknown key: tests/api.rs).
    let again = http_as(admin)
        .delete(format!("{}/v1/keys/{id}", base(&a)))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::CONFLICT);
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["code"], "key_already_revoked", "{again}");

    // An expired key: refused within a second of its expiry.
    let expiring = create_key(&t.db, "short-lived", "read").await;
    let client = http_as(&expiring);
    let ok = client
        .get(format!("{}/v1/stats", base(&b)))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    t.db.execute_unprepared(&format!(
        "UPDATE api_keys SET expires_at_ms = {} WHERE name = 'short-lived'",
        mintflow::store::now_ms()
    ))
    .await
    .unwrap();
    let expired_at = Instant::now();
    let err = eventually(
        Duration::from_secs(5),
        "the expired key to be refused",
        || {
            let req = client.get(format!("{}/v1/stats", base(&b)));
            async move {
                let res = req.send().await.unwrap();
                (res.status() == StatusCode::UNAUTHORIZED).then_some(res)
            }
        },
    )
    .await
    .json::<Value>()
    .await
    .unwrap();
    assert_eq!(err["code"], "key_expired");
    // As for the revocation: the documented bound.
    assert!(expired_at.elapsed() < Duration::from_secs(1));

    // The audit log names the key's own name beside X-Actor, never X-Actor alone.
    let audit: Value = http_as(admin)
        .get(format!("{}/v1/audit", base(&a)))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let actions: Vec<(String, String)> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_owned(),
                e["actor"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(
        actions.contains(&("key.create".into(), "admin (alice)".into())),
        "{actions:?}"
    );
    assert!(
        actions.contains(&("key.revoke".into(), "admin (alice)".into())),
        "{actions:?}"
    );

    // Too many failed authentications from one client: refused outright for a while.
    let guesser = http_as("mf_guess");
    let mut last = StatusCode::OK;
    for _ in 0..25 {
        last = guesser
            .get(format!("{}/v1/stats", base(&b)))
            .send()
            .await
            .unwrap()
            .status();
    }
    assert_eq!(last, StatusCode::TOO_MANY_REQUESTS);
    a.stop().await;
    b.stop().await;

    // PUBLIC_READS reopens operator reads, and nothing else.
    let open = api_process(&t, Some(admin), true).await;
    for path in READS {
        let res = anon
            .get(format!("{}{path}", base(&open)))
            .send()
            .await
            .unwrap();
        // Without a chain `/v1/tokens` is 503 `no_chain`: past the key check all the same.
        let status = res.status();
        assert!(
            status == StatusCode::OK || status == StatusCode::SERVICE_UNAVAILABLE,
            "{path}: {status}"
        );
    }
    let res = anon
        .put(format!("{}/v1/settings/max_batch_size", base(&open)))
        .json(&json!({ "value": 7 }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let err: Value = res.json().await.unwrap();
    assert_eq!(err["code"], "missing_credentials", "{err}");
    open.stop().await;
}

/// Keys are shown once, stored as SHA-256 only, and appear in no log line of the server or the
/// CLI, whatever is done with them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_stored_hashed_and_never_logged() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/keys.db?mode=rwc", dir.path().display());
    let cli = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_mintflow"))
            .args(args)
            .env("DATABASE_URL", &url)
            .env("RUST_LOG", "trace")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        (
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    };
    let (stdout, cli_log) = cli(&["keys", "create", "--name", "ops", "--scope", "read,mint"]);
    let key = stdout.trim().to_owned();
    assert!(key.starts_with("mf_"), "{stdout}");
    assert!(cli_log.contains("store it now"), "{cli_log}");

    let listen = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let log_path = dir.path().join("serve.log");
    let mut serve = Command::new(env!("CARGO_BIN_EXE_mintflow"))
        .arg("serve")
        .env("DATABASE_URL", &url)
        .env("LISTEN_ADDR", &listen)
        .env("RUST_LOG", "trace")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let base = format!("http://{listen}");
    let http = http_as(&key);
    eventually(Duration::from_secs(30), "the server to answer", || async {
        let res = http.get(format!("{base}/v1/whoami")).send().await.ok()?;
        (res.status() == StatusCode::OK).then_some(())
    })
    .await;
    // Good and bad uses, a mint without a chain, and a near miss.
    let _ = http
        .get(format!("{base}/v1/workflows"))
        .send()
        .await
        .unwrap();
    let _ = http
        .post(format!("{base}/v1/mints"))
        .json(&json!({ "payer": PAYER }))
        .send()
        .await
        .unwrap();
    let near_miss = format!("{}x", &key[..key.len() - 1]);
    let _ = http_as(&near_miss)
        .get(format!("{base}/v1/workflows"))
        .send()
        .await
        .unwrap();
    let (listed, _) = cli(&["keys", "list", "--json"]);
    let id = serde_json::from_str::<Value>(&listed).unwrap()[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, revoke_log) = cli(&["keys", "revoke", &id]);
    let _ = serve.kill();
    let _ = serve.wait();

    let t = mintflow::store::connect(&url).await.unwrap();
    let row = mintflow::store::api_keys::list(&t).await.unwrap().remove(0);
    assert_eq!(row.key_hash, mintflow::app::keys::hash(&key));
    assert_eq!(row.prefix, key[..11]);
    assert!(row.revoked_at_ms.is_some());
    assert!(row.last_used_at_ms.is_some(), "its use was recorded");
    // Nothing of the key beyond its prefix, in any column of any row.
    let mut dump = Vec::new();
    for sql in [
        "SELECT id || name || prefix || key_hash || scopes || created_by FROM api_keys",
        "SELECT actor || action || target || coalesce(detail, '') FROM audit_log",
    ] {
        let rows = t
            .query_all_raw(Statement::from_string(DbBackend::Sqlite, sql))
            .await
            .unwrap();
        dump.extend(
            rows.iter()
                .map(|r| r.try_get_by_index::<String>(0).unwrap()),
        );
    }
    let secret_part = &key[11..];
    for text in dump.iter().chain([&listed, &revoke_log]) {
        assert!(
            !text.contains(secret_part),
            "the key is stored or shown: {text}"
        );
    }
    let serve_log = std::fs::read_to_string(&log_path).unwrap();
    assert!(serve_log.contains("mintflow"), "the server logged at all");
    for (name, log) in [("serve", &serve_log), ("keys create", &cli_log)] {
        assert!(!log.contains(secret_part), "{name} logged the key");
        assert!(
            !log.contains(&near_miss[11..]),
            "{name} logged a presented key"
        );
    }
}
