//! What became of an EIP-3009 authorization: the token's own record (`authorizationState`)
//! and the `AuthorizationUsed` or `AuthorizationCanceled` log of the transaction that spent
//! it. Anyone holding a signed authorization may submit it: a settlement of ours that
//! reverted or could not land may have lost the race to someone else's transaction, which
//! moved the payer's funds to us all the same.
use alloy::primitives::{Address, B256};
use alloy::providers::Provider;
use alloy::rpc::types::{Filter, Log};
use alloy::sol_types::SolEvent;

use super::contracts::MockUSDC;
use super::transfer::Transfer;
use super::{Chain, ChainError};

/// Blocks asked of the node per `eth_getLogs`: hosted nodes cap the range of one query.
const LOG_RANGE: u64 = 2_000;

/// How an authorization was spent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Spent {
    /// `transferWithAuthorization` (or `receiveWithAuthorization`) ran, moving `transfer`: the
    /// asset's `Transfer` log that follows `AuthorizationUsed` in the same transaction, as
    /// FiatToken emits them.
    Used { transfer: Option<Transfer> },
    /// The payer cancelled it (`cancelAuthorization`): nothing moved.
    Canceled,
}

/// The transaction that spent an authorization.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spending {
    pub how: Spent,
    pub tx: B256,
    pub block: u64,
    /// Blocks on top of it now.
    pub depth: u64,
}

/// What the token and its logs say about an authorization.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthorizationFate {
    /// The token says it is neither used nor cancelled, the latest block (read after the
    /// token's state) being stamped `head_time` (seconds): EIP-3009 refuses an authorization
    /// in a block stamped at or after its `validBefore`, so one with `validBefore <=
    /// head_time` can never be used.
    Unused {
        head_time: u64,
    },
    Spent(Spending),
    /// The token says it is spent, but no log of it is in blocks `from..=to` (the node's log
    /// index may lag its state, or it was spent before `from`).
    NotFound {
        from: u64,
        to: u64,
    },
}

impl Chain {
    /// What became of `authorizer`'s authorization `nonce` on `asset`, looking for its log in
    /// blocks `search_from(head)` to the head, `LOG_RANGE` blocks per query, by its indexed
    /// authorizer and nonce. The head is read after the token's state, so a spending the state
    /// shows is in the range.
    pub async fn authorization_fate(
        &self,
        asset: Address,
        authorizer: Address,
        nonce: B256,
        search_from: impl FnOnce(u64) -> u64,
    ) -> Result<AuthorizationFate, ChainError> {
        let spent = MockUSDC::new(asset, self.provider())
            .authorizationState(authorizer, nonce)
            .call()
            .await
            .map_err(|e| {
                ChainError::Rpc(super::error::contract(
                    format_args!("authorizationState of {authorizer} on {asset}"),
                    &e,
                ))
            })?;
        let rpc = |e| super::rpc(format_args!("the authorization logs of {authorizer}"), e);
        if !spent {
            let latest = self
                .provider()
                .get_block_by_number(alloy::eips::BlockNumberOrTag::Latest)
                .await
                .map_err(rpc)?
                .ok_or_else(|| ChainError::Failed("the node has no latest block".into()))?;
            return Ok(AuthorizationFate::Unused {
                head_time: latest.header.timestamp,
            });
        }
        let head = self.provider().get_block_number().await.map_err(rpc)?;
        let from = search_from(head).min(head);
        let filter = Filter::new()
            .address(asset)
            .event_signature(vec![
                MockUSDC::AuthorizationUsed::SIGNATURE_HASH,
                MockUSDC::AuthorizationCanceled::SIGNATURE_HASH,
            ])
            .topic1(authorizer.into_word())
            .topic2(nonce);
        let mut start = from;
        while start <= head {
            let end = head.min(start + LOG_RANGE - 1);
            let logs = self
                .provider()
                .get_logs(&filter.clone().from_block(start).to_block(end))
                .await
                .map_err(rpc)?;
            if let Some(log) = logs.into_iter().find(|l| !l.removed) {
                return self.spending(&log, asset, head).await;
            }
            start = end + 1;
        }
        Ok(AuthorizationFate::NotFound { from, to: head })
    }

