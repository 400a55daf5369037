//! The dashboard in a real browser: `mintflow dev` (the binary) with an admin token and the
//! read,mint key it prints, a genuinely failed workflow made through the API, then
//! `tools/ui-test.mjs` drives `/ui` in headless Chromium (the key entered and its scopes shown,
//! mint live to confirmed over the fetch-based event stream, timeline, retries refused for the
//! key and done with the admin token, settings, signer health, the overview's last-hour charts,
//! the doctor page with a forged mint, phone layout, screenshots) and the API confirms what it
//! did. The page's files are checked first: content types, ETag revalidation, 404; and
//! `GET /v1/stats/activity` counts the mints made.
mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use alloy::signers::local::PrivateKeySigner;
use common::dev::Dev;
use common::eventually;
use common::stack::{PAYER_KEY, fresh_nonce, sign_authorization};
use mintflow::store::{self, entity::workflow};
use sea_orm::{ActiveModelTrait, ActiveValue::Set};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(90);
const ADMIN_TOKEN: &str = "ui-test-admin-token";
const CHROMIUM: &str = "/usr/bin/chromium";
/// `DEPLOY_PRICE`'s default: 10 USDC.
const DEPLOY_PRICE: u64 = 10_000_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_in_a_browser() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: `apt-get install chromium` (.ci/run does)"
    );
    assert!(
        root.join("tools/node_modules/playwright-core").exists(),
        "playwright-core is missing: run `npm ci --prefix tools`"
    );
    let dir = tempfile::tempdir().unwrap();
    let (_dev, banner) = start_dev(dir.path());
    let base = banner.base.clone();
    let key = banner.key.clone();
    let http = reqwest::Client::new();

    served_as_files(&http, &base).await;
    let (confirmed, failed) = failed_mint(&http, &base, &key, &banner.usdc).await;
    activity_counts_the_mints(&http, &base, &key).await;
    forge_onchain_id(dir.path(), &confirmed).await;
    let (webhook, _refusing) = unreachable_webhook(&http, &base).await;
    let payer: PrivateKeySigner = PAYER_KEY.parse().unwrap();

    // Screenshots stay after the run, for a person to look at.
    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("ui-screenshots");
    let _ = std::fs::remove_dir_all(&shots);
    std::fs::create_dir_all(&shots).unwrap();
    let out = tokio::task::spawn_blocking({
        let (base, shots, root, key) = (base.clone(), shots.clone(), root.to_owned(), key.clone());
        let (failed, signer, webhook) = (failed.clone(), banner.signer.clone(), webhook.clone());
        let forged = confirmed.clone();
        move || {
            Command::new("node")
                .arg("tools/ui-test.mjs")
                .current_dir(root)
                .env("UI_URL", base)
                .env("UI_KEY", key)
                .env("UI_ADMIN_TOKEN", ADMIN_TOKEN)
                .env("UI_FAILED_ID", failed)
                .env("UI_PAYER", payer.address().to_string())
                .env("UI_SIGNER", signer)
                .env("UI_WEBHOOK_ID", webhook)
                .env("UI_FORGED_ID", forged)
                .env("UI_OUT_DIR", shots)
                .output()
                .expect("run node tools/ui-test.mjs")
        }
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the browser test failed ({}):\n{stdout}{stderr}\nserver log:\n{}",
        out.status,
        std::fs::read_to_string(dir.path().join("stderr.log")).unwrap_or_default()
    );
    println!("{stdout}{stderr}");
    for secret in [ADMIN_TOKEN, key.as_str()] {
        assert!(
            !stdout.contains(secret) && !stderr.contains(secret),
            "keys must not be printed"
        );
    }

    for (name, width) in [
        ("desktop.png", 1280),
        ("desktop-doctor.png", 1280),
        ("phone.png", 390),
    ] {
        let png = std::fs::read(shots.join(name)).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "{name} is a PNG");
        let w = u32::from_be_bytes(png[16..20].try_into().unwrap());
        assert_eq!(w, width, "{name} width");
    }

    // What the page did, as the API records it: three retries (one with the page's reason),
    // and the setting saved by the admin.
    let history: Value = get(
        &http,
        &format!("{base}/v1/workflows/{failed}/history"),
        &key,
    )
    .await;
    let retries: Vec<&Value> = history["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"] == "retried")
        .collect();
    assert_eq!(retries.len(), 3, "{history}");
    assert!(
        retries.iter().any(|e| e["detail"]["reason"] == "ui test"),
        "{history}"
    );
    let settings: Value = get(&http, &format!("{base}/v1/settings"), &key).await;
    let wait = settings
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["key"] == "max_batch_wait_ms")
        .unwrap();
    assert_eq!(wait["value"], 750, "{wait}");
    let audit = admin(
        &http,
        reqwest::Method::GET,
        &format!("{base}/v1/audit"),
        None,
    )
    .await;
    let redelivered = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "webhook.redeliver")
        .unwrap_or_else(|| panic!("no redelivery in the audit log: {audit}"));
    assert_eq!(redelivered["target"], webhook.as_str());
    // The doctor page's run is what `/metrics` shows: the forged mint under its check.
    let metrics = http
        .get(format!("{base}/metrics"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("mintflow_doctor_findings{check=\"confirmed_mints\"} 1\n"),
        "{metrics}"
    );
    assert!(
        redelivered["detail"]["requeued"].as_u64() >= Some(1),
        "{redelivered}"
    );
    // Neither the page's requests (keys in headers, never in URLs) nor anything else logs one.
    let log = std::fs::read_to_string(dir.path().join("stderr.log")).unwrap_or_default();
    for secret in [ADMIN_TOKEN, key.as_str()] {
        assert!(!log.contains(secret), "a key must not be logged");
    }
}

