//! `payment_receipts`: the permanent ledger of what paid. One row per payment, written in the
//! transaction that creates the payment, and never deleted (retention keeps payments too, and
//! an archive that prunes them leaves their receipts). The unique index on the reservation key
//! (the EIP-3009 authorization `from:nonce`, or the custom transfer's hash) per chain and asset
//! is what makes a key pay once forever: the workflow's idempotency key only reserves it while
//! the workflow row exists.
//!
//! Payments created before this migration have no receipt; their workflow rows keep reserving
//! their keys, and retention no longer deletes them.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum PaymentReceipts {
    Table,
    PaymentId,
    ChainId,
    Asset,
    Kind,
    ReservationKey,
    Payer,
    Amount,
    TxHash,
    Block,
    CreatedAtMs,
    UpdatedAtMs,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(PaymentReceipts::Table)
                    .col(pk_uuid(PaymentReceipts::PaymentId))
                    .col(big_integer(PaymentReceipts::ChainId))
                    // Lowercase 0x addresses, as the workflows' `payer` and `token` columns.
                    .col(string_len(PaymentReceipts::Asset, 42))
                    // `x402`, `gasless` or `custom`; not part of the key: an authorization
                    // paid through x402 cannot pay again as `gasless`.
                    .col(string_len(PaymentReceipts::Kind, 16))
                    .col(string_len(PaymentReceipts::ReservationKey, 255))
                    .col(string_len(PaymentReceipts::Payer, 42))
                    // USDC base units as a decimal string (a uint256 fits no SQL integer).
                    .col(string_len(PaymentReceipts::Amount, 78))
                    // The settlement that moved the funds, once the payment confirmed.
                    .col(string_len_null(PaymentReceipts::TxHash, 66))
                    .col(big_integer_null(PaymentReceipts::Block))
                    .col(big_integer(PaymentReceipts::CreatedAtMs))
                    .col(big_integer(PaymentReceipts::UpdatedAtMs))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_payment_receipts_reservation")
                    .table(PaymentReceipts::Table)
                    .col(PaymentReceipts::ChainId)
                    .col(PaymentReceipts::Asset)
                    .col(PaymentReceipts::ReservationKey)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(PaymentReceipts::Table).to_owned())
            .await
    }
}
