//! A webhook's delivery log read by status: the operator's `?status=failed` and the
//! redelivery of every failed delivery. Without it both scan all of a subscription's
//! deliveries, and the log keeps one per event for `retention_days`.
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE INDEX idx_webhook_deliveries_status \
                 ON webhook_deliveries (webhook_id, status, position)",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP INDEX idx_webhook_deliveries_status")
            .await?;
        Ok(())
    }
}
