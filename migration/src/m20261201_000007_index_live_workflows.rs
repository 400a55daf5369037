//! An index of the workflows that have not finished, by kind, state and status: the operator
//! overview (`/v1/stats`, `/metrics`, the queue views) counts them every second from it
//! alone (an index-only scan), however many finished workflows the table keeps. Partial, so
//! it holds only the live rows (the queue, not the history), and its columns change only with
//! a transition, which rewrites the row's index entries anyway: lease renewals stay HOT.
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE INDEX idx_workflows_live ON workflows (kind, state, status) \
                 WHERE finished_at_ms IS NULL",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP INDEX idx_workflows_live")
            .await?;
        Ok(())
    }
}
