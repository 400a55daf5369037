//! Batched settlement through our `Settler` on a real anvil, on PostgreSQL and SQLite: many
//! gasless payments settle together, each authorization exactly once, bad items fail alone
//! with their reason, and a reorg of a settlement's block confirms it once, later.
#[macro_use]
mod common;

use std::time::Duration;

use alloy::network::EthereumWallet;
use alloy::primitives::{Address, B256, U256};
use alloy::providers::{ProviderBuilder, RootProvider};
use alloy::signers::local::PrivateKeySigner;
use common::stack::{
    PAYER_KEY, Stack, StackOptions, anvil_rpc, cancel_authorization, fresh_nonce, fund_usdc,
    sign_authorization_until,
};
use common::x402::usdc_balance;
use common::{Backend, eventually};
use mintflow::chain::contracts::MockUSDC;
use mintflow::chain::settler::SettlerMismatch;
use mintflow::chain::{Chain, ChainConfig};
use mintflow::config::SettingsHandle;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(300);
/// The default `MINT_PRICE`: 1 USDC.
const PRICE: u64 = 1_000_000;
const RICH_PAYERS: usize = 10;
const PER_RICH_PAYER: usize = 50;
/// Bad items of each kind.
const BAD: usize = 5;

on_both_backends!(
    many_payments_settle_in_batches_and_bad_items_fail_alone,
    a_reorg_of_a_settlement_block_confirms_it_once,
    payments_parked_for_a_batch_settle_alone_once_the_settler_is_gone,
);

/// One payment's body: `who` pays `value` with an authorization valid until `valid_before`.
fn body(
    usdc: Address,
    who: &PrivateKeySigner,
    value: u64,
    nonce: B256,
    valid_before: u64,
) -> Value {
    let (authorization, signature) =
        sign_authorization_until(usdc, who, value, nonce, valid_before);
    json!({ "paymentType": "gasless", "authorization": authorization, "signature": signature,
            "quantity": 1 })
}

/// Gives each of `payers` its amount of test USDC, all in flight at once.
async fn fund_all(stack: &Stack, payers: &[(Address, u64)]) {
    let faucet: PrivateKeySigner = PAYER_KEY.parse().unwrap();
    let provider = ProviderBuilder::new()
        .wallet(EthereumWallet::from(faucet))
        .connect_http(stack.anvil.endpoint().parse().unwrap());
    let usdc = MockUSDC::new(stack.usdc, &provider);
    let mut pending = Vec::new();
    for (who, amount) in payers {
        pending.push(usdc.mint(*who, U256::from(*amount)).send().await.unwrap());
    }
    for p in pending {
        assert!(p.get_receipt().await.unwrap().status());
    }
}

/// `who` gives all its USDC away (with ether to pay for that).
async fn drain(stack: &Stack, who: &PrivateKeySigner) {
    let rpc = stack.anvil.endpoint();
    let ether = format!("{:#x}", U256::from(10u64).pow(U256::from(18)));
    anvil_rpc(&rpc, "anvil_setBalance", json!([who.address(), ether])).await;
    let provider = ProviderBuilder::new()
        .wallet(EthereumWallet::from(who.clone()))
        .connect_http(rpc.parse().unwrap());
    let usdc = MockUSDC::new(stack.usdc, &provider);
    let all = usdc.balanceOf(who.address()).call().await.unwrap();
    let sent = usdc
        .transfer(Address::repeat_byte(0x5e), all)
        .send()
        .await
        .unwrap();
    assert!(sent.get_receipt().await.unwrap().status());
}

async fn used(stack: &Stack, who: Address, nonce: B256) -> bool {
    let provider: RootProvider = RootProvider::new_http(stack.anvil.endpoint().parse().unwrap());
    MockUSDC::new(stack.usdc, provider)
        .authorizationState(who, nonce)
        .call()
        .await
        .unwrap()
}

async fn count(stack: &Stack, sql: &str) -> i64 {
    stack.t.scalar_i64(sql).await
}

