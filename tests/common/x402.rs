//! What the x402 tests share (tests/x402.rs, tests/x402_v1.rs): a funded payer, USDC
//! balances, a paid mint's tokens, and the official v2 client (`@x402/fetch`, run with node).
use std::time::Duration;

use alloy::primitives::{Address, U256};
use alloy::signers::local::PrivateKeySigner;
use mintflow::chain::contracts::MockUSDC;
use serde_json::Value;

use super::stack::{AMOUNT_PER_MINT, PAYER_KEY, Stack, fund_usdc};
use super::{DEV_KEY, eventually};

pub const WAIT: Duration = Duration::from_secs(120);
/// `MINT_PRICE`, the default: 1 USDC.
pub const PRICE: u64 = 1_000_000;

/// The payer (anvil's second account), holding 10 USDC.
pub async fn funded(stack: &Stack) -> PrivateKeySigner {
    let payer: PrivateKeySigner = PAYER_KEY.parse().unwrap();
    let rpc = stack.anvil.endpoint();
    fund_usdc(&rpc, stack.usdc, payer.address(), 10 * PRICE, false).await;
    payer
}

pub async fn usdc_balance(stack: &Stack, who: Address) -> U256 {
    let provider: alloy::providers::RootProvider =
        alloy::providers::RootProvider::new_http(stack.anvil.endpoint().parse().unwrap());
    MockUSDC::new(stack.usdc, provider)
        .balanceOf(who)
        .call()
        .await
        .unwrap()
}

/// Waits until `mint` is confirmed, then checks that `holder` holds `mints` mints' tokens.
pub async fn assert_minted(stack: &Stack, mint: &str, holder: Address, mints: u64) {
    eventually(WAIT, "the paid mint to be confirmed", || async {
        let (_, m) = stack.get(&format!("/v1/mints/{mint}")).await;
        (m["status"] == "confirmed").then_some(())
    })
    .await;
    let tokens = stack
        .token_contract()
        .balanceOf(holder)
        .call()
        .await
        .unwrap();
    assert_eq!(tokens, U256::from(mints * AMOUNT_PER_MINT));
}

/// Who is paid: `PAY_TO` is the service's signer.
pub fn seller() -> Address {
    DEV_KEY.parse::<PrivateKeySigner>().unwrap().address()
}

/// Runs `script` (in `tools/`) with node and `env`, paying `path` as the payer; its printed
/// result.
pub async fn run_client(stack: &Stack, script: &str, path: &str, env: &[(&str, String)]) -> Value {
    let out = tokio::process::Command::new("node")
        .arg(format!("tools/{script}"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("X402_URL", format!("{}{path}", stack.base))
        .env("X402_PRIVATE_KEY", PAYER_KEY)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .await
        .unwrap_or_else(|e| panic!("run node tools/{script} (npm ci --prefix tools): {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.trim()).unwrap()
}

/// Pays `path` with the official v2 client (`tools/x402-pay.mjs`) on `network`
/// (`eip155:<chainId>`); its printed result.
pub async fn official_client(stack: &Stack, network: &str, path: &str, body: &Value) -> Value {
    let env = [
        ("X402_ASSET", stack.usdc.to_string()),
        ("X402_NETWORK", network.to_owned()),
        ("X402_BODY", body.to_string()),
    ];
    run_client(stack, "x402-pay.mjs", path, &env).await
}
