//! The transaction pipeline against a real anvil, on PostgreSQL and SQLite.
#[macro_use]
mod common;

use std::time::Duration;

use alloy::primitives::{Address, B256, Bytes, U256};
use alloy::providers::Provider;
use alloy::sol_types::SolCall;
use common::{Backend, DEV_KEY, TestDb, anvil, eventually};
use mintflow::chain::contracts::MintToken;
use mintflow::chain::deploy::{self, TokenParams};
use mintflow::chain::{Call, Chain, ChainConfig, ChainError, Submit, TxOutcome};
use mintflow::config::SettingsHandle;
use mintflow::store;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(60);

on_both_backends!(
    concurrent_submissions_get_consecutive_nonces,
    crash_after_persist_before_broadcast,
    crash_after_broadcast_before_sent_checkpoint,
    reverts_and_missing_funds_use_no_nonce,
    batch_mint_resent_mints_nothing_twice,
    dropped_transaction_is_rebroadcast,
    stuck_transaction_is_replaced_with_higher_fees,
    stuck_for_blocks_is_replaced,
    reorged_transaction_is_sent_again,
    reverted_on_chain_with_reason,
    owner_workflow_is_woken_with_the_outcome,
    unlandable_transaction_frees_its_nonce,
    nonce_taken_outside_is_reconciled,
    stuck_low_nonce_is_bumped_alone,
    receipt_behind_the_nonce_is_waited_for,
);

async fn settings(t: &TestDb, confirmations: i64) -> SettingsHandle {
    // The window these tests fill with one signer (hundreds of transactions at once).
    for (key, value) in [
        ("confirmations", confirmations),
        ("max_in_flight_per_signer", 1024),
    ] {
        store::settings::put(&t.db, key, value.into(), "test", store::now_ms())
            .await
            .unwrap();
    }
    SettingsHandle::load(&t.db).await.unwrap()
}

async fn chain(t: &TestDb, rpc: &str, settings: &SettingsHandle, key: &str) -> Chain {
    let signer = mintflow::chain::signer::load(Some(key), None, None).unwrap();
    let config = ChainConfig {
        rpc_url: rpc.to_owned(),
        poll_ms: 100,
        ..Default::default()
    };
    Chain::connect(t.db.clone(), settings.clone(), signer, config, None)
        .await
        .unwrap()
}

struct Sender {
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

fn sender(chain: &Chain, owner: &str) -> Sender {
    let stop = CancellationToken::new();
    let task = tokio::spawn(chain.clone().run_senders(owner.to_owned(), stop.clone()));
    Sender { stop, task }
}

impl Sender {
    async fn stop(self) {
        self.stop.cancel();
        self.task.await.unwrap();
    }
}

fn transfer(to: Address) -> Call {
    Call {
        to: Some(to),
        input: Bytes::new(),
        value: U256::ZERO,
        gas_limit: Some(21_000),
    }
}

fn submit(key: &str, call: Call) -> Submit {
    Submit {
        key: key.to_owned(),
        owner: None,
        purpose: "test".into(),
        call,
    }
}

async fn confirmed(chain: &Chain, id: Uuid) -> TxOutcome {
    eventually(WAIT, &format!("tx {id} to be final"), || async {
        match chain.outcome(id).await.unwrap() {
            TxOutcome::Pending { .. } => None,
            done => Some(done),
        }
    })
    .await
}

async fn deploy_token(chain: &Chain, max_supply: u64) -> Address {
    let params = TokenParams {
        name: "Test".into(),
        symbol: "TST".into(),
        amount_per_mint: U256::from(10u64),
        max_supply: U256::from(max_supply),
        admin: chain.signer(),
        minters: chain.signers(),
    };
    deploy::deploy_token(chain, &format!("deploy-{}", Uuid::new_v4()), &params, WAIT)
        .await
        .unwrap()
}

async fn concurrent_submissions_get_consecutive_nonces(backend: Backend) {
    let node = anvil(&["--block-time", "0.2"]);
    let t = TestDb::new(backend).await;
    let s = settings(&t, 1).await;
    let chain = chain(&t, &node.endpoint(), &s, DEV_KEY).await;
    let run = sender(&chain, "sender-1");
    let mut tasks = Vec::new();
    for task in 0..50 {
        let chain = chain.clone();
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for i in 0..10 {
                let to = Address::repeat_byte(0x40 + (i + 1) as u8);
                ids.push(
                    chain
                        .submit(submit(&format!("t{task}-{i}"), transfer(to)))
                        .await
                        .unwrap(),
                );
            }
            ids
        }));
    }
    let mut ids = Vec::new();
    for task in tasks {
        ids.extend(task.await.unwrap());
    }
    assert_eq!(ids.len(), 500);
    for id in &ids {
        assert!(matches!(
            confirmed(&chain, *id).await,
            TxOutcome::Confirmed { .. }
        ));
    }
    run.stop().await;
    let mut nonces = Vec::new();
    for id in &ids {
        nonces.push(store::chain::find(&t.db, *id).await.unwrap().unwrap().nonce);
    }
    nonces.sort();
    assert_eq!(
        nonces,
        (0..500).collect::<Vec<i64>>(),
        "consecutive nonces, none twice"
    );
    let on_chain = chain
        .provider()
        .get_transaction_count(chain.signer())
        .await
        .unwrap();
    assert_eq!(on_chain, 500);
    assert_eq!(
        t.scalar_i64("SELECT count(*) FROM chain_tx_attempts").await,
        500,
        "no transaction signed twice"
    );
}

