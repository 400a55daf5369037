//! `system_settings`: operator-tunable values, read by every process and changed live.
use sea_orm::{
    ActiveValue::Set, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    sea_query::OnConflict,
};
use serde_json::Value as Json;

use super::entity::system_setting;

pub async fn load_all(db: &DatabaseConnection) -> Result<Vec<system_setting::Model>, DbErr> {
    system_setting::Entity::find().all(db).await
}

/// Stores `value` under `key` (insert or replace) and says who changed it, and when.
pub async fn put<C: ConnectionTrait>(
    db: &C,
    key: &str,
    value: Json,
    updated_by: &str,
    updated_at_ms: i64,
) -> Result<system_setting::Model, DbErr> {
    let model = system_setting::ActiveModel {
        key: Set(key.to_owned()),
        value: Set(value.clone()),
        updated_at_ms: Set(updated_at_ms),
        updated_by: Set(Some(updated_by.to_owned())),
    };
    system_setting::Entity::insert(model)
        .on_conflict(
            OnConflict::column(system_setting::Column::Key)
                .update_columns([
                    system_setting::Column::Value,
                    system_setting::Column::UpdatedAtMs,
                    system_setting::Column::UpdatedBy,
                ])
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    system_setting::Entity::find_by_id(key.to_owned())
        .one(db)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound(key.to_owned()))
}
