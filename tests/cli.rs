//! The `mintflow` binary's operator commands against a database a test prepared.
mod common;

use std::process::Command;

use common::{Backend, TestDb};
use mintflow::engine::{Client, StartOptions};
use mintflow::workflows::probe::{Probe, ProbeData, ProbeState};
use sea_orm::ConnectionTrait;

fn mintflow(url: &str, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mintflow"))
        .args(args)
        .env("DATABASE_URL", url)
        .env("USER", "dana")
        .output()
        .expect("run mintflow");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn workflows_commands() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let t = TestDb::new(backend).await;
        let client = Client::new(t.db.clone(), Default::default());
        let waiting = StartOptions {
            waiting: true,
            ..Default::default()
        };
        let id = client
            .start::<Probe>(ProbeState::First, &ProbeData::default(), waiting)
            .await
            .unwrap()
            .id();
        let id_s = id.to_string();

        let (ok, out, err) = mintflow(&t.url, &["workflows", "list"]);
        assert!(ok, "{err}");
        assert!(out.contains(&id_s) && out.contains("waiting"), "{out}");
        let (ok, out, _) = mintflow(
            &t.url,
            &["workflows", "list", "--status", "waiting", "--json"],
        );
        assert!(ok);
        let list: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(list[0]["id"], id_s);
        let (ok, _, err) = mintflow(&t.url, &["workflows", "list", "--status", "sleepy"]);
        assert!(!ok && err.contains("unknown status"), "{err}");
        let (ok, out, _) = mintflow(&t.url, &["workflows", "show", &id_s]);
        assert!(
            ok && out.contains("probe") && out.contains("first"),
            "{out}"
        );

        let (ok, out, err) = mintflow(&t.url, &["workflows", "retry", &id_s]);
        assert!(!ok && err.contains("it is waiting"), "{out}{err}");
        let (ok, out, err) = mintflow(
            &t.url,
            &["workflows", "cancel", &id_s, "--reason", "duplicate order"],
        );
        assert!(ok, "{err}");
        assert!(out.contains("cancelled"), "{out}");
        let (ok, out, _) = mintflow(&t.url, &["workflows", "history", &id_s, "--json"]);
        assert!(ok);
        let history: serde_json::Value = serde_json::from_str(&out).unwrap();
        let cancelled = &history["events"][1];
        assert_eq!(cancelled["event"], "cancelled");
        assert_eq!(cancelled["detail"]["actor"], "dana");
        assert_eq!(cancelled["detail"]["via"], "cli");
        assert_eq!(cancelled["detail"]["reason"], "duplicate order");
        let (ok, out, _) = mintflow(&t.url, &["workflows", "history", &id_s]);
        assert!(
            ok && out.contains("created") && out.contains("cancelled"),
            "{out}"
        );
        // Search: by key and age finds nothing here; the dead letters are empty (a cancelled
        // workflow is not one); the cancel is in the audit log.
        for args in [
            &["--idempotency-key", "nope"][..],
            &["--older-than-secs", "3600"],
            &["--dead-letters"],
        ] {
            let (ok, out, err) = mintflow(
                &t.url,
                &[&["workflows", "list", "--json"][..], args].concat(),
            );
            assert!(ok, "{err}");
            assert_eq!(out.trim(), "[]", "{args:?}");
        }
        assert_eq!(
            t.scalar_i64("SELECT count(*) FROM audit_log WHERE action = 'workflow.cancel'")
                .await,
            1
        );

        let missing = uuid::Uuid::now_v7().to_string();
        let (ok, _, err) = mintflow(&t.url, &["workflows", "show", &missing]);
        assert!(!ok && err.contains("no workflow"), "{err}");
        let (ok, _, err) = mintflow(&t.url, &["workflows", "show", "nope"]);
        assert!(!ok && err.contains("invalid"), "{err}");
        assert_eq!(t.scalar_i64("SELECT count(*) FROM workflows").await, 1);
        t.db.execute_unprepared("SELECT 1").await.unwrap();
    }
}

