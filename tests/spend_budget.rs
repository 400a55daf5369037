//! The signer's gas spend budget (`max_gas_spend_wei_per_hour`) end to end, on PostgreSQL and
//! SQLite against anvil: reached, it holds new transactions back (their workflows wait, counted
//! in a metric) and lets them through once it allows, with every mint minted once.
#[macro_use]
mod common;

use std::time::Duration;

use alloy::primitives::{Address, B256, U256};
use common::stack::{AMOUNT_PER_MINT, Stack, StackOptions};
use common::{Backend, eventually, metrics};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(120);

on_both_backends!(the_spend_budget_holds_new_transactions_until_it_allows);

fn payer(n: usize) -> Address {
    Address::from_word(B256::from(U256::from(0x2000 + n)))
}

async fn queue_one(stack: &Stack, n: usize) {
    let (status, answer) = stack
        .post("/v1/mints", &json!({ "payer": payer(n).to_string() }))
        .await;
    assert_eq!(status, 202, "{answer}");
}

async fn count(stack: &Stack, sql: &str) -> i64 {
    stack.t.scalar_i64(sql).await
}

async fn wait_confirmed_mints(stack: &Stack, n: i64) {
    eventually(WAIT, &format!("{n} mints confirmed"), || async {
        let sql = "SELECT count(*) FROM workflows WHERE kind = 'mint' AND state = 'confirmed'";
        (count(stack, sql).await >= n).then_some(())
    })
    .await
}

/// What the signer's mined transactions paid, as the pipeline recorded it.
async fn paid_wei(stack: &Stack) -> u128 {
    let db = &stack.t.db;
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT gas_used, effective_gas_price FROM chain_txs WHERE mined_at_ms IS NOT NULL",
        ))
        .await
        .unwrap();
    rows.iter()
        .map(|r| {
            let gas: i64 = r.try_get("", "gas_used").unwrap();
            let price: String = r.try_get("", "effective_gas_price").unwrap();
            gas as u128 * price.parse::<u128>().unwrap()
        })
        .sum()
}

async fn budget_refusals(stack: &Stack) -> f64 {
    let text = metrics::text(&stack.http, &stack.base).await;
    metrics::sum(&text, "mintflow_tx_spend_budget_refusals_total", &[]).unwrap_or(0.0)
}

async fn the_spend_budget_holds_new_transactions_until_it_allows(backend: Backend) {
    // The refusals counter is the process's: the other backend's run must not move it meanwhile.
    let _counters = metrics::exclusive().await;
    // Two attempts per state: a budget wait counted as a retry would fail the batch.
    let stack = Stack::start(
        backend,
        StackOptions {
            settings: &[("max_batch_wait_ms", 100), ("retry_max_attempts", 2)],
            ..Default::default()
        },
    )
    .await;
    queue_one(&stack, 0).await;
    wait_confirmed_mints(&stack, 1).await;
    // The budget is what was spent so far, and a wei: the next batch's worst case is over it.
    let spent = paid_wei(&stack).await;
    assert!(spent > 0, "mined fees are recorded");
    stack
        .put_setting("max_gas_spend_wei_per_hour", (spent + 1) as i64)
        .await;
    let txs_before = count(&stack, "SELECT count(*) FROM chain_txs").await;
    let refusals_before = budget_refusals(&stack).await;
    for n in 1..6 {
        queue_one(&stack, n).await;
    }
    // Held back twice (10 s apart), never signed, never failed.
    eventually(WAIT, "two budget waits", || async {
        let sql = "SELECT count(*) FROM workflow_events WHERE event = 'deferred'";
        (count(&stack, sql).await >= 2).then_some(())
    })
    .await;
    assert_eq!(
        count(&stack, "SELECT count(*) FROM chain_txs").await,
        txs_before,
        "nothing signed over the budget"
    );
    assert_eq!(
        count(
            &stack,
            "SELECT count(*) FROM workflows WHERE status = 'failed'"
        )
        .await,
        0
    );
    let waiting = count(
        &stack,
        "SELECT count(*) FROM workflows WHERE kind = 'mint_batch' AND status = 'running' \
         AND last_error LIKE '%max_gas_spend_wei_per_hour%'",
    )
    .await;
    assert!(waiting >= 1, "the batch says why it waits");
    // Each `deferred` event follows a refusal, and only this run refuses; the scrape is a
    // snapshot up to a second old.
    eventually(WAIT, "both refusals in a scrape", || async {
        (budget_refusals(&stack).await - refusals_before >= 2.0).then_some(())
    })
    .await;
    // The operator raises the budget: the held batch goes out and everything lands once.
    stack
        .put_setting("max_gas_spend_wei_per_hour", 1_000_000_000_000_000_000)
        .await;
    wait_confirmed_mints(&stack, 6).await;
    assert_eq!(
        count(
            &stack,
            "SELECT count(*) FROM workflows WHERE status = 'failed'"
        )
        .await,
        0
    );
    assert_eq!(
        count(
            &stack,
            "SELECT count(*) FROM chain_txs WHERE purpose = 'mint_batch'"
        )
        .await,
        count(
            &stack,
            "SELECT count(*) FROM workflows WHERE kind = 'mint_batch'"
        )
        .await,
        "one transaction per batch"
    );
    assert_eq!(
        stack.token_contract().totalSupply().call().await.unwrap(),
        U256::from(6 * AMOUNT_PER_MINT),
        "every mint minted once"
    );
}
