//! The payment ledger: a transfer hash or an EIP-3009 authorization pays once forever. Its
//! receipt is written with the payment and outlives the payment's workflow (which retention
//! no longer deletes either: payments, mints and deployments are financial records).
#[macro_use]
mod common;

use std::time::Duration;

use alloy::network::EthereumWallet;
use alloy::primitives::{Address, B256, Bytes, U256};
use alloy::providers::ProviderBuilder;
use alloy::signers::local::PrivateKeySigner;
use common::stack::{
    AMOUNT_PER_MINT, PAYER_KEY, Stack, StackOptions, fresh_nonce, fund_usdc, sign_authorization,
    test_offer,
};
use common::x402::usdc_balance;
use common::{Backend, TestDb, eventually, fast_settings};
use mintflow::chain::contracts::MockUSDC;
use mintflow::cli::archive::{self, ArchiveArgs};
use mintflow::engine::{Client, StartError};
use mintflow::store::{self, receipts, workflows as rows};
use mintflow::workflows::mint::MintRequest;
use mintflow::workflows::payment::exposure::{Funds, Limits};
use mintflow::workflows::payment::{
    self, CreateError, PaymentData, PaymentKind, Purchase, SignedAuthorization,
};
use mintflow::workflows::{RECORDS, payment::PAYMENT};
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(120);
/// The default `MINT_PRICE`: 1 USDC.
const PRICE: u64 = 1_000_000;
const DAY_MS: i64 = 86_400_000;

on_both_backends!(
    a_transfer_pays_once_after_its_payment_is_gone,
    an_authorization_pays_once_after_its_payment_is_gone,
    the_receipt_alone_refuses_an_unsettled_authorization,
    retention_keeps_financial_records,
    archive_writes_records_out_then_deletes_them,
);

fn payer() -> PrivateKeySigner {
    PAYER_KEY.parse().unwrap()
}

async fn count(t: &TestDb, kind: &str) -> i64 {
    t.scalar_i64(&format!(
        "SELECT count(*) FROM workflows WHERE kind = '{kind}'"
    ))
    .await
}

async fn payment_confirmed(stack: &Stack, id: &str) -> Value {
    eventually(WAIT, &format!("payment {id} to be confirmed"), || async {
        let (_, p) = stack.get(&format!("/v1/payments/{id}")).await;
        (p["status"] == "confirmed").then_some(p)
    })
    .await
}

/// Waits until the payment's mints are minted, and returns the payer's token balance.
async fn minted(stack: &Stack, p: &Value) -> U256 {
    for mint in p["mintIds"].as_array().unwrap() {
        eventually(WAIT, "the paid mint to be confirmed", || async {
            let (_, m) = stack
                .get(&format!("/v1/mints/{}", mint.as_str().unwrap()))
                .await;
            (m["status"] == "confirmed").then_some(())
        })
        .await;
    }
    tokens(stack).await
}

async fn tokens(stack: &Stack) -> U256 {
    stack
        .token_contract()
        .balanceOf(payer().address())
        .call()
        .await
        .unwrap()
}

/// Ages every finished workflow past `retention_days` and runs retention: the financial
/// records stay. Then deletes them as retention did before they were records (and as an
/// archive may): only their receipts are left to remember what paid.
async fn retain_then_forget(t: &TestDb) {
    let old = store::now_ms() - 31 * DAY_MS;
    t.db.execute_unprepared(&format!(
        "UPDATE workflows SET finished_at_ms = {old} WHERE finished_at_ms IS NOT NULL"
    ))
    .await
    .unwrap();
    let before = (count(t, PAYMENT).await, count(t, "mint").await);
    let settings = mintflow::config::SettingsHandle::load(&t.db).await.unwrap();
    mintflow::engine::jobs::run_retention(&t.db, &settings, RECORDS, store::now_ms()).await;
    assert_eq!(
        (count(t, PAYMENT).await, count(t, "mint").await),
        before,
        "retention deleted financial records"
    );
    t.db.execute_unprepared("DELETE FROM workflows")
        .await
        .unwrap();
}

/// The payer sends `value` USDC to `to` itself; returns the transaction hash once mined.
async fn transfer(stack: &Stack, to: Address, value: u64) -> String {
    let provider = ProviderBuilder::new()
        .wallet(EthereumWallet::from(payer()))
        .connect_http(stack.anvil.endpoint().parse().unwrap());
    let pending = MockUSDC::new(stack.usdc, &provider)
        .transfer(to, U256::from(value))
        .send()
        .await
        .unwrap();
    let receipt = pending.get_receipt().await.unwrap();
    assert!(receipt.status());
    receipt.transaction_hash.to_string()
}