/// `n` gasless payments of one price each from one new payer, funded for them, all accepted:
/// the payer, the authorizations' nonces and the payments' ids.
async fn pay_from_one_payer(stack: &Stack, n: usize) -> (PrivateKeySigner, Vec<B256>, Vec<String>) {
    let who = PrivateKeySigner::random();
    let rpc = stack.anvil.endpoint();
    fund_usdc(&rpc, stack.usdc, who.address(), n as u64 * PRICE, true).await;
    let until = chrono::Utc::now().timestamp() as u64 + 3_600;
    let nonces: Vec<B256> = (0..n).map(|_| fresh_nonce()).collect();
    let mut ids = Vec::new();
    for nonce in &nonces {
        let (status, p) = stack
            .post(
                "/v1/payments",
                &body(stack.usdc, &who, PRICE, *nonce, until),
            )
            .await;
        assert_eq!(status, 202, "{p}");
        ids.push(p["id"].as_str().unwrap().to_owned());
    }
    (who, nonces, ids)
}

/// Waits until `n` payments are parked in `processing`, waiting for a settlement batch.
async fn wait_parked(stack: &Stack, n: usize) {
    eventually(WAIT, "the payments to wait for a batch", || async {
        let waiting = count(
            stack,
            "SELECT count(*) FROM workflows WHERE kind = 'payment' AND state = 'processing' \
             AND status = 'waiting'",
        )
        .await;
        (waiting == n as i64).then_some(())
    })
    .await;
}

/// The seller got `settled` prices since it held `before`, and each of those payments has one
/// settlement receipt.
async fn paid_once_each(stack: &Stack, seller: Address, before: U256, settled: usize) {
    assert_eq!(
        usdc_balance(stack, seller).await - before,
        U256::from(settled as u64 * PRICE)
    );
    let receipts = count(
        stack,
        "SELECT count(*) FROM payment_receipts WHERE tx_hash IS NOT NULL",
    )
    .await;
    assert_eq!(receipts, settled as i64);
}

