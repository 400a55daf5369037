//! `tokens`: the registry of MintToken contracts mints may target, per chain.
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    sea_query::OnConflict,
};

use super::entity::token;

/// Records a token; an address already known keeps its first record. True when `t` was
/// recorded, false when the address was known.
pub async fn upsert<C: ConnectionTrait>(conn: &C, t: &token::Model) -> Result<bool, DbErr> {
    let inserted = token::Entity::insert(token::ActiveModel {
        chain_id: Set(t.chain_id),
        address: Set(t.address.clone()),
        name: Set(t.name.clone()),
        symbol: Set(t.symbol.clone()),
        amount_per_mint: Set(t.amount_per_mint.clone()),
        max_supply: Set(t.max_supply.clone()),
        deployer: Set(t.deployer.clone()),
        deploy_tx_hash: Set(t.deploy_tx_hash.clone()),
        deploy_block: Set(t.deploy_block),
        created_at_ms: Set(t.created_at_ms),
    })
    .on_conflict(
        OnConflict::columns([token::Column::ChainId, token::Column::Address])
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(conn)
    .await?;
    Ok(inserted > 0)
}

pub async fn find<C: ConnectionTrait>(
    conn: &C,
    chain_id: i64,
    address: &str,
) -> Result<Option<token::Model>, DbErr> {
    token::Entity::find_by_id((chain_id, address.to_owned()))
        .one(conn)
        .await
}

/// Every token of a chain, oldest first.
pub async fn list<C: ConnectionTrait>(conn: &C, chain_id: i64) -> Result<Vec<token::Model>, DbErr> {
    token::Entity::find()
        .filter(token::Column::ChainId.eq(chain_id))
        .order_by_asc(token::Column::CreatedAtMs)
        .all(conn)
        .await
}
