//! The durable engine's tables: workflows, their history, and the hot system settings.
//!
//! Times are stored as unix epoch milliseconds (BIGINT) so that the same comparisons and index
//! scans work identically on PostgreSQL and SQLite.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Workflows {
    Table,
    Id,
    Kind,
    Status,
    State,
    Data,
    SchemaVersion,
    Priority,
    RunAtMs,
    Attempt,
    Version,
    LeaseOwner,
    LeaseUntilMs,
    WakePending,
    IdempotencyKey,
    RequestHash,
    ParentId,
    Payer,
    Token,
    TxHash,
    LastError,
    CreatedAtMs,
    UpdatedAtMs,
    FinishedAtMs,
}

#[derive(DeriveIden)]
enum WorkflowEvents {
    Table,
    Id,
    WorkflowId,
    Event,
    FromState,
    ToState,
    Status,
    Attempt,
    Worker,
    Detail,
    AtMs,
}

#[derive(DeriveIden)]
enum SystemSettings {
    Table,
    Key,
    Value,
    UpdatedAtMs,
    UpdatedBy,
}

/// Defaults every installation starts with; `PUT /v1/settings/{key}` changes them live.
/// The keys and their validation rules live in `src/config/settings.rs`.
const DEFAULT_SETTINGS: &[(&str, &str)] = &[
    ("max_batch_size", "100"),
    ("max_batch_wait_ms", "500"),
    ("retry_max_attempts", "10"),
    ("retry_base_delay_ms", "500"),
    ("retry_max_delay_ms", "300000"),
    ("lease_seconds", "15"),
    ("claim_batch_size", "128"),
    ("max_concurrent_steps", "512"),
    ("confirmations", "2"),
    ("bump_after_secs", "20"),
    ("bump_after_blocks", "3"),
    ("max_fee_gwei", "500"),
    ("retention_days", "30"),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Workflows::Table)
                    .col(pk_uuid(Workflows::Id))
                    .col(string_len(Workflows::Kind, 64))
                    .col(string_len(Workflows::Status, 32))
                    .col(string_len(Workflows::State, 64))
                    .col(json_binary(Workflows::Data))
                    .col(integer(Workflows::SchemaVersion))
                    .col(small_integer(Workflows::Priority).default(0))
                    .col(big_integer_null(Workflows::RunAtMs))
                    .col(integer(Workflows::Attempt).default(0))
                    .col(big_integer(Workflows::Version).default(0))
                    .col(string_len_null(Workflows::LeaseOwner, 128))
                    .col(big_integer_null(Workflows::LeaseUntilMs))
                    // A wake-up that arrived while a step was running: its checkpoint must not
                    // park the workflow (the step may have looked before the event happened).
                    .col(boolean(Workflows::WakePending).default(false))
                    .col(string_len_null(Workflows::IdempotencyKey, 255))
                    .col(string_len_null(Workflows::RequestHash, 64))
                    .col(uuid_null(Workflows::ParentId))
                    .col(string_len_null(Workflows::Payer, 64))
                    .col(string_len_null(Workflows::Token, 64))
                    .col(string_len_null(Workflows::TxHash, 66))
                    .col(text_null(Workflows::LastError))
                    .col(big_integer(Workflows::CreatedAtMs))
                    .col(big_integer(Workflows::UpdatedAtMs))
                    .col(big_integer_null(Workflows::FinishedAtMs))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(WorkflowEvents::Table)
                    .col(
                        ColumnDef::new(WorkflowEvents::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(uuid(WorkflowEvents::WorkflowId))
                    .col(string_len(WorkflowEvents::Event, 32))
                    .col(string_len_null(WorkflowEvents::FromState, 64))
                    .col(string_len(WorkflowEvents::ToState, 64))
                    .col(string_len(WorkflowEvents::Status, 32))
                    .col(integer(WorkflowEvents::Attempt))
                    .col(string_len_null(WorkflowEvents::Worker, 128))
                    .col(json_binary_null(WorkflowEvents::Detail))
                    .col(big_integer(WorkflowEvents::AtMs))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_workflow_events_workflow")
                            .from(WorkflowEvents::Table, WorkflowEvents::WorkflowId)
                            .to(Workflows::Table, Workflows::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(SystemSettings::Table)
                    .col(string_len(SystemSettings::Key, 64).primary_key())
                    .col(json_binary(SystemSettings::Value))
                    .col(big_integer(SystemSettings::UpdatedAtMs))
                    .col(string_len_null(SystemSettings::UpdatedBy, 128))
                    .to_owned(),
            )
            .await?;

        // Plain SQL that both PostgreSQL and SQLite accept: partial indexes are not expressible
        // through the schema builder, and the claim query depends on them.
        let db = manager.get_connection();
        // Every index costs a write on each non-HOT update of a workflow row, and rows are
        // updated at every transition: the hot table keeps few, mostly partial, indexes.
        for sql in [
            // The claim scan: due rows only (terminal and waiting rows have run_at_ms NULL).
            "CREATE INDEX idx_workflows_due ON workflows (priority DESC, run_at_ms) WHERE run_at_ms IS NOT NULL",
            // Heartbeats and shutdown release find a worker's leased rows.
            "CREATE INDEX idx_workflows_lease_owner ON workflows (lease_owner) WHERE lease_owner IS NOT NULL",
            "CREATE UNIQUE INDEX idx_workflows_idempotency ON workflows (kind, idempotency_key) WHERE idempotency_key IS NOT NULL",
            // Retention and the operators' dead-letter view.
            "CREATE INDEX idx_workflows_finished ON workflows (finished_at_ms) WHERE finished_at_ms IS NOT NULL",
            "CREATE INDEX idx_workflows_dead_letter ON workflows (status, id) WHERE status IN ('failed', 'needs_migration')",
            "CREATE INDEX idx_workflows_parent ON workflows (parent_id) WHERE parent_id IS NOT NULL",
            "CREATE INDEX idx_workflows_payer ON workflows (payer) WHERE payer IS NOT NULL",
            "CREATE INDEX idx_workflows_token ON workflows (token) WHERE token IS NOT NULL",
            "CREATE INDEX idx_workflows_tx_hash ON workflows (tx_hash) WHERE tx_hash IS NOT NULL",
            "CREATE INDEX idx_workflow_events_workflow ON workflow_events (workflow_id, id)",
        ] {
            db.execute_unprepared(sql).await?;
        }
        if manager.get_database_backend() == sea_orm_migration::sea_orm::DbBackend::Postgres {
            // Room on each page for HOT updates: transitions that change no indexed column
            // (a step that keeps its lease) then write no index entries at all.
            db.execute_unprepared("ALTER TABLE workflows SET (fillfactor = 80)")
                .await?;
        }

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
            .to_owned();
        for (key, value) in DEFAULT_SETTINGS {
            let json: serde_json::Value =
                serde_json::from_str(value).expect("default settings are valid JSON");
            insert.values_panic([
                (*key).into(),
                json.into(),
                now_ms.into(),
                "migration".into(),
            ]);
        }
        manager.exec_stmt(insert).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(WorkflowEvents::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Workflows::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(SystemSettings::Table).to_owned())
            .await
    }
}
