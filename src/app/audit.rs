//! The audit log of admin actions, as operators read it.
use sea_orm::{DatabaseConnection, DbErr};

use super::paging::{self, Page};
use crate::store::audit::{self, AuditEntry};

/// Up to `limit` entries, newest first, older than entry `before` when given; the next
/// page's cursor is the last entry's id.
pub async fn list(
    db: &DatabaseConnection,
    before: Option<i64>,
    limit: u64,
) -> Result<Page<AuditEntry, i64>, DbErr> {
    let rows = audit::list(db, before, limit + 1).await?;
    Ok(paging::cut(rows, limit, |r| r.id))
}
