//! What a mint costs whatever the machine's speed: CPU milliseconds of this process (the
//! service and the load generator) and of PostgreSQL per 1,000 confirmed mints, and the rows
//! and bytes each mint adds to the hot tables and their indexes.
//!
//! PostgreSQL's backends come and go with the pools, and a backend that exits takes its CPU
//! time with it: a sampler reads every backend of the database twice a second and keeps each
//! one's first and last reading.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement};

use crate::bench::cpu::{postgres_pids, process_ms};

/// How often the sampler looks for new backends and reads their CPU time.
const SAMPLE_EVERY: Duration = Duration::from_millis(500);
/// The tables every mint writes to.
const HOT_TABLES: &[&str] = &["workflows", "workflow_events", "outbox", "chain_txs"];

/// Each PostgreSQL process's CPU ms: (first reading, last reading).
type Readings = Arc<Mutex<HashMap<u32, (u64, u64)>>>;

/// Readings taken when the run starts, compared with the same readings when it ends.
pub(super) struct CostProbe {
    own_ms: u64,
    postgres: Option<PostgresProbe>,
}

struct PostgresProbe {
    readings: Readings,
    sampler: tokio::task::JoinHandle<()>,
    tables: HashMap<String, TableCounts>,
    sizes: HashMap<String, i64>,
}

/// Rows written to one table, from `pg_stat_user_tables`.
#[derive(Clone, Copy, Default)]
struct TableCounts {
    inserted: i64,
    updated: i64,
    hot_updated: i64,
}

impl CostProbe {
    /// Starts counting: this process's CPU time and, on PostgreSQL, the backends' and the hot
    /// tables' counters and sizes.
    pub(super) async fn start(db: &DatabaseConnection) -> anyhow::Result<CostProbe> {
        let own_ms = process_ms(std::process::id()).unwrap_or_default();
        let postgres = if db.get_database_backend() == DbBackend::Postgres {
            let readings = Readings::default();
            sample(db, &readings).await?;
            let sampler = tokio::spawn(keep_sampling(db.clone(), readings.clone()));
            Some(PostgresProbe {
                readings,
                sampler,
                tables: table_counts(db).await?,
                sizes: relation_sizes(db).await?,
            })
        } else {
            None
        };
        Ok(CostProbe { own_ms, postgres })
    }

    /// Prints the costs since `start`, per 1,000 (CPU) or per one (rows, bytes) of `confirmed`
    /// mints.
    pub(super) async fn print(
        self,
        db: &DatabaseConnection,
        confirmed: usize,
    ) -> anyhow::Result<()> {
        let per_1000 = |ms: u64| ms as f64 * 1000.0 / confirmed.max(1) as f64;
        let own = process_ms(std::process::id()).unwrap_or_default() - self.own_ms;
        let Some(pg) = self.postgres else {
            println!(
                "cost per 1,000 confirmed mints: {:.0} CPU ms in this process (the service, \
                 its SQLite database and the load generator)",
                per_1000(own)
            );
            return Ok(());
        };
        sample(db, &pg.readings).await?;
        pg.sampler.abort();
        let (processes, pg_ms) = {
            let readings = pg.readings.lock().expect("readings lock");
            let ms: u64 = readings.values().map(|(first, last)| last - first).sum();
            (readings.len(), ms)
        };
        println!(
            "cost per 1,000 confirmed mints: {:.0} CPU ms in this process (the service and the \
             load generator) + {:.0} CPU ms in PostgreSQL ({processes} processes: the \
             database's backends and the server's writers) = {:.0} CPU ms",
            per_1000(own),
            per_1000(pg_ms),
            per_1000(own + pg_ms)
        );
        let per_mint = |n: i64| n as f64 / confirmed.max(1) as f64;
        let tables = table_counts(db).await?;
        let rows: Vec<String> = HOT_TABLES
            .iter()
            .map(|&t| {
                let (now, then) = (tables.get(t), pg.tables.get(t));
                let d = |f: fn(&TableCounts) -> i64| {
                    now.map(f).unwrap_or_default() - then.map(f).unwrap_or_default()
                };
                let (ins, upd, hot) = (d(|c| c.inserted), d(|c| c.updated), d(|c| c.hot_updated));
                format!(
                    "{t} {:.2} inserted + {:.2} updated ({:.0}% HOT)",
                    per_mint(ins),
                    per_mint(upd),
                    100.0 * hot as f64 / upd.max(1) as f64
                )
            })
            .collect();
        println!("rows per confirmed mint: {}", rows.join("; "));
        let sizes = relation_sizes(db).await?;
        let mut grown: Vec<(String, i64)> = sizes
            .iter()
            .map(|(name, &bytes)| (name.clone(), bytes - pg.sizes.get(name).unwrap_or(&0)))
            .filter(|(_, bytes)| *bytes > 0)
            .collect();
        grown.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let total: i64 = grown.iter().map(|(_, b)| b).sum();
        let listed: Vec<String> = grown
            .iter()
            .map(|(name, bytes)| format!("{name} {:.0}", per_mint(*bytes)))
            .collect();
        println!(
            "bytes per confirmed mint: {:.0} in all; {}",
            per_mint(total),
            listed.join(", ")
        );
        Ok(())
    }
}

/// Samples until aborted; a failed reading is skipped (the next one catches up).
async fn keep_sampling(db: DatabaseConnection, readings: Readings) {
    let mut tick = tokio::time::interval(SAMPLE_EVERY);
    loop {
        tick.tick().await;
        let _ = sample(&db, &readings).await;
    }
}

/// Reads the CPU time of every PostgreSQL process working for `db` now. A process first seen
/// now started during the run (a new pool connection): its time so far counts from zero.
async fn sample(db: &DatabaseConnection, readings: &Readings) -> Result<(), DbErr> {
    let pids = postgres_pids(db).await?;
    let mut readings = readings.lock().expect("readings lock");
    let first_sample = readings.is_empty();
    for pid in pids {
        if let Some(ms) = process_ms(pid) {
            let first = if first_sample { ms } else { 0 };
            readings.entry(pid).or_insert((first, ms)).1 = ms;
        }
    }
    Ok(())
}

async fn table_counts(db: &DatabaseConnection) -> Result<HashMap<String, TableCounts>, DbErr> {
    let rows = db
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT relname::text AS name, n_tup_ins, n_tup_upd, n_tup_hot_upd \
             FROM pg_stat_user_tables",
        ))
        .await?;
    rows.iter()
        .map(|row| {
            let counts = TableCounts {
                inserted: row.try_get("", "n_tup_ins")?,
                updated: row.try_get("", "n_tup_upd")?,
                hot_updated: row.try_get("", "n_tup_hot_upd")?,
            };
            Ok((row.try_get("", "name")?, counts))
        })
        .collect()
}

/// The size in bytes of each hot table (its heap) and of each of their indexes.
async fn relation_sizes(db: &DatabaseConnection) -> Result<HashMap<String, i64>, DbErr> {
    let tables = HOT_TABLES
        .iter()
        .map(|t| format!("'{t}'"))
        .collect::<Vec<_>>()
        .join(", ");
    let rows = db
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            format!(
                "SELECT relname::text AS name, pg_relation_size(relid) AS bytes \
                 FROM pg_stat_user_tables WHERE relname IN ({tables}) \
                 UNION ALL \
                 SELECT indexrelname::text, pg_relation_size(indexrelid) \
                 FROM pg_stat_user_indexes WHERE relname IN ({tables})"
            ),
        ))
        .await?;
    rows.iter()
        .map(|row| Ok((row.try_get("", "name")?, row.try_get("", "bytes")?)))
        .collect()
}
