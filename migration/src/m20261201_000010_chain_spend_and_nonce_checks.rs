//! What the sender needs to keep fees from draining the signer and to never fail a mined
//! transaction:
//! - `mined_at_ms` and `effective_gas_price` (wei, a decimal string like the attempts' fees):
//!   with `gas_used`, what a mined transaction cost, and when, for the rolling spend budget
//!   (`max_gas_spend_wei_per_hour`); an index finds the last hour's per signer.
//! - `nonce_taken_at_ms` and `nonce_taken_reads`: when the node first said the transaction's
//!   nonce was used while none of its attempts had a receipt, and in how many consecutive
//!   sender passes since; it is declared replaced only after several (a node behind a load
//!   balancer can answer the nonce before the receipt).
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ChainTxs {
    Table,
    ChainId,
    Signer,
    MinedAtMs,
    EffectiveGasPrice,
    NonceTakenAtMs,
    NonceTakenReads,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one thing at a time.
        for column in [
            big_integer_null(ChainTxs::MinedAtMs),
            string_len_null(ChainTxs::EffectiveGasPrice, 78),
            big_integer_null(ChainTxs::NonceTakenAtMs),
            big_integer(ChainTxs::NonceTakenReads).default(0).to_owned(),
        ] {
            let mut column = column;
            manager
                .alter_table(
                    Table::alter()
                        .table(ChainTxs::Table)
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_index(
                Index::create()
                    .name("idx_chain_txs_mined_at")
                    .table(ChainTxs::Table)
                    .col(ChainTxs::ChainId)
                    .col(ChainTxs::Signer)
                    .col(ChainTxs::MinedAtMs)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_chain_txs_mined_at")
                    .table(ChainTxs::Table)
                    .to_owned(),
            )
            .await?;
        for column in [
            ChainTxs::MinedAtMs,
            ChainTxs::EffectiveGasPrice,
            ChainTxs::NonceTakenAtMs,
            ChainTxs::NonceTakenReads,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(ChainTxs::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
