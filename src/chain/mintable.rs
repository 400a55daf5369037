//! Checking a token contract mintflow did not deploy before mints may target it: that it is a
//! contract, that it has what batches call (`batchMint(address[],bytes32[])`,
//! `hasMinted(bytes32)`) and what the batcher reads (`totalSupply()`), that mintflow's signer
//! may mint, and which of the values the registry records it tells of itself.
use alloy::primitives::{Address, B256, Bytes, U256};
use alloy::providers::Provider;
use alloy::sol_types::SolCall;

use super::contracts::MintToken;
use super::error::rpc;
use super::{Call, Chain, ChainError, revert};

/// Why mints cannot go through a contract. Each is the caller's to fix; nothing was recorded.
#[derive(Debug, thiserror::Error)]
pub enum Unmintable {
    #[error("{0} has no code on this chain: it is not a contract")]
    NotAContract(Address),
    #[error("{address} has no `{function}` (or it does not answer as one): batches need it")]
    LacksFunction {
        address: Address,
        function: &'static str,
    },
    #[error("mintflow's signer {signer} may not mint {address}: {reason}")]
    SignerMayNotMint {
        address: Address,
        signer: Address,
        reason: String,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error(transparent)]
    Unmintable(#[from] Unmintable),
    /// The node failed: nothing is known either way.
    #[error(transparent)]
    Chain(#[from] ChainError),
}

/// What a mintable contract tells of itself; `None` for a getter it does not have.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Described {
    pub name: Option<String>,
    pub symbol: Option<String>,
    pub amount_per_mint: Option<U256>,
    pub max_supply: Option<U256>,
}

/// A view call the contract may not have: `None` when it reverts or its answer does not decode;
/// an error only when the node fails.
async fn optional<T>(
    address: Address,
    function: &str,
    call: impl std::future::IntoFuture<Output = Result<T, alloy::contract::Error>>,
) -> Result<Option<T>, ChainError> {
    match call.await {
        Ok(value) => Ok(Some(value)),
        Err(alloy::contract::Error::TransportError(e)) if revert::reason(&e).is_none() => Err(
            ChainError::Rpc(rpc(format_args!("{function} of {address}"), &e)),
        ),
        Err(_) => Ok(None),
    }
}

/// A view call the contract must have.
async fn required<T>(
    address: Address,
    function: &'static str,
    call: impl std::future::IntoFuture<Output = Result<T, alloy::contract::Error>>,
) -> Result<T, CheckError> {
    optional(address, function, call)
        .await?
        .ok_or_else(|| Unmintable::LacksFunction { address, function }.into())
}

/// Whether `code` pushes `selector` (`PUSH4 <selector>`), as solc's dispatcher does for each
/// function it has. A heuristic (a proxy's code holds none of its implementation's selectors),
/// used only to say why a simulated call reverted.
fn pushes_selector(code: &[u8], selector: [u8; 4]) -> bool {
    const PUSH4: u8 = 0x63;
    code.windows(5)
        .any(|w| w[0] == PUSH4 && w[1..] == selector[..])
}

impl Chain {
    /// Checks that mints can go through the contract at `address`, and reads what it tells of
    /// itself. Read-only: nothing is signed or sent.
    pub async fn check_mintable(&self, address: Address) -> Result<Described, CheckError> {
        let code = self
            .provider()
            .get_code_at(address)
            .await
            .map_err(|e| ChainError::Rpc(rpc(format_args!("code of {address}"), &e)))?;
        if code.is_empty() {
            return Err(Unmintable::NotAContract(address).into());
        }
        let token = MintToken::new(address, self.provider());
        let has_minted = token.hasMinted(B256::ZERO);
        required(
            address,
            MintToken::hasMintedCall::SIGNATURE,
            has_minted.call(),
        )
        .await?;
        let total_supply = token.totalSupply();
        required(
            address,
            MintToken::totalSupplyCall::SIGNATURE,
            total_supply.call(),
        )
        .await?;
        self.check_signer_mints(address, &code).await?;
        let (name, symbol) = (token.name(), token.symbol());
        let (amount_per_mint, max_supply) = (token.amountPerMint(), token.maxSupply());
        let (name, symbol, amount_per_mint, max_supply) = tokio::try_join!(
            optional(address, "name()", name.call()),
            optional(address, "symbol()", symbol.call()),
            optional(address, "amountPerMint()", amount_per_mint.call()),
            optional(address, "maxSupply()", max_supply.call()),
        )?;
        Ok(Described {
            name,
            symbol,
            amount_per_mint,
            max_supply,
        })
    }

    /// The signer holds `MINTER_ROLE` where the contract has AccessControl's, and an empty
    /// `batchMint` from it simulates without reverting (a minter check that does not come
    /// first in `batchMint` may let an empty batch through: the role, where there is one, is
    /// the surer answer).
    async fn check_signer_mints(&self, address: Address, code: &Bytes) -> Result<(), CheckError> {
        let signer = self.signer();
        let may_not = |reason: String| Unmintable::SignerMayNotMint {
            address,
            signer,
            reason,
        };
        let token = MintToken::new(address, self.provider());
        let role = token.MINTER_ROLE();
        if let Some(role) = optional(address, "MINTER_ROLE()", role.call()).await? {
            let held = token.hasRole(role, signer);
            if optional(address, "hasRole(bytes32,address)", held.call()).await? == Some(false) {
                return Err(may_not("it does not hold MINTER_ROLE".into()).into());
            }
        }
        let empty = MintToken::batchMintCall {
            to: Vec::new(),
            ids: Vec::new(),
        };
        let call = Call {
            to: Some(address),
            input: empty.abi_encode().into(),
            value: U256::ZERO,
            gas_limit: None,
        };
        match self.simulate(&call).await {
            Ok(()) => Ok(()),
            // A contract without `batchMint` reverts as well, most often without a reason:
            // whether its code has the selector tells a refusal from a missing function.
            Err(ChainError::Reverted(reason)) => Err(if pushes_selector(
                code,
                MintToken::batchMintCall::SELECTOR,
            ) {
                may_not(reason)
            } else {
                Unmintable::LacksFunction {
                    address,
                    function: MintToken::batchMintCall::SIGNATURE,
                }
            }
            .into()),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_selector_counts_only_where_it_is_pushed() {
        let selector = MintToken::batchMintCall::SELECTOR;
        let mut code = vec![0x60, 0x80, 0x63];
        code.extend_from_slice(&selector);
        code.push(0x14);
        assert!(pushes_selector(&code, selector));
        // The same bytes as data of another opcode (PUSH3) are not the dispatcher's.
        code[2] = 0x62;
        assert!(!pushes_selector(&code, selector));
        assert!(!pushes_selector(&[], selector));
    }
}
