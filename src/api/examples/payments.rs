//! Examples of payment requests and views.
use super::{MINT_ID, PAYER, PAYMENT_ID, SETTLEMENT_TX, SIGNER, USDC, at, authorization, id};
use crate::api::mint_views::PaymentTypeDto;
use crate::api::payments::{PaymentBody, PaymentStatus, PaymentTypeIn, PaymentView};
use poem_openapi::types::Example;

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
