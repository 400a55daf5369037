//! The databases benchmarks run on: each one is created by the benchmark under a name of its
//! own and removed when the benchmark ends, failed or not. A benchmark never touches a database
//! (or a file) it did not create, so pointing it at a production server cannot harm that
//! server's data.
use anyhow::Context;
use sea_orm::{ConnectionTrait, DatabaseConnection};

use crate::store;

/// Where benchmarks create their databases (flattened into each benchmark's arguments).
#[derive(Debug, clap::Args)]
pub struct ScratchArgs {
    /// PostgreSQL server (no database name) on which the benchmark creates a database of its
    /// own, `mintflow_bench_<benchmark>_<process id>`, and drops it when it ends. No other
    /// database is read, changed or dropped. SQLite runs use a file in a new temporary
    /// directory, deleted when the benchmark ends.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432")]
    pub postgres_server: String,
}

/// The two stores a benchmark can measure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Store {
    Postgres,
    Sqlite,
}

/// A migrated, empty database of the benchmark's own.
pub struct Scratch {
    pub url: String,
    pub db: DatabaseConnection,
    place: Place,
}

enum Place {
    Postgres {
        server: String,
        name: String,
    },
    /// Deleted with its files when dropped.
    Sqlite {
        _dir: tempfile::TempDir,
    },
}

/// Runs `bench` on a new database of `store` for the benchmark `name`, then removes it,
/// whether `bench` succeeded or not. `bench` gets the database's URL and a connection.
pub async fn on_scratch(
    store: Store,
    name: &str,
    args: &ScratchArgs,
    bench: impl AsyncFnOnce(&str, DatabaseConnection) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let scratch = Scratch::create(store, name, args).await?;
    let result = bench(&scratch.url, scratch.db.clone()).await;
    let removed = scratch.remove().await;
    result?;
    removed
}

impl Scratch {
    async fn create(store: Store, name: &str, args: &ScratchArgs) -> anyhow::Result<Scratch> {
        let place = match store {
            Store::Postgres => Place::Postgres {
                server: server_url(&args.postgres_server)?,
                name: format!("mintflow_bench_{name}_{}", std::process::id()),
            },
            Store::Sqlite => Place::Sqlite {
                _dir: tempfile::Builder::new()
                    .prefix("mintflow-bench-")
                    .tempdir()
                    .context("creating the benchmark's temporary directory")?,
            },
        };
        let url = match &place {
            Place::Postgres { server, name } => {
                let admin = admin(server).await?;
                // CREATE fails if the name exists: a database of this name is never reused.
                admin
                    .execute_unprepared(&format!("CREATE DATABASE {name}"))
                    .await
                    .with_context(|| format!("creating the benchmark's database {name}"))?;
                admin.close().await?;
                format!("{server}/{name}")
            }
            Place::Sqlite { _dir } => {
                format!(
                    "sqlite://{}?mode=rwc",
                    _dir.path().join("bench.db").display()
                )
            }
        };
        let db = store::connect(&url).await?;
        store::migrate(&db).await?;
        Ok(Scratch { url, db, place })
    }

    /// Closes the connection and removes the database.
    async fn remove(self) -> anyhow::Result<()> {
        self.db.close().await.ok();
        if let Place::Postgres { server, name } = &self.place {
            let admin = admin(server).await?;
            admin
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .await?;
            admin.close().await?;
        }
        Ok(())
    }
}

async fn admin(server: &str) -> anyhow::Result<DatabaseConnection> {
    store::connect(&format!("{server}/postgres"))
        .await
        .context("connecting to PostgreSQL")
}

/// `server` without a trailing slash; one naming a database is refused, since the benchmark
/// would not use it and its user may believe it does.
fn server_url(server: &str) -> anyhow::Result<String> {
    let server = server.trim_end_matches('/');
    let after_scheme = server
        .split_once("://")
        .map(|(_, rest)| rest)
        .context("--postgres-server must be a URL such as postgres://user@host:5432")?;
    anyhow::ensure!(
        !after_scheme.contains('/') && !after_scheme.contains('?'),
        "--postgres-server names a server, not a database: the benchmark creates a database of \
         its own there (got a URL with a path or parameters)"
    );
    Ok(server.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_url_names_no_database() {
        assert_eq!(
            server_url("postgres://u@h:5432/").unwrap(),
            "postgres://u@h:5432"
        );
        assert!(server_url("postgres://u@h:5432/prod").is_err());
        assert!(server_url("postgres://u@h:5432?sslmode=require").is_err());
        assert!(server_url("u@h:5432").is_err());
    }
}