async fn a_transfer_pays_once_after_its_payment_is_gone(backend: Backend) {
    let stack = Stack::start(backend, StackOptions::default()).await;
    fund_usdc(
        &stack.anvil.endpoint(),
        stack.usdc,
        payer().address(),
        10 * PRICE,
        false,
    )
    .await;
    let hash = transfer(&stack, test_offer(stack.usdc, 0).pay_to, PRICE).await;
    let body = json!({ "paymentType": "custom", "txHash": hash });
    let (_, p) = eventually(WAIT, "the transfer to be confirmed", || async {
        let (status, p) = stack.post("/v1/payments", &body).await;
        (status == 202).then_some((status, p))
    })
    .await;
    let id = p["id"].as_str().unwrap().to_owned();
    let p = payment_confirmed(&stack, &id).await;
    let held = minted(&stack, &p).await;
    assert_eq!(held, U256::from(AMOUNT_PER_MINT));

    // The receipt: the transfer is the key, and the settlement (the transfer itself) with its
    // block was recorded when the payment confirmed.
    let r = receipts::find(&stack.t.db, id.parse().unwrap())
        .await
        .unwrap()
        .expect("a receipt");
    assert_eq!(
        (r.kind.as_str(), r.reservation_key.as_str(), r.chain_id),
        ("custom", hash.as_str(), 31337)
    );
    assert_eq!(r.payer, format!("{:#x}", payer().address()));
    assert_eq!(r.amount, PRICE.to_string());
    assert_eq!(r.tx_hash.as_deref(), Some(hash.as_str()));
    assert_eq!(r.block, p["blockNumber"].as_i64());

    retain_then_forget(&stack.t).await;
    let (status, again) = stack.post("/v1/payments", &body).await;
    assert_eq!(
        (status, again["code"].as_str()),
        (409, Some("tx_hash_already_used")),
        "{again}"
    );
    assert!(again["message"].as_str().unwrap().contains(&id), "{again}");
    assert_eq!(
        (
            count(&stack.t, PAYMENT).await,
            count(&stack.t, "mint").await
        ),
        (0, 0),
        "nothing new was written"
    );
    assert_eq!(tokens(&stack).await, held, "nothing new was minted");
    stack.service.stop().await;
}

async fn an_authorization_pays_once_after_its_payment_is_gone(backend: Backend) {
    let stack = Stack::start(backend, StackOptions::default()).await;
    let who = payer();
    fund_usdc(
        &stack.anvil.endpoint(),
        stack.usdc,
        who.address(),
        10 * PRICE,
        false,
    )
    .await;
    let (authorization, signature) = sign_authorization(stack.usdc, &who, PRICE, fresh_nonce());
    let body = json!({
        "paymentType": "gasless",
        "authorization": authorization,
        "signature": signature,
        "quantity": 1,
    });
    let (status, p) = stack.post("/v1/payments", &body).await;
    assert_eq!(status, 202, "{p}");
    let id = p["id"].as_str().unwrap().to_owned();
    let p = payment_confirmed(&stack, &id).await;
    let held = minted(&stack, &p).await;
    let r = receipts::find(&stack.t.db, id.parse().unwrap())
        .await
        .unwrap()
        .expect("a receipt");
    assert_eq!(r.kind, "gasless");
    assert_eq!(
        r.reservation_key,
        format!(
            "{:#x}:{}",
            who.address(),
            authorization["nonce"].as_str().unwrap()
        )
    );
    assert_eq!(r.tx_hash.as_deref(), p["txHash"].as_str(), "the settlement");
    assert_eq!(r.block, p["blockNumber"].as_i64());
    let paid = usdc_balance(&stack, who.address()).await;
    assert_eq!(paid, U256::from(9 * PRICE));

    retain_then_forget(&stack.t).await;
    let (status, again) = stack.post("/v1/payments", &body).await;
    assert_eq!(
        (status, again["code"].as_str()),
        (402, Some("invalid_exact_evm_nonce_already_used")),
        "{again}"
    );
    assert_eq!(
        (
            count(&stack.t, PAYMENT).await,
            count(&stack.t, "mint").await
        ),
        (0, 0),
        "nothing new was written"
    );
    assert_eq!(usdc_balance(&stack, who.address()).await, paid);
    assert_eq!(tokens(&stack).await, held, "nothing new was minted");
    stack.service.stop().await;
}

