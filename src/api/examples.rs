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
use poem_openapi::types::{Example, MaybeUndefined};
use serde_json::json;
use uuid::Uuid;

use super::activity::{Activity, ActivityMinute, BalanceSample, SignerBalanceTrend};
use super::audit::AuditEntry;
use super::dead_letters::{BulkRetry, BulkRetryOutcome, Skipped};
use super::deployments::{
    DeploymentBody, DeploymentStatus, DeploymentView, GaslessPayment, TokenSpec,
};
use super::health::{Liveness, Readiness, ReadinessCheck};
use super::keys::{ApiKeyView, CreatedKey, NewKeyBody, ScopeDto, WhoAmI};
use super::legacy::{LegacyMintAnswer, LegacyMintBody};
use super::mint_views::{
    BatchState, BatchView, MintFailureCode, MintStatus, MintView, PaymentTypeDto,
};
use super::mints::{MintAccepted, MintBody, PriorityBody};
use super::payments::{AuthorizationIn, PaymentBody, PaymentStatus, PaymentTypeIn, PaymentView};
use super::settings::{Setting, SettingUpdate};
use super::tokens::{TokenRegistration, TokenView};
use super::webhooks::{
    Delivery, DeliveryStatus, NewWebhook, Redeliver, Redelivered, Webhook, WebhookChanges,
};
use super::workflows::Workflow;
use super::x402::{X402MintBody, X402Paid};
use crate::engine::outbox::event::{TransitionEvent, WorkflowStatus};

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

impl Example for MintBody {
    fn example() -> Self {
        MintBody {
            payer: PAYER.into(),
            recipient: None,
            token: None,
            quantity: Some(1.into()),
            payment_type: Some(PaymentTypeDto::None).into(),
            priority: None,
            tx_hash: None,
        }
    }
}

impl Example for MintAccepted {
    fn example() -> Self {
        MintAccepted {
            id: id(MINT_ID),
            ids: vec![id(MINT_ID)],
            status: MintStatus::Pending,
            queue_position: 1,
            estimated_wait_seconds: 3,
            payer: PAYER.to_lowercase(),
            recipient: PAYER.to_lowercase(),
            token: TOKEN.into(),
            quantity: 1,
            payment_type: PaymentTypeDto::None,
            priority: 0,
            idempotency_key: "0193a1c0-2f4e-7c8a-9d1b-5e6f7a8b9c0d".into(),
            existing: false,
        }
    }
}

// A failed mint: its `failure` holds a code. (A `null` failure is `nullable` beside an `allOf`
// of the code's enum, which strict OpenAPI 3.0 validators read as not allowing `null`, so an
// example with one would fail Redocly's example check.)
impl Example for MintView {
    fn example() -> Self {
        MintView {
            id: id(MINT_ID_2),
            status: MintStatus::Failed,
            payer: PAYER.to_lowercase(),
            recipient: PAYER.to_lowercase(),
            token: TOKEN.into(),
            onchain_id: "0x5d1b0e5ec2f3a9c7e4b8d6f0a2c4e6b8d0f2a4c6e8b0d2f4a6c8e0b2d4f6a8c0".into(),
            payment_type: PaymentTypeDto::None,
            priority: 0,
            idempotency_key: Some("0193a1c0-2f4e-7c8a-9d1b-5e6f7a8b9c0d#1".into()),
            queue_position: None,
            batch_id: None,
            tx_hash: None,
            block_number: None,
            error: Some(format!(
                "MaxSupplyExceeded(): token {TOKEN} has no room for another mint (totalSupply \
                 1000000000000000000000000, maxSupply 1000000000000000000000000, amountPerMint \
                 1000000000000000000)"
            )),
            failure: Some(MintFailureCode::MaxSupplyExceeded).into(),
            requeued: 0,
            parent_id: None,
            created_at: at("2026-12-01T16:20:00.125Z"),
            updated_at: at("2026-12-01T16:20:01.020Z"),
            finished_at: Some(at("2026-12-01T16:20:01.020Z")),
        }
    }
}

impl Example for PriorityBody {
    fn example() -> Self {
        PriorityBody {
            priority: 50.into(),
        }
    }
}

impl Example for PaymentBody {
    fn example() -> Self {
        PaymentBody {
            payment_type: PaymentTypeIn::Gasless,
            authorization: Some(authorization(
                PAYER,
                "1000000",
                "0x6d696e74666c6f77206578616d706c653a2061207061796d656e740000000000",
            ))
            .into(),
            signature: Some(
                "0x16b928e1e7e185377dd99ac6cd3aa48f27b1e5e3f4e8337c88d51a95384ccfd34c0a328589b0697029da37a28ebac9d518017fdad6678b31bc576116f5419cf51b"
                    .into(),
            ),
            tx_hash: None,
            recipient: None,
            recipient_signature: None,
            token: None,
            quantity: Some(1.into()),
        }
    }
}

