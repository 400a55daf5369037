//! A key's own facilitator payees: a `facilitate` key given some settles payments to those
//! only (within `FACILITATOR_PAY_TO`), so resource servers sharing one mintflow cannot settle
//! for each other. Comma-separated lowercase addresses; `NULL` for the keys that exist, which
//! keep settling for every payee the server allows.
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("ALTER TABLE api_keys ADD COLUMN facilitator_pay_to TEXT")
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("ALTER TABLE api_keys DROP COLUMN facilitator_pay_to")
            .await?;
        Ok(())
    }
}
