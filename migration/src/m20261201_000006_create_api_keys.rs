//! API keys: what lets a caller read, mint without paying, or administer. Only a SHA-256 hash of
//! each key is stored (a leaked table grants nothing), with a short prefix an operator can
//! recognise the key by; revoked keys stay, so the audit log's references keep their meaning.
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for sql in ["CREATE TABLE api_keys (\
               id VARCHAR(36) PRIMARY KEY, \
               name VARCHAR(100) NOT NULL, \
               prefix VARCHAR(16) NOT NULL, \
               key_hash VARCHAR(64) NOT NULL UNIQUE, \
               scopes VARCHAR(64) NOT NULL, \
               mint_quota_per_minute BIGINT, \
               expires_at_ms BIGINT, \
               created_at_ms BIGINT NOT NULL, \
               created_by VARCHAR(200) NOT NULL, \
               last_used_at_ms BIGINT, \
               revoked_at_ms BIGINT)"]
        {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP TABLE api_keys")
            .await?;
        Ok(())
    }
}
