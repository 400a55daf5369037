//! `mintflow bench mint --api-processes 2 --worker-processes 2` runs the service as separate
//! `serve --role api|worker` processes of the real binary on one PostgreSQL database: a small
//! run completes, every mint of both layouts (1+1, then 2+2) confirms, the CPU line names each
//! process, and the bench leaves no database behind.
mod common;

use sea_orm::{ConnectionTrait, DbBackend, Statement};

/// Mints per layout: enough for several batches over two API processes, small enough for a
/// debug build on a busy machine.
const REQUESTS: usize = 200;

#[tokio::test]
async fn a_split_run_confirms_every_mint_in_both_layouts() {
    let server = common::pg_server();
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_mintflow"))
        .args([
            "bench",
            "mint",
            "--api-processes",
            "2",
            "--worker-processes",
            "2",
        ])
        .args(["--requests", &REQUESTS.to_string(), "--clients", "16"])
        // Batches of 50, so that each layout sends several on consecutive nonces.
        .args(["--batch-size", "50", "--postgres-server", &server])
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("starting mintflow bench mint");
    let pid = child.id().expect("the bench's pid");
    let out = child.wait_with_output().await.expect("running the bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "bench failed: {}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    for layout in [
        "== 1 API + 1 worker processes",
        "== 2 API + 2 worker processes",
    ] {
        assert!(stdout.contains(layout), "no `{layout}` run:\n{stdout}");
    }
    let settled = format!("end to end: {REQUESTS} mints settled");
    assert_eq!(stdout.matches(&settled).count(), 2, "{stdout}");
    assert_eq!(stdout.matches("(0 failed)").count(), 2, "{stdout}");
    for process in ["api 1 ", "api 2 ", "worker 1 ", "worker 2 ", "PostgreSQL ("] {
        assert!(
            stdout.contains(process),
            "no CPU figure of `{process}`:\n{stdout}"
        );
    }
    assert!(stdout.contains("1+1 -> 2+2 processes"), "{stdout}");

    let admin = mintflow::store::connect(&format!("{server}/postgres"))
        .await
        .unwrap();
    let left = admin
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            format!(
                "SELECT count(*) AS n FROM pg_database \
                 WHERE datname = 'mintflow_bench_mint_split_{pid}'"
            ),
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get::<i64>("", "n")
        .unwrap();
    assert_eq!(left, 0, "the bench left its database behind");
    admin.close().await.unwrap();
}
