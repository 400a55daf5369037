//! Mint priority: the batcher takes a token's pending mints highest `priority` first, then
//! oldest first, so its partial index of the queue is ordered that way (it replaces the
//! `(token, id)` one, which only served oldest first). API keys get the highest priority they
//! may ask for (`max_mint_priority`, 0 for the keys that exist: nothing changes for them).
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for sql in [
            "ALTER TABLE api_keys ADD COLUMN max_mint_priority SMALLINT NOT NULL DEFAULT 0",
            "DROP INDEX idx_workflows_pending_mints",
            "CREATE INDEX idx_workflows_pending_mints_by_priority \
             ON workflows (token, priority DESC, id) \
             WHERE kind = 'mint' AND state = 'pending' AND status = 'waiting'",
        ] {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for sql in [
            "DROP INDEX idx_workflows_pending_mints_by_priority",
            "CREATE INDEX idx_workflows_pending_mints ON workflows (token, id) \
             WHERE kind = 'mint' AND state = 'pending' AND status = 'waiting'",
            "ALTER TABLE api_keys DROP COLUMN max_mint_priority",
        ] {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }
}