fn authorization_payment(kind: PaymentKind, nonce: B256) -> PaymentData {
    PaymentData {
        authorization: Some(SignedAuthorization {
            valid_after: U256::ZERO,
            valid_before: U256::from(u64::MAX),
            nonce,
            signature: Bytes::from(vec![1; 65]),
        }),
        ..PaymentData::new(
            kind,
            Address::repeat_byte(0xAA),
            payer().address(),
            Address::repeat_byte(0xCC),
            U256::from(PRICE),
        )
    }
}

fn mints(quantity: u32) -> Purchase {
    Purchase::Mints(MintRequest {
        payer: payer().address(),
        recipient: payer().address(),
        token: Address::repeat_byte(0xDD),
        quantity,
        payment_type: mintflow::workflows::mint::PaymentType::Gasless,
        key: String::new(),
        parent_id: None,
        priority: 0,
    })
}

/// An authorization that was never settled (its payment failed or was cancelled before, so
/// the chain would still take it): only the receipt knows it was used, and refuses it for
/// either kind that carries authorizations, whatever it buys.
async fn the_receipt_alone_refuses_an_unsettled_authorization(backend: Backend) {
    let t = TestDb::new(backend).await;
    let client = Client::new(t.db.clone(), Default::default());
    let nonce = fresh_nonce();
    let first = payment::create(
        &client,
        31337,
        &authorization_payment(PaymentKind::Gasless, nonce),
        &mints(2),
        unlimited(),
    )
    .await
    .unwrap();
    assert!(!first.existing);
    assert_eq!(first.children.len(), 2);
    t.db.execute_unprepared("DELETE FROM workflows")
        .await
        .unwrap();
    for (kind, purchase) in [
        (PaymentKind::Gasless, mints(2)),
        (PaymentKind::X402, mints(1)),
    ] {
        let again = payment::create(
            &client,
            31337,
            &authorization_payment(kind, nonce),
            &purchase,
            unlimited(),
        )
        .await;
        assert!(
            matches!(again, Err(CreateError::Start(StartError::IdempotencyConflict { existing })) if existing == first.payment),
            "{kind:?}: {again:?}"
        );
    }
    assert_eq!(t.scalar_i64("SELECT count(*) FROM workflows").await, 0);
    assert_eq!(
        t.scalar_i64("SELECT count(*) FROM payment_receipts").await,
        1
    );
    // Another nonce, or the same one on another chain, is another authorization.
    for (chain, nonce) in [(31337, fresh_nonce()), (1, nonce)] {
        let other = payment::create(
            &client,
            chain,
            &authorization_payment(PaymentKind::Gasless, nonce),
            &mints(1),
            unlimited(),
        )
        .await
        .unwrap();
        assert!(!other.existing);
    }
}

