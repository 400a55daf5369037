//! Registering a token mintflow did not deploy (one with the old server's `batchMint` and
//! `hasMinted`, or a MintToken deployed elsewhere), so that mints can target it: checked on
//! chain, then recorded in the token registry with its audit entry in one transaction.
use alloy::primitives::{Address, U256};
use sea_orm::{DatabaseConnection, DbErr};
use serde_json::json;

use crate::chain::mintable::{CheckError, Unmintable};
use crate::chain::signer::address_key;
use crate::chain::{Chain, ChainError};
use crate::store::{self, entity::token, tokens};

/// The audit action of a registration.
pub const REGISTER: &str = "token.register";

/// A token to register. The values are needed where the contract has no getter for them; where
/// it has one, a value given must agree with it.
#[derive(Clone, Debug)]
pub struct Registration {
    pub address: Address,
    /// Base units one mint gives.
    pub amount_per_mint: Option<U256>,
    /// The cap mintflow keeps the token's total supply under.
    pub max_supply: Option<U256>,
}

/// A supply no token may have: mints that give nothing, or a cap below one mint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("`amountPerMint` must be positive and `maxSupply` at least `amountPerMint`")]
pub struct InvalidSupply;

/// The supply rule of every token mints target, deployed or registered: each mint gives
/// something, and at least one fits under the cap.
pub fn check_supply(amount_per_mint: U256, max_supply: U256) -> Result<(), InvalidSupply> {
    if amount_per_mint.is_zero() || max_supply < amount_per_mint {
        return Err(InvalidSupply);
    }
    Ok(())
}

#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    #[error("token {0} is registered already")]
    AlreadyRegistered(Address),
    #[error(transparent)]
    Unmintable(#[from] Unmintable),
    #[error("the token has no `{field}()` to read: give `{field}`")]
    MissingValue { field: &'static str },
    #[error("`{field}` was given as {given}, but the token's `{field}()` is {onchain}")]
    ConflictingValue {
        field: &'static str,
        given: U256,
        onchain: U256,
    },
    #[error(transparent)]
    InvalidSupply(#[from] InvalidSupply),
    #[error(transparent)]
    Chain(ChainError),
    #[error(transparent)]
    Db(#[from] DbErr),
}

impl From<CheckError> for RegisterError {
    fn from(e: CheckError) -> Self {
        match e {
            CheckError::Unmintable(u) => RegisterError::Unmintable(u),
            CheckError::Chain(c) => RegisterError::Chain(c),
        }
    }
}

/// Registers `r` on `chain`'s registry, audited as `actor`, and returns the record. Refusals
/// change nothing; a token known already (registered or deployed) is refused, not updated.
pub async fn register(
    db: &DatabaseConnection,
    chain: &Chain,
    r: Registration,
    actor: &str,
) -> Result<token::Model, RegisterError> {
    let chain_id = chain.chain_id() as i64;
    let address = address_key(r.address);
    if tokens::find(db, chain_id, &address).await?.is_some() {
        return Err(RegisterError::AlreadyRegistered(r.address));
    }
    let told = chain.check_mintable(r.address).await?;
    let amount_per_mint = agreed("amountPerMint", r.amount_per_mint, told.amount_per_mint)?;
    let max_supply = agreed("maxSupply", r.max_supply, told.max_supply)?;
    check_supply(amount_per_mint, max_supply)?;
    let row = token::Model {
        chain_id,
        address,
        // A token without these getters shows empty ones: the registry's columns are required.
        name: told.name.unwrap_or_default(),
        symbol: told.symbol.unwrap_or_default(),
        amount_per_mint: amount_per_mint.to_string(),
        max_supply: max_supply.to_string(),
        deployer: None,
        deploy_tx_hash: None,
        deploy_block: None,
        created_at_ms: store::now_ms(),
    };
    let txn = store::begin_write(db).await?;
    // Another registration of it may have committed since the check above.
    if !tokens::upsert(&txn, &row).await? {
        return Err(RegisterError::AlreadyRegistered(r.address));
    }
    let detail = json!({
        "chainId": chain_id,
        "amountPerMint": row.amount_per_mint,
        "maxSupply": row.max_supply,
    });
    store::audit::record(&txn, actor, REGISTER, &row.address, Some(detail)).await?;
    txn.commit().await?;
    tracing::info!(token = %row.address, chain_id, by = actor, "token registered");
    Ok(row)
}

/// The value the registry records for `field`: the contract's when it has a getter (a value
/// given must agree), else the one given.
fn agreed(
    field: &'static str,
    given: Option<U256>,
    onchain: Option<U256>,
) -> Result<U256, RegisterError> {
    match (given, onchain) {
        (Some(given), Some(onchain)) if given != onchain => Err(RegisterError::ConflictingValue {
            field,
            given,
            onchain,
        }),
        (_, Some(value)) | (Some(value), None) => Ok(value),
        (None, None) => Err(RegisterError::MissingValue { field }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_contract_s_value_wins_and_a_given_one_must_agree() {
        let (five, six) = (Some(U256::from(5)), Some(U256::from(6)));
        assert_eq!(agreed("f", None, five).unwrap(), U256::from(5));
        assert_eq!(agreed("f", five, five).unwrap(), U256::from(5));
        assert_eq!(agreed("f", six, None).unwrap(), U256::from(6));
        assert!(matches!(
            agreed("f", six, five),
            Err(RegisterError::ConflictingValue { field: "f", .. })
        ));
        assert!(matches!(
            agreed("f", None, None),
            Err(RegisterError::MissingValue { field: "f" })
        ));
    }

    #[test]
    fn a_mint_gives_something_and_fits_under_the_cap() {
        let (zero, five, six) = (U256::ZERO, U256::from(5), U256::from(6));
        assert_eq!(check_supply(five, five), Ok(()));
        assert_eq!(check_supply(five, six), Ok(()));
        assert_eq!(check_supply(zero, six), Err(InvalidSupply));
        assert_eq!(check_supply(six, five), Err(InvalidSupply));
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    /// Mints cannot target it: it is not in the registry.
    #[error("no token {0}")]
    Unknown(String),
    #[error(transparent)]
    Database(#[from] DbErr),
}

/// Every token of chain `chain_id` in the registry, oldest first.
pub async fn list(db: &DatabaseConnection, chain_id: i64) -> Result<Vec<token::Model>, DbErr> {
    tokens::list(db, chain_id).await
}

/// The registry's record of `address` on chain `chain_id`.
pub async fn get(
    db: &DatabaseConnection,
    chain_id: i64,
    address: Address,
) -> Result<token::Model, LookupError> {
    let address = address_key(address);
    tokens::find(db, chain_id, &address)
        .await?
        .ok_or(LookupError::Unknown(address))
}
