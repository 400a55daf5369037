//! Custom payments: which USDC transfer pays, and the payer's consent to another recipient.
//!
//! A custom payment is a transaction its payer sent themself, whose only movement of USDC is
//! one `Transfer(payer -> PAY_TO)` of at least the price. Anyone can read a transaction hash
//! off the chain (and mintflow lists its own settlements), so the hash alone proves nothing
//! about who posts it, nor what the payer meant to buy: without the payer's EIP-712
//! `MintRecipient` signature the poster chooses nothing (`check_order`).
use alloy::primitives::{Address, B256, Bytes, Signature, U256};
use alloy::sol_types::{Eip712Domain, SolStruct};

use crate::chain::transfer::{NotOwnTransfer, TransferCheck};

alloy::sol! {
    /// The payer's consent that the mints their transfer `txHash` pays for go to `recipient`:
    /// `quantity` mints of `token`. Signed with [`domain`].
    #[derive(Debug)]
    struct MintRecipient {
        bytes32 txHash;
        address recipient;
        address token;
        uint256 quantity;
    }
}

/// The EIP-712 domain of `MintRecipient`: name `mintflow`, version `1`, the chain's id, and no
/// verifying contract (nothing on chain checks it).
pub fn domain(chain_id: u64) -> Eip712Domain {
    Eip712Domain::new(
        Some("mintflow".into()),
        Some("1".into()),
        Some(U256::from(chain_id)),
        None,
        None,
    )
}

/// Why a custom payment is refused; `code` is the API's stable error code.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("no mined transaction with this hash")]
    NotFound,
    #[error("the transfer has {depth} of {needed} confirmations; retry later")]
    NotConfirmed { depth: u64, needed: u64 },
    #[error("the transaction reverted")]
    Reverted,
    #[error("the transaction paid no USDC to {pay_to}")]
    WrongRecipient { pay_to: Address },
    #[error(
        "the transaction moves USDC {transfers} times; a custom payment is one transfer from \
         its sender to PAY_TO"
    )]
    Ambiguous { transfers: usize },
    #[error(
        "the transaction was sent by {sender} but moved the USDC of {from}; the payer must send \
         their own transfer"
    )]
    NotFromPayer { sender: Address, from: Address },
    #[error("the transaction was sent by this service's signer {sender}; it cannot pay again")]
    FromServiceSigner { sender: Address },
    #[error("the transfer paid {value}, the price is {price}")]
    TooSmall { value: U256, price: U256 },
    #[error(
        "the tokens go to the payer {payer}; another recipient needs the payer's EIP-712 \
         `MintRecipient` signature in `recipientSignature`"
    )]
    RecipientSignatureRequired { payer: Address },
    #[error(
        "`recipientSignature` is not the payer's signature of MintRecipient(txHash, recipient, \
         token, quantity)"
    )]
    RecipientSignatureInvalid,
    #[error(
        "the token {token} is not the server's default token; minting another needs the \
         payer's EIP-712 `MintRecipient` signature in `recipientSignature`"
    )]
    TokenSignatureRequired { token: Address },
    #[error(
        "the transfer paid {value}, the mints asked for cost {price}; without the payer's \
         `recipientSignature` a custom payment buys exactly what its transfer paid for"
    )]
    AmountMismatch { value: U256, price: U256 },
}

impl Refusal {
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::NotFound => "transfer_not_found",
            Refusal::NotConfirmed { .. } => "transfer_not_confirmed",
            Refusal::Reverted => "transfer_reverted",
            Refusal::WrongRecipient { .. } => "transfer_wrong_recipient",
            Refusal::Ambiguous { .. } => "transfer_ambiguous",
            Refusal::NotFromPayer { .. } => "transfer_not_from_payer",
            Refusal::FromServiceSigner { .. } => "transfer_from_service_signer",
            Refusal::TooSmall { .. } => "transfer_too_small",
            Refusal::RecipientSignatureRequired { .. } => "recipient_signature_required",
            Refusal::RecipientSignatureInvalid => "recipient_signature_invalid",
            Refusal::TokenSignatureRequired { .. } => "token_signature_required",
            Refusal::AmountMismatch { .. } => "transfer_amount_mismatch",
        }
    }
}