/// Retention deletes old finished workflows of other kinds with their history, and never a
/// payment, mint, batch or deployment, nor their history.
async fn retention_keeps_financial_records(backend: Backend) {
    let t = TestDb::new(backend).await;
    let settings = fast_settings(&t.db, 5).await;
    let old = store::now_ms() - 31 * DAY_MS;
    let mut kept = Vec::new();
    for kind in RECORDS.iter().copied().chain(["probe"]) {
        let id = Uuid::now_v7();
        let wf = rows::NewWorkflow {
            id,
            kind: kind.into(),
            state: "done".into(),
            data: json!({}),
            schema_version: 1,
            priority: 0,
            run_at_ms: None,
            waiting: true,
            idempotency_key: None,
            request_hash: None,
            parent_id: None,
            payer: None,
            token: None,
            tx_hash: None,
        };
        rows::insert_workflow(&t.db, &wf, old).await.unwrap();
        if kind != "probe" {
            kept.push(id);
        }
    }
    t.db.execute_unprepared(&format!(
        "UPDATE workflows SET status = 'completed', finished_at_ms = {old}"
    ))
    .await
    .unwrap();
    mintflow::engine::jobs::run_retention(&t.db, &settings, RECORDS, store::now_ms()).await;
    let mut left: Vec<Uuid> = rows::list(
        &t.db,
        &rows::ListFilter {
            limit: 10,
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .into_iter()
    .map(|w| w.id)
    .collect();
    left.sort();
    assert_eq!(left, kept, "{backend:?}: the records stay, the probe went");
    assert_eq!(
        t.scalar_i64("SELECT count(*) FROM workflow_events").await,
        RECORDS.len() as i64,
        "{backend:?}: with their history"
    );
}

/// `mintflow archive` writes finished records older than its date to the file with their
/// history, then deletes them; their receipts stay and still refuse the key. Recent, failed
/// and other kinds' workflows stay.
async fn archive_writes_records_out_then_deletes_them(backend: Backend) {
    let t = TestDb::new(backend).await;
    let client = Client::new(t.db.clone(), Default::default());
    let nonce = fresh_nonce();
    let data = authorization_payment(PaymentKind::Gasless, nonce);
    let old = payment::create(&client, 31337, &data, &mints(2), unlimited())
        .await
        .unwrap();
    let failed = another_gasless_payment(&client).await;
    let recent = another_gasless_payment(&client).await;
    // Made before the ledger: no receipt, so its workflow key is its only reservation.
    let legacy = another_gasless_payment(&client).await;
    let backend_of = t.db.get_database_backend();
    t.db.execute_raw(sea_orm::Statement::from_sql_and_values(
        backend_of,
        store::sql(
            backend_of,
            "DELETE FROM payment_receipts WHERE payment_id = $1",
        ),
        [legacy.payment.into()],
    ))
    .await
    .unwrap();
    let long_ago = store::now_ms() - 31 * DAY_MS;
    t.db.execute_unprepared(&format!(
        "UPDATE workflows SET status = 'completed', finished_at_ms = {long_ago}"
    ))
    .await
    .unwrap();
    let ids = |c: &payment::Created| {
        let mut all = vec![c.payment];
        all.extend(&c.children);
        all
    };
    for (created, status, at) in [
        (&failed, "failed", long_ago),
        (&recent, "completed", store::now_ms()),
    ] {
        for id in ids(created) {
            t.db.execute_raw(sea_orm::Statement::from_sql_and_values(
                t.db.get_database_backend(),
                store::sql(
                    t.db.get_database_backend(),
                    "UPDATE workflows SET status = $1, finished_at_ms = $2 WHERE id = $3",
                ),
                [status.into(), at.into(), id.into()],
            ))
            .await
            .unwrap();
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("archive.jsonl");
    let args = ArchiveArgs {
        before: store::now_ms() - DAY_MS,
        out: out.clone(),
        page_size: 2,
    };
    archive::run(&t.db, &args).await.unwrap();

    let lines: Vec<Value> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let written: Vec<String> = lines
        .iter()
        .map(|l| l["workflow"]["id"].as_str().unwrap().to_owned())
        .collect();
    let want: Vec<String> = [ids(&old), legacy.children.clone()]
        .concat()
        .iter()
        .map(Uuid::to_string)
        .collect();
    assert_eq!(
        written, want,
        "{backend:?}: the old payment and its mints, and the mint of the one without a receipt"
    );
    for line in &lines {
        assert_eq!(line["events"][0]["event"], "created", "{line}");
    }
    let mut left: Vec<Uuid> = rows::list(
        &t.db,
        &rows::ListFilter {
            limit: 10,
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .into_iter()
    .map(|w| w.id)
    .collect();
    left.sort();
    let mut kept = [ids(&failed), ids(&recent), vec![legacy.payment]].concat();
    kept.sort();
    assert_eq!(
        left, kept,
        "{backend:?}: the failed, the recent and the payment without a receipt stay"
    );
    assert_eq!(
        t.scalar_i64("SELECT count(*) FROM payment_receipts").await,
        3
    );
    let again = payment::create(&client, 31337, &data, &mints(2), unlimited()).await;
    assert!(
        matches!(again, Err(CreateError::Start(StartError::IdempotencyConflict { existing })) if existing == old.payment),
        "{again:?}"
    );
    // The file is never overwritten.
    assert!(archive::run(&t.db, &args).await.is_err());
}

/// A gasless payment for one mint with an authorization of its own.
async fn another_gasless_payment(client: &Client) -> payment::Created {
    payment::create(
        client,
        31337,
        &authorization_payment(PaymentKind::Gasless, fresh_nonce()),
        &mints(1),
        unlimited(),
    )
    .await
    .unwrap()
}

/// What backs the payments these tests make directly: a payer with no limits.
fn unlimited() -> Funds {
    Funds::Balance {
        balance: U256::MAX,
        read_at_ms: store::now_ms(),
        limits: Limits {
            max_open: usize::MAX,
            max_reverts_per_hour: 0,
        },
    }
}