async fn crash_after_persist_before_broadcast(backend: Backend) {
    let node = anvil(&["--block-time", "0.2"]);
    let t = TestDb::new(backend).await;
    let s = settings(&t, 1).await;
    // The first process signs and stores, then dies before any broadcast (no sender ran).
    let first = chain(&t, &node.endpoint(), &s, DEV_KEY).await;
    let id = first
        .submit(submit(
            "only-once",
            transfer(Address::repeat_byte(0x40 + 7)),
        ))
        .await
        .unwrap();
    let stored = store::chain::attempts(&t.db, id).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(
        first
            .provider()
            .get_transaction_count(first.signer())
            .pending()
            .await
            .unwrap(),
        0,
        "nothing broadcast yet"
    );
    drop(first);

    let second = chain(&t, &node.endpoint(), &s, DEV_KEY).await;
    // Submitting the same key again (the owner's step re-ran) returns the stored transaction.
    assert_eq!(
        second
            .submit(submit(
                "only-once",
                transfer(Address::repeat_byte(0x40 + 7))
            ))
            .await
            .unwrap(),
        id
    );
    let run = sender(&second, "sender-2");
    let TxOutcome::Confirmed { hash, .. } = confirmed(&second, id).await else {
        panic!("not confirmed")
    };
    run.stop().await;
    assert_eq!(
        hash, stored[0].hash,
        "the stored bytes were broadcast, not a new signature"
    );
    assert_eq!(
        second
            .provider()
            .get_transaction_count(second.signer())
            .await
            .unwrap(),
        1,
        "one transaction for the nonce"
    );
}

