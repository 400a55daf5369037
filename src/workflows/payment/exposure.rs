//! What a payer may have under way. A payment mintflow settles (`x402`, `gasless`) costs gas
//! whether or not its settlement lands, so a payer who cannot pay must be refused before
//! anything is signed: their balance must cover every payment of theirs still under way plus
//! the new one, they may have at most `max_open_payments_per_payer` under way, and a payer whose
//! settlements reverted `max_settlement_reverts_per_hour` times in the last hour waits until
//! the oldest of those is an hour old.
//!
//! `check` runs in the transaction that creates the payment, after `store::payers::lock`: two
//! intakes of one payer cannot both count the same open payments. The decision itself is
//! `judge`, without I/O.
use alloy::primitives::{Address, U256};
use sea_orm::{ConnectionTrait, DbErr};
use uuid::Uuid;

use super::PaymentData;
use crate::chain::signer::address_key;
use crate::config::Settings;
use crate::store::payers;

/// The window `max_settlement_reverts_per_hour` counts in.
pub const REVERT_WINDOW_MS: i64 = 3_600_000;

/// How far apart the clocks of the process that read the balance and of the workers that end
/// payments may be: a payment that finished up to this long before the balance was read still
/// counts against it.
const CLOCK_SKEW_MS: i64 = 5_000;

/// The hot settings the check applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// `max_open_payments_per_payer`.
    pub max_open: usize,
    /// `max_settlement_reverts_per_hour`; 0: no limit.
    pub max_reverts_per_hour: usize,
}

impl Limits {
    pub fn of(settings: &Settings) -> Limits {
        let count = |n: i64| usize::try_from(n).unwrap_or_default();
        Limits {
            max_open: count(settings.max_open_payments_per_payer),
            max_reverts_per_hour: count(settings.max_settlement_reverts_per_hour),
        }
    }
}

/// What backs a new payment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Funds {
    /// A custom payment: the payer's transfer is mined already; mintflow sends nothing for it.
    Transferred,
    /// A payment mintflow settles: the payer's balance of the asset, read (at unix ms
    /// `read_at_ms`) before the payment's transaction began, and the limits to apply.
    Balance {
        balance: U256,
        read_at_ms: i64,
        limits: Limits,
    },
}

/// What the payer has under way, as the payment's transaction reads it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Standing {
    /// The amounts of their payments mintflow settles that are still under way.
    pub open: Vec<U256>,
    /// The amounts of those that finished after their balance was read: their settlements may
    /// have been mined after it, and spent it.
    pub finished_since_balance: Vec<U256>,
    /// When each of their settlements that reverted on chain in the last hour reverted (unix
    /// ms), oldest first.
    pub reverts: Vec<i64>,
}

/// Why a payer is refused; `code` is the API's stable error code (402).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error(
        "{reverts} settlements of this payer reverted on chain in the last hour; new payments \
         are refused until {until_ms} (unix ms)"
    )]
    SettlementsReverted { reverts: usize, until_ms: i64 },
    #[error(
        "this payer has {open} payments under way, the most allowed \
         (max_open_payments_per_payer {max}); retry once one is settled"
    )]
    TooManyOpen { open: usize, max: usize },
    #[error(
        "the payer's balance {balance} does not cover this payment ({amount}) on top of the \
         {committed} their payments under way need"
    )]
    BalanceCommitted {
        balance: U256,
        committed: U256,
        amount: U256,
    },
}

impl Refusal {
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::SettlementsReverted { .. } => "payer_settlements_reverted",
            Refusal::TooManyOpen { .. } => "too_many_open_payments",
            Refusal::BalanceCommitted { .. } => "insufficient_balance_for_open_payments",
        }
    }
}

/// Whether a payer in `standing`, holding `balance`, may open a payment of `amount` at unix ms
/// `now_ms`.
pub fn judge(
    limits: Limits,
    standing: &Standing,
    balance: U256,
    amount: U256,
    now_ms: i64,
) -> Result<(), Refusal> {
    let max = limits.max_reverts_per_hour;
    let recent: Vec<i64> = standing
        .reverts
        .iter()
        .copied()
        .filter(|at| *at > now_ms - REVERT_WINDOW_MS)
        .collect();
    if max > 0 && recent.len() >= max {
        // Allowed again once fewer than `max` reverts are in the window: when the one `max`
        // places from the newest leaves it.
        let until_ms = recent[recent.len() - max] + REVERT_WINDOW_MS;
        return Err(Refusal::SettlementsReverted {
            reverts: recent.len(),
            until_ms,
        });
    }
    if standing.open.len() >= limits.max_open {
        return Err(Refusal::TooManyOpen {
            open: standing.open.len(),
            max: limits.max_open,
        });
    }
    let committed: U256 = standing
        .open
        .iter()
        .chain(&standing.finished_since_balance)
        .fold(U256::ZERO, |sum, a| sum.saturating_add(*a));
    if committed.saturating_add(amount) > balance {
        return Err(Refusal::BalanceCommitted {
            balance,
            committed,
            amount,
        });
    }
    Ok(())
}

