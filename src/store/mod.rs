//! Database access: connection setup for both backends, entities, and every query the layers
//! above run. Nothing outside `store` writes SQL.
pub mod activity;
pub mod api_keys;
pub mod archive;
pub mod audit;
pub mod chain;
pub mod doctor;
pub mod entity;
pub mod events;
pub mod held;
pub mod mints;
pub mod moves;
pub mod outbox;
pub mod overview;
pub mod payers;
pub mod read_pool;
pub mod receipts;
pub mod settings;
pub mod settlements;
pub mod time;
pub mod timeline;
pub mod tokens;
pub mod webhooks;
pub mod workflows;

use std::time::Duration;

use migration::MigratorTrait;
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    DbErr, FromQueryResult, QueryResult, SqliteTransactionMode, Statement, TransactionOptions,
    TransactionTrait, Value,
};

/// The SQLite file `mintflow` uses when no `DATABASE_URL` is given.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/mintflow.db?mode=rwc";

/// Opens a pool for `url` (PostgreSQL or SQLite) with the settings the engine relies on.
///
/// SQLite runs in WAL mode with `synchronous=FULL` and a busy timeout, so that readers never
/// block the single writer and writers queue instead of failing. FULL syncs the WAL at every
/// commit: `NORMAL` survives a killed process but a power cut can lose the last commits, and
/// one of them may hold a signed transaction that was then broadcast, which would be forgotten
/// while it may still be mined. The cost is in the README's engine benchmark.
pub async fn connect(url: &str) -> Result<DatabaseConnection, DbErr> {
    connect_with_pool(url, DEFAULT_POOL_SIZE).await
}

/// Connections a process opens to PostgreSQL at most, unless told otherwise. Every process
/// sharing a server needs its pool to fit the server's `max_connections`.
pub const DEFAULT_POOL_SIZE: u32 = 16;

/// `connect` with at most `max_connections` PostgreSQL connections (SQLite always uses 4).
pub async fn connect_with_pool(
    url: &str,
    max_connections: u32,
) -> Result<DatabaseConnection, DbErr> {
    let mut opts = ConnectOptions::new(url.to_owned());
    opts.sqlx_logging(false)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(30));
    if url.starts_with("sqlite:") {
        ensure_sqlite_parent_dir(url);
        opts.max_connections(4).min_connections(1);
        opts.map_sqlx_sqlite_opts(|o| {
            o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Full)
                .busy_timeout(Duration::from_secs(30))
                .foreign_keys(true)
        });
    } else {
        opts.max_connections(max_connections.max(2))
            .min_connections(1);
        opts.map_sqlx_postgres_pool_opts(|o| {
            o.after_connect(|_conn, _meta| {
                Box::pin(async {
                    disable_nagle_on_open_sockets();
                    Ok(())
                })
            })
        });
    }
    Database::connect(opts).await
}

/// Applies every pending migration.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    migration::Migrator::up(db, None).await
}

/// True when every migration this binary knows is applied.
pub async fn migrations_current(db: &DatabaseConnection) -> Result<bool, DbErr> {
    Ok(migration::Migrator::get_pending_migrations(db)
        .await?
        .is_empty())
}

/// Starts a transaction that will write. On SQLite it is `BEGIN IMMEDIATE`: a deferred
/// transaction that reads first and writes later can fail with SQLITE_BUSY when another
/// connection wrote in between; taking the write lock up front makes writers queue instead.
pub async fn begin_write(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    if db.get_database_backend() == DbBackend::Sqlite {
        db.begin_with_options(TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..Default::default()
        })
        .await
    } else {
        db.begin().await
    }
}

/// SQL written with PostgreSQL's `$n` placeholders, adapted for SQLite (which reads `?n` as the
/// same numbered parameter). Only for statements whose text has no other `$`.
pub fn sql(backend: DbBackend, pg_sql: &str) -> String {
    match backend {
        DbBackend::Postgres => pg_sql.to_owned(),
        _ => pg_sql.replace('$', "?"),
    }
}

/// `pg_sql` (PostgreSQL placeholders, adapted for SQLite) with `values`, as `conn`'s backend
/// runs it.
fn statement<C: ConnectionTrait>(conn: &C, pg_sql: &str, values: Vec<Value>) -> Statement {
    let backend = conn.get_database_backend();
    Statement::from_sql_and_values(backend, sql(backend, pg_sql), values)
}

/// Runs `pg_sql` with `values`; the rows it changed.
pub(crate) async fn exec<C: ConnectionTrait>(
    conn: &C,
    pg_sql: &str,
    values: Vec<Value>,
) -> Result<u64, DbErr> {
    let done = conn.execute_raw(statement(conn, pg_sql, values)).await?;
    Ok(done.rows_affected())
}

