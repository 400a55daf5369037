//! `mintflow doctor` and `GET /v1/doctor` on a whole stack: nothing to report after mints and a
//! payment; then each invariant broken on purpose is reported, exactly, with its workflows,
//! and `--fix` repairs only the safe ones, each with an audit entry.
#[macro_use]
mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use alloy::primitives::{Address, B256};
use alloy::signers::local::PrivateKeySigner;
use common::stack::{PAYER_KEY, Stack, StackOptions, fresh_nonce, fund_usdc, sign_authorization};
use common::{Backend, DEV_KEY, eventually, metrics};
use mintflow::config::SettingsHandle;
use mintflow::engine::{Client, StartOptions};
use mintflow::ops::doctor::report::DoctorReport;
use mintflow::ops::doctor::{self, Node, Options};
use mintflow::store::{self, entity::workflow, time::Clock};
use mintflow::workflows::mint::{self, MintRequest, PaymentType};
use mintflow::workflows::probe::{Probe, ProbeData, ProbeState};
use poem_openapi::types::ToJSON;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ConnectionTrait};
use serde_json::{Value, json};
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(120);
/// The default `MINT_PRICE`: 1 USDC.
const PRICE: u64 = 1_000_000;

on_both_backends!(doctor_reports_each_broken_invariant);

fn signer() -> Address {
    DEV_KEY.parse::<PrivateKeySigner>().unwrap().address()
}

async fn check(stack: &Stack) -> DoctorReport {
    let node = Node {
        provider: mintflow::chain::http_provider(&stack.anvil.endpoint(), Duration::from_secs(10))
            .unwrap(),
        chain_id: 31337,
        signer: Some(signer()),
    };
    let settings = SettingsHandle::load(&stack.t.db).await.unwrap().get();
    doctor::run(
        &stack.t.db,
        Some(&node),
        &settings,
        &Options::default(),
        &Clock::system(),
    )
    .await
    .unwrap()
}

/// The findings by code, with their workflows.
fn by_code(findings: &[Value]) -> BTreeMap<String, Vec<Vec<String>>> {
    let mut out: BTreeMap<String, Vec<Vec<String>>> = BTreeMap::new();
    for f in findings {
        let ids = f["workflowIds"]
            .as_array()
            .unwrap()
            .iter()
            .map(|id| id.as_str().unwrap().to_owned())
            .collect();
        out.entry(f["code"].as_str().unwrap().to_owned())
            .or_default()
            .push(ids);
    }
    out
}

/// Runs the built binary; its exit code and its report (`--json`).
async fn doctor_cli(stack: &Stack, extra: &[&str]) -> (i32, Value) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_mintflow"))
        .arg("doctor")
        .arg("--json")
        .args(extra)
        .env("DATABASE_URL", &stack.t.url)
        .env("RPC_URL", stack.anvil.endpoint())
        .env("USER", "dana")
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{e}: {stdout}\n{}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code().unwrap(), report)
}

async fn confirmed(stack: &Stack, mint: &str) -> Value {
    eventually(WAIT, &format!("mint {mint} to be confirmed"), || async {
        let (_, m) = stack.get(&format!("/v1/mints/{mint}")).await;
        (m["status"] == "confirmed").then_some(m)
    })
    .await
}

