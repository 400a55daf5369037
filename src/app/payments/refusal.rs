//! What a reverting settlement simulation tells the payer, as an x402 reason.
use crate::chain::revert::SettlementRevert;
use crate::x402::Reason;

/// The x402 reason of a settlement that would revert with `revert` (as the chain decoded it).
pub fn settlement_reason(revert: &str) -> Reason {
    match SettlementRevert::of(revert) {
        SettlementRevert::NonceUsed => Reason::NonceUsed,
        SettlementRevert::InsufficientBalance => Reason::InsufficientBalance,
        SettlementRevert::BadSignature => Reason::Signature,
        SettlementRevert::Other => Reason::Simulation,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_settlement_revert_has_its_x402_reason() {
        let cases = [
            (
                "AuthorizationUsedOrCanceled(AuthorizationUsedOrCanceled { .. })",
                Reason::NonceUsed,
            ),
            (
                "ERC20InsufficientBalance(ERC20InsufficientBalance { .. })",
                Reason::InsufficientBalance,
            ),
            ("InvalidSignature(InvalidSignature)", Reason::Signature),
            ("revert: FiatTokenV2: invalid signature", Reason::Signature),
            (
                "AuthorizationExpired(AuthorizationExpired)",
                Reason::Simulation,
            ),
        ];
        for (revert, reason) in cases {
            assert_eq!(settlement_reason(revert), reason, "{revert}");
        }
    }
}