    /// The spending `log` names, with what its transaction moved.
    async fn spending(
        &self,
        log: &Log,
        asset: Address,
        head: u64,
    ) -> Result<AuthorizationFate, ChainError> {
        let (Some(tx), Some(block)) = (log.transaction_hash, log.block_number) else {
            return Err(ChainError::Failed(
                "the node returned an authorization log without its transaction".into(),
            ));
        };
        let depth = head.saturating_sub(block);
        let how = if log.topic0() == Some(&MockUSDC::AuthorizationCanceled::SIGNATURE_HASH) {
            Spent::Canceled
        } else {
            let receipt = self
                .provider()
                .get_transaction_receipt(tx)
                .await
                .map_err(|e| super::rpc(format_args!("receipt of {tx:#x}"), e))?
                .ok_or_else(|| ChainError::Failed(format!("no receipt for {tx:#x} yet")))?;
            Spent::Used {
                transfer: transfer_after(receipt.inner.logs(), asset, log),
            }
        };
        Ok(AuthorizationFate::Spent(Spending {
            how,
            tx,
            block,
            depth,
        }))
    }
}

/// The asset's `Transfer` right after the `used` log in its transaction's `logs`: what that
/// use of the authorization moved.
fn transfer_after(logs: &[Log], asset: Address, used: &Log) -> Option<Transfer> {
    let at = logs
        .iter()
        .position(|l| l.log_index == used.log_index && l.address() == asset)?;
    let next = logs.get(at + 1).filter(|l| l.address() == asset)?;
    let t = next.log_decode::<MockUSDC::Transfer>().ok()?.inner.data;
    Some(Transfer {
        from: t.from,
        to: t.to,
        value: t.value,
    })
}

#[cfg(test)]
mod tests {
    use alloy::primitives::{LogData, U256};
    use alloy::sol_types::SolEvent;

    use super::*;

    const USDC: Address = Address::repeat_byte(0xAA);
    const PAYER: Address = Address::repeat_byte(1);
    const US: Address = Address::repeat_byte(2);

    fn log(address: Address, data: LogData, index: u64) -> Log {
        Log {
            inner: alloy::primitives::Log { address, data },
            log_index: Some(index),
            ..Default::default()
        }
    }

    fn used(index: u64) -> Log {
        let e = MockUSDC::AuthorizationUsed {
            authorizer: PAYER,
            nonce: B256::repeat_byte(7),
        };
        log(USDC, e.encode_log_data(), index)
    }

    fn transfer(address: Address, index: u64) -> Log {
        let e = MockUSDC::Transfer {
            from: PAYER,
            to: US,
            value: U256::from(5),
        };
        log(address, e.encode_log_data(), index)
    }

    #[test]
    fn the_transfer_is_the_log_right_after_the_use() {
        let logs = [transfer(USDC, 3), used(4), transfer(USDC, 5)];
        let moved = transfer_after(&logs, USDC, &used(4));
        assert_eq!(
            moved,
            Some(Transfer {
                from: PAYER,
                to: US,
                value: U256::from(5)
            })
        );
    }

    #[test]
    fn a_use_followed_by_nothing_of_the_asset_moved_nothing() {
        let other = Address::repeat_byte(0xBB);
        assert_eq!(
            transfer_after(&[used(4), transfer(other, 5)], USDC, &used(4)),
            None
        );
        assert_eq!(transfer_after(&[used(4)], USDC, &used(4)), None);
        // A transfer before the use is not what the use moved.
        assert_eq!(
            transfer_after(&[transfer(USDC, 3), used(4)], USDC, &used(4)),
            None
        );
    }
}