/// A transfer that pays: who paid, how much, in which block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Paid {
    pub payer: Address,
    pub value: U256,
    pub block: u64,
}

/// Whether the transaction in `check`, `needed` blocks deep, pays `price` to `pay_to`. Whether
/// its sender is one of our signers needs the database and is the caller's check.
pub fn verdict(
    check: TransferCheck,
    pay_to: Address,
    price: U256,
    needed: u64,
) -> Result<Paid, Refusal> {
    let transfers = match check {
        TransferCheck::NotMined => return Err(Refusal::NotFound),
        TransferCheck::NotConfirmed { depth } => {
            return Err(Refusal::NotConfirmed { depth, needed });
        }
        TransferCheck::Reverted => return Err(Refusal::Reverted),
        TransferCheck::Mined(t) => t,
    };
    let (payer, value) = transfers.own_transfer(pay_to).map_err(|e| match e {
        NotOwnTransfer::NothingPaid => Refusal::WrongRecipient { pay_to },
        NotOwnTransfer::Ambiguous { transfers } => Refusal::Ambiguous { transfers },
        NotOwnTransfer::NotFromSender { sender, from } => Refusal::NotFromPayer { sender, from },
    })?;
    if value < price {
        return Err(Refusal::TooSmall { value, price });
    }
    Ok(Paid {
        payer,
        value,
        block: transfers.block,
    })
}

/// What the poster of a custom payment may choose. With the payer's signature of `consent`
/// (0x-hex, 65 bytes, on `chain_id`): its recipient, token and quantity, the transfer paying at
/// least their `price` (`verdict`). Without one, nothing: the mints go to the payer, are of the
/// server's `default_token`, and cost exactly what the transfer paid. Anyone may post a hash
/// they read off the chain; were they free to name fewer mints or another token, the payer
/// would lose the rest of what they paid, or get a token they did not want.
pub fn check_order(
    chain_id: u64,
    paid: &Paid,
    consent: &MintRecipient,
    price: U256,
    default_token: Option<Address>,
    signature: Option<&str>,
) -> Result<(), Refusal> {
    let Some(signature) = signature else {
        if consent.recipient != paid.payer {
            return Err(Refusal::RecipientSignatureRequired { payer: paid.payer });
        }
        if default_token != Some(consent.token) {
            return Err(Refusal::TokenSignatureRequired {
                token: consent.token,
            });
        }
        if paid.value != price {
            return Err(Refusal::AmountMismatch {
                value: paid.value,
                price,
            });
        }
        return Ok(());
    };
    let signer = signature
        .parse::<Bytes>()
        .ok()
        .and_then(|raw| Signature::from_raw(&raw).ok())
        .and_then(|sig| {
            sig.recover_address_from_prehash(&consent.eip712_signing_hash(&domain(chain_id)))
                .ok()
        });
    match signer {
        Some(signer) if signer == paid.payer => Ok(()),
        _ => Err(Refusal::RecipientSignatureInvalid),
    }
}

/// The consent a request for `quantity` mints of `token` to `recipient`, paid by `tx`, needs.
pub fn consent(tx: B256, recipient: Address, token: Address, quantity: u32) -> MintRecipient {
    MintRecipient {
        txHash: tx,
        recipient,
        token,
        quantity: U256::from(quantity),
    }
}

#[cfg(test)]
mod tests {
    use alloy::signers::SignerSync;
    use alloy::signers::local::PrivateKeySigner;

    use super::*;
    use crate::chain::transfer::{Transfer, Transfers};

    const US: Address = Address::repeat_byte(2);
    const CHAIN: u64 = 31337;

    fn mined(sender: Address, value: u64) -> TransferCheck {
        TransferCheck::Mined(Transfers {
            sender,
            block: 9,
            logs: vec![Transfer {
                from: sender,
                to: US,
                value: U256::from(value),
            }],
        })
    }

