//! Examples of mint requests and views (the v1 routes, x402 and the old `POST /mint`).
use super::{
    BATCH_ID, BATCH_TX, MINT_ID, MINT_ID_2, PAYER, PAYMENT_ID, SETTLEMENT_TX, TOKEN, at, id,
};
use crate::api::legacy::{LegacyMintAnswer, LegacyMintBody};
use crate::api::mint_views::{
    BatchState, BatchView, MintFailureCode, MintStatus, MintView, PaymentTypeDto,
};
use crate::api::mints::{MintAccepted, MintBody, PriorityBody};
use crate::api::x402::{X402MintBody, X402Paid};
use crate::engine::outbox::event::WorkflowStatus;
use poem_openapi::types::Example;
use serde_json::json;

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
