//! The webhook dispatcher claims each subscription's oldest due deliveries. The index on due
//! time alone (migration 4) made that a ranking of every due delivery of every subscription,
//! whose cost grew with the backlog (22-26 ms a claim with tens of thousands waiting, so the
//! dispatcher fell further behind the more it had to do). This index, by subscription and due
//! time, partial so it holds only pending deliveries, answers each subscription's read with the
//! rows it returns; it also counts the pending deliveries, so it replaces the old one rather
//! than adding a second index to every delivery written.
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for sql in [
            "CREATE INDEX idx_webhook_deliveries_pending \
             ON webhook_deliveries (webhook_id, next_attempt_at_ms, id) WHERE status = 'pending'",
            "DROP INDEX idx_webhook_deliveries_due",
        ] {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for sql in [
            "CREATE INDEX idx_webhook_deliveries_due ON webhook_deliveries (next_attempt_at_ms) \
             WHERE status = 'pending'",
            "DROP INDEX idx_webhook_deliveries_pending",
        ] {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }
}
