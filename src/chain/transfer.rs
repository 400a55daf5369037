//! Reading what a transaction did with a token: a custom payment is a USDC transfer the payer
//! already made, and a settlement must have moved the funds; the receipt is the proof of both.
use alloy::primitives::{Address, B256, U256};
use alloy::providers::Provider;

use super::contracts::MockUSDC;
use super::{Chain, ChainError};

/// Where a transaction is, and what it did with `asset` once deep enough.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TransferCheck {
    /// No receipt: unknown or not mined yet.
    NotMined,
    /// Mined, but fewer than the required blocks on top.
    NotConfirmed {
        depth: u64,
    },
    Reverted,
    Mined(Transfers),
}

/// The `Transfer` logs of one asset in a successful transaction, in log order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transfers {
    /// Who signed and sent the transaction.
    pub sender: Address,
    pub block: u64,
    pub logs: Vec<Transfer>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transfer {
    pub from: Address,
    pub to: Address,
    pub value: U256,
}

/// Why a transaction is not a payer's own single transfer to us.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NotOwnTransfer {
    /// No transfer of the asset to us.
    NothingPaid,
    /// The asset moved more than once: which movement is the payment is not clear, and a
    /// contract may have moved funds on someone's behalf.
    Ambiguous { transfers: usize },
    /// The one transfer moved `from`'s funds, but `sender` sent the transaction (an allowance
    /// spent by someone else, or a settlement relayed for the payer).
    NotFromSender { sender: Address, from: Address },
}

impl Transfers {
    /// What `from` paid `to` in total (a settlement we relayed: its sender is our signer).
    pub fn paid(&self, from: Address, to: Address) -> U256 {
        self.logs
            .iter()
            .filter(|t| t.from == from && t.to == to)
            .map(|t| t.value)
            .sum()
    }

    /// The transaction's only movement of the asset, if it is its sender paying `to`: the
    /// shape of a custom payment. Returns the payer (the sender) and the amount.
    pub fn own_transfer(&self, to: Address) -> Result<(Address, U256), NotOwnTransfer> {
        let [one] = self.logs.as_slice() else {
            return Err(if self.logs.iter().any(|t| t.to == to) {
                NotOwnTransfer::Ambiguous {
                    transfers: self.logs.len(),
                }
            } else {
                NotOwnTransfer::NothingPaid
            });
        };
        if one.to != to {
            return Err(NotOwnTransfer::NothingPaid);
        }
        if one.from != self.sender {
            return Err(NotOwnTransfer::NotFromSender {
                sender: self.sender,
                from: one.from,
            });
        }
        Ok((one.from, one.value))
    }
}

impl Chain {
    /// `owner`'s balance of `asset` at the latest block.
    pub async fn balance_of(&self, asset: Address, owner: Address) -> Result<U256, ChainError> {
        MockUSDC::new(asset, self.provider())
            .balanceOf(owner)
            .call()
            .await
            .map_err(|e| {
                ChainError::Rpc(super::error::contract(
                    format_args!("reading the {asset} balance of {owner}"),
                    &e,
                ))
            })
    }

    /// The ERC-20 `Transfer` logs of `asset` in the receipt of `tx`, once it is
    /// `confirmations` blocks deep.
    pub async fn check_transfer(
        &self,
        tx: B256,
        asset: Address,
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
        let logs = receipt
            .inner
            .logs()
            .iter()
            .filter(|log| log.address() == asset)
            .filter_map(|log| log.log_decode::<MockUSDC::Transfer>().ok())
            .map(|t| {
                let t = t.inner.data;
                Transfer {
                    from: t.from,
                    to: t.to,
                    value: t.value,
                }
            })
            .collect();
        Ok(TransferCheck::Mined(Transfers {
            sender: receipt.from,
            block,
            logs,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAYER: Address = Address::repeat_byte(1);
    const US: Address = Address::repeat_byte(2);
    const OTHER: Address = Address::repeat_byte(3);

    fn sent_by(sender: Address, logs: &[(Address, Address, u64)]) -> Transfers {
        Transfers {
            sender,
            block: 7,
            logs: logs
                .iter()
                .map(|&(from, to, value)| Transfer {
                    from,
                    to,
                    value: U256::from(value),
                })
                .collect(),
        }
    }

    #[test]
    fn a_payers_own_single_transfer_pays() {
        let t = sent_by(PAYER, &[(PAYER, US, 5)]);
        assert_eq!(t.own_transfer(US), Ok((PAYER, U256::from(5))));
    }

    #[test]
    fn two_movements_are_ambiguous_even_when_both_pay_us() {
        let both = sent_by(PAYER, &[(PAYER, US, 2), (PAYER, US, 3)]);
        assert_eq!(
            both.own_transfer(US),
            Err(NotOwnTransfer::Ambiguous { transfers: 2 })
        );
        let one_elsewhere = sent_by(PAYER, &[(PAYER, OTHER, 2), (PAYER, US, 3)]);
        assert_eq!(
            one_elsewhere.own_transfer(US),
            Err(NotOwnTransfer::Ambiguous { transfers: 2 })
        );
    }

    #[test]
    fn someone_elses_funds_do_not_pay_for_the_sender() {
        let relayed = sent_by(OTHER, &[(PAYER, US, 5)]);
        assert_eq!(
            relayed.own_transfer(US),
            Err(NotOwnTransfer::NotFromSender {
                sender: OTHER,
                from: PAYER
            })
        );
    }

    #[test]
    fn nothing_to_us_pays_nothing() {
        assert_eq!(
            sent_by(PAYER, &[]).own_transfer(US),
            Err(NotOwnTransfer::NothingPaid)
        );
        assert_eq!(
            sent_by(PAYER, &[(PAYER, OTHER, 5), (PAYER, OTHER, 1)]).own_transfer(US),
            Err(NotOwnTransfer::NothingPaid)
        );
    }

    #[test]
    fn a_settlement_counts_what_the_payer_paid_us() {
        let settled = sent_by(OTHER, &[(PAYER, US, 5), (OTHER, US, 9)]);
        assert_eq!(settled.paid(PAYER, US), U256::from(5));
    }
}
