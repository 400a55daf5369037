//! Mints: the token registry, the index the batcher scans for pending mints, and the settings
//! that bound the mint queue.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Tokens {
    Table,
    ChainId,
    Address,
    Name,
    Symbol,
    AmountPerMint,
    MaxSupply,
    Deployer,
    DeployTxHash,
    DeployBlock,
    CreatedAtMs,
}

#[derive(DeriveIden)]
enum SystemSettings {
    Table,
    Key,
    Value,
    UpdatedAtMs,
    UpdatedBy,
}

/// Added to the defaults of the first migration; `PUT /v1/settings/{key}` changes them live.
const NEW_SETTINGS: &[(&str, i64)] = &[
    ("max_queue_depth", 100_000),
    ("payer_rate_per_minute", 600),
    ("ip_rate_per_minute", 6_000),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Tokens::Table)
                    .col(big_integer(Tokens::ChainId))
                    // Lowercase 0x-hex, like every address column.
                    .col(string_len(Tokens::Address, 42))
                    .col(string_len(Tokens::Name, 128))
                    .col(string_len(Tokens::Symbol, 32))
                    // uint256 values as decimal strings.
                    .col(string_len(Tokens::AmountPerMint, 80))
                    .col(string_len(Tokens::MaxSupply, 80))
                    .col(string_len_null(Tokens::Deployer, 42))
                    .col(string_len_null(Tokens::DeployTxHash, 66))
                    .col(big_integer_null(Tokens::DeployBlock))
                    .col(big_integer(Tokens::CreatedAtMs))
                    .primary_key(Index::create().col(Tokens::ChainId).col(Tokens::Address))
                    .to_owned(),
            )
            .await?;

        // The batcher's scan: pending mints of one token, oldest first. Partial, so the index
        // holds only the queue, not every mint ever made.
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE INDEX idx_workflows_pending_mints ON workflows (token, id) \
                 WHERE kind = 'mint' AND state = 'pending' AND status = 'waiting'",
            )
            .await?;

        let now_ms: i64 = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or_default();
        let mut insert = Query::insert()
            .into_table(SystemSettings::Table)
            .columns([
                SystemSettings::Key,
                SystemSettings::Value,
                SystemSettings::UpdatedAtMs,
                SystemSettings::UpdatedBy,
            ])
            .on_conflict(
                OnConflict::column(SystemSettings::Key)
                    .do_nothing()
                    .to_owned(),
            )
            .to_owned();
        for (key, value) in NEW_SETTINGS {
            insert.values_panic([
                (*key).into(),
                serde_json::json!(value).into(),
                now_ms.into(),
                "migration".into(),
            ]);
        }
        manager.exec_stmt(insert).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP INDEX idx_workflows_pending_mints")
            .await?;
        manager
            .drop_table(Table::drop().table(Tokens::Table).to_owned())
            .await
    }
}
