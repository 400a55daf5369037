//! `signer_balance_samples`: the signer's balance once a minute, written by a worker's periodic
//! job and kept for a day (the job deletes older rows), so the dashboard can chart the
//! balance's trend: nothing else records it over time (the overview reads it live). One row
//! per chain, signer and minute: several workers sampling the same signer share it.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum SignerBalanceSamples {
    Table,
    ChainId,
    Signer,
    MinuteMs,
    BalanceWei,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(SignerBalanceSamples::Table)
                    .col(big_integer(SignerBalanceSamples::ChainId))
                    // Lowercase 0x address, as `chain_txs.signer`.
                    .col(string_len(SignerBalanceSamples::Signer, 42))
                    // The start of the minute sampled, unix ms.
                    .col(big_integer(SignerBalanceSamples::MinuteMs))
                    // Wei as a decimal string: a U256 fits no integer column of both backends.
                    .col(string_len(SignerBalanceSamples::BalanceWei, 80))
                    .primary_key(
                        Index::create()
                            .col(SignerBalanceSamples::ChainId)
                            .col(SignerBalanceSamples::Signer)
                            .col(SignerBalanceSamples::MinuteMs),
                    )
                    .to_owned(),
            )
            .await?;
        // Retention and the dashboard's hour read by time, whatever the signer.
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE INDEX idx_signer_balance_samples_minute ON signer_balance_samples (minute_ms)",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(SignerBalanceSamples::Table).to_owned())
            .await
    }
}
