//! Operators: the outbox every history event passes through on its way to server-sent events
//! and webhooks, webhook subscriptions with their delivery log, and the audit log of admin
//! actions.
//!
//! The outbox row is written by a trigger on `workflow_events`, so it is part of the very
//! transaction that records the transition, whatever code path wrote it. Its `position` (the
//! delivery order) is given later by one sequencer at a time, after the transition committed:
//! ids of concurrent transactions become visible out of order, positions never do.
use sea_orm_migration::{prelude::*, schema::*, sea_orm::DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Outbox {
    Table,
    Id,
    Position,
    EventId,
    WorkflowId,
    Kind,
    AtMs,
}

#[derive(DeriveIden)]
enum OutboxHead {
    Table,
    Id,
    Head,
}

#[derive(DeriveIden)]
enum Webhooks {
    Table,
    Id,
    Url,
    Secret,
    Kinds,
    States,
    Description,
    Cursor,
    CreatedAtMs,
    CreatedBy,
}

#[derive(DeriveIden)]
enum WebhookDeliveries {
    Table,
    Id,
    WebhookId,
    Position,
    EventId,
    WorkflowId,
    Status,
    Attempts,
    NextAttemptAtMs,
    LastStatusCode,
    LastError,
    CreatedAtMs,
    LastAttemptAtMs,
    DeliveredAtMs,
}

#[derive(DeriveIden)]
enum AuditLog {
    Table,
    Id,
    AtMs,
    Actor,
    Action,
    Target,
    Detail,
}

/// PostgreSQL: one statement-level trigger per insert statement (a group commit inserts many
/// events in one statement), reading the inserted rows as a transition table.
pub(crate) const PG_TRIGGER: &[&str] = &[
    r#"CREATE FUNCTION mintflow_outbox_append() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         INSERT INTO outbox (event_id, workflow_id, kind, at_ms)
         SELECT n.id, n.workflow_id, w.kind, n.at_ms
           FROM new_events n JOIN workflows w ON w.id = n.workflow_id
          ORDER BY n.id;
         RETURN NULL;
       END $$"#,
    "CREATE TRIGGER workflow_events_outbox AFTER INSERT ON workflow_events \
     REFERENCING NEW TABLE AS new_events FOR EACH STATEMENT \
     EXECUTE FUNCTION mintflow_outbox_append()",
];

/// SQLite has row-level triggers only.
const SQLITE_TRIGGER: &str = "CREATE TRIGGER workflow_events_outbox AFTER INSERT ON workflow_events \
     BEGIN \
       INSERT INTO outbox (event_id, workflow_id, kind, at_ms) \
       SELECT NEW.id, NEW.workflow_id, w.kind, NEW.at_ms FROM workflows w WHERE w.id = NEW.workflow_id; \
     END";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Outbox::Table)
                    .col(
                        ColumnDef::new(Outbox::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    // NULL until the sequencer orders it; then the SSE `id` and the cursor of
                    // every reader.
                    .col(big_integer_null(Outbox::Position))
                    .col(big_integer(Outbox::EventId))
                    .col(uuid(Outbox::WorkflowId))
                    .col(string_len(Outbox::Kind, 64))
                    // No foreign key to `workflow_events`: deleting a workflow's history would
                    // then search the outbox for each event. Retention removes outbox rows by
                    // age instead, and readers join the history, so a row whose event is gone
                    // is never delivered.
                    .col(big_integer(Outbox::AtMs))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(OutboxHead::Table)
                    .col(integer(OutboxHead::Id).primary_key())
                    // The last position given. Kept apart from the outbox so that retention
                    // can empty the outbox without positions starting over.
                    .col(big_integer(OutboxHead::Head))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Webhooks::Table)
                    .col(pk_uuid(Webhooks::Id))
                    .col(text(Webhooks::Url))
                    // Needed in clear to sign; never returned after creation, never logged.
                    .col(string_len(Webhooks::Secret, 128))
                    // JSON arrays; NULL means every kind / every state.
                    .col(json_binary_null(Webhooks::Kinds))
                    .col(json_binary_null(Webhooks::States))
                    .col(string_len_null(Webhooks::Description, 256))
                    // The last outbox position fanned out into deliveries.
                    .col(big_integer(Webhooks::Cursor))
                    .col(big_integer(Webhooks::CreatedAtMs))
                    .col(string_len(Webhooks::CreatedBy, 128))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(WebhookDeliveries::Table)
                    .col(
                        ColumnDef::new(WebhookDeliveries::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(uuid(WebhookDeliveries::WebhookId))
                    .col(big_integer(WebhookDeliveries::Position))
                    .col(big_integer(WebhookDeliveries::EventId))
                    .col(uuid(WebhookDeliveries::WorkflowId))
                    // pending, delivered, failed (gave up).
                    .col(string_len(WebhookDeliveries::Status, 16))
                    .col(integer(WebhookDeliveries::Attempts).default(0))
                    // Due time while pending; a sender pushes it ahead while it tries (a lease).
                    .col(big_integer_null(WebhookDeliveries::NextAttemptAtMs))
                    .col(integer_null(WebhookDeliveries::LastStatusCode))
                    .col(text_null(WebhookDeliveries::LastError))
                    .col(big_integer(WebhookDeliveries::CreatedAtMs))
                    .col(big_integer_null(WebhookDeliveries::LastAttemptAtMs))
                    .col(big_integer_null(WebhookDeliveries::DeliveredAtMs))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_webhook_deliveries_webhook")
                            .from(WebhookDeliveries::Table, WebhookDeliveries::WebhookId)
                            .to(Webhooks::Table, Webhooks::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AuditLog::Table)
                    .col(
                        ColumnDef::new(AuditLog::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(big_integer(AuditLog::AtMs))
                    .col(string_len(AuditLog::Actor, 128))
                    .col(string_len(AuditLog::Action, 64))
                    .col(string_len(AuditLog::Target, 255))
                    .col(json_binary_null(AuditLog::Detail))
                    .to_owned(),
            )
            .await?;

        let db = manager.get_connection();
        for sql in [
            "INSERT INTO outbox_head (id, head) VALUES (1, 0)",
            // The sequencer's scan: only rows not yet ordered.
            "CREATE INDEX idx_outbox_unsequenced ON outbox (id) WHERE position IS NULL",
            "CREATE UNIQUE INDEX idx_outbox_position ON outbox (position) WHERE position IS NOT NULL",
            // One workflow's live stream.
            "CREATE INDEX idx_outbox_workflow ON outbox (workflow_id, position)",
            // The fan-out of one event to a subscription happens once.
            "CREATE UNIQUE INDEX idx_webhook_deliveries_event ON webhook_deliveries (webhook_id, position)",
            "CREATE INDEX idx_webhook_deliveries_due ON webhook_deliveries (next_attempt_at_ms) WHERE status = 'pending'",
            "CREATE INDEX idx_audit_log_at ON audit_log (at_ms)",
        ] {
            db.execute_unprepared(sql).await?;
        }
        match manager.get_database_backend() {
            DbBackend::Postgres => {
                for sql in PG_TRIGGER {
                    db.execute_unprepared(sql).await?;
                }
            }
            _ => {
                db.execute_unprepared(SQLITE_TRIGGER).await?;
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if manager.get_database_backend() == DbBackend::Postgres {
            db.execute_unprepared("DROP TRIGGER workflow_events_outbox ON workflow_events")
                .await?;
            db.execute_unprepared("DROP FUNCTION mintflow_outbox_append()")
                .await?;
        } else {
            db.execute_unprepared("DROP TRIGGER workflow_events_outbox")
                .await?;
        }
        for table in [
            "webhook_deliveries",
            "webhooks",
            "audit_log",
            "outbox_head",
            "outbox",
        ] {
            db.execute_unprepared(&format!("DROP TABLE {table}"))
                .await?;
        }
        Ok(())
    }
}
