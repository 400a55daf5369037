use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, serde::Serialize)]
#[sea_orm(table_name = "workflow_events")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub workflow_id: Uuid,
    pub event: String,
    pub from_state: Option<String>,
    pub to_state: String,
    pub status: String,
    pub attempt: i32,
    pub worker: Option<String>,
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub detail: Option<Json>,
    pub at_ms: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
