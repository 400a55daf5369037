//! `mintflow import-legacy`: an old server's database (tests/fixtures/legacy_schema.sql, its
//! own PostgreSQL database) with a thousand items in every state, imported into a running
//! mintflow with anvil: every item ends minted exactly once, completed ones untouched, a row
//! that cannot be mapped is reported, and a second import changes nothing.
#[macro_use]
mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use alloy::primitives::{Address, B256, U256, keccak256};
use common::stack::{AMOUNT_PER_MINT, Stack, StackOptions, minted_on_chain};
use common::{Backend, DEV_KEY, eventually, pg_server};
use mintflow::chain::{Chain, ChainConfig, Submit, TxOutcome};
use mintflow::config::SettingsHandle;
use mintflow::ops::import_legacy::{self, Options};
use mintflow::store::{self, entity::workflow};
use mintflow::workflows::mint_batch::{BatchItem, batch_call};
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(120);

on_both_backends!(a_thousand_old_items_are_minted_once);

/// The old server's items, by status, in queue order.
const COMPLETED: usize = 250;
/// `processing` items whose batch did land on chain before the move.
const LANDED: usize = 150;
/// `processing` items whose batch never landed.
const NOT_LANDED: usize = 100;
const PENDING: usize = 300;
const FAILED: usize = 200;
const ITEMS: usize = COMPLETED + LANDED + NOT_LANDED + PENDING + FAILED;
/// The old chain batches that minted the completed and landed items.
const OLD_BATCH: usize = 100;

fn payer(i: usize) -> Address {
    Address::from_word(B256::from(U256::from(0x7000 + i)))
}

fn old_id(i: usize) -> B256 {
    keccak256(format!("old-server-item-{i}"))
}

fn status(i: usize) -> &'static str {
    match i {
        _ if i < COMPLETED => "completed",
        _ if i < COMPLETED + LANDED + NOT_LANDED => "processing",
        _ if i < COMPLETED + LANDED + NOT_LANDED + PENDING => "pending",
        _ => "failed",
    }
}

/// The old server's database, on the test PostgreSQL server.
struct OldDb {
    name: String,
    url: String,
    db: DatabaseConnection,
}

impl OldDb {
    async fn create() -> OldDb {
        let name = format!("mf_legacy_{}", uuid::Uuid::new_v4().simple());
        let admin = admin().await;
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap();
        admin.close().await.ok();
        let url = format!("{}/{name}", pg_server());
        let db = store::connect_with_pool(&url, 2).await.unwrap();
        db.execute_unprepared(include_str!("fixtures/legacy_schema.sql"))
            .await
            .unwrap();
        OldDb { name, url, db }
    }

    async fn drop_database(self) {
        self.db.close().await.ok();
        let admin = admin().await;
        admin
            .execute_unprepared(&format!("DROP DATABASE {} WITH (FORCE)", self.name))
            .await
            .unwrap();
        admin.close().await.ok();
    }
}

async fn admin() -> DatabaseConnection {
    store::connect_with_pool(&format!("{}/postgres", pg_server()), 1)
        .await
        .unwrap()
}

/// Mints the completed and landed items on chain as the old server did (through the stack
/// signer's pipeline, the token's minter); returns each old batch's transaction hash.
async fn mint_as_the_old_server(stack: &Stack) -> Vec<String> {
    let settings = SettingsHandle::load(&stack.t.db).await.unwrap();
    let signer = mintflow::chain::signer::load(Some(DEV_KEY), None, None).unwrap();
    let config = ChainConfig {
        rpc_url: stack.anvil.endpoint(),
        poll_ms: 100,
        ..Default::default()
    };
    let chain = Chain::connect(stack.t.db.clone(), settings, signer, config, None)
        .await
        .unwrap();
    let items: Vec<BatchItem> = (0..COMPLETED + LANDED)
        .map(|i| BatchItem {
            mint: uuid::Uuid::nil(),
            to: payer(i),
            id: old_id(i),
        })
        .collect();
    let mut hashes = Vec::new();
    for (n, batch) in items.chunks(OLD_BATCH).enumerate() {
        let tx = chain
            .submit(Submit {
                key: format!("old-server-batch-{n}"),
                owner: None,
                purpose: "test".into(),
                call: batch_call(stack.token, batch),
            })
            .await
            .unwrap();
        let hash = eventually(WAIT, "the old batch to be final", || async {
            match chain.outcome(tx).await.unwrap() {
                TxOutcome::Pending { .. } => None,
                TxOutcome::Confirmed { hash, .. } => Some(hash),
                other => panic!("old batch {n}: {other:?}"),
            }
        })
        .await;
        hashes.push(hash);
    }
    hashes
}

