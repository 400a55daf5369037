//! `mintflow import-legacy`: the old server's queue and settings as mintflow workflows and
//! settings. Rows are read by column name (`old_db`), mapped without guessing (a row that
//! cannot be mapped is reported, not imported), and created through the same paths as
//! mintflow's own (`mints`, `settings`). Every mint is keyed on its old id, so an import run
//! again creates nothing twice; `dry_run` runs the same path and rolls every write back.
pub mod mints;
mod old_db;
pub mod payments;
pub mod settings;

use std::collections::BTreeMap;

use alloy::primitives::Address;
use anyhow::{Context, bail};
use sea_orm::{DatabaseConnection, EntityTrait};
use serde::Serialize;

use crate::chain::signer::address_key;
use crate::engine::{Client, Waker};
use crate::store::{self, entity::token};
use settings::SettingOutcome;

/// Old items imported per transaction: a crash loses at most one group, which the next run
/// imports (the rest are found by their keys).
const GROUP: usize = 200;

/// Old tables mintflow does not import, and why.
const NOT_IMPORTED_TABLES: &[(&str, &str)] = &[
    (
        "mint_history",
        "each mint's history is kept with the mint; the completed items of `mint_queue` are imported",
    ),
    (
        "batch_mints",
        "mintflow forms its own batches; the old batches' mints are imported from `mint_queue`",
    ),
];

pub struct Options {
    /// The old server's PostgreSQL database.
    pub from: String,
    /// The token the old server minted; the registry's only token when `None`.
    pub token: Option<Address>,
    /// mintflow's USDC and `PAY_TO`, which the old payments paid; without them payments are
    /// not imported.
    pub payments_to: Option<(Address, Address)>,
    pub dry_run: bool,
}

/// An old row that was not imported, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NotImported {
    pub table: &'static str,
    /// Its old id, when it has one.
    pub id: Option<String>,
    pub reason: String,
}

/// What the import did (or, with `dry_run`, would do).
#[derive(Debug, Serialize)]
pub struct Report {
    pub dry_run: bool,
    /// The token the mints were created for.
    pub token: String,
    pub mints: Counts,
    pub payments: Counts,
    pub settings: Vec<SettingOutcome>,
    pub not_imported: Vec<NotImported>,
    /// Old tables read only to count their rows.
    pub tables_not_imported: Vec<TableNote>,
}

/// What became of one old table's rows.
#[derive(Debug, Default, Serialize)]
pub struct Counts {
    /// Rows of the old table.
    pub read: u64,
    /// New workflows by mintflow state.
    pub created: BTreeMap<&'static str, u64>,
    /// Rows an earlier import created already.
    pub already_imported: u64,
    /// Gathered into the report's `not_imported`.
    #[serde(skip)]
    not_imported: Vec<NotImported>,
}

#[derive(Debug, Serialize)]
pub struct TableNote {
    pub table: &'static str,
    pub rows: u64,
    pub why: &'static str,
}

