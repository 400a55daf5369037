//! The chain commands of the real binary: `mintflow dev` comes up with a healthy chain and
//! takes its anvil down on SIGTERM, and with `--batched-settlement` settles payments through
//! the Settler it deployed; `mintflow deploy` deploys contracts that have code.
mod common;

use std::process::Command;

use alloy::primitives::Address;
use alloy::providers::{Provider, RootProvider};
use common::dev::{Dev, EXIT_TIMEOUT, wait_exit};
use common::{DEV_KEY, anvil, ready_check};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_comes_up_healthy_and_stops_anvil_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut dev = Dev::start(dir.path(), &[]);
    let (base, banner) = (dev.base.clone(), dev.banner.clone());
    let rpc = dev.field("RPC");
    for page in ["/docs", "/ui", "/v1/events"] {
        assert!(
            banner.iter().any(|l| l.contains(&format!("{base}{page}"))),
            "{page} in {banner:?}"
        );
    }

    let res = reqwest::get(format!("{base}/ready")).await.unwrap();
    assert_eq!(res.status(), reqwest::StatusCode::OK);
    let ready: serde_json::Value = res.json().await.unwrap();
    let rpc_check = ready_check(&ready, "rpc");
    assert_eq!(rpc_check["ok"], true, "{ready}");

    let anvil_addr = rpc.trim_start_matches("http://").to_owned();
    assert!(
        std::net::TcpStream::connect(&anvil_addr).is_ok(),
        "anvil answers at {anvil_addr} while dev runs"
    );
    dev.terminate();
    let exit = wait_exit(&mut dev.child, EXIT_TIMEOUT)
        .unwrap_or_else(|| panic!("dev did not exit after SIGTERM; stderr:\n{}", dev.logs()));
    assert!(
        exit.success(),
        "dev exited with {exit}; stderr:\n{}",
        dev.logs()
    );
    assert!(
        std::net::TcpStream::connect(&anvil_addr).is_err(),
        "anvil still answers at {anvil_addr} after dev exited"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_prints_addresses_with_code() {
    let node = anvil(&["--block-time", "0.2"]);
    let dir = tempfile::tempdir().unwrap();
    let out = tokio::task::spawn_blocking({
        let endpoint = node.endpoint();
        let url = format!("sqlite://{}/deploy.db?mode=rwc", dir.path().display());
        move || {
            Command::new(env!("CARGO_BIN_EXE_mintflow"))
                .args(["deploy", "--mock-usdc", "--name", "Test Token"])
                .env("DATABASE_URL", url)
                .env("RPC_URL", endpoint)
                .env("SIGNER_PRIVATE_KEY", DEV_KEY)
                .output()
                .expect("run mintflow deploy")
        }
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(
        !stderr.contains(&DEV_KEY[2..]),
        "the key must never be logged"
    );
    assert_eq!(stdout.lines().count(), 1, "one JSON line: {stdout}");
    let deployed: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(deployed["chainId"], 31337, "{deployed}");

    let provider: RootProvider = RootProvider::new_http(node.endpoint_url());
    for field in ["usdc", "token", "settler"] {
        let address: Address = deployed[field]
            .as_str()
            .unwrap_or_else(|| panic!("{field} missing: {deployed}"))
            .parse()
            .unwrap();
        let code = provider.get_code_at(address).await.unwrap();
        assert!(!code.is_empty(), "{field} at {address} has no code");
    }
}

/// `dev --batched-settlement` settles the spec's example payment through the Settler it
/// deployed and printed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_settles_payments_through_its_settler_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let dev = Dev::start_with(dir.path(), &["--batched-settlement"], &[]);
    let settler: Address = dev.field("settler").parse().unwrap();
    let rpc = dev.field("RPC");
    let provider: RootProvider = RootProvider::new_http(rpc.parse().unwrap());
    assert!(!provider.get_code_at(settler).await.unwrap().is_empty());
    let spec: serde_json::Value = serde_json::from_str(&mintflow::api::spec_json()).unwrap();
    let example = &spec["components"]["schemas"]["PaymentBody"]["example"];
    let http = reqwest::Client::new();
    let res = http
        .post(format!("{}/v1/payments", dev.base))
        .json(example)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202, "{:?}", res.text().await);
    let payment: serde_json::Value = res.json().await.unwrap();
    let url = format!(
        "{}/v1/payments/{}",
        dev.base,
        payment["id"].as_str().unwrap()
    );
    let confirmed = common::eventually(
        std::time::Duration::from_secs(60),
        "the example payment to be confirmed",
        || async {
            let p: serde_json::Value = http.get(&url).send().await.ok()?.json().await.ok()?;
            (p["status"] == "confirmed").then_some(p)
        },
    )
    .await;
    let hash: alloy::primitives::B256 = confirmed["txHash"].as_str().unwrap().parse().unwrap();
    let tx = provider
        .get_transaction_by_hash(hash)
        .await
        .unwrap()
        .unwrap();
    use alloy::consensus::Transaction;
    assert_eq!(
        tx.to(),
        Some(settler),
        "settled through the Settler: {confirmed}"
    );
}

/// Swagger UI's "Try it out" sends a request body's example as it is: every example in the spec
/// is accepted by `mintflow dev` (its printed key for the mints, the admin token for the rest),
/// and the answers match the spec. The x402 routes answer 402 with their offer, since a body
/// carries no `PAYMENT-SIGNATURE`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_example_in_the_spec_works_against_dev() {
    const ADMIN: &str = "dev-examples-admin-token";
    let dir = tempfile::tempdir().unwrap();
    let dev = Dev::start(dir.path(), &[("ADMIN_TOKEN", ADMIN)]);
    let key = dev.field("key");
    let spec: serde_json::Value = serde_json::from_str(&mintflow::api::spec_json()).unwrap();
    let mut requests = Vec::new();
    for (path, operations) in spec["paths"].as_object().unwrap() {
        for (method, operation) in operations.as_object().unwrap() {
            let Some(content) = operation["requestBody"]["content"].as_object() else {
                continue;
            };
            let schema = content.values().next().unwrap()["schema"]["$ref"]
                .as_str()
                .unwrap()
                .rsplit('/')
                .next()
                .unwrap()
                .to_owned();
            let example = spec["components"]["schemas"][&schema]["example"].clone();
            assert!(
                !example.is_null(),
                "{method} {path}: {schema} has no example"
            );
            requests.push((path.clone(), method.clone(), example));
        }
    }
    // The subscription the webhook operations act on is made first.
    requests.sort_by_key(|(path, method, _)| {
        (path != "/v1/webhooks" || method != "post", path.clone())
    });
    let http = reqwest::Client::new();
    // The queue holds its mints, so the mint `POST /v1/mints` queues is still pending when its
    // priority is set.
    let res = http
        .put(format!("{}/v1/settings/max_batch_wait_ms", dev.base))
        .bearer_auth(ADMIN)
        .json(&serde_json::json!({ "value": 600_000 }))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{:?}", res.text().await);
    let mut webhook = String::new();
    let mut mint = String::new();
    for (path, method, example) in requests {
        let id = if path.starts_with("/v1/mints/") {
            &mint
        } else {
            &webhook
        };
        let url = format!(
            "{}{}",
            dev.base,
            path.replace("{id}", id).replace("{key}", "max_batch_size")
        );
        let mints = path == "/v1/mints" || path == "/mint";
        let credential = if mints { key.as_str() } else { ADMIN };
        let res = http
            .request(method.to_uppercase().parse().unwrap(), &url)
            .bearer_auth(credential)
            .json(&example)
            .send()
            .await
            .unwrap();
        let status = res.status();
        let x402 = res.headers().contains_key("payment-required");
        let body: serde_json::Value = res.json().await.unwrap_or_default();
        // The facilitator's routes answer 200 (dev allows no payee: the example is refused).
        let facilitator = path.starts_with("/x402/facilitator/");
        if (path.starts_with("/x402/") && !facilitator) || path == "/api/x402-batch-mint" {
            assert!(status == 402 && x402, "{method} {path}: {status} {body}");
            continue;
        }
        assert!(
            status.is_success(),
            "{method} {path} with {example}: {status} {body}"
        );
        let answer = &spec["paths"][&path][&method]["responses"][status.as_str()]["content"];
        if let Some(schema) = answer
            .as_object()
            .and_then(|content| content.values().next())
            .and_then(|media| media["schema"]["$ref"].as_str())
        {
            common::spec::assert_matches(schema.rsplit('/').next().unwrap(), &body);
        }
        if path == "/v1/webhooks" {
            webhook = body["id"].as_str().unwrap().to_owned();
        }
        if path == "/v1/mints" {
            mint = body["id"].as_str().unwrap().to_owned();
        }
    }
}

