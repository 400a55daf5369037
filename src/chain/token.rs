//! Reading a deployed `MintToken`: what the token registry records about it.
use alloy::primitives::{Address, U256};

use super::contracts::MintToken;
use super::{Chain, ChainError};

/// A `MintToken`'s immutable facts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenInfo {
    pub name: String,
    pub symbol: String,
    pub amount_per_mint: U256,
    pub max_supply: U256,
}

impl Chain {
    /// Reads the token at `address`; an address without a `MintToken` is an error.
    pub async fn token_info(&self, address: Address) -> Result<TokenInfo, ChainError> {
        let token = MintToken::new(address, self.provider());
        let rpc = |what: &str, e: alloy::contract::Error| {
            ChainError::Rpc(super::error::contract(
                format_args!("reading {what} of token {address}"),
                &e,
            ))
        };
        let (name, symbol, amount_per_mint, max_supply) = tokio::try_join!(
            async { token.name().call().await.map_err(|e| rpc("name", e)) },
            async { token.symbol().call().await.map_err(|e| rpc("symbol", e)) },
            async {
                token
                    .amountPerMint()
                    .call()
                    .await
                    .map_err(|e| rpc("amountPerMint", e))
            },
            async {
                token
                    .maxSupply()
                    .call()
                    .await
                    .map_err(|e| rpc("maxSupply", e))
            },
        )?;
        Ok(TokenInfo {
            name,
            symbol,
            amount_per_mint,
            max_supply,
        })
    }
}
