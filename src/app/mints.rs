//! Mint intake and reads: the rules a request to mint must meet (recipient, quantity,
//! priority, idempotency key, token), queueing its mints, and reading mints, batches and
//! queue positions. Rate limits and quotas are the HTTP edge's (`api::admission`), checked
//! between `request` and `enqueue`.
use alloy::primitives::Address;
use sea_orm::DbErr;
use uuid::Uuid;

use super::Context;
use super::context::NoChain;
use crate::engine::{StartError, StarterError};
use crate::store::entity::workflow;
use crate::store::mints::{self as queue, MINT, MINT_BATCH, QueuePlace, Reprioritized};
use crate::store::workflows::{self as rows, Actor, ListFilter};
use crate::workflows::mint::{self, Enqueued, MAX_QUANTITY, MintRequest, PaymentType};
use crate::workflows::priority::{self, Refusal};

/// Why a request to mint was refused. Nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    NoChain(#[from] NoChain),
    #[error("`recipient` must not be the zero address: the token cannot mint to it")]
    ZeroRecipient,
    #[error(transparent)]
    QuantityOutOfRange(#[from] QuantityOutOfRange),
    #[error(transparent)]
    Priority(#[from] Refusal),
    #[error("`txHash` must be a 0x-prefixed 32-byte hex hash, got `{0}`")]
    InvalidTxHash(String),
    #[error("`Idempotency-Key` must be 1 to 200 visible ASCII characters")]
    InvalidKey,
    #[error(
        "`Idempotency-Key` may not contain `#` or start with `payment:`: the service names its \
         own mints so"
    )]
    KeyReservedForService,
    #[error(
        "an `Idempotency-Key` in the form of a transaction hash must be the request's own \
         `txHash`"
    )]
    KeyNamesAnotherTx,
    #[error("no `token` given and the server has no default token (TOKEN_ADDRESS)")]
    NoDefaultToken,
    #[error("idempotency key `{key}` was used with a different request (mint {existing})")]
    IdempotencyConflict { key: String, existing: Uuid },
    /// A fault of this process, not of the request: its workflow starter is gone
    /// (`StarterError::Stopped`).
    #[error("the workflow starter task stopped: this process can create no workflow")]
    StarterStopped,
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// A request asks for fewer than 1 or more than `MAX_QUANTITY` mints.
#[derive(Clone, Copy, Debug, thiserror::Error)]
#[error("`quantity` must be between 1 and {MAX_QUANTITY}, got {0}")]
pub struct QuantityOutOfRange(pub i64);

/// How many mints a request (a mint request, a payment) asks for: 1 when it does not say.
pub fn quantity(requested: Option<i64>) -> Result<u32, QuantityOutOfRange> {
    let quantity = requested.unwrap_or(1);
    if (1..=i64::from(MAX_QUANTITY)).contains(&quantity) {
        Ok(quantity as u32)
    } else {
        Err(QuantityOutOfRange(quantity))
    }
}

/// A request to mint, its addresses parsed.
#[derive(Clone, Debug)]
pub struct Intake {
    pub payer: Address,
    /// The payer when absent.
    pub recipient: Option<Address>,
    /// The server's default token when absent.
    pub token: Option<Address>,
    /// 1 when absent.
    pub quantity: Option<i64>,
    /// The default priority when absent.
    pub priority: Option<i64>,
    /// The highest priority the caller may ask for.
    pub max_priority: i16,
    /// The payment's transaction hash, the key when no `key` is given.
    pub tx_hash: Option<String>,
    /// The client's idempotency key.
    pub key: Option<String>,
    pub payment_type: PaymentType,
}

/// The mints `intake` asks for, once it meets every rule that needs neither the chain nor
/// the database. A request without a key gets a fresh one.
pub fn request(ctx: &Context<'_>, intake: Intake) -> Result<MintRequest, Error> {
    let recipient = intake.recipient.unwrap_or(intake.payer);
    if recipient == Address::ZERO {
        return Err(Error::ZeroRecipient);
    }
    let quantity = quantity(intake.quantity)?;
    let priority = priority::admit(intake.priority, intake.max_priority)?;
    if let Some(hash) = &intake.tx_hash {
        check_tx_hash(hash)?;
    }
    let key = match (intake.key, intake.tx_hash.as_deref()) {
        (Some(k), tx_hash) => checked_key(k, tx_hash)?,
        (None, Some(hash)) => hash.to_lowercase(),
        (None, None) => Uuid::now_v7().to_string(),
    };
    let token = match intake.token {
        Some(t) => t,
        None => ctx.contracts.token.ok_or(Error::NoDefaultToken)?,
    };
    Ok(MintRequest {
        payer: intake.payer,
        recipient,
        token,
        quantity,
        payment_type: intake.payment_type,
        key,
        parent_id: None,
        priority,
    })
}