async fn crash_after_broadcast_before_sent_checkpoint(backend: Backend) {
    let node = anvil(&["--block-time", "0.2"]);
    let t = TestDb::new(backend).await;
    let s = settings(&t, 1).await;
    let first = chain(&t, &node.endpoint(), &s, DEV_KEY).await;
    let id = first
        .submit(submit("k", transfer(Address::repeat_byte(0x40 + 9))))
        .await
        .unwrap();
    let attempt = store::chain::attempts(&t.db, id).await.unwrap().remove(0);
    // The sender broadcast the bytes and died before recording it.
    let _pending = first
        .provider()
        .send_raw_transaction(&attempt.raw)
        .await
        .unwrap();
    assert_eq!(
        store::chain::find(&t.db, id).await.unwrap().unwrap().status,
        "signed"
    );
    drop(first);

    let second = chain(&t, &node.endpoint(), &s, DEV_KEY).await;
    let run = sender(&second, "sender-2");
    let TxOutcome::Confirmed { hash, .. } = confirmed(&second, id).await else {
        panic!("not confirmed")
    };
    run.stop().await;
    assert_eq!(hash, attempt.hash);
    assert_eq!(
        second
            .provider()
            .get_transaction_count(second.signer())
            .await
            .unwrap(),
        1
    );
    let receipt = second
        .provider()
        .get_transaction_receipt(hash.parse::<B256>().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(receipt.status());
}

async fn reverts_and_missing_funds_use_no_nonce(backend: Backend) {
    let node = anvil(&["--block-time", "0.2"]);
    let t = TestDb::new(backend).await;
    let s = settings(&t, 1).await;
    let chain = chain(&t, &node.endpoint(), &s, DEV_KEY).await;
    let run = sender(&chain, "sender");
    let token = deploy_token(&chain, 1_000).await;
    let id = B256::repeat_byte(1);
    let mint = |key: &str| {
        let input = MintToken::mintCall {
            to: Address::repeat_byte(0x40 + 5),
            id,
        }
        .abi_encode();
        submit(
            key,
            Call {
                to: Some(token),
                input: input.into(),
                value: U256::ZERO,
                gas_limit: None,
            },
        )
    };
    let first = chain.submit(mint("mint-1")).await.unwrap();
    assert!(matches!(
        confirmed(&chain, first).await,
        TxOutcome::Confirmed { .. }
    ));
    let next_before = t.scalar_i64("SELECT next_nonce FROM chain_signers").await;
    match chain.submit(mint("mint-again")).await {
        Err(ChainError::Reverted(reason)) => {
            assert!(reason.contains("AlreadyMinted"), "decoded reason: {reason}")
        }
        other => panic!("expected a revert, got {other:?}"),
    }
    assert_eq!(
        t.scalar_i64("SELECT next_nonce FROM chain_signers").await,
        next_before,
        "no nonce burned"
    );
    run.stop().await;

    // A signer without funds: a clear error, and nothing stored.
    let poor = "0x0000000000000000000000000000000000000000000000000000000000000042";
    let broke = self::chain(&t, &node.endpoint(), &s, poor).await;
    match broke
        .submit(submit("poor", transfer(Address::repeat_byte(0x40 + 1))))
        .await
    {
        Err(ChainError::InsufficientFunds { balance, .. }) => assert_eq!(balance, U256::ZERO),
        other => panic!("expected insufficient funds, got {other:?}"),
    }
    assert_eq!(
        t.scalar_i64("SELECT count(*) FROM chain_txs WHERE idempotency_key = 'poor'")
            .await,
        0
    );
}

async fn batch_mint_resent_mints_nothing_twice(backend: Backend) {
    let node = anvil(&["--block-time", "0.2"]);
    let t = TestDb::new(backend).await;
    let s = settings(&t, 1).await;
    let chain = chain(&t, &node.endpoint(), &s, DEV_KEY).await;
    let run = sender(&chain, "sender");
    let token = deploy_token(&chain, 1_000_000).await;
    let (a, b, c) = (
        Address::repeat_byte(0x40 + 0xa),
        Address::repeat_byte(0x40 + 0xb),
        Address::repeat_byte(0x40 + 0xc),
    );
    let ids = [
        B256::repeat_byte(0xa),
        B256::repeat_byte(0xb),
        B256::repeat_byte(0xc),
    ];
    let batch = |key: &str, to: Vec<Address>, ids: Vec<B256>| {
        let input = MintToken::batchMintCall { to, ids }.abi_encode();
        submit(
            key,
            Call {
                to: Some(token),
                input: input.into(),
                value: U256::ZERO,
                gas_limit: None,
            },
        )
    };
    let first = chain
        .submit(batch("batch-1", vec![a, b], ids[..2].to_vec()))
        .await
        .unwrap();
    assert!(matches!(
        confirmed(&chain, first).await,
        TxOutcome::Confirmed { .. }
    ));
    // Re-sent after an uncertain outcome, with one new id.
    let again = chain
        .submit(batch("batch-1-resent", vec![a, b, c], ids.to_vec()))
        .await
        .unwrap();
    assert!(matches!(
        confirmed(&chain, again).await,
        TxOutcome::Confirmed { .. }
    ));
    run.stop().await;
    let contract = MintToken::new(token, chain.provider().clone());
    for who in [a, b, c] {
        assert_eq!(
            contract.balanceOf(who).call().await.unwrap(),
            U256::from(10u64),
            "{who} minted once"
        );
    }
    assert_eq!(
        contract.totalSupply().call().await.unwrap(),
        U256::from(30u64)
    );
    for id in ids {
        assert!(contract.hasMinted(id).call().await.unwrap());
    }
}

/// Calls an anvil RPC method that has no typed binding.
async fn anvil_rpc(
    chain: &Chain,
    method: &'static str,
    params: serde_json::Value,
) -> serde_json::Value {
    chain
        .provider()
        .raw_request::<_, serde_json::Value>(method.into(), params)
        .await
        .unwrap()
}

async fn mine(chain: &Chain, blocks: u64) {
    anvil_rpc(chain, "anvil_mine", serde_json::json!([blocks])).await;
}

async fn status(t: &TestDb, id: Uuid) -> String {
    store::chain::find(&t.db, id).await.unwrap().unwrap().status
}

/// Waits until transaction `id` has `status`.
async fn wait_tx_status(t: &TestDb, id: Uuid, want: &str) {
    eventually(WAIT, &format!("tx {id} to be {want}"), || async {
        (status(t, id).await == want).then_some(())
    })
    .await
}

/// Mines a block every poll until `id` is final.
async fn mine_until_final(chain: &Chain, id: Uuid) -> TxOutcome {
    eventually(
        WAIT,
        &format!("tx {id} to be final while mining"),
        || async {
            match chain.outcome(id).await.unwrap() {
                TxOutcome::Pending { .. } => {
                    mine(chain, 1).await;
                    None
                }
                done => Some(done),
            }
        },
    )
    .await
}

async fn dropped_transaction_is_rebroadcast(backend: Backend) {
    let node = anvil(&["--no-mining"]);
    let t = TestDb::new(backend).await;
    let s = settings(&t, 1).await;
    let chain = chain(&t, &node.endpoint(), &s, DEV_KEY).await;
    let run = sender(&chain, "sender");
    let id = chain
        .submit(submit("drop-me", transfer(Address::repeat_byte(0x51))))
        .await
        .unwrap();
    wait_tx_status(&t, id, "sent").await;
    let hash = store::chain::attempts(&t.db, id).await.unwrap()[0]
        .hash
        .clone();
    anvil_rpc(&chain, "anvil_dropTransaction", serde_json::json!([hash])).await;
    // The sender notices the node forgot it and sends the stored bytes again.
    eventually(WAIT, "the re-broadcast", || async {
        let known = chain
            .provider()
            .get_transaction_by_hash(hash.parse().unwrap())
            .await
            .unwrap();
        known.is_some().then_some(())
    })
    .await;
    let TxOutcome::Confirmed { hash: winner, .. } = mine_until_final(&chain, id).await else {
        panic!("not confirmed")
    };
    run.stop().await;
    assert_eq!(winner, hash, "the same signed bytes");
    assert_eq!(
        chain
            .provider()
            .get_transaction_count(chain.signer())
            .await
            .unwrap(),
        1
    );
}

async fn stuck_transaction_is_replaced_with_higher_fees(backend: Backend) {
    stuck_then_replaced(backend, 1, 1000).await;
}

/// The same, with the bump triggered by blocks (the time limit is an hour).
async fn stuck_for_blocks_is_replaced(backend: Backend) {
    stuck_then_replaced(backend, 3600, 2).await;
}

async fn stuck_then_replaced(backend: Backend, bump_after_secs: i64, bump_after_blocks: i64) {
    let node = anvil(&["--no-mining"]);
    let t = TestDb::new(backend).await;
    let s = settings(&t, 1).await;
    for (key, value) in [
        ("bump_after_secs", bump_after_secs),
        ("bump_after_blocks", bump_after_blocks),
    ] {
        store::settings::put(&t.db, key, value.into(), "test", store::now_ms())
            .await
            .unwrap();
    }
    s.reload(&t.db).await.unwrap();
    let chain = chain(&t, &node.endpoint(), &s, DEV_KEY).await;
    let run = sender(&chain, "sender");
    let id = chain
        .submit(submit("stuck", transfer(Address::repeat_byte(0x52))))
        .await
        .unwrap();
    wait_tx_status(&t, id, "sent").await;
    let first = store::chain::attempts(&t.db, id).await.unwrap().remove(0);
    // The base fee jumps past what the first attempt offers: it cannot be mined any more.
    let first_max_fee: u128 = first.max_fee_per_gas.parse().unwrap();
    anvil_rpc(
        &chain,
        "anvil_setNextBlockBaseFeePerGas",
        serde_json::json!([format!("{:#x}", first_max_fee * 4)]),
    )
    .await;
    mine(&chain, 1).await;
    assert!(
        matches!(chain.outcome(id).await.unwrap(), TxOutcome::Pending { .. }),
        "underpriced, not mined"
    );
    eventually(WAIT, "a fee bump", || async {
        if bump_after_blocks < 1000 {
            mine(&chain, 1).await; // empty blocks: the underpriced attempt stays out
        }
        (store::chain::attempts(&t.db, id).await.unwrap().len() >= 2).then_some(())
    })
    .await;
    let TxOutcome::Confirmed { hash, .. } = mine_until_final(&chain, id).await else {
        panic!("not confirmed")
    };
    run.stop().await;
    let attempts = store::chain::attempts(&t.db, id).await.unwrap();
    let mined: Vec<_> = attempts.iter().filter(|a| a.status == "mined").collect();
    assert_eq!(mined.len(), 1, "exactly one attempt won: {attempts:?}");
    assert_eq!(mined[0].hash, hash);
    assert!(
        attempts
            .iter()
            .filter(|a| a.hash != hash)
            .all(|a| a.status == "replaced"),
        "{attempts:?}"
    );
    // Each replacement raises both fees of the attempt it replaces by at least 12.5% (a node
    // refuses a replacement under +10%). The base fee was raised 4x, so any mined attempt pays
    // more than the first: comparing each attempt with the one before is what can fail.
    let fees = |a: &store::chain::AttemptRow| -> (u128, u128) {
        (
            a.max_fee_per_gas.parse().unwrap(),
            a.max_priority_fee_per_gas.parse().unwrap(),
        )
    };
    for pair in attempts.windows(2) {
        let ((max_before, tip_before), (max_after, tip_after)) = (fees(&pair[0]), fees(&pair[1]));
        assert!(
            max_after * 1000 >= max_before * 1125 && tip_after * 1000 >= tip_before * 1125,
            "a replacement raised its fees by less than 12.5%: {attempts:?}"
        );
    }
    assert_eq!(
        chain
            .provider()
            .get_transaction_count(chain.signer())
            .await
            .unwrap(),
        1
    );
}

async fn reorged_transaction_is_sent_again(backend: Backend) {
    let node = anvil(&["--no-mining"]);
    let t = TestDb::new(backend).await;
    let s = settings(&t, 3).await;
    let chain = chain(&t, &node.endpoint(), &s, DEV_KEY).await;
    let run = sender(&chain, "sender");
    let id = chain
        .submit(submit("reorg", transfer(Address::repeat_byte(0x53))))
        .await
        .unwrap();
    wait_tx_status(&t, id, "sent").await;
    mine(&chain, 2).await;
    wait_tx_status(&t, id, "mined").await;
    let mined_block = store::chain::find(&t.db, id)
        .await
        .unwrap()
        .unwrap()
        .mined_block
        .unwrap();
    // One block on top is not enough for 3 confirmations: a later transaction broadcast means
    // the sender has made a pass over its open transactions at this head since.
    let marker = chain
        .submit(submit("marker", transfer(Address::repeat_byte(0x54))))
        .await
        .unwrap();
    wait_tx_status(&t, marker, "sent").await;
    assert_eq!(
        status(&t, id).await,
        "mined",
        "not confirmed before 3 blocks"
    );
    // The chain drops the blocks holding it.
    let head = chain.provider().get_block_number().await.unwrap() as i64;
    anvil_rpc(
        &chain,
        "anvil_rollback",
        serde_json::json!([head - mined_block + 1]),
    )
    .await;
    wait_tx_status(&t, id, "sent").await;
    let TxOutcome::Confirmed { hash, block, .. } = mine_until_final(&chain, id).await else {
        panic!("not confirmed")
    };
    run.stop().await;
    let attempts = store::chain::attempts(&t.db, id).await.unwrap();
    assert_eq!(
        attempts.len(),
        1,
        "re-broadcast from the stored bytes, not re-signed"
    );
    assert_eq!(hash, attempts[0].hash);
    let head = chain.provider().get_block_number().await.unwrap() as i64;
    assert!(head - block >= 3, "confirmed only with 3 blocks on top");
    let receipt = chain
        .provider()
        .get_transaction_receipt(hash.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(receipt.block_number, Some(block as u64));
}

async fn reverted_on_chain_with_reason(backend: Backend) {
    let node = anvil(&["--block-time", "0.2"]);
    let t = TestDb::new(backend).await;
    let s = settings(&t, 1).await;
    let chain = chain(&t, &node.endpoint(), &s, DEV_KEY).await;
    let run = sender(&chain, "sender");
    let token = deploy_token(&chain, 1_000).await;
    let input: Bytes = MintToken::mintCall {
        to: Address::repeat_byte(0x54),
        id: B256::repeat_byte(9),
    }
    .abi_encode()
    .into();
    // A fixed gas limit skips the simulation, as if the state changed between it and mining.
    let call = || Call {
        to: Some(token),
        input: input.clone(),
        value: U256::ZERO,
        gas_limit: Some(200_000),
    };
    let first = chain.submit(submit("m1", call())).await.unwrap();
    let second = chain.submit(submit("m2", call())).await.unwrap();
    assert!(matches!(
        confirmed(&chain, first).await,
        TxOutcome::Confirmed { .. }
    ));
    match confirmed(&chain, second).await {
        TxOutcome::Reverted { reason, hash } => {
            assert!(reason.contains("AlreadyMinted"), "decoded: {reason}");
            let receipt = chain
                .provider()
                .get_transaction_receipt(hash.parse().unwrap())
                .await
                .unwrap()
                .unwrap();
            assert!(!receipt.status());
        }
        other => panic!("expected a revert, got {other:?}"),
    }
    run.stop().await;
}

async fn owner_workflow_is_woken_with_the_outcome(backend: Backend) {
    use mintflow::engine::{Client, StartOptions};
    use mintflow::workflows::probe::{Probe, ProbeData, ProbeState};
    let node = anvil(&["--block-time", "0.2"]);
    let t = TestDb::new(backend).await;
    let s = settings(&t, 1).await;
    let chain = chain(&t, &node.endpoint(), &s, DEV_KEY).await;
    let client = Client::new(t.db.clone(), Default::default());
    let owner = client
        .start::<Probe>(
            ProbeState::First,
            &ProbeData::default(),
            StartOptions {
                waiting: true,
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .id();
    let id = chain
        .submit(Submit {
            owner: Some(owner),
            ..submit("owned", transfer(Address::repeat_byte(0x55)))
        })
        .await
        .unwrap();
    let run = sender(&chain, "sender");
    assert!(matches!(
        confirmed(&chain, id).await,
        TxOutcome::Confirmed { .. }
    ));
    run.stop().await;
    let history = store::events::history(&t.db, owner).await.unwrap();
    let woken = history
        .iter()
        .find(|e| e.event == "woken")
        .expect("the owner was woken");
    assert_eq!(
        woken.detail.as_ref().unwrap()["reason"],
        "transaction confirmed"
    );
    let row = store::workflows::find(&t.db, owner).await.unwrap().unwrap();
    assert_eq!(row.status, "running");
}

/// Two pipelines (two processes' pools) share one signer on PostgreSQL: nonces never collide
/// and every transaction is signed once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_pipelines_share_a_signer_on_postgres() {
    let node = anvil(&["--block-time", "0.2"]);
    let t = TestDb::new(Backend::Postgres).await;
    let s = settings(&t, 1).await;
    let other_db = t.reconnect().await;
    let a = chain(&t, &node.endpoint(), &s, DEV_KEY).await;
    let signer = mintflow::chain::signer::load(Some(DEV_KEY), None, None).unwrap();
    let config = ChainConfig {
        rpc_url: node.endpoint(),
        poll_ms: 100,
        ..Default::default()
    };
    let b = Chain::connect(other_db, s.clone(), signer, config, None)
        .await
        .unwrap();
    let (run_a, run_b) = (sender(&a, "process-a"), sender(&b, "process-b"));
    let mut tasks = Vec::new();
    for (name, c) in [("a", a.clone()), ("b", b.clone())] {
        for task in 0..5 {
            let c = c.clone();
            tasks.push(tokio::spawn(async move {
                let mut ids = Vec::new();
                for i in 0..20 {
                    let key = format!("{name}-{task}-{i}");
                    ids.push(
                        c.submit(submit(&key, transfer(Address::repeat_byte(0x60))))
                            .await
                            .unwrap(),
                    );
                }
                ids
            }));
        }
    }
    let mut ids = Vec::new();
    for task in tasks {
        ids.extend(task.await.unwrap());
    }
    for id in &ids {
        assert!(matches!(
            confirmed(&a, *id).await,
            TxOutcome::Confirmed { .. }
        ));
    }
    let holders = t
        .scalar_i64("SELECT count(*) FROM chain_signers WHERE sender_owner IS NOT NULL")
        .await;
    assert_eq!(holders, 1, "one sender lease for the signer");
    run_a.stop().await;
    run_b.stop().await;
    assert_eq!(
        t.scalar_i64("SELECT count(DISTINCT nonce) FROM chain_txs")
            .await,
        200
    );
    assert_eq!(t.scalar_i64("SELECT max(nonce) FROM chain_txs").await, 199);
    assert_eq!(
        t.scalar_i64("SELECT count(*) FROM chain_tx_attempts").await,
        200,
        "each signed once"
    );
    assert_eq!(
        a.provider()
            .get_transaction_count(a.signer())
            .await
            .unwrap(),
        200
    );
}

/// A transaction the node refuses (here: more gas than a block holds) is replaced by a
/// zero-value self-transfer so the nonces after it are not stuck; its owner learns it failed.
async fn unlandable_transaction_frees_its_nonce(backend: Backend) {
    let node = anvil(&["--block-time", "0.2", "--gas-limit", "1000000"]);
    let t = TestDb::new(backend).await;
    let s = settings(&t, 1).await;
    store::settings::put(&t.db, "bump_after_secs", 1.into(), "test", store::now_ms())
        .await
        .unwrap();
    s.reload(&t.db).await.unwrap();
    let chain = chain(&t, &node.endpoint(), &s, DEV_KEY).await;
    let too_big = Call {
        gas_limit: Some(2_000_000),
        ..transfer(Address::repeat_byte(0x56))
    };
    let bad = chain.submit(submit("too-big", too_big)).await.unwrap();
    let good = chain
        .submit(submit("after-it", transfer(Address::repeat_byte(0x57))))
        .await
        .unwrap();
    let run = sender(&chain, "sender");
    match confirmed(&chain, bad).await {
        TxOutcome::Failed { reason } => assert!(
            reason.contains("freed by a zero-value self-transfer"),
            "{reason}"
        ),
        other => panic!("expected failed, got {other:?}"),
    }
    assert!(
        matches!(confirmed(&chain, good).await, TxOutcome::Confirmed { .. }),
        "the next nonce landed"
    );
    run.stop().await;
    let attempts = store::chain::attempts(&t.db, bad).await.unwrap();
    let filler = attempts.iter().find(|a| a.status == "mined").unwrap();
    assert_eq!(filler.kind, "filler");
    let receipt = chain
        .provider()
        .get_transaction_receipt(filler.hash.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (receipt.from, receipt.to),
        (chain.signer(), Some(chain.signer()))
    );
    assert_eq!(
        chain
            .provider()
            .get_transaction_count(chain.signer())
            .await
            .unwrap(),
        2
    );
}

/// Someone else used the signer's next nonce (a wallet sharing the key): reconciliation with
/// the chain's transaction count fails our transaction at that nonce, with the reason (after
/// several reads found no receipt for it), and hands out only fresh nonces afterwards.
async fn nonce_taken_outside_is_reconciled(backend: Backend) {
    let node = anvil(&["--block-time", "0.2"]);
    let t = TestDb::new(backend).await;
    let s = settings(&t, 1).await;
    let chain = chain(&t, &node.endpoint(), &s, DEV_KEY).await;
    let ours = chain
        .submit(submit("ours", transfer(Address::repeat_byte(0x58))))
        .await
        .unwrap();
    // Before our sender broadcasts, another wallet with the same key sends at nonce 0.
    let outside = serde_json::json!([{ "from": format!("{:#x}", chain.signer()), "to": format!("{:#x}", Address::repeat_byte(0x59)), "value": "0x0", "nonce": "0x0" }]);
    let hash = anvil_rpc(&chain, "eth_sendTransaction", outside).await;
    eventually(WAIT, "the outside transaction to be mined", || async {
        let receipt = chain
            .provider()
            .get_transaction_receipt(hash.as_str().unwrap().parse().unwrap())
            .await
            .unwrap();
        receipt.is_some().then_some(())
    })
    .await;
    let run = sender(&chain, "sender");
    match confirmed(&chain, ours).await {
        TxOutcome::Failed { reason } => assert!(
            reason.contains("nonce 0 was used by another transaction"),
            "{reason}"
        ),
        other => panic!("expected failed, got {other:?}"),
    }
    let next = chain
        .submit(submit("next", transfer(Address::repeat_byte(0x58))))
        .await
        .unwrap();
    assert!(matches!(
        confirmed(&chain, next).await,
        TxOutcome::Confirmed { .. }
    ));
    run.stop().await;
    assert_eq!(
        store::chain::find(&t.db, next)
            .await
            .unwrap()
            .unwrap()
            .nonce,
        1
    );
}

/// A low nonce stuck under a base fee that jumped, with 20 transactions queued behind it: only
/// it is re-signed with higher fees; the ones behind wait for it without a bump, then all land
/// once.
async fn stuck_low_nonce_is_bumped_alone(backend: Backend) {
    let node = anvil(&["--no-mining"]);
    let t = TestDb::new(backend).await;
    let s = settings(&t, 1).await;
    for (key, value) in [("bump_after_secs", 1), ("bump_after_blocks", 1)] {
        store::settings::put(&t.db, key, value.into(), "test", store::now_ms())
            .await
            .unwrap();
    }
    s.reload(&t.db).await.unwrap();
    let chain = chain(&t, &node.endpoint(), &s, DEV_KEY).await;
    let run = sender(&chain, "sender");
    let low = chain
        .submit(submit("low", transfer(Address::repeat_byte(0x60))))
        .await
        .unwrap();
    wait_tx_status(&t, low, "sent").await;
    let first_max_fee: u128 = store::chain::attempts(&t.db, low).await.unwrap()[0]
        .max_fee_per_gas
        .parse()
        .unwrap();
    // The base fee jumps past what it offers: it stays in the pool, unmined.
    anvil_rpc(
        &chain,
        "anvil_setNextBlockBaseFeePerGas",
        serde_json::json!([format!("{:#x}", first_max_fee * 4)]),
    )
    .await;
    mine(&chain, 1).await;
    assert_eq!(status(&t, low).await, "sent", "underpriced, not mined");
    // Twenty more, priced for the new base fee (a second pipeline of the same signer, whose
    // fee quote is fresh): they can only be mined after the low nonce.
    let behind_chain = self::chain(&t, &node.endpoint(), &s, DEV_KEY).await;
    let mut behind = Vec::new();
    for i in 0..20 {
        let to = Address::repeat_byte(0x61 + i as u8);
        behind.push(
            behind_chain
                .submit(submit(&format!("behind-{i}"), transfer(to)))
                .await
                .unwrap(),
        );
    }
    for id in &behind {
        wait_tx_status(&t, *id, "sent").await;
    }
    // No blocks: the low nonce is bumped by time, twice (a second apart), while the ones behind
    // it, as old by then as `bump_after_secs`, are not bumped at all.
    eventually(WAIT, "two fee bumps of the low nonce", || async {
        (store::chain::attempts(&t.db, low).await.unwrap().len() >= 3).then_some(())
    })
    .await;
    let mut outcomes = vec![mine_until_final(&chain, low).await];
    for id in &behind {
        outcomes.push(mine_until_final(&chain, *id).await);
    }
    run.stop().await;
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, TxOutcome::Confirmed { .. })),
        "{outcomes:?}"
    );
    for id in &behind {
        let attempts = store::chain::attempts(&t.db, *id).await.unwrap();
        assert_eq!(
            attempts.len(),
            1,
            "a transaction behind was bumped: {attempts:?}"
        );
    }
    let low_attempts = store::chain::attempts(&t.db, low).await.unwrap();
    let raised: u128 = low_attempts[1].max_fee_per_gas.parse().unwrap();
    assert!(
        raised > first_max_fee * 4,
        "the bump follows the new base fee"
    );
    assert_eq!(
        chain
            .provider()
            .get_transaction_count(chain.signer())
            .await
            .unwrap(),
        21,
        "each landed once"
    );
}

