use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, serde::Serialize)]
#[sea_orm(table_name = "workflows")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub kind: String,
    pub status: String,
    pub state: String,
    #[sea_orm(column_type = "JsonBinary")]
    pub data: Json,
    pub schema_version: i32,
    pub priority: i16,
    pub run_at_ms: Option<i64>,
    pub attempt: i32,
    pub version: i64,
    pub lease_owner: Option<String>,
    pub lease_until_ms: Option<i64>,
    pub wake_pending: bool,
    pub idempotency_key: Option<String>,
    pub request_hash: Option<String>,
    pub parent_id: Option<Uuid>,
    pub payer: Option<String>,
    pub token: Option<String>,
    pub tx_hash: Option<String>,
    pub last_error: Option<String>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    pub finished_at_ms: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
