//! The pool API reads run on: lists, searches, histories and the overview snapshot. Its own
//! few connections, each with a `statement_timeout`, so a burst of heavy reads waits for one
//! of them (or is cut off) instead of taking the connections the engine's checkpoints and the
//! sender need.
use std::ops::Deref;
use std::time::Duration;

use sea_orm::{ConnAcquireErr, ConnectOptions, Database, DatabaseConnection, DbErr, RuntimeErr};

/// How the read pool is sized and bounded (`mintflow serve` flags).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::Args)]
pub struct ReadPool {
    /// PostgreSQL connections for API reads, apart from the engine's and the sender's
    /// (SQLite reads share the one pool: WAL lets readers run beside the writer).
    #[arg(long = "read-pool-connections", env = "READ_POOL_CONNECTIONS", default_value_t = ReadPool::default().connections, value_parser = clap::value_parser!(u32).range(1..))]
    pub connections: u32,
    /// Longest one API read statement may run on PostgreSQL before it is cancelled and the
    /// request answered 503 `read_timeout`.
    #[arg(long = "read-statement-timeout-ms", env = "READ_STATEMENT_TIMEOUT_MS", default_value_t = ReadPool::default().statement_timeout_ms, value_parser = clap::value_parser!(u64).range(1..))]
    pub statement_timeout_ms: u64,
}

impl Default for ReadPool {
    fn default() -> Self {
        ReadPool {
            connections: 4,
            statement_timeout_ms: 2000,
        }
    }
}

/// The read pool for `url`. SQLite has no statement timeout and gains nothing from a second
/// pool of the same file (nor could an in-memory database be opened twice): its reads use
/// `db`, the process's pool.
pub async fn connect(
    url: &str,
    pool: ReadPool,
    db: &DatabaseConnection,
) -> Result<DatabaseConnection, DbErr> {
    if url.starts_with("sqlite:") {
        return Ok(db.clone());
    }
    let mut opts = ConnectOptions::new(url.to_owned());
    opts.sqlx_logging(false)
        .connect_timeout(Duration::from_secs(10))
        // A read waits this long for one of the few connections, then fails: under a flood
        // of reads, waiting requests must not pile up for the default 30 s.
        .acquire_timeout(
            Duration::from_millis(pool.statement_timeout_ms).max(Duration::from_secs(1)),
        )
        .max_connections(pool.connections)
        .min_connections(1);
    let timeout = pool.statement_timeout_ms.to_string();
    opts.map_sqlx_postgres_opts(move |o| o.options([("statement_timeout", timeout.as_str())]));
    opts.map_sqlx_postgres_pool_opts(|o| {
        o.after_connect(|_conn, _meta| {
            Box::pin(async {
                super::disable_nagle_on_open_sockets();
                Ok(())
            })
        })
    });
    Database::connect(opts).await
}

/// True when a read took too long: PostgreSQL cancelled the statement for running past its
/// `statement_timeout` (SQLSTATE 57014, `query_canceled`) or for waiting on a lock past its
/// `lock_timeout` (55P03, `lock_not_available`), or no connection of the pool came free in
/// time.
pub fn is_timeout(e: &DbErr) -> bool {
    match e {
        DbErr::ConnectionAcquire(ConnAcquireErr::Timeout) => true,
        DbErr::Query(RuntimeErr::SqlxError(e)) | DbErr::Exec(RuntimeErr::SqlxError(e)) => {
            matches!(e.deref(), sea_orm::sqlx::Error::Database(db)
                if matches!(db.code().as_deref(), Some("57014" | "55P03")))
        }
        _ => false,
    }
}