/// Clear refusals before anything starts: no anvil for `dev`, no signer for `serve` with a chain.
#[test]
fn missing_anvil_or_signer_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/x.db?mode=rwc", dir.path().display());
    // A node URL on a port of ours that refuses: were `serve` to reach for it, it gets nothing.
    let (_refusing, port) = common::refused_port();
    let rpc_url = format!("http://127.0.0.1:{port}");
    let out = Command::new(env!("CARGO_BIN_EXE_mintflow"))
        .arg("dev")
        .current_dir(dir.path())
        .env("DATABASE_URL", &db)
        .env("PATH", dir.path().join("nowhere"))
        .env_remove("ANVIL_PATH")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("npm ci --prefix tools"), "{stderr}");

    let out = Command::new(env!("CARGO_BIN_EXE_mintflow"))
        .args(["serve", "--rpc-url", &rpc_url])
        .current_dir(dir.path())
        .env("DATABASE_URL", &db)
        .env_remove("SIGNER_PRIVATE_KEY")
        .env_remove("KEYSTORE_PATH")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("RPC_URL is set, so a signer is required")
            && stderr.contains("SIGNER_PRIVATE_KEY"),
        "{stderr}"
    );

    let out = Command::new(env!("CARGO_BIN_EXE_mintflow"))
        .args(["serve", "--rpc-url", &rpc_url])
        .current_dir(dir.path())
        .env("DATABASE_URL", &db)
        .env("SIGNER_PRIVATE_KEY", "0xabcdef0123")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("not a valid") && !stderr.contains("abcdef0123"),
        "{stderr}"
    );
}
