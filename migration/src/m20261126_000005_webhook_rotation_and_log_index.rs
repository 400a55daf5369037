//! Webhooks: a secret being rotated out, still signing beside the new one until its time is up
//! (receivers switch without a window where they refuse requests), and an index to read a
//! subscription's delivery log by status: the operator's `?status=failed` and the redelivery of
//! every failed delivery would otherwise scan all of a subscription's deliveries, and the log
//! keeps one per event for `retention_days`.
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for sql in [
            "ALTER TABLE webhooks ADD COLUMN previous_secret VARCHAR(128)",
            "ALTER TABLE webhooks ADD COLUMN previous_secret_until_ms BIGINT",
            "CREATE INDEX idx_webhook_deliveries_status \
             ON webhook_deliveries (webhook_id, status, position)",
        ] {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for sql in [
            "DROP INDEX idx_webhook_deliveries_status",
            "ALTER TABLE webhooks DROP COLUMN previous_secret_until_ms",
            "ALTER TABLE webhooks DROP COLUMN previous_secret",
        ] {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }
}
