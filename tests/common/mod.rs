//! Test builders: one fresh database per test on the local PostgreSQL (cloned from a migrated
//! template) or in a temporary SQLite file, engines, and polling with deadlines.
#![allow(dead_code)] // each test binary uses a different part of this module

/// Runs each named `async fn(Backend)` as two tests, `NAME::postgres` and `NAME::sqlite`.
#[allow(unused_macros)] // not every test binary runs on both backends
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn postgres() { super::$name(super::Backend::Postgres).await }
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn sqlite() { super::$name(super::Backend::Sqlite).await }
        }
    )*};
}

pub mod dev;
pub mod metrics;
pub mod ops;
pub mod proxy;
pub mod relay;
pub mod spec;
pub mod stack;
pub mod x402;

use std::future::Future;
use std::time::Duration;

use mintflow::config::SettingsHandle;
use mintflow::engine::{Client, Engine, EngineConfig, Registry, Waker};
use mintflow::store;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use tokio::sync::OnceCell;

/// The PostgreSQL server the tests use; override with `TEST_POSTGRES_URL` (no database part).
pub fn pg_server() -> String {
    std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

/// Connections per pool in tests: tests run in parallel and some open several pools, all on
/// one server with the default `max_connections` of 100.
const POOL: u32 = 6;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

pub struct TestDb {
    pub db: DatabaseConnection,
    pub url: String,
    pub backend: Backend,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    pub async fn new(backend: Backend) -> TestDb {
        // `RUST_LOG=mintflow=debug cargo test ... -- --nocapture` shows what the code did.
        if std::env::var_os("RUST_LOG").is_some() {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
                .with_test_writer()
                .try_init();
        }
        match backend {
            Backend::Postgres => {
                let template = template().await;
                let name = format!("mf_test_{}", uuid::Uuid::new_v4().simple());
                let admin = store::connect_with_pool(&format!("{}/postgres", pg_server()), 2)
                    .await
                    .expect("connect to PostgreSQL");
                admin
                    .execute_unprepared(&format!("CREATE DATABASE {name} TEMPLATE {template}"))
                    .await
                    .expect("create test database");
                admin.close().await.ok();
                let url = format!("{}/{name}", pg_server());
                let db = store::connect_with_pool(&url, POOL)
                    .await
                    .expect("connect test database");
                TestDb {
                    db,
                    url,
                    backend,
                    _dir: None,
                }
            }
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("tempdir");
                let url = format!("sqlite://{}/test.db?mode=rwc", dir.path().display());
                let db = store::connect(&url).await.expect("open sqlite");
                store::migrate(&db).await.expect("migrate sqlite");
                TestDb {
                    db,
                    url,
                    backend,
                    _dir: Some(dir),
                }
            }
        }
    }

    /// Another pool on the same database (what a second process would have).
    pub async fn reconnect(&self) -> DatabaseConnection {
        store::connect_with_pool(&self.url, POOL)
            .await
            .expect("reconnect")
    }

    pub async fn scalar_i64(&self, sql: &str) -> i64 {
        let backend = self.db.get_database_backend();
        let row = self
            .db
            .query_one_raw(Statement::from_string(backend, sql.to_owned()))
            .await
            .expect("query")
            .expect("a row");
        row.try_get_by_index::<i64>(0).expect("an integer")
    }

    pub fn is_pg(&self) -> bool {
        self.db.get_database_backend() == DbBackend::Postgres
    }
}

impl Drop for TestDb {
    /// A passing test's PostgreSQL database goes with it: left behind, a few hundred test runs
    /// fill the server's disk (they did, on a CI machine). A failing test's stays for a look;
    /// `.ci/run` sweeps those before it tests.
    fn drop(&mut self) {
        if self.backend != Backend::Postgres || std::thread::panicking() {
            return;
        }
        let Some(name) = self.url.rsplit('/').next().map(str::to_owned) else {
            return;
        };
        let admin_url = format!("{}/postgres", pg_server());
        let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
        // Drop runs on the test's runtime, which must not be blocked on: a runtime of its own,
        // on a thread of its own. FORCE ends the connections pools still hold.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime to drop the test database");
            runtime.block_on(async {
                let admin = store::connect_with_pool(&admin_url, 1).await.ok()?;
                let result = admin.execute_unprepared(&sql).await;
                admin.close().await.ok();
                result.ok()
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(_))) {
            eprintln!("test database {name} was not dropped");
        }
    }
}