    #[test]
    fn a_deep_enough_own_transfer_of_the_price_pays() {
        let payer = Address::repeat_byte(1);
        let paid = verdict(mined(payer, 10), US, U256::from(10), 1).unwrap();
        assert_eq!(
            (paid.payer, paid.value, paid.block),
            (payer, U256::from(10), 9)
        );
        assert_eq!(
            verdict(mined(payer, 9), US, U256::from(10), 1).map_err(|e| e.code()),
            Err("transfer_too_small")
        );
        let shallow = TransferCheck::NotConfirmed { depth: 0 };
        assert_eq!(
            verdict(shallow, US, U256::from(10), 1),
            Err(Refusal::NotConfirmed {
                depth: 0,
                needed: 1
            })
        );
    }

    #[test]
    fn only_the_payers_signature_names_another_recipient() {
        let payer = PrivateKeySigner::random();
        let other = PrivateKeySigner::random();
        let tx = B256::repeat_byte(4);
        let token = Address::repeat_byte(5);
        let paid = paying(payer.address(), 2);
        let check = |c: &MintRecipient, sig: Option<&str>| {
            check_order(CHAIN, &paid, c, U256::from(2), Some(token), sig)
        };
        let to_other = consent(tx, other.address(), token, 2);
        let to_payer = consent(tx, payer.address(), token, 2);
        assert_eq!(check(&to_payer, None), Ok(()));
        assert_eq!(
            check(&to_other, None).map_err(|e| e.code()),
            Err("recipient_signature_required")
        );
        let signed = sign(&payer, &to_other);
        assert_eq!(check(&to_other, Some(&signed)), Ok(()));
        // Signed by the recipient, for another quantity, or for another chain: refused.
        let refused = Err(Refusal::RecipientSignatureInvalid);
        let by_other = sign(&other, &to_other);
        assert_eq!(check(&to_other, Some(&by_other)), refused);
        let more = consent(tx, other.address(), token, 3);
        assert_eq!(check(&more, Some(&signed)), refused);
        assert_eq!(
            check_order(
                1,
                &paid,
                &to_other,
                U256::from(2),
                Some(token),
                Some(&signed)
            ),
            refused
        );
        assert_eq!(check(&to_other, Some("0x1234")), refused);
    }

    #[test]
    fn unsigned_the_transfer_alone_says_what_it_buys() {
        let payer = PrivateKeySigner::random();
        let tx = B256::repeat_byte(4);
        let default = Address::repeat_byte(5);
        let other_token = Address::repeat_byte(6);
        // Paid 10 mints' worth (price 1 each).
        let paid = paying(payer.address(), 10);
        let order = |token: Address, quantity: u32| {
            let c = consent(tx, payer.address(), token, quantity);
            let price = U256::from(quantity);
            (
                check_order(CHAIN, &paid, &c, price, Some(default), None).map_err(|e| e.code()),
                check_order(
                    CHAIN,
                    &paid,
                    &c,
                    price,
                    Some(default),
                    Some(&sign(&payer, &c)),
                ),
            )
        };
        // Exactly 10 of the default token, or anything the payer signed for.
        assert_eq!(order(default, 10), (Ok(()), Ok(())));
        assert_eq!(order(default, 1), (Err("transfer_amount_mismatch"), Ok(())));
        assert_eq!(
            order(other_token, 10),
            (Err("token_signature_required"), Ok(()))
        );
        // A server without a default token mints nothing unsigned.
        let c = consent(tx, payer.address(), default, 10);
        assert_eq!(
            check_order(CHAIN, &paid, &c, U256::from(10), None, None).map_err(|e| e.code()),
            Err("token_signature_required")
        );
    }

    fn paying(payer: Address, value: u64) -> Paid {
        Paid {
            payer,
            value: U256::from(value),
            block: 9,
        }
    }

    fn sign(who: &PrivateKeySigner, c: &MintRecipient) -> String {
        let sig = who
            .sign_hash_sync(&c.eip712_signing_hash(&domain(CHAIN)))
            .unwrap();
        Bytes::from(sig.as_bytes()).to_string()
    }
}