async fn many_payments_settle_in_batches_and_bad_items_fail_alone(backend: Backend) {
    // Nothing is batched until every payment waits (the wait is long, and the batch and its
    // gas cap larger than the queue), so the bad items can go bad between their check and their batch.
    let stack = Stack::start(
        backend,
        StackOptions {
            // A block as large as the benchmark's: the gas cap (half a block) is above the queue.
            anvil_args: &["--block-time", "1", "--gas-limit", "150000000"],
            batched_settlement: true,
            settings: &[
                ("max_settlement_wait_ms", 600_000),
                ("max_settlement_batch_size", 2_000),
                ("max_open_payments_per_payer", 10_000),
                ("max_settlement_reverts_per_hour", 0),
                ("max_queue_depth", 100_000),
            ],
            ..Default::default()
        },
    )
    .await;
    let now = chrono::Utc::now().timestamp() as u64;
    let (long, short) = (now + 3_600, now + 200);
    let usdc = stack.usdc;
    // Anvil's payer account (it has ether to cancel with) and random ones.
    let mut rich: Vec<PrivateKeySigner> = vec![PAYER_KEY.parse().unwrap()];
    rich.extend((1..RICH_PAYERS).map(|_| PrivateKeySigner::random()));
    // Each poor payer can pay once, and moves its funds away before its batch.
    let poor: Vec<PrivateKeySigner> = (0..BAD).map(|_| PrivateKeySigner::random()).collect();
    let mut funds: Vec<(Address, u64)> = rich
        .iter()
        .map(|p| (p.address(), (PER_RICH_PAYER + 2 * BAD) as u64 * PRICE))
        .collect();
    funds.extend(poor.iter().map(|p| (p.address(), PRICE)));
    fund_all(&stack, &funds).await;

    // (payer, nonce, body) of each kind.
    let mut good = Vec::new();
    for who in &rich {
        for _ in 0..PER_RICH_PAYER {
            let n = fresh_nonce();
            good.push((who.address(), n, body(usdc, who, PRICE, n, long)));
        }
    }
    let payer0 = &rich[0];
    let expiring: Vec<_> = (0..BAD)
        .map(|_| {
            let n = fresh_nonce();
            (payer0.address(), n, body(usdc, payer0, PRICE, n, short))
        })
        .collect();
    let cancelled: Vec<_> = (0..BAD)
        .map(|_| {
            let n = fresh_nonce();
            (payer0.address(), n, body(usdc, payer0, PRICE, n, long))
        })
        .collect();
    let drained: Vec<_> = poor
        .iter()
        .map(|who| {
            let n = fresh_nonce();
            (who.address(), n, body(usdc, who, PRICE, n, long))
        })
        .collect();
    // Signed for one amount, claiming another: refused at the door.
    let wrong_amount: Vec<Value> = (0..BAD)
        .map(|_| {
            let mut b = body(usdc, payer0, PRICE, fresh_nonce(), long);
            b["authorization"]["value"] = json!((2 * PRICE).to_string());
            b
        })
        .collect();

    let accepted: Vec<&(Address, B256, Value)> = good
        .iter()
        .chain(&expiring)
        .chain(&cancelled)
        .chain(&drained)
        .collect();
    let posts = accepted
        .iter()
        .map(|(_, _, b)| stack.post("/v1/payments", b));
    let answers = futures::future::join_all(posts).await;
    let mut ids = Vec::new();
    for (status, p) in answers {
        assert_eq!(status, 202, "{p}");
        ids.push(p["id"].as_str().unwrap().to_owned());
    }
    let refusals =
        futures::future::join_all(wrong_amount.iter().map(|b| stack.post("/v1/payments", b))).await;
    for (status, p) in refusals {
        assert!(status >= 400, "a wrong amount is refused: {status} {p}");
    }
    let total = accepted.len() as i64;
    eventually(
        WAIT,
        "every payment to wait for a settlement batch",
        || async {
            let waiting = count(
                &stack,
                "SELECT count(*) FROM workflows WHERE kind = 'payment' AND state = 'processing' \
             AND status = 'waiting'",
            )
            .await;
            (waiting == total).then_some(())
        },
    )
    .await;

    // Between their check and their batch: five are cancelled, five expire, five payers
    // move their funds away.
    for who in &poor {
        drain(&stack, who).await;
    }
    for (_, n, _) in &cancelled {
        cancel_authorization(&stack, payer0, *n).await;
    }
    for (who, n, _) in &cancelled {
        eventually(WAIT, "the cancellation to be mined", || async {
            used(&stack, *who, *n).await.then_some(())
        })
        .await;
    }
    let rpc = stack.anvil.endpoint();
    anvil_rpc(&rpc, "evm_increaseTime", json!([400])).await;
    anvil_rpc(&rpc, "anvil_mine", json!([1])).await;
    let seller = stack.service.chain.as_ref().unwrap().signer();
    let seller_before = usdc_balance(&stack, seller).await;

    stack.put_setting("max_settlement_batch_size", 200).await;
    stack.put_setting("max_settlement_wait_ms", 0).await;

    let status_of = |id: String| {
        let stack = &stack;
        async move {
            let (_, p) = stack.get(&format!("/v1/payments/{id}")).await;
            p
        }
    };
    let settled_count = good.len();
    let finals = eventually(WAIT, "every payment to settle or fail", || async {
        let all = futures::future::join_all(ids.iter().cloned().map(status_of)).await;
        let confirmed = all.iter().filter(|p| p["status"] == "confirmed").count();
        let failed = all.iter().filter(|p| p["status"] == "failed").count();
        // A drained payer's payment reads `checking` both before its batch and after it; only
        // the error its batch left tells the two apart.
        let refused = all
            .iter()
            .filter(|p| p["status"] == "checking" && !p["error"].is_null())
            .count();
        (confirmed == settled_count && failed == 2 * BAD && refused == BAD).then_some(all)
    })
    .await;

    // In batches: at most 200 items each, every one confirmed.
    let batches = count(
        &stack,
        "SELECT count(*) FROM workflows WHERE kind = 'settlement_batch' AND state = 'confirmed'",
    )
    .await;
    let all_batches = count(
        &stack,
        "SELECT count(*) FROM workflows WHERE kind = 'settlement_batch'",
    )
    .await;
    assert_eq!(batches, all_batches);
    assert!(batches >= (total + 199) / 200, "{batches} batches");
    assert!(batches < 20, "{batches} batches for {total} payments");

    // Each good one exactly once: its authorization used, every payer charged once per item.
    for (who, n, _) in &good {
        assert!(used(&stack, *who, *n).await);
    }
    for (i, who) in rich.iter().enumerate() {
        let left = usdc_balance(&stack, who.address()).await;
        assert_eq!(left, U256::from(2 * BAD as u64 * PRICE), "rich payer {i}");
    }
    for who in &poor {
        assert_eq!(usdc_balance(&stack, who.address()).await, U256::ZERO);
    }
    paid_once_each(&stack, seller, seller_before, settled_count).await;
    // Each paid payment's mint left `awaiting_payment` once, its history naming its own payment
    // (the children of a batch's payments move together, in one statement).
    let (parent, named) = match backend {
        Backend::Postgres => ("m.parent_id::text", "e.detail ->> 'payment'"),
        Backend::Sqlite => (
            "lower(hex(m.parent_id))",
            "replace(e.detail ->> 'payment', '-', '')",
        ),
    };
    let paid_mints = |condition: &str| {
        format!(
            "SELECT count(*) FROM workflow_events e JOIN workflows m ON m.id = e.workflow_id \
             WHERE m.kind = 'mint' AND e.event = 'paid' {condition}"
        )
    };
    assert_eq!(count(&stack, &paid_mints("")).await, settled_count as i64);
    let own_payment = format!("AND {named} = {parent}");
    assert_eq!(
        count(&stack, &paid_mints(&own_payment)).await,
        settled_count as i64
    );

    // The bad ones, alone, with their reason.
    let first_bad = good.len();
    let failed_with = |range: std::ops::Range<usize>, reason: &str| {
        for p in &finals[range] {
            assert_eq!(p["status"], "failed", "{p}");
            let error = p["error"].as_str().unwrap_or_default();
            assert!(error.contains(reason), "{p}");
        }
    };
    failed_with(first_bad..first_bad + BAD, "AuthorizationExpired");
    failed_with(
        first_bad + BAD..first_bad + 2 * BAD,
        "cancelled the authorization",
    );
    // A drained payer's payment stays `checking` while its authorization could still be used
    // (a top-up would let it pay), with the token's reason.
    for (i, (who, n, _)) in drained.iter().enumerate() {
        let p = &finals[first_bad + 2 * BAD + i];
        assert_eq!(p["status"], "checking", "{p}");
        let error = p["error"].as_str().unwrap_or_default();
        assert!(error.contains("ERC20InsufficientBalance"), "{p}");
        assert!(!used(&stack, *who, *n).await);
    }
    stack.service.stop().await;
}