impl Example for PaymentView {
    fn example() -> Self {
        PaymentView {
            id: id(PAYMENT_ID),
            status: PaymentStatus::Confirmed,
            payment_type: PaymentTypeDto::Gasless,
            payer: Some(PAYER.to_lowercase()),
            pay_to: Some(SIGNER.into()),
            asset: Some(USDC.into()),
            amount: Some("1000000".into()),
            tx_hash: Some(SETTLEMENT_TX.into()),
            block_number: Some(40),
            error: None,
            mint_ids: vec![id(MINT_ID)],
            deployment_id: None,
            existing: false,
            created_at: at("2026-12-01T16:19:58.010Z"),
            finished_at: Some(at("2026-12-01T16:20:00.120Z")),
        }
    }
}

impl Example for TokenSpec {
    fn example() -> Self {
        TokenSpec {
            name: "Gold".into(),
            symbol: "GLD".into(),
            amount_per_mint: "1000000000000000000".into(),
            max_supply: "1000000000000000000000000".into(),
            owner: OWNER.into(),
        }
    }
}

impl Example for DeploymentBody {
    fn example() -> Self {
        DeploymentBody {
            token: TokenSpec::example(),
            payment: GaslessPayment {
                authorization: authorization(
                    OWNER,
                    "10000000",
                    "0x6d696e74666c6f77206578616d706c653a2061206465706c6f796d656e740000",
                ),
                signature: "0xe9b9fb04e493ca4f330842d5e62235a80b1921665347eac7085db8f06dfaecd112ef3e1e34f6d4b26d364b599799561bc37db82ec87090beb8d4a9871ba878a11b"
                    .into(),
            },
        }
    }
}

impl Example for DeploymentView {
    fn example() -> Self {
        DeploymentView {
            id: id(DEPLOYMENT_ID),
            status: DeploymentStatus::Confirmed,
            payment_id: Some(id(PAYMENT_ID)),
            name: Some("Gold".into()),
            symbol: Some("GLD".into()),
            owner: Some(OWNER.to_lowercase()),
            address: Some(DEPLOYED_TOKEN.into()),
            tx_hash: Some(DEPLOY_TX.into()),
            block_number: Some(45),
            error: None,
            existing: false,
            created_at: at("2026-12-01T16:21:10.500Z"),
            finished_at: Some(at("2026-12-01T16:21:16.020Z")),
        }
    }
}

impl Example for TokenView {
    fn example() -> Self {
        TokenView {
            chain_id: 31337,
            address: DEPLOYED_TOKEN.into(),
            name: "Gold".into(),
            symbol: "GLD".into(),
            amount_per_mint: "1000000000000000000".into(),
            max_supply: "1000000000000000000000000".into(),
            deployer: Some(OWNER.to_lowercase()),
            deploy_tx_hash: Some(DEPLOY_TX.into()),
            deploy_block: Some(45),
            created_at: at("2026-12-01T16:21:16.020Z"),
        }
    }
}

impl Example for TokenRegistration {
    fn example() -> Self {
        TokenRegistration {
            address: UNREGISTERED_TOKEN.into(),
            amount_per_mint: Some("1000000000000000000".into()),
            max_supply: Some("1000000000000000000000000000".into()),
        }
    }
}

impl Example for Workflow {
    fn example() -> Self {
        Workflow {
            id: id(MINT_ID),
            kind: "mint".into(),
            status: WorkflowStatus::Completed,
            state: "confirmed".into(),
            data: json!({
                "payer": PAYER.to_lowercase(),
                "recipient": PAYER.to_lowercase(),
                "token": TOKEN,
                "batch_id": BATCH_ID,
                "tx_hash": BATCH_TX,
                "block": 42,
            }),
            schema_version: 1,
            priority: 0,
            attempt: 0,
            version: 4,
            run_at: None,
            lease_owner: None,
            lease_until: None,
            idempotency_key: Some("0193a1c0-2f4e-7c8a-9d1b-5e6f7a8b9c0d".into()),
            parent_id: None,
            payer: Some(PAYER.to_lowercase()),
            token: Some(TOKEN.into()),
            tx_hash: Some(BATCH_TX.into()),
            last_error: None,
            created_at: at("2026-12-01T16:20:00.125Z"),
            updated_at: at("2026-12-01T16:20:03.480Z"),
            finished_at: Some(at("2026-12-01T16:20:03.480Z")),
        }
    }
}