/// Queues the mints of `request`, committed before this returns, and wakes the batcher.
pub async fn enqueue(ctx: &Context<'_>, request: &MintRequest) -> Result<Enqueued, Error> {
    let enqueued = mint::enqueue(ctx.client, request)
        .await
        .map_err(|e| match e {
            StarterError::Start(StartError::IdempotencyConflict { existing }) => {
                Error::IdempotencyConflict {
                    key: request.key.clone(),
                    existing,
                }
            }
            StarterError::Start(StartError::Db(e)) => Error::Db(e),
            StarterError::Stopped => Error::StarterStopped,
        })?;
    if !enqueued.existing {
        ctx.queue.notify();
    }
    Ok(enqueued)
}

/// The mint `id`, `None` when there is no mint of that id.
pub async fn find(ctx: &Context<'_>, id: Uuid) -> Result<Option<workflow::Model>, DbErr> {
    Ok(rows::find(ctx.db, id).await?.filter(|w| w.kind == MINT))
}

/// The exact place of the pending mint `row` in its token's queue (1 is next).
pub async fn queue_position(ctx: &Context<'_>, row: &workflow::Model) -> Result<i64, DbErr> {
    let place = QueuePlace {
        priority: row.priority,
        id: row.id,
    };
    queue::position(ctx.db, row.token.as_deref().unwrap_or_default(), place).await
}

/// The mint rows `filter` selects (its kind is set here), newest first.
pub async fn list(ctx: &Context<'_>, filter: ListFilter) -> Result<Vec<workflow::Model>, DbErr> {
    let filter = ListFilter {
        kind: Some(MINT.into()),
        ..filter
    };
    rows::list(ctx.read_db, &filter).await
}

/// The mint batch `id`, `None` when there is no batch of that id.
pub async fn batch(ctx: &Context<'_>, id: Uuid) -> Result<Option<workflow::Model>, DbErr> {
    Ok(rows::find(ctx.db, id)
        .await?
        .filter(|w| w.kind == MINT_BATCH))
}

/// Moves a mint still waiting in the queue to priority `wanted` (0 to 100), recorded as `who`.
pub async fn set_priority(
    ctx: &Context<'_>,
    id: Uuid,
    wanted: i64,
    who: &Actor,
) -> Result<Reprioritized, Error> {
    let wanted = priority::in_range(wanted)?;
    Ok(queue::set_priority(ctx.db, id, wanted, who, ctx.clock.now_ms()).await?)
}

fn check_tx_hash(raw: &str) -> Result<(), Error> {
    let hex = raw.strip_prefix("0x").unwrap_or_default();
    if hex.len() == 64 && hex.chars().all(|c| c.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(Error::InvalidTxHash(raw.to_owned()))
    }
}

/// A client's idempotency key: it may not stand for a key the service uses itself (a
/// payment's mints, another request's later mints), nor for a transaction hash other than the
/// request's own `txHash` (the natural key of the mints that transaction paid for).
fn checked_key(key: String, tx_hash: Option<&str>) -> Result<String, Error> {
    if !(1..=200).contains(&key.len()) || !key.chars().all(|c| c.is_ascii_graphic()) {
        return Err(Error::InvalidKey);
    }
    if mint::is_reserved_key(&key) {
        return Err(Error::KeyReservedForService);
    }
    let names_other_tx =
        check_tx_hash(&key).is_ok() && tx_hash.is_none_or(|own| !own.eq_ignore_ascii_case(&key));
    if names_other_tx {
        return Err(Error::KeyNamesAnotherTx);
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quantity_is_1_to_the_maximum_and_1_when_absent() {
        assert_eq!(quantity(None).unwrap(), 1);
        assert_eq!(quantity(Some(100)).unwrap(), MAX_QUANTITY);
        for wrong in [0, -1, 101] {
            assert_eq!(quantity(Some(wrong)).unwrap_err().0, wrong);
        }
    }

    const HASH: &str = "0x1111111111111111111111111111111111111111111111111111111111111111";

    #[test]
    fn a_key_may_name_only_the_request_own_transaction() {
        assert_eq!(checked_key(HASH.into(), Some(HASH)).unwrap(), HASH);
        let upper = HASH.to_uppercase().replacen("0X", "0x", 1);
        assert!(checked_key(upper, Some(HASH)).is_ok());
        assert!(matches!(
            checked_key(HASH.into(), None),
            Err(Error::KeyNamesAnotherTx)
        ));
        let other = HASH.replace('1', "2");
        assert!(matches!(
            checked_key(other, Some(HASH)),
            Err(Error::KeyNamesAnotherTx)
        ));
    }

    #[test]
    fn keys_of_the_service_and_bad_shapes_are_refused() {
        for reserved in ["a#1", "payment:x"] {
            assert!(matches!(
                checked_key(reserved.into(), None),
                Err(Error::KeyReservedForService)
            ));
        }
        for bad in [String::new(), "has space".into(), "x".repeat(201)] {
            assert!(matches!(checked_key(bad, None), Err(Error::InvalidKey)));
        }
        assert_eq!(checked_key("order-7".into(), None).unwrap(), "order-7");
    }
}
