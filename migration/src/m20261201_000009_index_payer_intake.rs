//! Indexes for the payment intake's per-payer check (`store::payers`), read in the transaction
//! that creates every payment mintflow settles: a payer's payments still under way, and the
//! settlements that reverted in the last hour. Both partial, so they hold only the few rows the
//! check reads: open payments (their columns change only when the payment finishes) and
//! reverted transactions (rare, and never updated again).
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for sql in [
            "CREATE INDEX idx_workflows_open_payments ON workflows (payer) \
             WHERE kind = 'payment' AND finished_at_ms IS NULL",
            "CREATE INDEX idx_chain_txs_reverted ON chain_txs (confirmed_at_ms) \
             WHERE status = 'reverted'",
        ] {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for sql in [
            "DROP INDEX idx_chain_txs_reverted",
            "DROP INDEX idx_workflows_open_payments",
        ] {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }
}
