//! Reading a deployed `MintToken`: what the token registry records about it, and how much
//! supply a token has left.
use alloy::primitives::{Address, U256};

use super::contracts::MintToken;
use super::{Chain, ChainError};

/// A token's supply: its total as the chain reports it (latest block), its cap and mint size
/// as the token registry records them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Supply {
    pub max_supply: U256,
    pub total_supply: U256,
    pub amount_per_mint: U256,
}

impl Supply {
    /// Whole mints that still fit under the cap (a token minting nothing per id never fills).
    pub fn room(&self) -> u64 {
        if self.amount_per_mint.is_zero() {
            return u64::MAX;
        }
        let left = self.max_supply.saturating_sub(self.total_supply);
        u64::try_from(left / self.amount_per_mint).unwrap_or(u64::MAX)
    }
}

/// Whether a decoded revert reason is the token's `MaxSupplyExceeded()`: the one revert that
/// depends on what else is minted, not on the mint itself.
pub fn is_max_supply_exceeded(reason: &str) -> bool {
    let cap = MintToken::MintTokenErrors::MaxSupplyExceeded(MintToken::MaxSupplyExceeded {});
    reason == format!("{cap:?}")
}

/// A `MintToken`'s immutable facts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenInfo {
    pub name: String,
    pub symbol: String,
    pub amount_per_mint: U256,
    pub max_supply: U256,
}

/// One view call of the token at `address`, its failure named after the value it reads.
async fn read<T>(
    address: Address,
    what: &str,
    call: impl std::future::IntoFuture<Output = Result<T, alloy::contract::Error>>,
) -> Result<T, ChainError> {
    call.await.map_err(|e| {
        ChainError::Rpc(super::error::contract(
            format_args!("reading {what} of token {address}"),
            &e,
        ))
    })
}

impl Chain {
    /// Reads the token at `address`; an address without a `MintToken` is an error.
    pub async fn token_info(&self, address: Address) -> Result<TokenInfo, ChainError> {
        let token = MintToken::new(address, self.provider());
        let (name, symbol) = (token.name(), token.symbol());
        let (amount_per_mint, max_supply) = (token.amountPerMint(), token.maxSupply());
        let (name, symbol, amount_per_mint, max_supply) = tokio::try_join!(
            read(address, "name", name.call()),
            read(address, "symbol", symbol.call()),
            read(address, "amountPerMint", amount_per_mint.call()),
            read(address, "maxSupply", max_supply.call()),
        )?;
        Ok(TokenInfo {
            name,
            symbol,
            amount_per_mint,
            max_supply,
        })
    }

    /// The total supply of the token at `address` (latest block). Its cap and mint size are
    /// the registry's: a token registered with `tokens add` may have no getter for them.
    pub async fn total_supply(&self, address: Address) -> Result<U256, ChainError> {
        let token = MintToken::new(address, self.provider());
        read(address, "totalSupply", token.totalSupply().call()).await
    }
}

#[cfg(test)]
mod tests {
    use alloy::sol_types::SolError;

    use super::*;

    fn supply(max: u64, total: u64, per_mint: u64) -> Supply {
        Supply {
            max_supply: U256::from(max),
            total_supply: U256::from(total),
            amount_per_mint: U256::from(per_mint),
        }
    }

    #[test]
    fn room_counts_whole_mints_left() {
        assert_eq!(supply(1500, 0, 10).room(), 150);
        assert_eq!(supply(1500, 1490, 10).room(), 1);
        // A remainder smaller than one mint is no room.
        assert_eq!(supply(1505, 1500, 10).room(), 0);
        assert_eq!(supply(1500, 1500, 10).room(), 0);
        // A supply above the cap (not possible with MintToken) is no room, not an underflow.
        assert_eq!(supply(1500, 2000, 10).room(), 0);
        assert_eq!(supply(1500, 0, 0).room(), u64::MAX);
        let huge = Supply {
            max_supply: U256::MAX,
            total_supply: U256::ZERO,
            amount_per_mint: U256::from(1),
        };
        assert_eq!(huge.room(), u64::MAX);
    }

    #[test]
    fn the_cap_revert_is_recognised_by_its_decoded_reason() {
        let data = MintToken::MaxSupplyExceeded {}.abi_encode();
        let reason = super::super::revert::decode(&data).unwrap();
        assert!(is_max_supply_exceeded(&reason), "{reason}");
        let other = MintToken::LengthMismatch {}.abi_encode();
        let other = super::super::revert::decode(&other).unwrap();
        assert!(!is_max_supply_exceeded(&other), "{other}");
        assert!(!is_max_supply_exceeded("execution reverted"));
    }
}
