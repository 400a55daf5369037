//! The examples the OpenAPI document shows (each type opts in with `#[oai(example)]`), so that
//! Swagger UI's "Try it out" sends requests `mintflow dev` accepts as they are.
//!
//! The addresses are those of `mintflow dev`'s chain: anvil's well-known accounts (its signer,
//! who is also `PAY_TO`, is account 0; the payers are accounts 1 and 2, which dev funds with
//! test USDC) and the contracts its signer deploys first (MockUSDC at nonce 0, the MintToken at
//! nonce 1). The signed authorizations below are signatures by accounts 1 and 2 under
//! MockUSDC's EIP-712 domain on chain 31337, valid until 2100: each pays once per dev chain,
//! and dev starts a fresh chain every run. `tests/dev.rs` sends them to dev.
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::payments::AuthorizationIn;

mod deployments;
mod facilitator;
mod keys;
mod mints;
mod operations;
mod payments;
mod webhooks;
mod workflows;

/// `mintflow dev`'s signer (anvil account 0): `PAY_TO`, and the admin of its contracts.
const SIGNER: &str = "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266";
/// Anvil account 1, the payer of the examples (dev funds it with 10,000 test USDC).
const PAYER: &str = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";
/// Anvil account 2, the owner of the example deployment (funded too).
const OWNER: &str = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC";
/// MockUSDC, dev's first contract.
const USDC: &str = "0x5fbdb2315678afecb367f032d93f642f64180aa3";
/// The MintToken, dev's second contract and its default token.
const TOKEN: &str = "0xe7f1725e7734ce288f8367e1bb143e90bb3f0512";
/// 2100-01-01: the signed examples stay valid however late they are tried.
const VALID_BEFORE: &str = "4102444800";

/// A mint's id (UUIDv7, as every workflow id).
const MINT_ID: &str = "01938f4e-5a3c-7d2e-9b41-6f0a2c8e1d57";
const MINT_ID_2: &str = "01938f4e-5a3c-7d2e-9b41-6f0a2c8e1d58";
const BATCH_ID: &str = "01938f4e-5d90-7a11-8c07-3b5e9f2d4a10";
const PAYMENT_ID: &str = "01938f4e-4f12-7c6b-a3d8-1e7f5b9c2a64";
const DEPLOYMENT_ID: &str = "01938f4f-0b27-7e45-8f19-5c3a7d1e6b92";
const WEBHOOK_ID: &str = "01938f50-2c41-7f08-b6e3-9a4d1c7e5f23";
const KEY_ID: &str = "01938f51-7e02-7b3c-a5d6-4f8e2b1c9d70";
/// A `batchMint` transaction.
const BATCH_TX: &str = "0x8f3c2a9d1e7b4f6a0c5d2e8b9a1f3c7d6e4b2a0f9c8d7e6b5a4f3e2d1c0b9a87";
/// A settlement (`transferWithAuthorization`) transaction.
const SETTLEMENT_TX: &str = "0x2b7e151628aed2a6abf7158809cf4f3c762e7160f38b4da56a784d9045190cfe";
/// A deployment transaction.
const DEPLOY_TX: &str = "0x4e1d7c9a2f6b3e8d0c5a7f1b9e2d4c6a8f0b3e5d7c9a1f2e4b6d8c0a2e4f6b8d";
/// The token the example deployment created.
const DEPLOYED_TOKEN: &str = "0x9fe46736679d2d9a65f0992f2272de9f3c7fa6e0";
/// The token `mintflow dev` deploys last and leaves out of the registry, for `POST /v1/tokens`.
const UNREGISTERED_TOKEN: &str = "0xb7f8bc63bbcad18155201308c8f3540b07f84f5e";

fn id(text: &str) -> Uuid {
    Uuid::parse_str(text).expect("a valid example UUID")
}

fn at(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339)
        .expect("a valid example time")
        .with_timezone(&Utc)
}

fn authorization(from: &str, value: &str, nonce: &str) -> AuthorizationIn {
    AuthorizationIn {
        from: from.into(),
        to: SIGNER.into(),
        value: value.into(),
        valid_after: "0".into(),
        valid_before: VALID_BEFORE.into(),
        nonce: nonce.into(),
    }
}