async fn a_reorg_of_a_settlement_block_confirms_it_once(backend: Backend) {
    const PAYMENTS: usize = 3;
    let stack = Stack::start(
        backend,
        StackOptions {
            anvil_args: &[],
            manual_mining: true,
            batched_settlement: true,
            // No batch until all three wait, so they share one.
            settings: &[("confirmations", 3), ("max_settlement_wait_ms", 600_000)],
            ..Default::default()
        },
    )
    .await;
    let rpc = stack.anvil.endpoint();
    let (who, nonces, ids) = pay_from_one_payer(&stack, PAYMENTS).await;
    wait_parked(&stack, PAYMENTS).await;
    let seller = stack.service.chain.as_ref().unwrap().signer();
    let seller_before = usdc_balance(&stack, seller).await;
    stack.put_setting("max_settlement_wait_ms", 0).await;

    stack.wait_chain_tx("settlement_batch", "sent").await;
    anvil_rpc(&rpc, "anvil_mine", json!([2])).await;
    let mined = stack
        .wait_chain_tx("settlement_batch", "mined")
        .await
        .unwrap();
    // The chain drops the block that held the settlement: its transaction goes back to `sent`,
    // and so do its payments, never confirmed on the orphaned block.
    let number = anvil_rpc(&rpc, "eth_blockNumber", json!([])).await;
    let head = i64::from_str_radix(number.as_str().unwrap().trim_start_matches("0x"), 16).unwrap();
    anvil_rpc(&rpc, "anvil_rollback", json!([head - mined + 1])).await;
    stack.wait_chain_tx("settlement_batch", "sent").await;
    for n in &nonces {
        assert!(!used(&stack, who.address(), *n).await, "the reorg undid it");
    }
    for id in &ids {
        let (_, p) = stack.get(&format!("/v1/payments/{id}")).await;
        assert_eq!(p["status"], "sent", "{p}");
    }

    // Mined again and buried: each payment confirmed once, on the block that holds it now.
    let confirmed = eventually(WAIT, "the payments to be confirmed", || async {
        anvil_rpc(&rpc, "anvil_mine", json!([1])).await;
        let mut all = Vec::new();
        for id in &ids {
            let (_, p) = stack.get(&format!("/v1/payments/{id}")).await;
            all.push(p);
        }
        all.iter()
            .all(|p| p["status"] == "confirmed")
            .then_some(all)
    })
    .await;
    let (_, block) = stack.chain_tx("settlement_batch").await;
    for p in &confirmed {
        assert_eq!(p["blockNumber"].as_i64(), block, "{p}");
    }
    for n in &nonces {
        assert!(used(&stack, who.address(), *n).await);
    }
    assert_eq!(usdc_balance(&stack, who.address()).await, U256::ZERO);
    paid_once_each(&stack, seller, seller_before, PAYMENTS).await;
    // One batch, one transaction, and each payment entered `confirmed` once.
    let batches = count(
        &stack,
        "SELECT count(*) FROM workflows WHERE kind = 'settlement_batch' AND state = 'confirmed'",
    )
    .await;
    assert_eq!(batches, 1);
    let txs = count(
        &stack,
        "SELECT count(*) FROM chain_txs WHERE purpose = 'settlement_batch'",
    )
    .await;
    assert_eq!(txs, 1);
    let confirmations = count(
        &stack,
        "SELECT count(*) FROM workflow_events h JOIN workflows w ON w.id = h.workflow_id \
         WHERE w.kind = 'payment' AND h.to_state = 'confirmed'",
    )
    .await;
    assert_eq!(confirmations, PAYMENTS as i64);
    stack.service.stop().await;
}

