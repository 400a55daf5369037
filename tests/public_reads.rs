//! Public reads cannot stall the engine, on PostgreSQL with a history of finished workflows:
//! while 200 clients read the overview (`/v1/stats`, `/queue/status`, `/metrics`) as fast as
//! they are answered, mints confirm about as fast as without them; and API reads run on their
//! own pool, where a read that runs too long is cut off with 503 `read_timeout`.
mod common;

use std::time::Duration;

use common::stack::{ADMIN_TOKEN, Stack, StackOptions};
use common::{Backend, TestDb};
use mintflow::bench::public_reads::{compare, insert_finished_mints};
use mintflow::engine::EngineConfig;
use mintflow::service::{Limits, Role, Service, ServiceConfig};
use mintflow::store::read_pool::ReadPool;
use mintflow::workflows;
use sea_orm::{ConnectionTrait, TransactionTrait};
use serde_json::Value;

/// Finished mints in the table: a tenth of the benchmark's million, enough that a count of
/// the whole table per read (what the overview did before) takes the database's time.
const HISTORY: u64 = 100_000;
/// Mints timed without readers, and as many with them, in `ROUNDS` alternating rounds so that
/// what else the machine runs (other tests, builds) weighs on both alike.
const MINTS: usize = 12;
const ROUNDS: usize = 3;
const READERS: usize = 200;
/// Added to twice the unloaded median. A mint is confirmed one block after the block that
/// holds it: with a block every 200 ms, the same work lands one block earlier or later by
/// luck, and the status is polled every 20 ms. Two blocks and a poll cover that, so the
/// ratio compares the service's own delays, not where in a block interval a mint arrived.
const SLACK_MS: f64 = 2.0 * 200.0 + 20.0;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mints_confirm_in_time_while_200_clients_read_the_overview() {
    let stack = Stack::start(
        Backend::Postgres,
        StackOptions {
            anvil_args: &["--block-time", "0.2"],
            settings: &[("max_batch_wait_ms", 0)],
            ..Default::default()
        },
    )
    .await;
    insert_finished_mints(&stack.t.db, HISTORY).await.unwrap();
    let c = compare(&stack.base, MINTS, ROUNDS, READERS, Some(ADMIN_TOKEN))
        .await
        .unwrap();
    let (p50, p50_loaded) = (c.p50(), c.p50_loaded());
    eprintln!("mint p50 {p50:.0} ms without readers, {p50_loaded:.0} ms with {READERS}: {c:?}");
    assert_eq!(c.load.refused, 0, "every read is answered 200: {c:?}");
    assert!(c.load.answered > READERS as u64, "{c:?}");
    assert!(
        p50_loaded <= 2.0 * p50 + SLACK_MS,
        "mints took {p50_loaded:.0} ms (p50) under the readers, against {p50:.0} ms without"
    );
    stack.service.stop().await;
}

/// A read stuck behind a lock is cancelled at `--read-statement-timeout-ms` and answered 503
/// `read_timeout`, for a list and for the overview; once the lock is gone both answer again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_read_that_runs_too_long_is_503_read_timeout() {
    let t = TestDb::new(Backend::Postgres).await;
    let config = ServiceConfig {
        database_url: t.url.clone(),
        database_max_connections: 8,
        listen_addr: "127.0.0.1:0".into(),
        admin_token: Some(ADMIN_TOKEN.into()),
        public_reads: false,
        role: Role::Api,
        engine: EngineConfig {
            worker_id: "reads-test".into(),
            shutdown_grace: Duration::from_secs(2),
        },
        limits: Limits {
            reads: ReadPool {
                connections: 2,
                statement_timeout_ms: 300,
            },
            ..Limits::default()
        },
        edge: Default::default(),
        webhook_targets: Default::default(),
        chain: None,
    };
    let service = Service::start(config, workflows::registry).await.unwrap();
    let base = format!("http://{}", service.http_addr().unwrap());
    let http = reqwest::Client::new();
    let get = |path: &'static str| {
        let req = http.get(format!("{base}{path}")).bearer_auth(ADMIN_TOKEN);
        async move {
            let res = req.send().await.unwrap();
            (res.status().as_u16(), res.json::<Value>().await.unwrap())
        }
    };

    let lock = t.db.begin().await.unwrap();
    lock.execute_unprepared("LOCK TABLE workflows IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    // Without the statement timeout these reads would wait for the lock forever: the
    // answer and its code are the proof, not how long it took.
    for path in ["/v1/workflows", "/v1/stats"] {
        let (status, body) = get(path).await;
        assert_eq!(status, 503, "{path}: {body}");
        assert_eq!(body["code"], "read_timeout", "{path}: {body}");
    }
    lock.rollback().await.unwrap();
    // The overview's failure is kept for up to a second, like a snapshot.
    common::eventually(
        Duration::from_secs(5),
        "the reads to answer again",
        || async {
            let (workflows, _) = get("/v1/workflows").await;
            let (stats, _) = get("/v1/stats").await;
            (workflows == 200 && stats == 200).then_some(())
        },
    )
    .await;
    service.stop().await;
}
