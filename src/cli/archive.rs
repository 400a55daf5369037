//! `mintflow archive --before DATE --out FILE.jsonl`: the only way financial records leave
//! the database (retention keeps them). Each page is written to the file and synced before
//! the same transaction deletes it, so a record is never gone without being on disk; a run
//! that stops between the sync and the commit leaves that page both in the file and in the
//! database, and the next run writes it again (to another file).
use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use chrono::{DateTime, NaiveDate};
use sea_orm::DatabaseConnection;
use uuid::Uuid;

use crate::store::{self, archive};
use crate::workflows::{RECORDS, payment::PAYMENT};

#[derive(Debug, clap::Args)]
pub struct ArchiveArgs {
    /// Archive what finished before this day (`YYYY-MM-DD`, midnight UTC) or instant (RFC 3339).
    #[arg(long, value_parser = parse_before)]
    pub before: i64,
    /// The JSONL file to write, one `{"workflow", "events"}` per line; it must not exist.
    #[arg(long)]
    pub out: PathBuf,
    /// Workflows per transaction.
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub page_size: u64,
}

/// `before` as unix milliseconds.
fn parse_before(s: &str) -> Result<i64, String> {
    if let Ok(day) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(day
            .and_hms_opt(0, 0, 0)
            .expect("midnight")
            .and_utc()
            .timestamp_millis());
    }
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.timestamp_millis())
        .map_err(|_| format!("`{s}` is neither YYYY-MM-DD nor an RFC 3339 time"))
}

/// Archives page by page; prints `{"archived", "out"}`.
pub async fn run(db: &DatabaseConnection, args: &ArchiveArgs) -> anyhow::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let selection = archive::Selection {
        kinds: RECORDS,
        payment_kind: PAYMENT,
        before_ms: args.before,
    };
    let mut archived = 0;
    loop {
        let txn = store::begin_write(db).await?;
        let page = archive::page(&txn, &selection, args.page_size).await?;
        if page.is_empty() {
            txn.rollback().await?;
            break;
        }
        for record in &page {
            serde_json::to_writer(&mut file, record)?;
            file.write_all(b"\n")?;
        }
        // On disk before the rows go.
        file.sync_data()?;
        let ids: Vec<Uuid> = page.iter().map(|r| r.workflow.id).collect();
        archive::delete(&txn, &ids).await?;
        txn.commit().await?;
        archived += ids.len();
    }
    println!(
        "{}",
        serde_json::json!({ "archived": archived, "out": args.out })
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_before;

    #[test]
    fn before_is_a_day_or_an_instant() {
        assert_eq!(parse_before("2026-12-01"), Ok(1_796_083_200_000));
        assert_eq!(
            parse_before("2026-12-01T01:00:00+01:00"),
            Ok(1_796_083_200_000)
        );
        assert!(parse_before("yesterday").is_err());
    }
}
