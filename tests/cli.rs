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
            url: "http://127.0.0.1:9/cli-test".into(),
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
            out.contains("http://127.0.0.1:9/cli-test") && out.contains("probe"),
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
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed["info"]["title"], "mintflow");
    assert!(printed["paths"]["/v1/workflows/{id}/history"].is_object());
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