/// A `SETTLER_ADDRESS` that does not hold this version's `Settler` (another contract, or no
/// contract at all) is refused when the chain is checked at startup, instead of failing every
/// settlement sent through it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_settler_address_without_this_settler_is_refused() {
    let stack = Stack::start(
        Backend::Sqlite,
        StackOptions {
            batched_settlement: true,
            ..Default::default()
        },
    )
    .await;
    let signer = PrivateKeySigner::from(stack.anvil.keys()[0].clone());
    let check = async |settler: Address| {
        let settings = SettingsHandle::load(&stack.t.db).await.unwrap();
        let config = ChainConfig {
            rpc_url: stack.anvil.endpoint(),
            settler: Some(settler),
            ..Default::default()
        };
        let chain = Chain::connect(stack.t.db.clone(), settings, signer.clone(), config, None);
        chain.await.unwrap().check_settler().await
    };
    // The stack started with its own Settler, which passes.
    check(stack.settler).await.unwrap();
    let other = check(stack.usdc).await.unwrap_err();
    assert!(
        matches!(other, SettlerMismatch::Other(a) if a == stack.usdc),
        "{other}"
    );
    assert!(other.to_string().contains("mintflow deploy"), "{other}");
    let nothing = Address::repeat_byte(0x42);
    let none = check(nothing).await.unwrap_err();
    assert!(
        matches!(none, SettlerMismatch::NoCode(a) if a == nothing),
        "{none}"
    );
    stack.service.stop().await;
}

/// Payments parked for a settlement batch when the service is restarted without a settler (an
/// operator unset `SETTLER_ADDRESS`) are each settled in a transaction of their own, once.
async fn payments_parked_for_a_batch_settle_alone_once_the_settler_is_gone(backend: Backend) {
    const PAYMENTS: usize = 3;
    let stack = Stack::start(
        backend,
        StackOptions {
            batched_settlement: true,
            // No batch forms: the payments stay parked.
            settings: &[("max_settlement_wait_ms", 600_000)],
            ..Default::default()
        },
    )
    .await;
    let (who, nonces, ids) = pay_from_one_payer(&stack, PAYMENTS).await;
    wait_parked(&stack, PAYMENTS).await;
    let seller = stack.service.chain.as_ref().unwrap().signer();
    let seller_before = usdc_balance(&stack, seller).await;

    let stack = stack
        .restart(|config| config.chain.as_mut().unwrap().config.settler = None)
        .await;
    eventually(WAIT, "the payments to be confirmed", || async {
        let mut confirmed = 0;
        for id in &ids {
            let (_, p) = stack.get(&format!("/v1/payments/{id}")).await;
            confirmed += usize::from(p["status"] == "confirmed");
        }
        (confirmed == PAYMENTS).then_some(())
    })
    .await;
    for n in &nonces {
        assert!(used(&stack, who.address(), *n).await);
    }
    paid_once_each(&stack, seller, seller_before, PAYMENTS).await;
    // Each settled on its own, none through a batch.
    let own = count(
        &stack,
        "SELECT count(*) FROM chain_txs WHERE purpose = 'payment'",
    )
    .await;
    assert_eq!(own, PAYMENTS as i64);
    let batches = count(
        &stack,
        "SELECT count(*) FROM workflows WHERE kind = 'settlement_batch'",
    );
    assert_eq!(batches.await, 0);
    let resumed = "SELECT count(*) FROM workflow_events WHERE event = 'unbatched'";
    assert_eq!(count(&stack, resumed).await, PAYMENTS as i64);
    stack.service.stop().await;
}
