//! Mints end to end: the HTTP API, the batcher, batches through the pipeline to a real anvil,
//! on PostgreSQL and SQLite.
#[macro_use]
mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use alloy::primitives::{Address, B256, U256};
use common::stack::{AMOUNT_PER_MINT, Stack, StackOptions, minted_on_chain};
use common::{Backend, eventually};
use mintflow::store::entity::workflow;
use mintflow::workflows::mint::MintData;
use mintflow::workflows::mint_batch::BatchData;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(240);

on_both_backends!(
    two_thousand_mints_from_a_hundred_clients,
    a_mint_over_the_cap_fails_without_a_batch,
    concurrent_batches_stop_at_the_supply_cap,
    batch_settings_change_live,
    bad_requests_are_refused_and_write_nothing,
    a_reorg_before_confirmation_leaves_mints_sent,
    client_keys_cannot_stand_for_internal_ones,
    higher_priority_mints_are_batched_first,
);

fn payer(n: usize) -> Address {
    Address::from_word(B256::from(U256::from(0x1000 + n)))
}

async fn mints(stack: &Stack) -> Vec<workflow::Model> {
    workflow::Entity::find()
        .filter(workflow::Column::Kind.eq("mint"))
        .all(&stack.t.db)
        .await
        .unwrap()
}

async fn batches(stack: &Stack) -> Vec<(workflow::Model, BatchData)> {
    workflow::Entity::find()
        .filter(workflow::Column::Kind.eq("mint_batch"))
        .all(&stack.t.db)
        .await
        .unwrap()
        .into_iter()
        .map(|b| {
            let data = serde_json::from_value(b.data.clone()).unwrap();
            (b, data)
        })
        .collect()
}

async fn count_workflows(stack: &Stack) -> i64 {
    stack.t.scalar_i64("SELECT count(*) FROM workflows").await
}

/// Waits until `n` mints are in `state`.
async fn wait_mints(stack: &Stack, state: &str, n: usize) {
    eventually(WAIT, &format!("{n} mints {state}"), || async {
        let sql =
            format!("SELECT count(*) FROM workflows WHERE kind = 'mint' AND state = '{state}'");
        (stack.t.scalar_i64(&sql).await as usize >= n).then_some(())
    })
    .await
}

/// The to-states of every mint's history, by mint.
async fn histories(stack: &Stack) -> HashMap<Uuid, Vec<String>> {
    use sea_orm::{ConnectionTrait, Statement};
    let rows = stack
        .t
        .db
        .query_all_raw(Statement::from_string(
            stack.t.db.get_database_backend(),
            "SELECT e.workflow_id, e.to_state FROM workflow_events e \
             JOIN workflows w ON w.id = e.workflow_id WHERE w.kind = 'mint' ORDER BY e.id",
        ))
        .await
        .unwrap();
    let mut out: HashMap<Uuid, Vec<String>> = HashMap::new();
    for r in rows {
        out.entry(r.try_get("", "workflow_id").unwrap())
            .or_default()
            .push(r.try_get("", "to_state").unwrap());
    }
    out
}

