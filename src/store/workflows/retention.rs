//! Retention: finished workflows deleted after their time.

use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter};

use crate::store::entity::workflow;

use super::Status;

/// Deletes completed and cancelled workflows (with their history) that finished before
/// `before_ms`, except those of the `kept` kinds. Failed ones stay for operators. Returns how
/// many rows went.
pub async fn delete_finished_before(
    db: &DatabaseConnection,
    before_ms: i64,
    kept: &[&str],
) -> Result<u64, DbErr> {
    let res = workflow::Entity::delete_many()
        .filter(
            workflow::Column::Status
                .is_in([Status::Completed.as_str(), Status::Cancelled.as_str()]),
        )
        .filter(workflow::Column::Kind.is_not_in(kept.iter().copied()))
        .filter(workflow::Column::FinishedAtMs.lt(before_ms))
        .exec(db)
        .await?;
    Ok(res.rows_affected)
}