/// Runs the query `pg_sql` with `values`; its rows.
pub(crate) async fn rows<C: ConnectionTrait>(
    conn: &C,
    pg_sql: &str,
    values: Vec<Value>,
) -> Result<Vec<QueryResult>, DbErr> {
    conn.query_all_raw(statement(conn, pg_sql, values)).await
}

/// Runs the query `pg_sql` with `values`; its first row, if any.
pub(crate) async fn row<C: ConnectionTrait>(
    conn: &C,
    pg_sql: &str,
    values: Vec<Value>,
) -> Result<Option<QueryResult>, DbErr> {
    conn.query_one_raw(statement(conn, pg_sql, values)).await
}

/// Runs the query `pg_sql` with `values`; its rows as `T`.
pub(crate) async fn query<C: ConnectionTrait, T: FromQueryResult>(
    conn: &C,
    pg_sql: &str,
    values: Vec<Value>,
) -> Result<Vec<T>, DbErr> {
    let rows = rows(conn, pg_sql, values).await?;
    rows.iter().map(|r| T::from_query_result(r, "")).collect()
}

/// Runs the count `pg_sql` (its column `n`) with `values`.
pub(crate) async fn count<C: ConnectionTrait>(
    conn: &C,
    pg_sql: &str,
    values: Vec<Value>,
) -> Result<i64, DbErr> {
    let row = row(conn, pg_sql, values).await?;
    Ok(row
        .map(|r| r.try_get::<i64>("", "n"))
        .transpose()?
        .unwrap_or(0))
}

/// A JSON array of strings, the one list parameter both backends can unpack.
pub(crate) fn json_list(items: impl Iterator<Item = String>) -> String {
    serde_json::to_string(&items.collect::<Vec<_>>()).expect("strings serialize")
}

/// Milliseconds since the unix epoch on the system clock, for what measures real time (the
/// benchmarks, tests waiting on a running service); what stamps a row reads the process's
/// `time::Clock`, which a test can set.
pub fn now_ms() -> i64 {
    time::Clock::system().now_ms()
}

/// Sets TCP_NODELAY on every open TCP socket of this process.
///
/// sqlx 0.9.0 stopped setting TCP_NODELAY on its connections (sqlx issue #4335, fixed upstream
/// but not released), so a query sent in two writes waits for the server's delayed ACK: 40 ms
/// per round trip whenever a message does not fit the first write, as group commits often do.
/// sqlx does not expose its socket, so this runs after each new connection and sets the option
/// on every socket the process has; it is harmless on the others. Remove it once sqlx sets
/// TCP_NODELAY again.
fn disable_nagle_on_open_sockets() {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::BorrowedFd;
        let Ok(fds) = std::fs::read_dir("/proc/self/fd") else {
            return;
        };
        for entry in fds.flatten() {
            let is_socket = std::fs::read_link(entry.path())
                .is_ok_and(|target| target.to_string_lossy().starts_with("socket:"));
            let Ok(fd) = entry.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            if !is_socket {
                continue;
            }
            // SAFETY: the descriptor is only borrowed for one setsockopt call. Should it have
            // been closed (or reused) since the listing, the call fails or sets a harmless
            // option on another socket of ours; the error is ignored either way.
            let fd = unsafe { BorrowedFd::borrow_raw(fd) };
            let _ = socket2::SockRef::from(&fd).set_tcp_nodelay(true);
        }
    }
}

fn ensure_sqlite_parent_dir(url: &str) {
    let path = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:")
        .split('?')
        .next()
        .unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        return;
    }
    if let Some(parent) = std::path::Path::new(path).parent()
        && !parent.as_os_str().is_empty()
    {
        // A failure here surfaces as a clear connect error from SQLite itself.
        let _ = std::fs::create_dir_all(parent);
    }
}

#[cfg(test)]
mod tests {
    use sea_orm::{ConnectionTrait, DbBackend, Statement};

    /// Every connection of the pool syncs each commit (`PRAGMA synchronous` 2 is FULL).
    #[tokio::test]
    async fn sqlite_syncs_every_commit() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        let db = super::connect(&url).await.unwrap();
        let pragmas = (0..4).map(|_| {
            db.query_one_raw(Statement::from_string(
                DbBackend::Sqlite,
                "PRAGMA synchronous",
            ))
        });
        for row in futures::future::join_all(pragmas).await {
            let level: i32 = row.unwrap().unwrap().try_get_by_index(0).unwrap();
            assert_eq!(level, 2);
        }
    }
}