/// Imports from `opts.from` into `db` (migrated). `progress(done, total)` is called after each
/// group of mints.
pub async fn run(
    db: &DatabaseConnection,
    opts: &Options,
    mut progress: impl FnMut(u64, u64),
) -> anyhow::Result<Report> {
    let token_row = resolve_token(db, opts.token).await?;
    let token: Address = token_row.address.parse()?;
    let old = store::connect_with_pool(&opts.from, 2)
        .await
        .context("connecting to the old server's database (--from)")?;
    let mut not_imported = Vec::new();
    let rows = old_db::read_table(&old, mints::TABLE)
        .await?
        .with_context(|| format!("the old database has no `{}` table", mints::TABLE))?;
    let mut items = Vec::with_capacity(rows.len());
    for row in &rows {
        match mints::parse(row) {
            Ok(item) => items.push(item),
            Err(refused) => not_imported.push(refused),
        }
    }
    // The queue keeps its old order: mintflow batches pending mints in creation order.
    items.sort_by(|a, b| {
        (a.order.0.unwrap_or(f64::MAX), &a.order.1, &a.old_id)
            .partial_cmp(&(b.order.0.unwrap_or(f64::MAX), &b.order.1, &b.old_id))
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    let client = Client::new(db.clone(), Waker::default());
    let mut mint_counts = Counts {
        read: rows.len() as u64,
        ..Default::default()
    };
    let total = items.len() as u64;
    for (n, group) in items.chunks(GROUP).enumerate() {
        let txn = store::begin_write(db).await?;
        mints::import(&client, &txn, token, group, &mut mint_counts).await?;
        if opts.dry_run {
            txn.rollback().await?;
        } else {
            txn.commit().await?;
        }
        progress(((n * GROUP + group.len()) as u64).min(total), total);
    }
    not_imported.append(&mut mint_counts.not_imported);
    let mut tables_not_imported = Vec::new();
    let mut payment_counts = Counts::default();
    match (
        old_db::read_table(&old, payments::TABLE).await?,
        opts.payments_to,
    ) {
        (Some(rows), Some((asset, pay_to))) => {
            let to = payments::Destination {
                chain_id: token_row.chain_id,
                asset,
                pay_to,
            };
            payment_counts = import_payments(&client, db, &rows, &to, opts.dry_run).await?;
            not_imported.append(&mut payment_counts.not_imported);
        }
        (Some(rows), None) => tables_not_imported.push(TableNote {
            table: payments::TABLE,
            rows: rows.len() as u64,
            why: "no USDC_ADDRESS and PAY_TO given (the ones mintflow serves with)",
        }),
        (None, _) => {}
    }
    let settings = match old_db::read_table(&old, settings::TABLE).await? {
        Some(rows) => settings::import(db, &rows, opts.dry_run, client.clock().now_ms()).await?,
        None => Vec::new(),
    };
    for (table, why) in NOT_IMPORTED_TABLES {
        if let Some(rows) = old_db::read_table(&old, table).await? {
            tables_not_imported.push(TableNote {
                table,
                rows: rows.len() as u64,
                why,
            });
        }
    }
    old.close().await.ok();
    Ok(Report {
        dry_run: opts.dry_run,
        token: address_key(token),
        mints: mint_counts,
        payments: payment_counts,
        settings,
        not_imported,
        tables_not_imported,
    })
}

/// Imports the finished old payments, each in its own transaction: a refused one is rolled
/// back whole.
async fn import_payments(
    client: &Client,
    db: &DatabaseConnection,
    rows: &[old_db::OldRow],
    to: &payments::Destination,
    dry_run: bool,
) -> anyhow::Result<Counts> {
    let mut counts = Counts {
        read: rows.len() as u64,
        ..Default::default()
    };
    for row in rows {
        let item = match payments::parse(row, to) {
            Ok(item) => item,
            Err(refused) => {
                counts.not_imported.push(refused);
                continue;
            }
        };
        let txn = store::begin_write(db).await?;
        let imported = payments::import(client, &txn, to, &item).await?;
        let keep = !dry_run && matches!(imported, payments::Imported::Created(_));
        match imported {
            payments::Imported::Created(state) => *counts.created.entry(state).or_default() += 1,
            payments::Imported::Already => counts.already_imported += 1,
            payments::Imported::Refused(refused) => counts.not_imported.push(refused),
        }
        if keep {
            txn.commit().await?;
        } else {
            txn.rollback().await?;
        }
    }
    Ok(counts)
}

/// The token the mints go to: `given`, which must be in the registry, or the registry's only
/// token. A token registered on several chains is taken on the first it was registered on.
async fn resolve_token(
    db: &DatabaseConnection,
    given: Option<Address>,
) -> anyhow::Result<token::Model> {
    let mut known = token::Entity::find().all(db).await?;
    known.sort_by_key(|t| t.created_at_ms);
    let mut addresses: Vec<String> = known.iter().map(|t| t.address.clone()).collect();
    addresses.sort();
    addresses.dedup();
    match given {
        Some(token) => known
            .into_iter()
            .find(|t| t.address == address_key(token))
            .with_context(|| {
                format!(
                    "token {token} is not in mintflow's token registry; deploy or register it first"
                )
            }),
        None => match addresses.as_slice() {
            [_] => Ok(known.remove(0)),
            [] => bail!("mintflow's token registry is empty; deploy the token first"),
            many => bail!(
                "mintflow knows {} tokens ({}); say which one the old server minted with --token",
                many.len(),
                many.join(", ")
            ),
        },
    }
}