/// Fills the old tables: the items, two rows that cannot be mapped, settings and the tables
/// the importer only counts.
async fn fill(old: &OldDb, batch_hashes: &[String]) {
    let rows: Vec<String> = (0..ITEMS)
        .map(|i| {
            let status = status(i);
            let tx = match status {
                "completed" => format!("'{}'", batch_hashes[i / OLD_BATCH]),
                _ => "NULL".into(),
            };
            let error = match status {
                "failed" => format!("'old error {i}'"),
                _ => "NULL".into(),
            };
            format!(
                "('{:#x}', '{status}', {i}, {tx}, {error}, 'x402', '{:#x}')",
                payer(i),
                old_id(i)
            )
        })
        .collect();
    old.db
        .execute_unprepared(&format!(
            "INSERT INTO mint_queue (payer_address, status, queue_position, mint_tx_hash, \
             error_message, payment_type, tx_hash_bytes32) VALUES {};
             INSERT INTO mint_queue (payer_address, status, tx_hash_bytes32) VALUES
               ('{:#x}', 'refunded', '{:#x}'), ('{:#x}', 'pending', NULL);
             INSERT INTO system_settings (key, value) VALUES ('batch_interval_seconds', '1'),
               ('max_batch_size', '200'), ('retry_max_attempts', '5'),
               ('maintenance_mode', 'false');
             INSERT INTO payment_queue (payer_address, amount, tx_hash, status, error) VALUES
               ('{payer}', '1000000', '{:#x}', 'completed', NULL),
               ('{payer}', '1000000', '{:#x}', 'confirmation_failed', 'reverted'),
               ('{payer}', '1000000', NULL, 'failed', 'insufficient balance'),
               ('{payer}', '1000000', NULL, 'sent', NULL);
             INSERT INTO mint_history (payer_address) VALUES ('0x01');",
            rows.join(","),
            payer(ITEMS),
            old_id(ITEMS),
            payer(ITEMS + 1),
            keccak256("old settlement 1"),
            keccak256("old settlement 2"),
            payer = payer(0),
        ))
        .await
        .unwrap();
}

/// Who the stack's payments pay: anvil's first account, its signer.
const PAY_TO: Address = alloy::primitives::address!("f39Fd6e51aad88F6F4ce6aB8827279cffFb92266");

/// What the old API (`GET /api/payment/{id}`) says of the payment imported from old row `id`.
async fn legacy_payment_status(stack: &Stack, old_id: u32) -> String {
    let key = format!("legacy:payment_queue:{old_id}");
    let payment = workflow::Entity::find()
        .filter(workflow::Column::IdempotencyKey.eq(key))
        .one(&stack.t.db)
        .await
        .unwrap()
        .expect("imported");
    let (status, body) = stack.get(&format!("/api/payment/{}", payment.id)).await;
    assert_eq!(status, 200, "{body}");
    body["payment"]["status"].as_str().unwrap().to_owned()
}

async fn mint_rows(stack: &Stack) -> Vec<workflow::Model> {
    workflow::Entity::find()
        .filter(workflow::Column::Kind.eq("mint"))
        .all(&stack.t.db)
        .await
        .unwrap()
}

fn by_state(mints: &[workflow::Model]) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for m in mints {
        *out.entry(m.state.clone()).or_default() += 1;
    }
    out
}

async fn setting(stack: &Stack, key: &str) -> i64 {
    stack
        .t
        .scalar_i64(&format!(
            "SELECT CAST(value AS BIGINT) FROM system_settings WHERE key = '{key}'"
        ))
        .await
}