/// `mintflow webhooks`: the subscriptions, a delivery log filtered by status, and redelivery
/// by id and of all the rest, each recorded in the audit log under the shell's user.
#[tokio::test]
async fn webhooks_commands() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let t = TestDb::new(backend).await;
        let client = Client::new(t.db.clone(), Default::default());
        for _ in 0..2 {
            let waiting = StartOptions {
                waiting: true,
                ..Default::default()
            };
            client
                .start::<Probe>(ProbeState::First, &ProbeData::default(), waiting)
                .await
                .unwrap();
        }
        let hook = mintflow::store::webhooks::WebhookRow {
            id: uuid::Uuid::now_v7(),
            // Never delivered to (nothing dispatches here): a name that cannot resolve.
            url: "http://receiver.invalid/cli-test".into(),
            secret: "a-secret-never-shown".into(),
            kinds: Some(serde_json::json!(["probe"])),
            states: None,
            description: None,
            cursor: 0,
            created_at_ms: mintflow::store::now_ms(),
            created_by: "test".into(),
            previous_secret: None,
            previous_secret_until_ms: None,
        };
        mintflow::store::webhooks::save(&t.db, &hook).await.unwrap();
        mintflow::store::outbox::sequence(&t.db).await.unwrap();
        let now = mintflow::store::now_ms();
        assert_eq!(
            mintflow::store::webhooks::fan_out(&t.db, now)
                .await
                .unwrap(),
            2
        );
        t.db.execute_unprepared("UPDATE webhook_deliveries SET status = 'failed', attempts = 20")
            .await
            .unwrap();
        let id = hook.id.to_string();

        let (ok, out, err) = mintflow(&t.url, &["webhooks", "list"]);
        assert!(ok, "{err}");
        assert!(
            out.contains("http://receiver.invalid/cli-test") && out.contains("probe"),
            "{out}"
        );
        assert!(!out.contains("a-secret-never-shown"), "{out}");
        let (ok, out, err) = mintflow(
            &t.url,
            &[
                "webhooks",
                "deliveries",
                &id,
                "--status",
                "failed",
                "--json",
            ],
        );
        assert!(ok, "{err}");
        let failed: serde_json::Value = serde_json::from_str(&out).unwrap();
        let failed = failed.as_array().unwrap();
        assert_eq!(failed.len(), 2, "{out}");
        let first = failed[0]["id"].to_string();
        let (ok, _, err) = mintflow(&t.url, &["webhooks", "deliveries", &id, "--status", "lost"]);
        assert!(!ok && err.contains("lost"), "{err}");

        let (ok, out, err) = mintflow(
            &t.url,
            &[
                "webhooks",
                "redeliver",
                &id,
                "--delivery-id",
                &first,
                "--reason",
                "back up",
            ],
        );
        assert!(ok, "{err}");
        assert!(out.contains("1 deliveries"), "{out}");
        let (ok, out, _) = mintflow(&t.url, &["webhooks", "redeliver", &id]);
        assert!(ok && out.contains("1 deliveries"), "{out}");
        let (ok, out, _) = mintflow(
            &t.url,
            &["webhooks", "deliveries", &id, "--status", "pending"],
        );
        assert!(ok && out.matches("pending").count() == 2, "{out}");
        assert_eq!(
            t.scalar_i64(
                "SELECT count(*) FROM audit_log WHERE action = 'webhook.redeliver' AND actor = 'dana'"
            )
            .await,
            2
        );
        let unknown = uuid::Uuid::now_v7().to_string();
        let (ok, _, err) = mintflow(&t.url, &["webhooks", "redeliver", &unknown]);
        assert!(!ok && err.contains("no webhook"), "{err}");
    }
}

#[test]
fn openapi_command_prints_the_committed_spec() {
    let out = Command::new(env!("CARGO_BIN_EXE_mintflow"))
        .arg("openapi")
        .output()
        .unwrap();
    assert!(out.status.success());
    let committed =
        std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json")).unwrap();
    // Byte for byte, trailing newline aside: the file is what `mintflow openapi >` writes.
    assert!(
        out.stdout.trim_ascii_end() == committed.trim_ascii_end(),
        "`mintflow openapi` differs from openapi/openapi.json: run \
         `mintflow openapi > openapi/openapi.json`"
    );
}

#[test]
fn serve_refuses_a_limit_of_zero() {
    for flag in [
        "--max-event-streams",
        "--webhook-requests",
        "--webhook-requests-per-subscription",
    ] {
        let (ok, _, stderr) = mintflow("sqlite::memory:", &["serve", flag, "0"]);
        assert!(!ok, "{flag} 0 was accepted");
        assert!(stderr.contains("at least 1"), "{flag}: {stderr}");
    }
}

/// Runs `mintflow` with extra environment variables (and no inherited secrets).
fn mintflow_env(args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mintflow"))
        .args(args)
        .env_remove("ADMIN_TOKEN")
        .env_remove("SIGNER_PRIVATE_KEY")
        .envs(env.iter().copied())
        .output()
        .expect("run mintflow");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// MockUSDC's faucet is open to anyone: `deploy --mock-usdc` goes to a local development chain
/// only, or anywhere with `--force`. The signer's key comes from a file here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_mock_usdc_refuses_a_chain_that_is_not_local() {
    let node = common::anvil(&["--chain-id", "5", "--block-time", "0.2"]);
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("signer.key");
    std::fs::write(&key_file, format!("{}\n", common::DEV_KEY)).unwrap();
    let t = TestDb::new(Backend::Sqlite).await;
    let rpc = node.endpoint();
    let key_file = key_file.to_str().unwrap();
    let deploy = |extra: &[&str]| {
        let mut args = vec!["deploy", "--mock-usdc", "--rpc-url", &rpc];
        args.extend_from_slice(extra);
        mintflow_env(
            &args,
            &[
                ("DATABASE_URL", &t.url),
                ("SIGNER_PRIVATE_KEY_FILE", key_file),
            ],
        )
    };
    let (ok, out, err) = deploy(&[]);
    assert!(!ok, "{out}");
    assert!(err.contains("refused on chain 5"), "{err}");
    let (ok, out, err) = deploy(&["--force"]);
    assert!(ok, "{err}");
    let deployed: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(deployed["chainId"], 5);
    assert!(deployed["usdc"].is_string(), "{deployed}");
}

