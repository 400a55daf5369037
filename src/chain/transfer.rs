//! Checking a token transfer someone else sent: a custom payment is a USDC transfer the payer
//! already made, and its receipt is the proof.
use alloy::primitives::{Address, B256, U256};
use alloy::providers::Provider;

use super::contracts::MockUSDC;
use super::{Chain, ChainError};

/// What a transaction paid `to` in `asset`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TransferCheck {
    /// No receipt: unknown or not mined yet.
    NotMined,
    /// Mined, but fewer than the required blocks on top.
    NotConfirmed {
        depth: u64,
    },
    Reverted,
    /// Paid `value` in total to `to`, from `from` (the first transfer's sender).
    Paid {
        from: Address,
        value: U256,
        block: u64,
    },
    /// Mined and successful, but no transfer of `asset` to `to`.
    NothingPaid,
}

impl Chain {
    /// The ERC-20 `Transfer` logs of `asset` to `to` in the receipt of `tx`, once it is
    /// `confirmations` blocks deep.
    pub async fn check_transfer(
        &self,
        tx: B256,
        asset: Address,
        to: Address,
        confirmations: u64,
    ) -> Result<TransferCheck, ChainError> {
        let rpc = |e| super::rpc(format_args!("transfer {tx:#x}"), e);
        let Some(receipt) = self
            .provider()
            .get_transaction_receipt(tx)
            .await
            .map_err(rpc)?
        else {
            return Ok(TransferCheck::NotMined);
        };
        let Some(block) = receipt.block_number else {
            return Ok(TransferCheck::NotMined);
        };
        let head = self.provider().get_block_number().await.map_err(rpc)?;
        let depth = head.saturating_sub(block);
        if depth < confirmations {
            return Ok(TransferCheck::NotConfirmed { depth });
        }
        if !receipt.status() {
            return Ok(TransferCheck::Reverted);
        }
        let mut paid: Option<(Address, U256)> = None;
        for log in receipt.inner.logs() {
            if log.address() != asset {
                continue;
            }
            let Ok(transfer) = log.log_decode::<MockUSDC::Transfer>() else {
                continue;
            };
            let t = transfer.inner.data;
            if t.to == to {
                let (from, sum) = paid.unwrap_or((t.from, U256::ZERO));
                paid = Some((from, sum + t.value));
            }
        }
        Ok(match paid {
            Some((from, value)) => TransferCheck::Paid { from, value, block },
            None => TransferCheck::NothingPaid,
        })
    }
}