/// A node behind a load balancer answers the signer's nonce from a backend that has the block
/// before the one answering receipts does: the transaction is not failed as replaced while its
/// receipt is missing for a moment, and confirms once the receipt shows.
async fn receipt_behind_the_nonce_is_waited_for(backend: Backend) {
    let node = anvil(&["--block-time", "0.2"]);
    let proxy = common::proxy::NodeProxy::start(&node.endpoint(), "lagging").await;
    let t = TestDb::new(backend).await;
    let s = settings(&t, 1).await;
    let chain = chain(&t, &proxy.url(), &s, DEV_KEY).await;
    proxy.hide_receipts(true);
    let run = sender(&chain, "sender");
    let id = chain
        .submit(submit("lagging", transfer(Address::repeat_byte(0x75))))
        .await
        .unwrap();
    // Mined (the nonce reads as used) while the receipt is not served.
    eventually(WAIT, "the nonce to read as used twice", || async {
        let tx = store::chain::find(&t.db, id).await.unwrap().unwrap();
        assert_ne!(
            tx.status, "failed",
            "failed while it may be mined: {:?}",
            tx.error
        );
        (tx.nonce_taken_reads >= 2).then_some(())
    })
    .await;
    assert_eq!(
        status(&t, id).await,
        "sent",
        "not failed while it may be mined"
    );
    proxy.hide_receipts(false);
    let TxOutcome::Confirmed { hash, .. } = confirmed(&chain, id).await else {
        panic!("not confirmed")
    };
    run.stop().await;
    let attempts = store::chain::attempts(&t.db, id).await.unwrap();
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].hash, hash);
    assert_eq!(
        store::chain::find(&t.db, id)
            .await
            .unwrap()
            .unwrap()
            .nonce_taken_reads,
        0,
        "the count is over once mined"
    );
}