async fn two_thousand_mints_from_a_hundred_clients(backend: Backend) {
    let stack = Arc::new(
        Stack::start(
            backend,
            StackOptions {
                settings: &[("max_batch_size", 100), ("max_batch_wait_ms", 200)],
                ..Default::default()
            },
        )
        .await,
    );
    // 1,800 distinct requests and 200 repeats of some of them, interleaved.
    let mut requests: Vec<(String, Value)> = (0..1800)
        .map(|i| {
            let body = json!({ "payer": payer(i % 150).to_string(), "paymentType": "custom" });
            (format!("key-{i}"), body)
        })
        .collect();
    let repeats: Vec<_> = (0..200).map(|i| requests[i * 9].clone()).collect();
    for (n, r) in repeats.into_iter().enumerate() {
        requests.insert(n * 10 + 5, r);
    }
    let queue = Arc::new(tokio::sync::Mutex::new(requests));
    let mut clients = Vec::new();
    for _ in 0..100 {
        let (queue, stack) = (queue.clone(), stack.clone());
        clients.push(tokio::spawn(async move {
            let mut answers = Vec::new();
            loop {
                let Some((key, body)) = queue.lock().await.pop() else {
                    break;
                };
                let res = stack
                    .http
                    .post(format!("{}/v1/mints", stack.base))
                    .header("Idempotency-Key", &key)
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                let status = res.status().as_u16();
                let answer: Value = res.json().await.unwrap();
                answers.push((key, status, answer));
            }
            answers
        }));
    }
    let mut by_key: HashMap<String, HashSet<String>> = HashMap::new();
    let (mut created, mut repeated) = (0, 0);
    for c in clients {
        for (key, status, answer) in c.await.unwrap() {
            match status {
                202 => created += 1,
                200 => repeated += 1,
                other => panic!("request {key} answered {other}: {answer}"),
            }
            by_key
                .entry(key)
                .or_default()
                .insert(answer["id"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!((created, repeated), (1800, 200));
    assert!(
        by_key.values().all(|ids| ids.len() == 1),
        "a key got two mints"
    );

    wait_mints(&stack, "confirmed", 1800).await;
    let all = mints(&stack).await;
    assert_eq!(all.len(), 1800);

    // On chain: every id minted, nothing else, balances per recipient.
    let datas: Vec<MintData> = all
        .iter()
        .map(|m| serde_json::from_value(m.data.clone()).unwrap())
        .collect();
    let ids: Vec<B256> = datas.iter().map(|d| d.onchain_id).collect();
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 1800);
    let contract = stack.token_contract();
    assert!(
        minted_on_chain(&contract, &ids)
            .await
            .into_iter()
            .all(|m| m)
    );
    let supply = contract.totalSupply().call().await.unwrap();
    assert_eq!(supply, U256::from(1800 * AMOUNT_PER_MINT));
    let mut per_recipient: BTreeMap<Address, u64> = BTreeMap::new();
    for d in &datas {
        *per_recipient.entry(d.recipient).or_default() += AMOUNT_PER_MINT;
    }
    for (who, want) in per_recipient {
        assert_eq!(
            contract.balanceOf(who).call().await.unwrap(),
            U256::from(want)
        );
    }

    // No batch over the cap; every mint carried by a confirmed batch.
    let batches = batches(&stack).await;
    assert!(batches.len() >= 18, "{} batches", batches.len());
    assert!(
        batches
            .iter()
            .all(|(b, d)| d.items.len() <= 100 && b.state == "confirmed")
    );
    assert_eq!(
        batches.iter().map(|(_, d)| d.items.len()).sum::<usize>(),
        1800
    );

    let histories = histories(&stack).await;
    for m in &all {
        assert_eq!(
            histories[&m.id],
            ["pending", "processing", "sent", "confirmed"],
            "history of mint {}",
            m.id
        );
    }
    let stack = Arc::into_inner(stack).unwrap();
    stack.service.stop().await;
}

async fn a_mint_over_the_cap_fails_without_a_batch(backend: Backend) {
    // The token has room for 4 mints: a full batch of 5 takes the 4 that fit; the fifth
    // waits while they are in flight (they might fail), then fails with the token's reason,
    // never sent.
    let stack = Stack::start(
        backend,
        StackOptions {
            max_mints: 4,
            settings: &[("max_batch_size", 5), ("max_batch_wait_ms", 600_000)],
            ..Default::default()
        },
    )
    .await;
    let ids: Vec<String> = futures::future::join_all((0..5).map(|n| queue_one(&stack, n))).await;
    eventually(WAIT, "the batch", || async {
        let sql = "SELECT count(*) FROM workflows WHERE kind = 'mint_batch'";
        (stack.t.scalar_i64(sql).await > 0).then_some(())
    })
    .await;
    // The fifth is due from now on.
    stack.put_setting("max_batch_wait_ms", 50).await;
    wait_mints(&stack, "confirmed", 4).await;
    wait_mints(&stack, "failed", 1).await;
    let batches = batches(&stack).await;
    assert_eq!(batches.len(), 1, "one batch, of what fits");
    let (batch, data) = &batches[0];
    assert_eq!(batch.state, "confirmed");
    assert_eq!((data.items.len(), data.dropped.len()), (4, 0));
    let over = ids
        .iter()
        .find(|id| !data.items.iter().any(|i| i.mint.to_string() == **id))
        .unwrap();

    let (_, failed) = stack.get(&format!("/v1/mints/{over}")).await;
    assert_eq!(
        (&failed["status"], &failed["failure"], &failed["batchId"]),
        (
            &json!("failed"),
            &json!("max_supply_exceeded"),
            &Value::Null
        ),
        "{failed}"
    );
    assert!(
        failed["error"]
            .as_str()
            .unwrap()
            .starts_with("MaxSupplyExceeded()"),
        "{failed}"
    );
    let (_, ok) = stack
        .get(&format!("/v1/mints/{}", data.items[0].mint))
        .await;
    assert_eq!(
        (&ok["status"], &ok["failure"]),
        (&json!("confirmed"), &Value::Null)
    );
    // It failed only once its batch was final: until then the batch might have failed.
    let over_row = mints(&stack)
        .await
        .into_iter()
        .find(|m| m.id.to_string() == *over)
        .unwrap();
    assert!(over_row.finished_at_ms.unwrap() >= batch.finished_at_ms.unwrap());
    let minted: Vec<B256> = mints(&stack)
        .await
        .iter()
        .map(|m| serde_json::from_value::<MintData>(m.data.clone()).unwrap())
        .filter(|d| d.tx_hash.is_some() && d.block.is_some())
        .map(|d| d.onchain_id)
        .collect();
    assert_eq!(minted.len(), 4);
    assert!(
        minted_on_chain(&stack.token_contract(), &minted)
            .await
            .into_iter()
            .all(|m| m)
    );
    assert_eq!(
        stack.token_contract().totalSupply().call().await.unwrap(),
        U256::from(4 * AMOUNT_PER_MINT)
    );

    // Timelines: the batch lists the transaction it sent, a confirmed mint the one that
    // carried it, each with its signed attempts and fees; the failed mint says why.
    let (_, batch_timeline) = stack
        .get(&format!("/v1/workflows/{}/history", batch.id))
        .await;
    let tx = &batch_timeline["txs"][0];
    assert_eq!(tx["status"], "confirmed", "{batch_timeline}");
    assert!(tx["gasUsed"].as_i64().unwrap() > 0);
    let attempt = &tx["attempts"][0];
    assert_eq!(attempt["hash"], tx["hash"]);
    assert!(
        attempt["maxFeePerGas"]
            .as_str()
            .unwrap()
            .parse::<u128>()
            .unwrap()
            > 0
    );
    let (_, mint_timeline) = stack
        .get(&format!("/v1/workflows/{}/history", data.items[0].mint))
        .await;
    assert_eq!(mint_timeline["txs"][0]["id"], tx["id"], "{mint_timeline}");
    let (_, failed_timeline) = stack.get(&format!("/v1/workflows/{over}/history")).await;
    let last = failed_timeline["events"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["status"], "failed", "{failed_timeline}");
    assert!(
        last["error"]
            .as_str()
            .unwrap_or_default()
            .contains("MaxSupplyExceeded")
            || last["detail"].to_string().contains("MaxSupplyExceeded"),
        "{last}"
    );
    let (_, found) = stack
        .get(&format!(
            "/v1/workflows?txHash={}",
            tx["hash"].as_str().unwrap()
        ))
        .await;
    assert_eq!(
        found["items"].as_array().unwrap().len(),
        5,
        "the batch and its four mints by hash: {found}"
    );
    stack.service.stop().await;
}

/// Ten batches of 20 mints against a token with room for 150, formed as fast as the mints
/// arrive, while each block (1 s) leaves several in the mempool at once: exactly 150 are
/// minted, the other 50 fail with `MaxSupplyExceeded()` without ever being in a batch, and no
/// transaction of the chain reverted.
async fn concurrent_batches_stop_at_the_supply_cap(backend: Backend) {
    let stack = Stack::start(
        backend,
        StackOptions {
            max_mints: 150,
            settings: &[("max_batch_size", 20), ("max_batch_wait_ms", 200)],
            ..Default::default()
        },
    )
    .await;
    let requests = (0..10).map(|n| {
        let stack = &stack;
        async move {
            let body = json!({ "payer": payer(n).to_string(), "quantity": 20 });
            let (status, answer) = stack.post("/v1/mints", &body).await;
            assert_eq!(status, 202, "{answer}");
        }
    });
    futures::future::join_all(requests).await;
    wait_mints(&stack, "confirmed", 150).await;
    wait_mints(&stack, "failed", 50).await;

    let all = mints(&stack).await;
    assert_eq!(all.len(), 200);
    let confirmed = all.iter().filter(|m| m.state == "confirmed").count();
    assert_eq!(confirmed, 150);
    assert_eq!(
        stack.token_contract().totalSupply().call().await.unwrap(),
        U256::from(150 * AMOUNT_PER_MINT)
    );
    let histories = histories(&stack).await;
    for m in all.iter().filter(|m| m.state == "failed") {
        let (_, view) = stack.get(&format!("/v1/mints/{}", m.id)).await;
        assert_eq!(view["failure"], "max_supply_exceeded", "{view}");
        assert!(
            view["error"]
                .as_str()
                .unwrap()
                .starts_with("MaxSupplyExceeded()"),
            "{view}"
        );
        assert_eq!(histories[&m.id], ["pending", "failed"], "mint {}", m.id);
    }
    // Every batch carried only mints that fit, and landed at its first attempt.
    let batches = batches(&stack).await;
    assert!(
        batches
            .iter()
            .all(|(b, d)| b.state == "confirmed" && d.dropped.is_empty() && d.resends == 0),
        "{:?}",
        batches.iter().map(|(_, d)| d).collect::<Vec<_>>()
    );
    assert_eq!(
        batches.iter().map(|(_, d)| d.items.len()).sum::<usize>(),
        150
    );

    // No gas burnt on a revert: every transaction the pipeline sent confirmed, and every
    // receipt on the chain (the deployments too) says success.
    let not_confirmed = stack
        .t
        .scalar_i64("SELECT count(*) FROM chain_txs WHERE status <> 'confirmed'")
        .await;
    assert_eq!(not_confirmed, 0);
    let rpc = stack.anvil.endpoint();
    let head = common::stack::anvil_rpc(&rpc, "eth_blockNumber", json!([])).await;
    let head = u64::from_str_radix(head.as_str().unwrap().trim_start_matches("0x"), 16).unwrap();
    let mut receipts = 0;
    for block in 0..=head {
        let found =
            common::stack::anvil_rpc(&rpc, "eth_getBlockReceipts", json!([format!("{block:#x}")]))
                .await;
        for receipt in found.as_array().unwrap() {
            assert_eq!(receipt["status"], "0x1", "{receipt}");
            receipts += 1;
        }
    }
    assert!(receipts >= batches.len(), "{receipts} receipts");
    stack.service.stop().await;
}

async fn queue_one(stack: &Stack, n: usize) -> String {
    let (status, answer) = stack
        .post("/v1/mints", &json!({ "payer": payer(n).to_string() }))
        .await;
    assert_eq!(status, 202, "{answer}");
    answer["id"].as_str().unwrap().to_owned()
}

async fn batch_of(stack: &Stack, mint: &str) -> String {
    eventually(WAIT, &format!("mint {mint} in a batch"), || async {
        let (_, m) = stack.get(&format!("/v1/mints/{mint}")).await;
        m["batchId"].as_str().map(str::to_owned)
    })
    .await
}

async fn batch_settings_change_live(backend: Backend) {
    let stack = Stack::start(
        backend,
        StackOptions {
            settings: &[("max_batch_size", 5), ("max_batch_wait_ms", 600_000)],
            ..Default::default()
        },
    )
    .await;
    // Full at 5: flushed without waiting.
    let first: Vec<String> = futures::future::join_all((0..5).map(|n| queue_one(&stack, n))).await;
    let batch = batch_of(&stack, &first[0]).await;
    let (_, b) = stack.get(&format!("/v1/batches/{batch}")).await;
    assert_eq!(b["size"], 5, "{b}");
    common::spec::assert_matches("BatchView", &b);

    // Smaller batches from now on, without a restart.
    stack.put_setting("max_batch_size", 3).await;
    let second: Vec<String> = futures::future::join_all((5..8).map(|n| queue_one(&stack, n))).await;
    let batch = batch_of(&stack, &second[0]).await;
    let (_, b) = stack.get(&format!("/v1/batches/{batch}")).await;
    assert_eq!(b["size"], 3, "{b}");

    // One mint waits for its batch to fill; a shorter wait flushes it.
    let lone = queue_one(&stack, 9).await;
    let (_, m) = stack.get(&format!("/v1/mints/{lone}")).await;
    assert_eq!(
        (m["status"].as_str(), m["queuePosition"].as_i64()),
        (Some("pending"), Some(1))
    );
    // A pending mint's nulls (no batch, no transaction yet) are ones its schema allows.
    common::spec::assert_matches("MintView", &m);
    stack.put_setting("max_batch_wait_ms", 50).await;
    let batch = batch_of(&stack, &lone).await;
    let (_, b) = stack.get(&format!("/v1/batches/{batch}")).await;
    assert_eq!(b["size"], 1, "{b}");
    let (_, q) = stack.get("/v1/queue").await;
    assert_eq!(q["settings"]["maxBatchSize"], 3, "{q}");
    assert_eq!(q["settings"]["maxBatchWaitMs"], 50, "{q}");
    wait_mints(&stack, "confirmed", 9).await;
    stack.service.stop().await;
}

async fn refused(stack: &Stack, body: Value, key: Option<&str>, want: (u16, &str)) -> Value {
    let before = count_workflows(stack).await;
    let mut req = stack
        .http
        .post(format!("{}/v1/mints", stack.base))
        .json(&body);
    if let Some(k) = key {
        req = req.header("Idempotency-Key", k);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let retry_after = res
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let answer: Value = res.json().await.unwrap();
    assert_eq!((status, answer["code"].as_str().unwrap()), want, "{answer}");
    assert!(!answer["message"].as_str().unwrap().is_empty());
    if status == 429 {
        assert!(retry_after.unwrap().parse::<u64>().unwrap() >= 1);
    }
    assert_eq!(
        count_workflows(stack).await,
        before,
        "a refused request wrote something"
    );
    answer
}

async fn bad_requests_are_refused_and_write_nothing(backend: Backend) {
    let stack = Stack::start(
        backend,
        StackOptions {
            settings: &[("max_batch_wait_ms", 600_000)],
            ..Default::default()
        },
    )
    .await;
    let p = payer(1).to_string();
    let a = refused(
        &stack,
        json!({ "payer": "0x123" }),
        None,
        (400, "invalid_address"),
    )
    .await;
    assert!(a["message"].as_str().unwrap().contains("`payer`"));
    let a = refused(
        &stack,
        json!({ "payer": p, "recipient": "nope" }),
        None,
        (400, "invalid_address"),
    )
    .await;
    assert!(a["message"].as_str().unwrap().contains("`recipient`"));
    refused(
        &stack,
        json!({ "payer": p, "txHash": "0xzz" }),
        None,
        (400, "invalid_tx_hash"),
    )
    .await;
    refused(
        &stack,
        json!({ "payer": p, "quantity": 0 }),
        None,
        (422, "quantity_out_of_range"),
    )
    .await;
    refused(
        &stack,
        json!({ "payer": p, "quantity": 101 }),
        None,
        (422, "quantity_out_of_range"),
    )
    .await;
    refused(
        &stack,
        json!({ "payer": p, "token": payer(99).to_string() }),
        None,
        (404, "unknown_token"),
    )
    .await;
    // The zero address cannot hold tokens: neither as the recipient nor as the payer that
    // stands for it when no recipient is given.
    for body in [
        json!({ "payer": p, "recipient": Address::ZERO.to_string() }),
        json!({ "payer": Address::ZERO.to_string() }),
    ] {
        refused(&stack, body, None, (422, "invalid_recipient")).await;
    }
    refused(
        &stack,
        json!({ "payer": p, "quantity": "many" }),
        None,
        (400, "invalid_body"),
    )
    .await;

    // Same key, other request.
    let (status, _) = stack
        .post(
            "/v1/mints",
            &json!({ "payer": p, "txHash": format!("{:#x}", B256::repeat_byte(7)) }),
        )
        .await;
    assert_eq!(status, 202);
    let other =
        json!({ "payer": payer(2).to_string(), "txHash": format!("{:#x}", B256::repeat_byte(7)) });
    refused(&stack, other, None, (409, "idempotency_conflict")).await;

    // Rate limits and queue depth, changed live.
    stack.put_setting("payer_rate_per_minute", 2).await;
    for _ in 0..2 {
        assert_eq!(
            stack
                .post("/v1/mints", &json!({ "payer": payer(3).to_string() }))
                .await
                .0,
            202
        );
    }
    refused(
        &stack,
        json!({ "payer": payer(3).to_string() }),
        None,
        (429, "payer_rate_limited"),
    )
    .await;
    stack.put_setting("payer_rate_per_minute", 0).await;
    stack.put_setting("ip_rate_per_minute", 1).await;
    assert_eq!(
        stack
            .post("/v1/mints", &json!({ "payer": payer(4).to_string() }))
            .await
            .0,
        202
    );
    refused(
        &stack,
        json!({ "payer": payer(5).to_string() }),
        None,
        (429, "ip_rate_limited"),
    )
    .await;
    stack.put_setting("ip_rate_per_minute", 0).await;
    let pending = stack
        .t
        .scalar_i64("SELECT count(*) FROM workflows WHERE kind = 'mint' AND state = 'pending'")
        .await;
    stack.put_setting("max_queue_depth", pending).await;
    refused(
        &stack,
        json!({ "payer": payer(6).to_string() }),
        None,
        (429, "queue_full"),
    )
    .await;
    stack.service.stop().await;
}

async fn anvil_rpc(stack: &Stack, method: &'static str, params: Value) -> Value {
    common::stack::anvil_rpc(&stack.anvil.endpoint(), method, params).await
}

async fn a_reorg_before_confirmation_leaves_mints_sent(backend: Backend) {
    let stack = Stack::start(
        backend,
        StackOptions {
            anvil_args: &[],
            manual_mining: true,
            settings: &[("confirmations", 3), ("max_batch_size", 1)],
            ..Default::default()
        },
    )
    .await;
    let id = queue_one(&stack, 1).await;
    stack.wait_chain_tx("mint_batch", "sent").await;
    anvil_rpc(&stack, "anvil_mine", json!([2])).await;
    let mined = stack.wait_chain_tx("mint_batch", "mined").await.unwrap();
    // The chain drops the block that held the batch: its transaction goes back to `sent`, and
    // the mint, never confirmed on the orphaned block, stays `sent`.
    let number = anvil_rpc(&stack, "eth_blockNumber", json!([])).await;
    let head = i64::from_str_radix(number.as_str().unwrap().trim_start_matches("0x"), 16).unwrap();
    anvil_rpc(&stack, "anvil_rollback", json!([head - mined + 1])).await;
    stack.wait_chain_tx("mint_batch", "sent").await;
    let (_, m) = stack.get(&format!("/v1/mints/{id}")).await;
    assert_eq!(m["status"], "sent", "{m}");
    // Mined again and buried: confirmed once, on the block that holds it now.
    let m = eventually(WAIT, "the mint to be confirmed", || async {
        anvil_rpc(&stack, "anvil_mine", json!([1])).await;
        let (_, m) = stack.get(&format!("/v1/mints/{id}")).await;
        (m["status"] == "confirmed").then_some(m)
    })
    .await;
    let (_, final_block) = stack.chain_tx("mint_batch").await;
    assert_eq!(m["blockNumber"].as_i64(), final_block, "{m}");
    let histories = histories(&stack).await;
    assert_eq!(
        histories.values().next().unwrap(),
        &["pending", "processing", "sent", "confirmed"]
    );
    assert_eq!(
        stack.token_contract().totalSupply().call().await.unwrap(),
        U256::from(AMOUNT_PER_MINT)
    );
    stack.service.stop().await;
}

/// A client's `Idempotency-Key` cannot stand for a key the service derives itself: a
/// payment's mints, another request's later mints, or the natural key of a transaction the
/// request does not name.
async fn client_keys_cannot_stand_for_internal_ones(backend: Backend) {
    let stack = Stack::start(backend, StackOptions::default()).await;
    let p = payer(1).to_string();
    let post = |key: String, body: Value| {
        stack
            .http
            .post(format!("{}/v1/mints", stack.base))
            .header("Idempotency-Key", key)
            .json(&body)
            .send()
    };
    let res = post("order-17".into(), json!({ "payer": p, "quantity": 2 }))
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    let hash = format!("{:#x}", B256::repeat_byte(8));
    for key in [
        "order-17#1".to_owned(),
        format!("payment:{}", Uuid::now_v7()),
        hash.clone(),
    ] {
        let res = post(key.clone(), json!({ "payer": p })).await.unwrap();
        assert_eq!(res.status(), 400, "{key}");
        let answer: Value = res.json().await.unwrap();
        assert_eq!(
            answer["code"], "reserved_idempotency_key",
            "{key}: {answer}"
        );
    }
    // Its own transaction hash is a request's natural key anyway.
    let res = post(hash.clone(), json!({ "payer": p, "txHash": hash }))
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    stack.service.stop().await;
}

async fn post_mint(stack: &Stack, client: &reqwest::Client, body: Value) -> (u16, Value) {
    let res = client
        .post(format!("{}/v1/mints", stack.base))
        .json(&body)
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.json().await.unwrap())
}

/// Under a backlog, a token's batches take higher priorities first, then older mints: a key
/// may ask for up to its `maxPriority`, an admin may raise a pending mint (audited), and
/// nobody else may.
async fn higher_priority_mints_are_batched_first(backend: Backend) {
    let stack = Stack::start(
        backend,
        StackOptions {
            // Nothing is flushed until the batch size drops: the queue is a backlog.
            settings: &[("max_batch_size", 100), ("max_batch_wait_ms", 600_000)],
            ..Default::default()
        },
    )
    .await;
    let (status, key) = stack
        .post(
            "/v1/keys",
            &json!({ "name": "shop", "scopes": ["mint"], "maxPriority": 10 }),
        )
        .await;
    assert_eq!(
        (status, key["maxPriority"].as_i64()),
        (201, Some(10)),
        "{key}"
    );
    let shop = common::http_as(key["key"].as_str().unwrap());
    let p = payer(1).to_string();

    // Four old mints at the default priority, then one at the key's maximum.
    let (status, low) = post_mint(&stack, &shop, json!({ "payer": p, "quantity": 4 })).await;
    assert_eq!((status, low["priority"].as_i64()), (202, Some(0)), "{low}");
    let low: Vec<String> = serde_json::from_value(low["ids"].clone()).unwrap();
    let before = count_workflows(&stack).await;
    let (status, refused) = post_mint(&stack, &shop, json!({ "payer": p, "priority": 11 })).await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (403, Some("priority_above_key_maximum")),
        "{refused}"
    );
    assert_eq!(
        count_workflows(&stack).await,
        before,
        "a refused mint was written"
    );
    let (status, high) = post_mint(&stack, &shop, json!({ "payer": p, "priority": 10 })).await;
    assert_eq!(
        (status, high["priority"].as_i64()),
        (202, Some(10)),
        "{high}"
    );
    let high = high["id"].as_str().unwrap().to_owned();
    // The newest, raised by an admin above every other.
    let (status, raised) = post_mint(&stack, &shop, json!({ "payer": p })).await;
    assert_eq!(status, 202, "{raised}");
    let raised = raised["id"].as_str().unwrap().to_owned();
    let url = format!("{}/v1/mints/{raised}/priority", stack.base);
    let res = shop
        .post(&url)
        .json(&json!({ "priority": 20 }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let answer: Value = res.json().await.unwrap();
    assert_eq!(answer["code"], "insufficient_scope", "{answer}");
    let set_priority = |priority: i64| {
        stack
            .http
            .post(&url)
            .header("X-Actor", "alice")
            .query(&[("reason", "vip order")])
            .json(&json!({ "priority": priority }))
            .send()
    };
    let res = set_priority(101).await.unwrap();
    assert_eq!(res.status(), 422);
    let answer: Value = res.json().await.unwrap();
    assert_eq!(answer["code"], "priority_out_of_range", "{answer}");
    let res = set_priority(20).await.unwrap();
    assert_eq!(res.status(), 200);
    let view: Value = res.json().await.unwrap();
    common::spec::assert_matches("MintView", &view);
    assert_eq!(view["priority"], 20, "{view}");
    // Queue positions follow the claim order.
    for (mint, want) in [(&raised, 1), (&high, 2), (&low[0], 3), (&low[3], 6)] {
        let (_, m) = stack.get(&format!("/v1/mints/{mint}")).await;
        assert_eq!(m["queuePosition"], want, "{mint}: {m}");
    }
    let (_, audit) = stack.get("/v1/audit").await;
    let entry = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "mint.priority")
        .unwrap_or_else(|| panic!("no mint.priority entry: {audit}"));
    assert_eq!(entry["target"], raised.as_str(), "{entry}");
    assert_eq!(entry["actor"], "admin (alice)", "{entry}");
    assert_eq!(
        (
            entry["detail"]["from"].as_i64(),
            entry["detail"]["to"].as_i64()
        ),
        (Some(0), Some(20)),
        "{entry}"
    );

    // Batches of two from now on: the first takes the two high ones, though they are newer.
    stack.put_setting("max_batch_size", 2).await;
    wait_mints(&stack, "confirmed", 6).await;
    let mut formed = batches(&stack).await;
    formed.sort_by_key(|(b, _)| b.id);
    let first: HashSet<String> = formed[0]
        .1
        .items
        .iter()
        .map(|i| i.mint.to_string())
        .collect();
    assert_eq!(first, HashSet::from([raised.clone(), high.clone()]));
    let block = |mint: &str| {
        let mint = mint.to_owned();
        let stack = &stack;
        async move {
            let (_, m) = stack.get(&format!("/v1/mints/{mint}")).await;
            m["blockNumber"].as_i64().unwrap()
        }
    };
    let high_block = block(&high).await.max(block(&raised).await);
    for mint in &low {
        assert!(
            high_block <= block(mint).await,
            "{mint} confirmed before the high ones"
        );
    }
    // Taken into a batch: its priority no longer matters.
    let res = set_priority(30).await.unwrap();
    assert_eq!(res.status(), 409);
    let answer: Value = res.json().await.unwrap();
    assert_eq!(answer["code"], "mint_not_pending", "{answer}");
    stack.service.stop().await;
}
