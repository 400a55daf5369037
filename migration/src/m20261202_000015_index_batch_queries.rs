//! Indexes for the batcher's per-batch reads, which scanned every workflow a token ever had, so
//! that forming a batch cost more with every mint made (intake fell from 3,365 to 1,976
//! requests/s over 100,000 requests). Both partial, so they hold only the rows those reads want:
//! - the mints a batch carries (`processing` or `sent`, whatever their status), which the
//!   supply check counts: each mint passes through twice, and leaves when it is confirmed;
//! - the batches (one row per hundreds of mints), newest first, for the recent batches'
//!   latency that admission estimates from.
//!
//! The open batches need no index of their own: they are live rows, which
//! `idx_workflows_live` (migration 7) already holds.
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for sql in [
            "CREATE INDEX idx_workflows_batched_mints ON workflows (token) \
             WHERE kind = 'mint' AND state IN ('processing', 'sent')",
            "CREATE INDEX idx_workflows_batches ON workflows (id) WHERE kind = 'mint_batch'",
        ] {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for sql in [
            "DROP INDEX idx_workflows_batches",
            "DROP INDEX idx_workflows_batched_mints",
        ] {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }
}