/// The page and its modules: their content types, revalidation with their ETag, and a JSON 404
/// for a file that is not there.
async fn served_as_files(http: &reqwest::Client, base: &str) {
    for (path, kind) in [
        ("/ui", "text/html"),
        ("/ui/", "text/html"),
        ("/ui/style.css", "text/css"),
        ("/ui/js/app.js", "text/javascript"),
    ] {
        let res = http.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(res.status(), 200, "{path}");
        let header = |name: &str| {
            res.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        assert!(header("content-type").starts_with(kind), "{path}");
        assert_eq!(header("cache-control"), "no-cache", "{path}");
        if kind == "text/html" {
            let csp = header("content-security-policy");
            assert!(csp.contains("script-src 'self'"), "{path}: {csp}");
        }
        let etag = header("etag");
        assert!(!etag.is_empty(), "{path} has no ETag");
        let again = http
            .get(format!("{base}{path}"))
            .header("if-none-match", &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 304, "{path} with its ETag");
    }
    let res = http.get(format!("{base}/ui/nope.js")).send().await.unwrap();
    assert_eq!(res.status(), 404);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["code"], "not_found", "{body}");
}

struct Banner {
    base: String,
    usdc: String,
    signer: String,
    /// The read,mint key dev made for curl and the dashboard.
    key: String,
}

/// Starts `mintflow dev --automine` on free ports with its own database and an admin token;
/// returns it with the addresses and the key its banner printed.
fn start_dev(dir: &Path) -> (Dev, Banner) {
    let dev = Dev::start(dir, &[("ADMIN_TOKEN", ADMIN_TOKEN)]);
    let banner = Banner {
        base: dev.base.clone(),
        usdc: dev.field("USDC"),
        signer: dev.field("signer"),
        key: dev.field("key"),
    };
    (dev, banner)
}

/// A mint that genuinely failed: a token whose supply allows one mint is deployed through
/// `POST /v1/deployments` (paid gasless by anvil's account 1, which dev funded); its first
/// mint is confirmed and the second fails with `MaxSupplyExceeded()`, as any retry will. The
/// mints are queued and the workflow read with `key` (read,mint). Answers the confirmed
/// mint's id and the failed one's.
async fn failed_mint(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    usdc: &str,
) -> (String, String) {
    let payer: PrivateKeySigner = PAYER_KEY.parse().unwrap();
    let (authorization, signature) =
        sign_authorization(usdc.parse().unwrap(), &payer, DEPLOY_PRICE, fresh_nonce());
    let body = json!({
        "name": "One Shot", "symbol": "ONE", "amountPerMint": "5", "maxSupply": "5",
        "owner": payer.address().to_string(),
        "payment": { "authorization": authorization, "signature": signature },
    });
    let deployment = post(http, &format!("{base}/v1/deployments"), &body, None).await;
    let id = deployment["id"].as_str().unwrap().to_owned();
    let token = eventually(WAIT, "the one-mint token to be deployed", || async {
        let d = get_public(http, &format!("{base}/v1/deployments/{id}")).await;
        assert_ne!(d["status"], "failed", "{d}");
        (d["status"] == "confirmed").then(|| d["address"].as_str().unwrap().to_owned())
    })
    .await;
    let mint = json!({ "payer": payer.address().to_string(), "token": token });
    let first = settle(http, base, key, &mint).await;
    assert_eq!(first["status"], "confirmed", "{first}");
    let second = settle(http, base, key, &mint).await;
    assert_eq!(second["status"], "failed", "{second}");
    let error = second["error"].as_str().unwrap_or_default();
    assert!(error.contains("MaxSupplyExceeded"), "{second}");
    let id = second["id"].as_str().unwrap().to_owned();
    let w = get(http, &format!("{base}/v1/workflows/{id}"), key).await;
    assert_eq!(w["status"], "failed", "{w}");
    (first["id"].as_str().unwrap().to_owned(), id)
}