/// Secrets can be given as files, never both as a value and a file.
#[test]
fn secrets_come_from_files_or_values_not_both() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("secret");
    std::fs::write(&file, "from-a-file\n").unwrap();
    let file = file.to_str().unwrap();
    let (ok, _, err) = mintflow_env(
        &["serve", "--admin-token-file", file],
        &[("ADMIN_TOKEN", "from-env")],
    );
    assert!(!ok && err.contains("cannot be used with"), "{err}");
    let (ok, _, err) = mintflow_env(
        &["deploy", "--signer-private-key", common::DEV_KEY],
        &[("SIGNER_PRIVATE_KEY_FILE", file)],
    );
    assert!(!ok && err.contains("cannot be used with"), "{err}");
    assert!(
        !err.contains(&common::DEV_KEY[2..]),
        "the key is not echoed: {err}"
    );
}

/// `serve` takes its admin token from `ADMIN_TOKEN_FILE`, without the file's line break.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_reads_the_admin_token_from_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("admin-token");
    std::fs::write(&file, "token-from-a-file\n").unwrap();
    let db = dir.path().join("db.sqlite");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_mintflow"))
        .arg("serve")
        .env_remove("ADMIN_TOKEN")
        .env_remove("RPC_URL")
        .env(
            "DATABASE_URL",
            format!("sqlite://{}?mode=rwc", db.display()),
        )
        .env("LISTEN_ADDR", format!("127.0.0.1:{port}"))
        .env("ADMIN_TOKEN_FILE", &file)
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let http = reqwest::Client::new();
    common::eventually(
        std::time::Duration::from_secs(30),
        "serve to listen",
        || {
            let http = http.clone();
            let url = format!("{base}/health");
            async move { http.get(url).send().await.ok() }
        },
    )
    .await;
    let put = |token: &'static str| {
        http.put(format!("{base}/v1/settings/confirmations"))
            .bearer_auth(token)
            .json(&serde_json::json!({ "value": 2 }))
            .send()
    };
    assert_eq!(put("token-from-a-file").await.unwrap().status(), 200);
    let refused = put("another-token").await.unwrap();
    assert_eq!(refused.status(), 401);
    let err: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(err["code"], "invalid_credentials", "{err}");
    child.kill().await.unwrap();
}

/// A node that mines only when it receives a transaction (anvil's default) never makes the
/// blocks 2 confirmations need: `deploy` says what it waits for, the block the chain is at and
/// the one it needs, then that the chain is not producing blocks and what to do, rather than
/// wait silently until its timeout. The warning comes after `--no-block-warning-secs` (30 by
/// default; 3 here, so the test does not wait the full 30 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_says_what_it_waits_for_on_a_chain_that_makes_no_blocks() {
    use tokio::io::AsyncBufReadExt;

    let node = common::anvil(&[]);
    let t = TestDb::new(Backend::Sqlite).await;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_mintflow"))
        .args(["deploy", "--rpc-url", &node.endpoint()])
        .args(["--confirmations", "2", "--no-block-warning-secs", "3"])
        .env_remove("ADMIN_TOKEN")
        .env("DATABASE_URL", &t.url)
        .env("SIGNER_PRIVATE_KEY", common::DEV_KEY)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stderr = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    let read = async {
        while let Some(line) = stderr.next_line().await.unwrap() {
            let done = line.contains("not producing blocks");
            seen.push(line);
            if done {
                return true;
            }
        }
        false
    };
    let warned = tokio::time::timeout(std::time::Duration::from_secs(35), read).await;
    let output = seen.join("\n");
    assert!(
        matches!(warned, Ok(true)),
        "no word on the missing blocks within 35 s:\n{output}"
    );
    // anvil mined the deployment alone in block 1; 2 confirmations need block 3.
    assert!(
        output.contains("waiting for 1 transaction: deploy (nonce 0) mined in block 1, needs block 3 (2 confirmations); the chain is at block 1"),
        "{output}"
    );
    let warning = seen.last().unwrap();
    assert!(warning.contains("the chain is at block 1"), "{warning}");
    assert!(warning.contains("--confirmations 0"), "{warning}");
    assert!(warning.contains("--block-time"), "{warning}");
    child.kill().await.unwrap();
}

/// The warning's default is 30 s, as `deploy --help` says.
#[test]
fn deploy_warns_after_30_seconds_without_a_block_by_default() {
    let (ok, help, err) = mintflow_env(&["deploy", "--help"], &[]);
    assert!(ok, "{err}");
    let flag = help
        .split("--no-block-warning-secs")
        .nth(1)
        .expect("the flag is documented");
    let doc: Vec<&str> = flag
        .lines()
        .take_while(|l| !l.trim_start().starts_with('-'))
        .collect();
    assert!(doc.iter().any(|l| l.contains("[default: 30]")), "{doc:?}");
}