impl Example for TransitionEvent {
    fn example() -> Self {
        TransitionEvent {
            position: 1042,
            event_id: 5310,
            workflow_id: id(MINT_ID),
            kind: "mint".into(),
            event: "completed".into(),
            from_state: Some("sent".into()).into(),
            to_state: "confirmed".into(),
            status: WorkflowStatus::Completed,
            attempt: 0,
            worker: Some("host-4242-7f3a".into()),
            detail: Some(json!({ "tx_hash": BATCH_TX, "block": 42 })),
            at: at("2026-12-01T16:20:03.480Z"),
        }
    }
}

impl Example for BulkRetry {
    fn example() -> Self {
        BulkRetry {
            ids: vec![id(MINT_ID), id(MINT_ID_2)],
            reason: Some("the node is back".into()),
        }
    }
}

impl Example for BulkRetryOutcome {
    fn example() -> Self {
        BulkRetryOutcome {
            retried: vec![id(MINT_ID)],
            skipped: vec![Skipped {
                id: id(MINT_ID_2),
                reason: "wrong_status: completed".into(),
            }],
        }
    }
}

impl Example for NewWebhook {
    fn example() -> Self {
        NewWebhook {
            url: "http://127.0.0.1:8787/hooks/mintflow".into(),
            secret: Some("whsec-7f3a9c2e4b6d8f01a3c5e7".into()),
            kinds: Some(vec!["mint".into(), "payment".into()]),
            states: Some(vec!["confirmed".into(), "failed".into()]),
            description: Some("shop backend: mints and payments that ended".into()),
        }
    }
}

impl Example for WebhookChanges {
    fn example() -> Self {
        WebhookChanges {
            url: Some("http://127.0.0.1:8788/hooks/mintflow".into()),
            kinds: MaybeUndefined::Null,
            states: MaybeUndefined::Value(vec!["confirmed".into()]),
            description: MaybeUndefined::Value("shop backend, new receiver".into()),
            secret: None,
            rotate_secret: Some(true),
            keep_previous_secret_secs: Some(86_400),
        }
    }
}

impl Example for Webhook {
    fn example() -> Self {
        Webhook {
            id: id(WEBHOOK_ID),
            url: "http://127.0.0.1:8787/hooks/mintflow".into(),
            kinds: Some(vec!["mint".into(), "payment".into()]),
            states: Some(vec!["confirmed".into(), "failed".into()]),
            description: Some("shop backend: mints and payments that ended".into()),
            position: 1000,
            created_at: at("2026-12-01T16:15:00Z"),
            created_by: "admin".into(),
            secret: Some("whsec-7f3a9c2e4b6d8f01a3c5e7".into()),
            previous_secret_until: None,
        }
    }
}

impl Example for Delivery {
    fn example() -> Self {
        Delivery {
            id: 311,
            position: 1042,
            event_id: 5310,
            workflow_id: id(MINT_ID),
            status: DeliveryStatus::Delivered,
            attempts: 2,
            next_attempt_at: None,
            last_status_code: Some(200),
            last_error: None,
            created_at: at("2026-12-01T16:20:03.600Z"),
            last_attempt_at: Some(at("2026-12-01T16:20:04.710Z")),
            delivered_at: Some(at("2026-12-01T16:20:04.710Z")),
        }
    }
}

impl Example for Redeliver {
    fn example() -> Self {
        Redeliver {
            delivery_ids: Some(vec![311, 312]),
            reason: Some("the receiver is back".into()),
        }
    }
}

impl Example for Redelivered {
    fn example() -> Self {
        Redelivered { requeued: 2 }
    }
}

impl Example for NewKeyBody {
    fn example() -> Self {
        NewKeyBody {
            name: "shop-backend".into(),
            scopes: vec![ScopeDto::Read, ScopeDto::Mint],
            expires_in_seconds: Some(7_776_000),
            mint_quota_per_minute: Some(600),
            max_priority: Some(10),
        }
    }
}

impl Example for ApiKeyView {
    fn example() -> Self {
        ApiKeyView {
            id: KEY_ID.into(),
            name: "shop-backend".into(),
            prefix: "mf_3kZ9".into(),
            scopes: vec![ScopeDto::Read, ScopeDto::Mint],
            mint_quota_per_minute: Some(600),
            max_priority: 10,
            expires_at: Some(at("2027-03-01T16:15:00Z")),
            created_at: at("2026-12-01T16:15:00Z"),
            created_by: "admin".into(),
            last_used_at: Some(at("2026-12-01T16:20:00Z")),
            revoked_at: None,
        }
    }
}

impl Example for CreatedKey {
    fn example() -> Self {
        CreatedKey {
            key: "mf_3kZ9pQ7rT2vX8wY4bN6mL1cD5fG0hJ".into(),
            stored: ApiKeyView {
                last_used_at: None,
                ..ApiKeyView::example()
            },
        }
    }
}

