//! `payment_receipts`: the permanent ledger of what paid (see the migration that creates it).
//! Rows are inserted with their payment and updated once, when it confirms; nothing deletes
//! them.
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect,
};
use uuid::Uuid;

use super::entity::payment_receipt::{self, Column, Entity};

pub use payment_receipt::Model as Receipt;

/// What `reserve` found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reserved {
    /// The receipt was written: the key is this payment's.
    New,
    /// The key paid before, for this payment (whose workflow may be gone).
    Taken(Uuid),
}

/// Writes `receipt` unless its reservation key (per chain and asset) has one already. Run it
/// in the transaction that creates the payment, so that the payment and its reservation
/// commit together. `ON CONFLICT DO NOTHING` leaves a PostgreSQL transaction usable (a unique
/// violation would abort it) and waits for a concurrent insert of the same key to commit.
pub async fn reserve<C: ConnectionTrait>(conn: &C, receipt: &Receipt) -> Result<Reserved, DbErr> {
    let row = payment_receipt::ActiveModel {
        payment_id: Set(receipt.payment_id),
        chain_id: Set(receipt.chain_id),
        asset: Set(receipt.asset.clone()),
        kind: Set(receipt.kind.clone()),
        reservation_key: Set(receipt.reservation_key.clone()),
        payer: Set(receipt.payer.clone()),
        amount: Set(receipt.amount.clone()),
        tx_hash: Set(receipt.tx_hash.clone()),
        block: Set(receipt.block),
        created_at_ms: Set(receipt.created_at_ms),
        updated_at_ms: Set(receipt.updated_at_ms),
    };
    let inserted = Entity::insert(row)
        .on_conflict(
            OnConflict::columns([Column::ChainId, Column::Asset, Column::ReservationKey])
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(conn)
        .await?;
    if inserted == 1 {
        return Ok(Reserved::New);
    }
    let first: Option<Uuid> = Entity::find()
        .select_only()
        .column(Column::PaymentId)
        .filter(Column::ChainId.eq(receipt.chain_id))
        .filter(Column::Asset.eq(receipt.asset.clone()))
        .filter(Column::ReservationKey.eq(receipt.reservation_key.clone()))
        .into_tuple()
        .one(conn)
        .await?;
    first.map(Reserved::Taken).ok_or_else(|| {
        DbErr::RecordNotFound("the payment receipt that conflicted (deleted meanwhile)".into())
    })
}

/// Records the settlement that confirmed `payments` (one transaction can settle many: a
/// batch), in their checkpoint transaction. A payment created before the ledger existed has no
/// receipt: nothing to update.
pub async fn record_settlement<C: ConnectionTrait>(
    conn: &C,
    payments: &[Uuid],
    tx_hash: &str,
    block: i64,
    now_ms: i64,
) -> Result<(), DbErr> {
    Entity::update_many()
        .col_expr(Column::TxHash, Expr::value(tx_hash))
        .col_expr(Column::Block, Expr::value(block))
        .col_expr(Column::UpdatedAtMs, Expr::value(now_ms))
        .filter(Column::PaymentId.is_in(payments.iter().copied()))
        .exec(conn)
        .await?;
    Ok(())
}

pub async fn find<C: ConnectionTrait>(conn: &C, payment: Uuid) -> Result<Option<Receipt>, DbErr> {
    Entity::find_by_id(payment).one(conn).await
}
