//! Examples of token deployments and of the token registry.
use super::{
    DEPLOY_TX, DEPLOYED_TOKEN, DEPLOYMENT_ID, OWNER, PAYMENT_ID, UNREGISTERED_TOKEN, at,
    authorization, id,
};
use crate::api::deployments::{
    DeploymentBody, DeploymentStatus, DeploymentView, GaslessPayment, TokenSpec,
};
use crate::api::tokens::{TokenRegistration, TokenView};
use poem_openapi::types::Example;

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