async fn doctor_reports_each_broken_invariant(backend: Backend) {
    let stack = Stack::start(backend, StackOptions::default()).await;
    let db = &stack.t.db;
    // Some mints, and a payment with its own mint.
    let (status, queued) = stack
        .post(
            "/v1/mints",
            &json!({ "payer": Address::repeat_byte(7).to_string(), "quantity": 2 }),
        )
        .await;
    assert_eq!(status, 202, "{queued}");
    let mints: Vec<String> = queued["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| id.as_str().unwrap().to_owned())
        .collect();
    for m in &mints {
        confirmed(&stack, m).await;
    }
    let payer: PrivateKeySigner = PAYER_KEY.parse().unwrap();
    fund_usdc(
        &stack.anvil.endpoint(),
        stack.usdc,
        payer.address(),
        PRICE,
        false,
    )
    .await;
    let (authorization, signature) = sign_authorization(stack.usdc, &payer, PRICE, fresh_nonce());
    let body = json!({
        "paymentType": "gasless", "authorization": authorization, "signature": signature,
        "quantity": 1,
    });
    let (status, payment) = stack.post("/v1/payments", &body).await;
    assert_eq!(status, 202, "{payment}");
    let payment_id = payment["id"].as_str().unwrap().to_owned();
    let paid_mint = payment["mintIds"][0].as_str().unwrap().to_owned();
    let paid = confirmed(&stack, &paid_mint).await;
    eventually(WAIT, "the payment to be confirmed", || async {
        let (_, p) = stack.get(&format!("/v1/payments/{payment_id}")).await;
        (p["status"] == "confirmed").then_some(())
    })
    .await;

    // Clean: in the library, through the binary (exit 0) and through the API.
    let report = check(&stack).await;
    assert!(report.clean, "{:?}", report.findings);
    let examined = |name: &str| {
        report
            .checks
            .iter()
            .find(|c| c.name == name)
            .unwrap()
            .examined
    };
    assert_eq!(examined("confirmed_mints"), 3);
    assert_eq!(examined("confirmed_payments"), 1);
    assert_eq!(examined("tokens"), 1);
    let (code, cli) = doctor_cli(&stack, &[]).await;
    assert_eq!(code, 0, "{cli}");
    assert_eq!(cli["clean"], true);
    assert_eq!(cli["sample"], 1000);
    let (status, api) = stack.get("/v1/doctor").await;
    assert_eq!(status, 200, "{api}");
    assert_eq!(api["clean"], true, "{api}");

    // Break each invariant.
    // A confirmed mint whose on-chain id was never minted.
    let forged = mints[0].parse::<Uuid>().unwrap();
    let row = store::workflows::find(db, forged).await.unwrap().unwrap();
    let mut data = row.data.clone();
    data["onchain_id"] = json!(B256::repeat_byte(0xab));
    let mut active: workflow::ActiveModel = row.into();
    active.data = Set(data);
    active.update(db).await.unwrap();
    // The paid mint's batch transaction and the payment's receipt are gone.
    let batch_tx = paid["txHash"].as_str().unwrap();
    let tx = store::chain::tx_by_hash(db, batch_tx)
        .await
        .unwrap()
        .unwrap();
    for sql in [
        format!("DELETE FROM chain_tx_attempts WHERE tx_id = '{}'", tx.id),
        format!("DELETE FROM chain_txs WHERE id = '{}'", tx.id),
    ] {
        exec_with_uuid(&stack, &sql).await;
    }
    exec_with_uuid(
        &stack,
        &format!("DELETE FROM payment_receipts WHERE payment_id = '{payment_id}'"),
    )
    .await;
    // A mint awaiting a payment (a parent no worker serves here) that failed.
    let client = Client::new(db.clone(), Default::default());
    let waiting = StartOptions {
        waiting: true,
        ..Default::default()
    };
    let failed_parent = client
        .start::<Probe>(ProbeState::First, &ProbeData::default(), waiting.clone())
        .await
        .unwrap()
        .id();
    let request = MintRequest {
        payer: payer.address(),
        recipient: payer.address(),
        token: stack.token,
        quantity: 1,
        payment_type: PaymentType::Gasless,
        key: Uuid::new_v4().to_string(),
        parent_id: Some(failed_parent),
        priority: 0,
    };
    let stranded = mint::start_in(&client, db, &request).await.unwrap().ids[0];
    let now = store::now_ms();
    exec_with_uuid(
        &stack,
        &format!(
            "UPDATE workflows SET status = 'failed', state = 'failed', finished_at_ms = {now} \
             WHERE id = '{failed_parent}'"
        ),
    )
    .await;
    // A running workflow whose lease expired an hour ago, sleeping until tomorrow.
    let leased = client
        .start::<Probe>(ProbeState::First, &ProbeData::default(), waiting)
        .await
        .unwrap()
        .id();
    exec_with_uuid(
        &stack,
        &format!(
            "UPDATE workflows SET status = 'running', lease_owner = 'gone-worker', \
             lease_until_ms = {}, run_at_ms = {} WHERE id = '{leased}'",
            now - 3_600_000,
            now + 86_400_000
        ),
    )
    .await;
    // The stored nonce ran 5 ahead of the node.
    exec_with_uuid(
        &stack,
        "UPDATE chain_signers SET next_nonce = next_nonce + 5",
    )
    .await;

    let expected = |fixed: bool| {
        let mut e = BTreeMap::from([
            (
                "mint_not_on_chain".to_owned(),
                vec![vec![forged.to_string()]],
            ),
            ("mint_tx_missing".to_owned(), vec![vec![paid_mint.clone()]]),
            (
                "payment_receipt_missing".to_owned(),
                vec![vec![payment_id.clone()]],
            ),
            ("nonce_ahead".to_owned(), vec![vec![]]),
        ]);
        if !fixed {
            e.insert(
                "mint_stranded".into(),
                vec![vec![failed_parent.to_string(), stranded.to_string()]],
            );
            e.insert("lease_expired".into(), vec![vec![leased.to_string()]]);
        }
        e
    };
    let report = check(&stack).await;
    let json = report.to_json().unwrap();
    assert_eq!(
        by_code(json["findings"].as_array().unwrap()),
        expected(false),
        "{json}"
    );
    let (status, api) = stack.get("/v1/doctor").await;
    assert_eq!(status, 200);
    assert_eq!(
        by_code(api["findings"].as_array().unwrap()),
        expected(false),
        "{api}"
    );
    // That run is this service's `mintflow_doctor_findings`, check by check.
    let text = metrics::text(&stack.http, &stack.base).await;
    let findings =
        |check: &str| metrics::sum(&text, "mintflow_doctor_findings", &[("check", check)]);
    for check in api["checks"].as_array().unwrap() {
        let name = check["name"].as_str().unwrap();
        assert_eq!(
            findings(name),
            check["findings"].as_f64(),
            "{name} in:\n{text}"
        );
    }
    assert_eq!(findings("nonces"), Some(1.0), "{text}");

    // `--fix` wakes the leased workflow and cancels the stranded mint; the rest stays.
    let (code, fixed) = doctor_cli(&stack, &["--fix"]).await;
    assert_eq!(code, 1, "{fixed}");
    assert_eq!(
        by_code(fixed["findings"].as_array().unwrap()),
        expected(true),
        "{fixed}"
    );
    let repairs: BTreeMap<String, Value> = fixed["repairs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["action"].as_str().unwrap().to_owned(),
                r["workflowIds"].clone(),
            )
        })
        .collect();
    assert_eq!(repairs["doctor.wake"], json!([leased]));
    assert_eq!(repairs["doctor.cancel_stranded"], json!([stranded]));
    let mint_row = store::workflows::find(db, stranded).await.unwrap().unwrap();
    assert_eq!(
        (mint_row.state.as_str(), mint_row.status.as_str()),
        ("cancelled", "cancelled")
    );
    let woken = store::workflows::find(db, leased).await.unwrap().unwrap();
    assert!(woken.run_at_ms.unwrap() <= store::now_ms(), "due now");
    let audit = store::audit::list(db, None, 10).await.unwrap();
    let entries: Vec<(&str, &str, &str)> = audit
        .iter()
        .map(|a| (a.actor.as_str(), a.action.as_str(), a.target.as_str()))
        .collect();
    let (leased_s, parent_s) = (leased.to_string(), failed_parent.to_string());
    assert!(
        entries.contains(&("dana", "doctor.wake", leased_s.as_str())),
        "{entries:?}"
    );
    assert!(
        entries.contains(&("dana", "doctor.cancel_stranded", parent_s.as_str())),
        "{entries:?}"
    );
    stack.service.stop().await;
}

/// Runs `sql`, whose uuids are written as text, on either backend (SQLite stores them as
/// 16-byte blobs).
async fn exec_with_uuid(stack: &Stack, sql: &str) {
    let sql = if stack.t.is_pg() {
        sql.to_owned()
    } else {
        let re = regex::Regex::new(
            r"'([0-9a-f]{8})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{12})'",
        )
        .unwrap();
        re.replace_all(sql, "X'$1$2$3$4$5'").into_owned()
    };
    stack
        .t
        .db
        .execute_unprepared(&sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}
