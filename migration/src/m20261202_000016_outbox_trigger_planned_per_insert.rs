//! The outbox trigger (migration 4) copies each new history event with its workflow's kind. As
//! static PL/pgSQL, its join of the inserted events to `workflows` was planned once per
//! connection, at its first insert, and that plan was kept: made while the table was small, it
//! hashed the whole table, and it went on doing so as the table grew. Every group of new mints
//! then cost a scan of every workflow ever made (intake fell from about 3,000 to 600 requests/s
//! over 100,000 requests). Now each event's workflow is looked up by its key (a join would
//! still hash the whole table: the planner does not know how many events an insert carries),
//! in a statement run through `EXECUTE`, so planned at each insert with the table as it is then
//! (a plan kept from an empty table would scan it for every event). SQLite's row-level trigger
//! always looked the workflow up by key.
use sea_orm_migration::prelude::*;

use crate::m20261126_000004_create_outbox_tables;

#[derive(DeriveMigrationName)]
pub struct Migration;

const PLANNED_PER_INSERT: &str = r#"CREATE OR REPLACE FUNCTION mintflow_outbox_append()
RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE 'INSERT INTO outbox (event_id, workflow_id, kind, at_ms)
           SELECT n.id, n.workflow_id,
                  (SELECT w.kind FROM workflows w WHERE w.id = n.workflow_id), n.at_ms
             FROM new_events n
            ORDER BY n.id';
  RETURN NULL;
END $$"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        replace(manager, PLANNED_PER_INSERT).await
    }

    /// Back to migration 4's function, planned once per connection.
    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let planned_once = m20261126_000004_create_outbox_tables::PG_TRIGGER[0].replacen(
            "CREATE FUNCTION",
            "CREATE OR REPLACE FUNCTION",
            1,
        );
        replace(manager, &planned_once).await
    }
}

async fn replace(manager: &SchemaManager<'_>, function: &str) -> Result<(), DbErr> {
    if manager.get_database_backend() != sea_orm::DatabaseBackend::Postgres {
        return Ok(());
    }
    manager
        .get_connection()
        .execute_unprepared(function)
        .await?;
    Ok(())
}