/// Reads the standing of the payer of `data` (its payment `payment` excluded) and judges it.
/// Run it in the transaction that creates `payment`, after `store::payers::lock`.
pub async fn check<C: ConnectionTrait>(
    conn: &C,
    payment: Uuid,
    data: &PaymentData,
    funds: Funds,
    now_ms: i64,
) -> Result<Result<(), Refusal>, DbErr> {
    let Funds::Balance {
        balance,
        read_at_ms,
        limits,
    } = funds
    else {
        return Ok(Ok(()));
    };
    let payer = address_key(data.payer);
    let rows = payers::payments_since(conn, &payer, read_at_ms - CLOCK_SKEW_MS).await?;
    let mut standing = Standing::default();
    for row in rows.into_iter().filter(|r| r.id != payment) {
        let Some(amount) = settled_amount(&row.data, data.asset) else {
            continue;
        };
        match row.finished_at_ms {
            None => standing.open.push(amount),
            Some(_) => standing.finished_since_balance.push(amount),
        }
    }
    if limits.max_reverts_per_hour > 0 {
        standing.reverts =
            payers::settlement_reverts_since(conn, &payer, now_ms - REVERT_WINDOW_MS).await?;
    }
    Ok(judge(limits, &standing, balance, data.amount, now_ms))
}

/// The amount of a payment's checkpoint `data` if mintflow settles it in `asset` (a custom
/// payment moved its funds already).
fn settled_amount(data: &serde_json::Value, asset: Address) -> Option<U256> {
    let d: PaymentData = serde_json::from_value(data.clone()).ok()?;
    (d.authorization.is_some() && d.asset == asset).then_some(d.amount)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;
    const LIMITS: Limits = Limits {
        max_open: 5,
        max_reverts_per_hour: 3,
    };

    fn usdc(n: u64) -> U256 {
        U256::from(n)
    }

    fn open(amounts: &[u64]) -> Standing {
        Standing {
            open: amounts.iter().map(|a| usdc(*a)).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn the_balance_covers_every_open_payment_and_the_new_one() {
        assert_eq!(judge(LIMITS, &open(&[1, 1]), usdc(3), usdc(1), NOW), Ok(()));
        assert_eq!(
            judge(LIMITS, &open(&[1, 1, 1]), usdc(3), usdc(1), NOW),
            Err(Refusal::BalanceCommitted {
                balance: usdc(3),
                committed: usdc(3),
                amount: usdc(1),
            })
        );
        // A payment that finished after the balance was read may have spent it.
        let mut spent = open(&[1]);
        spent.finished_since_balance = vec![usdc(2)];
        assert_eq!(
            judge(LIMITS, &spent, usdc(3), usdc(1), NOW).map_err(|e| e.code()),
            Err("insufficient_balance_for_open_payments")
        );
    }

    #[test]
    fn at_most_max_open_payments_at_once() {
        let rich = usdc(1_000);
        assert_eq!(judge(LIMITS, &open(&[1; 4]), rich, usdc(1), NOW), Ok(()));
        assert_eq!(
            judge(LIMITS, &open(&[1; 5]), rich, usdc(1), NOW),
            Err(Refusal::TooManyOpen { open: 5, max: 5 })
        );
    }

    #[test]
    fn a_payer_whose_settlements_revert_waits_until_the_window_frees_up() {
        let rich = usdc(1_000);
        let minute = 60_000;
        let reverted = |ages_min: &[i64]| Standing {
            reverts: ages_min.iter().map(|m| NOW - m * minute).collect(),
            ..Default::default()
        };
        assert_eq!(
            judge(LIMITS, &reverted(&[50, 20]), rich, usdc(1), NOW),
            Ok(())
        );
        // Four in the hour: allowed again when only two remain, once the second oldest (40
        // minutes old) is an hour old.
        assert_eq!(
            judge(LIMITS, &reverted(&[50, 40, 20, 10]), rich, usdc(1), NOW),
            Err(Refusal::SettlementsReverted {
                reverts: 4,
                until_ms: NOW + 20 * minute,
            })
        );
        // Older than an hour: forgotten.
        assert_eq!(
            judge(LIMITS, &reverted(&[70, 61, 20, 10]), rich, usdc(1), NOW),
            Ok(())
        );
        let off = Limits {
            max_reverts_per_hour: 0,
            ..LIMITS
        };
        assert_eq!(
            judge(off, &reverted(&[5, 4, 3, 2, 1]), rich, usdc(1), NOW),
            Ok(())
        );
    }

    #[test]
    fn only_settled_payments_in_the_asset_count() {
        let asset = Address::repeat_byte(0xaa);
        let payment = |authorization: bool, paid_in: Address| {
            let json = serde_json::json!({
                "kind": if authorization { "gasless" } else { "custom" },
                "asset": paid_in,
                "payer": Address::repeat_byte(1),
                "pay_to": Address::repeat_byte(2),
                "amount": U256::from(7),
                "authorization": authorization.then(|| serde_json::json!({
                    "valid_after": U256::ZERO,
                    "valid_before": U256::from(9),
                    "nonce": alloy::primitives::B256::ZERO,
                    "signature": "0x",
                })),
                "transfer_tx": (!authorization).then_some(alloy::primitives::B256::ZERO),
            });
            settled_amount(&json, asset)
        };
        assert_eq!(payment(true, asset), Some(U256::from(7)));
        assert_eq!(payment(false, asset), None);
        assert_eq!(payment(true, Address::repeat_byte(0xbb)), None);
    }
}