/// The migrated template database every PostgreSQL test database is cloned from. Its name
/// carries a hash of the migration sources, so a changed migration gets a new template; an
/// advisory lock makes concurrent test processes build it once.
async fn template() -> &'static str {
    static TEMPLATE: OnceCell<String> = OnceCell::const_new();
    TEMPLATE
        .get_or_init(|| async {
            let mut sources = String::new();
            let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/migration/src");
            let mut files: Vec<_> = std::fs::read_dir(dir)
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            files.sort();
            for f in files {
                sources.push_str(&std::fs::read_to_string(f).unwrap());
            }
            let hash = &mintflow::engine::client::request_hash(sources.as_bytes())[..16];
            let name = format!("mf_template_{hash}");
            let admin = store::connect_with_pool(&format!("{}/postgres", pg_server()), 2)
                .await
                .expect("connect to PostgreSQL");
            // A session-level advisory lock on one pooled connection: take it, build, release.
            let mut conn = admin
                .get_postgres_connection_pool()
                .acquire()
                .await
                .unwrap();
            use sea_orm::sqlx::Executor;
            conn.execute("SELECT pg_advisory_lock(727274)")
                .await
                .unwrap();
            let exists = sea_orm::sqlx::query_scalar::<_, i64>(
                "SELECT count(*) FROM pg_database WHERE datname = $1",
            )
            .bind(&name)
            .fetch_one(&mut *conn)
            .await
            .unwrap();
            if exists == 0 {
                let building = format!("{name}_building");
                let drop = format!("DROP DATABASE IF EXISTS {building}");
                conn.execute(sea_orm::sqlx::AssertSqlSafe(drop))
                    .await
                    .unwrap();
                let create = format!("CREATE DATABASE {building}");
                conn.execute(sea_orm::sqlx::AssertSqlSafe(create))
                    .await
                    .unwrap();
                let db = store::connect_with_pool(&format!("{}/{building}", pg_server()), 2)
                    .await
                    .unwrap();
                store::migrate(&db).await.expect("migrate template");
                db.close().await.unwrap();
                let rename = format!("ALTER DATABASE {building} RENAME TO {name}");
                conn.execute(sea_orm::sqlx::AssertSqlSafe(rename))
                    .await
                    .unwrap();
            }
            conn.execute("SELECT pg_advisory_unlock(727274)")
                .await
                .unwrap();
            drop(conn);
            admin.close().await.ok();
            name
        })
        .await
        .as_str()
}

/// A loopback port whose connections are refused, owned by the caller while the socket lives
/// (bound, never listening): unlike a fixed "closed" port, nothing else can listen on it.
pub fn refused_port() -> (tokio::net::TcpSocket, u16) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let port = socket.local_addr().unwrap().port();
    (socket, port)
}

/// A PostgreSQL statistics function's count for `relation` (`pg_stat_get_xact_numscans`,
/// `pg_stat_get_xact_tuples_returned`...) as `conn`'s backend sees it: its current
/// transaction's, plus what its earlier ones did that is not flushed yet, so a check compares
/// counts before and after.
pub async fn pg_stat(conn: &impl ConnectionTrait, function: &str, relation: &str) -> i64 {
    let sql = format!("SELECT {function}('{relation}'::regclass)");
    conn.query_one_raw(Statement::from_string(DbBackend::Postgres, sql))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index::<i64>(0)
        .unwrap()
}

/// Polls `check` every 20 ms until it returns `Some`, or panics after `timeout`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Settings for tests: short leases so takeovers happen in a couple of seconds.
pub async fn fast_settings(db: &DatabaseConnection, lease_seconds: i64) -> SettingsHandle {
    let settings = [
        ("lease_seconds", lease_seconds),
        ("retry_base_delay_ms", 20),
        ("retry_max_delay_ms", 200),
    ];
    for (key, value) in settings {
        store::settings::put(db, key, serde_json::json!(value), "test", store::now_ms())
            .await
            .unwrap();
    }
    SettingsHandle::load(db).await.unwrap()
}

/// An engine with its own waker and a fixed worker id.
pub fn engine(
    db: &DatabaseConnection,
    registry: Registry,
    settings: &SettingsHandle,
    worker: &str,
) -> (Engine, Client) {
    let waker = Waker::default();
    let config = EngineConfig {
        worker_id: worker.to_owned(),
        shutdown_grace: Duration::from_secs(5),
    };
    let engine = Engine::start(
        db.clone(),
        registry,
        settings.clone(),
        waker.clone(),
        config,
    );
    (engine, Client::new(db.clone(), waker))
}

/// The real anvil binary from the npm package pinned in `tools/` (not the node wrapper, so a
/// killed test does not leave a chain running behind a wrapper).
pub fn anvil_bin() -> std::path::PathBuf {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tools/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil");
    assert!(
        path.exists(),
        "anvil is missing: run `npm ci --prefix tools`"
    );
    path
}

/// A fresh anvil on a free port; stopped when dropped.
pub fn anvil(args: &[&str]) -> alloy::node_bindings::AnvilInstance {
    alloy::node_bindings::Anvil::at(anvil_bin())
        .args(args.iter().copied())
        .spawn()
}

/// Anvil's first dev account key (funded with 10,000 ETH).
pub const DEV_KEY: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

/// The check named `name` in a `/ready` answer.
pub fn ready_check<'a>(ready: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    ready["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no {name} check in {ready}"))
}

/// An HTTP client that sends `Authorization: Bearer <token>` on every request (a request's
/// own `bearer_auth` replaces it).
pub fn http_as(token: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    let mut value = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}"))
        .expect("a header-safe token");
    value.set_sensitive(true);
    headers.insert(reqwest::header::AUTHORIZATION, value);
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .expect("an HTTP client")
}

/// Creates an API key with `scopes` (`read,mint`) straight in the database; the key.
pub async fn create_key(db: &DatabaseConnection, name: &str, scopes: &str) -> String {
    use mintflow::app::keys::{self, NewKey, Scopes};
    let created = keys::create(
        db,
        NewKey {
            name: name.into(),
            scopes: Scopes::parse_list(scopes).unwrap(),
            expires_in: None,
            mint_quota_per_minute: None,
            max_mint_priority: 0,
            facilitator_pay_to: None,
        },
        "test",
        &store::time::Clock::system(),
    )
    .await
    .unwrap();
    created.key.to_string()
}