async fn a_thousand_old_items_are_minted_once(backend: Backend) {
    let stack = Stack::start(backend, StackOptions::default()).await;
    let old = OldDb::create().await;
    let batch_hashes = mint_as_the_old_server(&stack).await;
    fill(&old, &batch_hashes).await;
    let opts = |dry_run| Options {
        from: old.url.clone(),
        token: None,
        payments_to: Some((stack.usdc, PAY_TO)),
        dry_run,
    };

    let dry = import_legacy::run(&stack.t.db, &opts(true), |_, _| {})
        .await
        .unwrap();
    let expected = BTreeMap::from([
        ("confirmed", COMPLETED as u64),
        ("failed", FAILED as u64),
        ("pending", (LANDED + NOT_LANDED + PENDING) as u64),
    ]);
    assert_eq!(dry.mints.created, expected);
    assert!(
        mint_rows(&stack).await.is_empty(),
        "a dry run writes nothing"
    );
    assert_eq!(setting(&stack, "max_batch_size").await, 100);

    let report = import_legacy::run(&stack.t.db, &opts(false), |_, _| {})
        .await
        .unwrap();
    assert_eq!(report.mints.read, ITEMS as u64 + 2);
    assert_eq!(report.mints.created, expected);
    let refused = |table: &str| -> Vec<Option<String>> {
        report
            .not_imported
            .iter()
            .filter(|n| n.table == table)
            .map(|n| n.id.clone())
            .collect()
    };
    assert_eq!(
        refused("mint_queue"),
        [Some("1001".into()), Some("1002".into())]
    );
    assert!(report.not_imported[0].reason.contains("`refunded`"));
    assert!(report.not_imported[1].reason.contains("tx_hash_bytes32"));
    // Finished payments keep their state; the failed one that sent nothing and the one in
    // flight are reported.
    assert_eq!(
        report.payments.created,
        BTreeMap::from([("confirmed", 1), ("failed", 1)])
    );
    assert_eq!(
        refused("payment_queue"),
        [Some("3".into()), Some("4".into())]
    );
    assert_eq!(legacy_payment_status(&stack, 1).await, "completed");
    assert_eq!(
        legacy_payment_status(&stack, 2).await,
        "confirmation_failed"
    );
    assert_eq!(setting(&stack, "max_batch_wait_ms").await, 1000);
    assert_eq!(setting(&stack, "max_batch_size").await, 200);
    assert_eq!(setting(&stack, "retry_max_attempts").await, 5);

    // The workers mint what the old server had not, and nothing twice.
    let mints = eventually(WAIT, "every imported mint to be final", || async {
        let mints = mint_rows(&stack).await;
        let states = by_state(&mints);
        (states.get("confirmed") == Some(&(ITEMS - FAILED))).then_some(mints)
    })
    .await;
    assert_eq!(by_state(&mints).get("failed"), Some(&FAILED));
    let token = stack.token_contract();
    let supply = token.totalSupply().call().await.unwrap();
    let minted = (ITEMS - FAILED) as u64 * AMOUNT_PER_MINT;
    assert_eq!(supply, U256::from(minted));
    let ids: Vec<B256> = (0..ITEMS).map(old_id).collect();
    let on_chain = minted_on_chain(&token, &ids).await;
    for (i, minted) in on_chain.iter().enumerate() {
        assert_eq!(*minted, status(i) != "failed", "item {i} ({})", status(i));
    }
    // Completed items keep the old server's transaction: nothing was sent for them.
    for m in &mints {
        let i: usize = m.idempotency_key.as_deref().unwrap()["legacy:mint_queue:".len()..]
            .parse::<usize>()
            .unwrap()
            - 1;
        if status(i) == "completed" {
            assert_eq!(
                m.tx_hash.as_deref(),
                Some(batch_hashes[i / OLD_BATCH].as_str())
            );
        }
        if status(i) == "failed" {
            assert_eq!(m.last_error, Some(format!("old error {i}")));
        }
    }

    // Run again through the command line: everything is found, nothing is written.
    let again = second_import(&stack, &old).await;
    assert_eq!(again["mints"]["created"], serde_json::json!({}));
    assert_eq!(again["mints"]["already_imported"], ITEMS);
    assert_eq!(again["payments"]["created"], serde_json::json!({}));
    assert_eq!(again["payments"]["already_imported"], 2);
    assert!(
        again["settings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["outcome"] != "set")
    );
    assert_eq!(mint_rows(&stack).await.len(), ITEMS);
    assert_eq!(token.totalSupply().call().await.unwrap(), supply);

    old.drop_database().await;
    stack.service.stop().await;
}

async fn second_import(stack: &Stack, old: &OldDb) -> Value {
    let (db_url, from, usdc) = (stack.t.url.clone(), old.url.clone(), stack.usdc);
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_mintflow"))
            .args(["import-legacy", "--json"])
            .env("DATABASE_URL", db_url)
            .env("LEGACY_DATABASE_URL", from)
            .env("USDC_ADDRESS", usdc.to_string())
            .env("PAY_TO", PAY_TO.to_string())
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}
