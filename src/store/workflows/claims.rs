//! The hot path's claims: due workflows taken under a lease (the version bumped, so a stale
//! owner is fenced out), leases renewed and released.

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement};
use serde_json::Value as Json;
use uuid::Uuid;

use crate::store::exec;

/// A row leased by `claim_due`.
#[derive(Clone, Debug)]
pub struct ClaimedWorkflow {
    pub id: Uuid,
    pub kind: String,
    pub state: String,
    pub data: Json,
    pub schema_version: i32,
    pub attempt: i32,
    /// The fencing epoch this claim holds; every checkpoint must present it.
    pub version: i64,
    /// The holder of an expired lease this claim took over, if any.
    pub previous_owner: Option<String>,
}

/// Leases up to `limit` due workflows of `kinds` to `owner` until `now + lease_ms`, highest
/// priority first, then earliest due. Rows whose lease has expired are due again: that is how a
/// crashed worker's work is taken over.
pub async fn claim_due(
    db: &DatabaseConnection,
    owner: &str,
    kinds: &[&str],
    limit: u32,
    now: i64,
    lease_ms: i64,
) -> Result<Vec<ClaimedWorkflow>, DbErr> {
    if limit == 0 || kinds.is_empty() {
        return Ok(Vec::new());
    }
    let kinds_json = serde_json::to_string(kinds).expect("strings serialize");
    match db.get_database_backend() {
        DbBackend::Postgres => {
            // One round trip: SKIP LOCKED lets concurrent claimers (other processes) pass over
            // each other's rows instead of queueing on them.
            let stmt = Statement::from_sql_and_values(
                DbBackend::Postgres,
                r#"WITH due AS (
                    SELECT id, lease_owner AS previous_owner FROM workflows
                    WHERE run_at_ms IS NOT NULL AND run_at_ms <= $1
                      AND (lease_until_ms IS NULL OR lease_until_ms < $1)
                      AND kind IN (SELECT jsonb_array_elements_text($2::jsonb))
                    ORDER BY priority DESC, run_at_ms
                    LIMIT $3
                    FOR UPDATE SKIP LOCKED
                )
                UPDATE workflows w
                SET version = w.version + 1, lease_owner = $4, lease_until_ms = $5
                FROM due WHERE w.id = due.id
                RETURNING w.id, w.kind, w.state, w.data, w.schema_version, w.attempt, w.version,
                          due.previous_owner"#,
                [
                    now.into(),
                    kinds_json.into(),
                    i64::from(limit).into(),
                    owner.into(),
                    (now + lease_ms).into(),
                ],
            );
            db.query_all_raw(stmt)
                .await?
                .iter()
                .map(claimed_from_row)
                .collect()
        }
        _ => {
            // SQLite has no SKIP LOCKED and no row locks: BEGIN IMMEDIATE takes the single write
            // lock, so the select and the update below see the same rows. RETURNING would only
            // show the new lease owner, so the previous one is read first.
            let txn = crate::store::begin_write(db).await?;
            let rows = txn
                .query_all_raw(Statement::from_sql_and_values(
                    DbBackend::Sqlite,
                    r#"SELECT id, kind, state, data, schema_version, attempt, version + 1 AS version,
                              lease_owner AS previous_owner
                       FROM workflows
                       WHERE run_at_ms IS NOT NULL AND run_at_ms <= ?1
                         AND (lease_until_ms IS NULL OR lease_until_ms < ?1)
                         AND kind IN (SELECT value FROM json_each(?2))
                       ORDER BY priority DESC, run_at_ms
                       LIMIT ?3"#,
                    [now.into(), kinds_json.into(), i64::from(limit).into()],
                ))
                .await?;
            let claimed: Vec<ClaimedWorkflow> = rows
                .iter()
                .map(claimed_from_row)
                .collect::<Result<_, _>>()?;
            if !claimed.is_empty() {
                let ids = crate::store::json_list(claimed.iter().map(|c| c.id.to_string()));
                txn.execute_raw(Statement::from_sql_and_values(
                    DbBackend::Sqlite,
                    r#"UPDATE workflows SET version = version + 1, lease_owner = ?1, lease_until_ms = ?2
                       WHERE id IN (SELECT unhex(replace(value, '-', '')) FROM json_each(?3))"#,
                    [owner.into(), (now + lease_ms).into(), ids.into()],
                ))
                .await?;
            }
            txn.commit().await?;
            Ok(claimed)
        }
    }
}

fn claimed_from_row(row: &sea_orm::QueryResult) -> Result<ClaimedWorkflow, DbErr> {
    Ok(ClaimedWorkflow {
        id: row.try_get("", "id")?,
        kind: row.try_get("", "kind")?,
        state: row.try_get("", "state")?,
        data: row.try_get("", "data")?,
        schema_version: row.try_get("", "schema_version")?,
        attempt: row.try_get("", "attempt")?,
        version: row.try_get("", "version")?,
        previous_owner: row.try_get("", "previous_owner")?,
    })
}

/// Extends every lease `owner` holds: one statement per heartbeat, whatever the count.
pub async fn renew_leases(
    db: &DatabaseConnection,
    owner: &str,
    lease_until_ms: i64,
) -> Result<u64, DbErr> {
    let renew = "UPDATE workflows SET lease_until_ms = $1 WHERE lease_owner = $2";
    exec(db, renew, vec![lease_until_ms.into(), owner.into()]).await
}

/// Gives back every lease `owner` holds so other workers can claim those rows at once (graceful
/// shutdown). Versions were bumped at claim time, so a late checkpoint of `owner` still fails.
pub async fn release_leases(db: &DatabaseConnection, owner: &str) -> Result<u64, DbErr> {
    let release =
        "UPDATE workflows SET lease_owner = NULL, lease_until_ms = NULL WHERE lease_owner = $1";
    exec(db, release, vec![owner.into()]).await
}
