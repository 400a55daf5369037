//! Reading a `Settler` transaction's receipt: the contract emits one event per item,
//! `Settled(from, nonce)` or `Failed(from, nonce, reason)` with the token's revert data, so each
//! authorization's outcome is read from the logs, never guessed from the transaction's status.
use alloy::primitives::{Address, B256};
use alloy::providers::Provider;

use super::contracts::Settler;
use super::{Chain, ChainError, revert};

/// What the settler reported for one authorization.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ItemEvent {
    pub from: Address,
    pub nonce: B256,
    /// `Err` with the token's decoded revert reason when the transfer failed.
    pub result: Result<(), String>,
}

/// Why `SETTLER_ADDRESS` is not usable.
#[derive(Debug, thiserror::Error)]
pub enum SettlerMismatch {
    #[error("SETTLER_ADDRESS {0} holds no contract on this chain")]
    NoCode(Address),
    /// Another contract, or a `Settler` of another version, whose items are laid out otherwise:
    /// every settlement through it would fail.
    #[error(
        "SETTLER_ADDRESS {0} holds another contract than this version's Settler (one deployed \
         by an older version?): deploy this one's with `mintflow deploy` and set SETTLER_ADDRESS \
         to it"
    )]
    Other(Address),
    #[error(transparent)]
    Chain(#[from] ChainError),
}

impl Chain {
    /// Whether the configured settler (if any) runs exactly this build's `Settler` code.
    pub async fn check_settler(&self) -> Result<(), SettlerMismatch> {
        let Some(settler) = self.settler() else {
            return Ok(());
        };
        let code = self
            .provider()
            .get_code_at(settler)
            .await
            .map_err(|e| super::rpc(format_args!("the code of {settler}"), e))?;
        if code.is_empty() {
            Err(SettlerMismatch::NoCode(settler))
        } else if code != Settler::DEPLOYED_BYTECODE {
            Err(SettlerMismatch::Other(settler))
        } else {
            Ok(())
        }
    }

    /// The settler's item events in the receipt of `tx`, in log order; `None` when the node has
    /// no receipt for it (a reorg took it out since the pipeline confirmed it).
    pub async fn settlement_events(
        &self,
        tx: B256,
        settler: Address,
    ) -> Result<Option<Vec<ItemEvent>>, ChainError> {
        let receipt = self
            .provider()
            .get_transaction_receipt(tx)
            .await
            .map_err(|e| super::rpc(format_args!("settlement {tx:#x}"), e))?;
        let Some(receipt) = receipt else {
            return Ok(None);
        };
        let events = receipt
            .inner
            .logs()
            .iter()
            .filter(|log| log.address() == settler)
            .filter_map(|log| {
                if let Ok(s) = log.log_decode::<Settler::Settled>() {
                    let s = s.inner.data;
                    return Some(ItemEvent {
                        from: s.from,
                        nonce: s.nonce,
                        result: Ok(()),
                    });
                }
                let f = log.log_decode::<Settler::Failed>().ok()?.inner.data;
                Some(ItemEvent {
                    from: f.from,
                    nonce: f.nonce,
                    result: Err(failure_reason(&f.reason)),
                })
            })
            .collect();
        Ok(Some(events))
    }
}

/// The token's revert data as a reason a person reads (and `SettlementRevert::of` classifies).
pub fn failure_reason(data: &[u8]) -> String {
    if data.is_empty() {
        return "reverted without a reason".into();
    }
    revert::decode(data)
        .unwrap_or_else(|| format!("reverted with data {}", alloy::hex::encode_prefixed(data)))
}

#[cfg(test)]
mod tests {
    use alloy::sol_types::SolError;

    use super::*;
    use crate::chain::contracts::MockUSDC;

    #[test]
    fn failure_reasons_name_the_tokens_error() {
        let expired = MockUSDC::AuthorizationExpired {}.abi_encode();
        assert!(failure_reason(&expired).starts_with("AuthorizationExpired("));
        assert_eq!(failure_reason(&[]), "reverted without a reason");
        assert_eq!(failure_reason(&[0xff, 0xfe]), "reverted with data 0xfffe");
    }
}