/// Backpressure and an unreachable node: clear, retryable errors, and nothing stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_window_and_rpc_down_are_clear_errors() {
    let node = anvil(&["--block-time", "0.2"]);
    let t = TestDb::new(Backend::Sqlite).await;
    let s = settings(&t, 1).await;
    s.replace(mintflow::config::Settings {
        max_in_flight_per_signer: 2,
        ..s.get()
    });
    let signer = mintflow::chain::signer::load(Some(DEV_KEY), None, None).unwrap();
    let config = ChainConfig {
        rpc_url: node.endpoint(),
        poll_ms: 100,
        ..Default::default()
    };
    let chain = Chain::connect(t.db.clone(), s.clone(), signer, config, None)
        .await
        .unwrap();
    for i in 0..2 {
        chain
            .submit(submit(
                &format!("w{i}"),
                transfer(Address::repeat_byte(0x61)),
            ))
            .await
            .unwrap();
    }
    match chain
        .submit(submit("w2", transfer(Address::repeat_byte(0x61))))
        .await
    {
        Err(e @ ChainError::Backpressure(2)) => assert!(e.is_transient()),
        other => panic!("expected backpressure, got {other:?}"),
    }
    // The window opens again as transactions confirm.
    let run = sender(&chain, "sender");
    let third = eventually(WAIT, "room in the window", || async {
        chain
            .submit(submit("w2", transfer(Address::repeat_byte(0x61))))
            .await
            .ok()
    })
    .await;
    assert!(matches!(
        confirmed(&chain, third).await,
        TxOutcome::Confirmed { .. }
    ));
    run.stop().await;

    // The node goes away. Within a second the cached fee quote still lets a submit sign and
    // store (it is broadcast when the node is back: stored, not lost); once the quote is stale,
    // submit fails with a retryable RPC error and stores nothing.
    let chain = self::chain(&t, &node.endpoint(), &s, DEV_KEY).await;
    drop(node);
    let (error, before, after) = eventually(WAIT, "a submit that needs the node", || async {
        let before = t.scalar_i64("SELECT count(*) FROM chain_txs").await;
        let key = format!("while-down-{}", Uuid::new_v4());
        match chain
            .submit(submit(&key, transfer(Address::repeat_byte(0x61))))
            .await
        {
            Ok(_) => None,
            Err(e) => Some((
                e,
                before,
                t.scalar_i64("SELECT count(*) FROM chain_txs").await,
            )),
        }
    })
    .await;
    assert!(
        matches!(error, ChainError::Rpc(_)) && error.is_transient(),
        "{error}"
    );
    assert_eq!(after, before, "the failed submit stored nothing");
}

