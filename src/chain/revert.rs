//! Human-readable revert reasons from RPC errors: `Error(string)`, panics, and the custom
//! errors of our own contracts.
use alloy::sol_types::SolInterface;
use alloy::transports::{RpcError, TransportErrorKind};

use super::contracts::{MintToken, MockUSDC};

/// The decoded reason when `err` is a revert, `None` for any other failure.
pub fn reason(err: &RpcError<TransportErrorKind>) -> Option<String> {
    let payload = err.as_error_resp()?;
    let data = payload.as_revert_data();
    if data.is_none() && !payload.message.to_lowercase().contains("revert") {
        return None;
    }
    Some(match data {
        Some(data) => decode(&data).unwrap_or_else(|| payload.message.to_string()),
        None => payload.message.to_string(),
    })
}

/// Decodes revert data: one of our contracts' custom errors, or a standard reason. Custom
/// errors go first: the standard decoder reads any valid UTF-8 as a reason string.
pub fn decode(data: &[u8]) -> Option<String> {
    if let Ok(e) = MintToken::MintTokenErrors::abi_decode(data) {
        return Some(format!("{e:?}"));
    }
    if let Ok(e) = MockUSDC::MockUSDCErrors::abi_decode(data) {
        return Some(format!("{e:?}"));
    }
    alloy::sol_types::decode_revert_reason(data)
}

/// What a reverted EIP-3009 settlement (`transferWithAuthorization`) says about the payment.
/// Decided here, beside `decode`, because the names it reads are the ones `decode` writes: a
/// custom error of our MockUSDC shows as `Name(Name { .. })`; Circle's USDC reverts with
/// reason strings, which `decode_revert_reason` shows as `revert: <reason>` (and a node that
/// sends no revert data as `execution reverted: <reason>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SettlementRevert {
    /// The authorization's nonce was used (or cancelled) already.
    NonceUsed,
    /// The payer's balance does not cover the amount.
    InsufficientBalance,
    /// The signature is not the payer's.
    BadSignature,
    /// Anything else: the settlement would revert, for a reason the payer cannot fix by paying
    /// differently.
    Other,
}

impl SettlementRevert {
    /// Classifies a revert reason as `reason` or `decode` gave it.
    pub fn of(reason: &str) -> SettlementRevert {
        let custom_error = reason.split('(').next().unwrap_or_default();
        match custom_error {
            "AuthorizationUsedOrCanceled" => return SettlementRevert::NonceUsed,
            "ERC20InsufficientBalance" => return SettlementRevert::InsufficientBalance,
            "InvalidSignature" | "ECDSAInvalidSignature" => return SettlementRevert::BadSignature,
            _ => {}
        }
        let text = ["revert: ", "execution reverted: "]
            .iter()
            .find_map(|prefix| reason.strip_prefix(prefix))
            .unwrap_or(reason);
        match text {
            "FiatTokenV2: authorization is used or canceled" => SettlementRevert::NonceUsed,
            "ERC20: transfer amount exceeds balance" => SettlementRevert::InsufficientBalance,
            "FiatTokenV2: invalid signature" | "ECRecover: invalid signature" => {
                SettlementRevert::BadSignature
            }
            _ => SettlementRevert::Other,
        }
    }
}

#[cfg(test)]
mod tests {
    use alloy::primitives::{Address, B256, U256};
    use alloy::sol_types::{Revert, SolError};

    use super::*;

    fn classified(data: Vec<u8>) -> SettlementRevert {
        SettlementRevert::of(&decode(&data).expect("decodes"))
    }

    #[test]
    fn mock_usdc_custom_errors_are_typed() {
        let used = MockUSDC::AuthorizationUsedOrCanceled {
            authorizer: Address::repeat_byte(1),
            nonce: B256::repeat_byte(2),
        };
        assert_eq!(classified(used.abi_encode()), SettlementRevert::NonceUsed);
        let short = MockUSDC::ERC20InsufficientBalance {
            sender: Address::repeat_byte(1),
            balance: U256::from(1),
            needed: U256::from(2),
        };
        assert_eq!(
            classified(short.abi_encode()),
            SettlementRevert::InsufficientBalance
        );
        let forged = MockUSDC::InvalidSignature {};
        assert_eq!(
            classified(forged.abi_encode()),
            SettlementRevert::BadSignature
        );
        let expired = MockUSDC::AuthorizationExpired {};
        assert_eq!(classified(expired.abi_encode()), SettlementRevert::Other);
    }

    #[test]
    fn circle_usdc_reason_strings_are_typed() {
        let revert = |reason: &str| {
            Revert {
                reason: reason.into(),
            }
            .abi_encode()
        };
        let cases = [
            (
                "FiatTokenV2: authorization is used or canceled",
                SettlementRevert::NonceUsed,
            ),
            (
                "ERC20: transfer amount exceeds balance",
                SettlementRevert::InsufficientBalance,
            ),
            (
                "FiatTokenV2: invalid signature",
                SettlementRevert::BadSignature,
            ),
            ("Pausable: paused", SettlementRevert::Other),
        ];
        for (reason, expected) in cases {
            assert_eq!(classified(revert(reason)), expected, "{reason}");
        }
    }

    #[test]
    fn a_name_inside_another_reason_is_not_taken_for_it() {
        // The old text match took any reason mentioning a signature for a bad signature.
        assert_eq!(
            SettlementRevert::of("revert: MintToken: Signature scheme unsupported"),
            SettlementRevert::Other
        );
        assert_eq!(
            SettlementRevert::of("execution reverted"),
            SettlementRevert::Other
        );
    }
}