/// The last hour holds exactly the two mints made so far, requested and finished (one
/// confirmed, one failed) within the minutes the test ran, and the signer's balance samples.
async fn activity_counts_the_mints(http: &reqwest::Client, base: &str, key: &str) {
    let a = get(http, &format!("{base}/v1/stats/activity"), key).await;
    let minutes = a["minutes"].as_array().unwrap();
    assert_eq!(minutes.len(), 60, "{a}");
    let total = |field: &str| -> u64 { minutes.iter().map(|m| m[field].as_u64().unwrap()).sum() };
    assert_eq!(
        (total("requested"), total("confirmed"), total("failed")),
        (2, 1, 1),
        "{a}"
    );
    for m in minutes {
        let confirmed = m["confirmed"].as_u64().unwrap();
        assert_eq!(m["p50ConfirmMs"].is_number(), confirmed > 0, "{m}");
    }
    let signers = a["signers"].as_array().unwrap();
    assert_eq!(signers.len(), 1, "{a}");
    assert!(!signers[0]["samples"].as_array().unwrap().is_empty(), "{a}");
}

/// Breaks what the doctor checks first: the confirmed mint `id` now claims an on-chain id its
/// token never minted (as tests/doctor.rs does), written to dev's database file.
async fn forge_onchain_id(dir: &Path, id: &str) {
    let url = format!("sqlite://{}/dev.db?mode=rwc", dir.display());
    let db = store::connect(&url).await.unwrap();
    let row = store::workflows::find(&db, id.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    let mut data = row.data.clone();
    data["onchain_id"] = json!(format!("0x{}", "ab".repeat(32)));
    let mut active: workflow::ActiveModel = row.into();
    active.data = Set(data);
    active.update(&db).await.unwrap();
    db.close().await.unwrap();
}

/// A webhook to a port of ours where nothing listens, each delivery given up after one attempt:
/// the page finds its failed deliveries and redelivers them. The socket holds the port: keep it.
async fn unreachable_webhook(
    http: &reqwest::Client,
    base: &str,
) -> (String, tokio::net::TcpSocket) {
    let one_attempt = json!({ "value": 1 });
    let url = format!("{base}/v1/settings/webhook_max_attempts");
    admin(http, reqwest::Method::PUT, &url, Some(&one_attempt)).await;
    let (refusing, port) = common::refused_port();
    let hook = json!({ "url": format!("http://127.0.0.1:{port}/ui-test"),
                       "description": "nothing listens" });
    let url = format!("{base}/v1/webhooks");
    let created = admin(http, reqwest::Method::POST, &url, Some(&hook)).await;
    (created["id"].as_str().unwrap().to_owned(), refusing)
}

/// An admin request with the token; its JSON answer.
async fn admin(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    body: Option<&Value>,
) -> Value {
    let mut req = http.request(method.clone(), url).bearer_auth(ADMIN_TOKEN);
    if let Some(body) = body {
        req = req.json(body);
    }
    let res = req.send().await.unwrap();
    let status = res.status();
    let answer: Value = res.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "{method} {url}: {status} {answer}");
    answer
}

/// Queues a mint with `key` (it needs `mint`) and waits until it is confirmed or failed.
async fn settle(http: &reqwest::Client, base: &str, key: &str, body: &Value) -> Value {
    let m = post(http, &format!("{base}/v1/mints"), body, Some(key)).await;
    let id = m["id"].as_str().unwrap().to_owned();
    eventually(WAIT, &format!("mint {id} to be final"), || async {
        let m = get_public(http, &format!("{base}/v1/mints/{id}")).await;
        ["confirmed", "failed"]
            .contains(&m["status"].as_str().unwrap_or_default())
            .then_some(m)
    })
    .await
}

/// An operator read with `key` (it needs `read`).
async fn get(http: &reqwest::Client, url: &str, key: &str) -> Value {
    answer(http.get(url).bearer_auth(key), url).await
}

/// A status by id, which anyone may read.
async fn get_public(http: &reqwest::Client, url: &str) -> Value {
    answer(http.get(url), url).await
}

async fn answer(req: reqwest::RequestBuilder, url: &str) -> Value {
    let res = req.send().await.unwrap();
    assert!(res.status().is_success(), "GET {url}: {}", res.status());
    res.json().await.unwrap()
}

async fn post(http: &reqwest::Client, url: &str, body: &Value, key: Option<&str>) -> Value {
    let mut req = http.post(url).json(body);
    if let Some(key) = key {
        req = req.bearer_auth(key);
    }
    let res = req.send().await.unwrap();
    let status = res.status();
    let answer: Value = res.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "POST {url}: {status} {answer}");
    answer
}