/// A pinned `CHAIN_ID` refuses a node that runs another chain, and a node that accepts
/// connections but never answers fails each call after the RPC timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pinned_chain_id_and_the_rpc_timeout_hold() {
    let node = anvil(&[]);
    let t = TestDb::new(Backend::Sqlite).await;
    let s = settings(&t, 1).await;
    let connect = |config: ChainConfig| {
        let signer = mintflow::chain::signer::load(Some(DEV_KEY), None, None).unwrap();
        Chain::connect(t.db.clone(), s.clone(), signer, config, None)
    };
    let pinned = |chain_id| ChainConfig {
        rpc_url: node.endpoint(),
        expected_chain_id: Some(chain_id),
        ..Default::default()
    };
    match connect(pinned(1)).await {
        Err(e @ ChainError::WrongChain { .. }) => assert_eq!(
            e.to_string(),
            "the node at RPC_URL runs chain 31337, but CHAIN_ID is 1"
        ),
        Err(e) => panic!("expected a wrong chain, got {e}"),
        Ok(_) => panic!("a node of another chain was accepted"),
    }
    assert!(connect(pinned(31337)).await.is_ok());

    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let started = std::time::Instant::now();
    let hanging = connect(ChainConfig {
        rpc_url: format!("http://{}", silent.local_addr().unwrap()),
        rpc_timeout: Duration::from_millis(300),
        ..Default::default()
    });
    match hanging.await {
        Err(ChainError::Rpc(why)) => assert_eq!(why.code(), "rpc_unavailable"),
        Err(e) => panic!("expected an RPC failure, got {e}"),
        Ok(_) => panic!("a silent node answered"),
    }
    // The configured `rpc_timeout` (300 ms) is the behaviour under test, not a default one:
    // a generous bound still far below any default HTTP timeout.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}