impl Example for WhoAmI {
    fn example() -> Self {
        WhoAmI {
            name: "dev".into(),
            key_id: Some(KEY_ID.into()),
            scopes: vec![ScopeDto::Read, ScopeDto::Mint],
            mint_quota_per_minute: None,
            max_priority: 0,
        }
    }
}

impl Example for SettingUpdate {
    fn example() -> Self {
        SettingUpdate {
            value: json!(200).into(),
        }
    }
}

impl Example for Setting {
    fn example() -> Self {
        Setting {
            key: "max_batch_size".into(),
            value: 200,
            default: 100,
            min: 1,
            max: 2000,
            description: "Most mints in one batchMint transaction.".into(),
            updated_at: Some(at("2026-12-01T16:16:00Z")),
            updated_by: Some("admin".into()),
        }
    }
}

impl Example for X402MintBody {
    fn example() -> Self {
        X402MintBody {
            recipient: Some(PAYER.into()),
            token: Some(TOKEN.into()),
            quantity: Some(1.into()),
        }
    }
}

impl Example for X402Paid {
    fn example() -> Self {
        X402Paid {
            payment_id: id(PAYMENT_ID),
            mint_ids: vec![id(MINT_ID)],
            deployment_id: None,
            status: "confirmed".into(),
            tx_hash: Some(SETTLEMENT_TX.into()),
        }
    }
}

impl Example for LegacyMintBody {
    fn example() -> Self {
        LegacyMintBody {
            payer: PAYER.into(),
            recipient: None,
            token: None,
            quantity: Some(1.into()),
            tx_hash: None,
            tx_hash_camel: None,
            payment_type: None.into(),
        }
    }
}

impl Example for Liveness {
    fn example() -> Self {
        Liveness {
            status: "ok".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        }
    }
}

impl Example for Readiness {
    fn example() -> Self {
        Readiness {
            ready: true,
            checks: ["database", "migrations", "rpc", "signer_funded"]
                .into_iter()
                .map(|name| ReadinessCheck {
                    name: name.into(),
                    ok: true,
                })
                .collect(),
        }
    }
}

impl Example for LegacyMintAnswer {
    fn example() -> Self {
        LegacyMintAnswer {
            success: true,
            message: "queued for minting".into(),
            queue_id: id(MINT_ID),
            queue_position: 1,
            payer: PAYER.to_lowercase(),
            estimated_wait_seconds: 3,
            payment_type: PaymentTypeDto::None,
        }
    }
}

impl Example for BatchView {
    fn example() -> Self {
        BatchView {
            id: id(BATCH_ID),
            state: BatchState::Confirmed,
            status: WorkflowStatus::Completed,
            token: Some(TOKEN.into()),
            size: 2,
            mint_ids: vec![id(MINT_ID), id(MINT_ID_2)],
            dropped: json!([]),
            generation: 0,
            tx_hash: Some(BATCH_TX.into()),
            block_number: Some(42),
            gas_used: Some(168_211),
            error: None,
            created_at: at("2026-12-01T16:20:00.640Z"),
            finished_at: Some(at("2026-12-01T16:20:03.480Z")),
        }
    }
}

impl Example for AuditEntry {
    fn example() -> Self {
        AuditEntry {
            id: 17,
            at: at("2026-12-01T16:16:00Z"),
            actor: "admin".into(),
            action: "settings.update".into(),
            target: "max_batch_size".into(),
            detail: Some(json!({ "from": 100, "to": 200 })),
        }
    }
}

// Shortened to the hour's last three minutes (the answer has 60): a batch of mints requested
// in one minute and confirmed in the next, as `mintflow dev` shows them.
impl Example for Activity {
    fn example() -> Self {
        let minute = |time: &str, requested, confirmed, p50_confirm_ms| ActivityMinute {
            minute: at(time),
            requested,
            confirmed,
            failed: 0,
            p50_confirm_ms,
        };
        let sample = |time: &str, wei: &str| BalanceSample {
            minute: at(time),
            balance_wei: wei.into(),
        };
        Activity {
            from: at("2026-12-01T15:21:00Z"),
            minutes: vec![
                minute("2026-12-01T16:18:00Z", 0, 0, None),
                minute("2026-12-01T16:19:00Z", 12, 9, Some(2140)),
                minute("2026-12-01T16:20:00Z", 3, 6, Some(2870)),
            ],
            signers: vec![SignerBalanceTrend {
                chain_id: 31337,
                address: SIGNER.into(),
                samples: vec![
                    sample("2026-12-01T16:19:00Z", "9999987654321000000000"),
                    sample("2026-12-01T16:20:00Z", "9999987485110000000000"),
                ],
            }],
            generated_at: at("2026-12-01T16:20:41.207Z"),
        }
    }
}
