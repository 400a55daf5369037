//! Reading payments with what they paid for: one payment, or a page of them whose children
//! are loaded in one query.
use std::collections::HashMap;

use sea_orm::DbErr;
use uuid::Uuid;

use crate::app::Context;
use crate::store::entity::workflow;
use crate::store::mints::MINT;
use crate::store::workflows::{self as rows, ListFilter};
use crate::workflows::deployment::DEPLOYMENT;
use crate::workflows::payment::{PAYMENT, PaymentData};

/// A payment row with its checkpoint data and what it paid for.
#[derive(Clone, Debug)]
pub struct Payment {
    pub row: workflow::Model,
    /// `None` when the row's data does not read as a payment's (it is shown without it).
    pub data: Option<PaymentData>,
    pub mint_ids: Vec<Uuid>,
    /// The deployment it paid for, if any.
    pub deployment_id: Option<Uuid>,
}

impl Payment {
    /// `children` are the row's (id, kind), oldest first.
    fn new(row: workflow::Model, children: &[(Uuid, String)]) -> Payment {
        let of_kind = |kind: &'static str| {
            children
                .iter()
                .filter(move |(_, k)| k == kind)
                .map(|(id, _)| *id)
        };
        Payment {
            data: serde_json::from_value(row.data.clone()).ok(),
            mint_ids: of_kind(MINT).collect(),
            deployment_id: of_kind(DEPLOYMENT).next(),
            row,
        }
    }
}

/// The payment `id`, `None` when there is no payment of that id.
pub async fn find(ctx: &Context<'_>, id: Uuid) -> Result<Option<Payment>, DbErr> {
    let Some(row) = rows::find(ctx.db, id).await?.filter(|w| w.kind == PAYMENT) else {
        return Ok(None);
    };
    let children = rows::children(ctx.db, id).await?;
    Ok(Some(Payment::new(row, &children)))
}

/// The payment rows `filter` selects (its kind is set here), newest first.
pub async fn list(ctx: &Context<'_>, filter: ListFilter) -> Result<Vec<workflow::Model>, DbErr> {
    let filter = ListFilter {
        kind: Some(PAYMENT.into()),
        ..filter
    };
    rows::list(ctx.read_db, &filter).await
}

/// `page` (rows of `list`) with their children, read in one query.
pub async fn with_children(
    ctx: &Context<'_>,
    page: Vec<workflow::Model>,
) -> Result<Vec<Payment>, DbErr> {
    let ids: Vec<Uuid> = page.iter().map(|r| r.id).collect();
    let mut children: HashMap<Uuid, Vec<(Uuid, String)>> =
        rows::children_of_each(ctx.read_db, &ids).await?;
    Ok(page
        .into_iter()
        .map(|row| {
            let own = children.remove(&row.id).unwrap_or_default();
            Payment::new(row, &own)
        })
        .collect())
}
