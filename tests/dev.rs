//! The chain commands of the real binary: `mintflow dev` comes up with a healthy chain and
//! takes its anvil down on SIGTERM; `mintflow deploy` deploys contracts that have code.
mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use alloy::primitives::Address;
use alloy::providers::{Provider, RootProvider};
use common::{DEV_KEY, anvil};

const READY: &str = "mintflow dev ready: ";
const READY_TIMEOUT: Duration = Duration::from_secs(120);
const EXIT_TIMEOUT: Duration = Duration::from_secs(30);

/// Kills the child if the test fails before it exits (and so drops its anvil too).
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_comes_up_healthy_and_stops_anvil_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let stderr = std::fs::File::create(dir.path().join("stderr.log")).unwrap();
    let mut child = Running(
        Command::new(env!("CARGO_BIN_EXE_mintflow"))
            .args(["dev", "--listen-addr", "127.0.0.1:0", "--automine"])
            .env(
                "DATABASE_URL",
                format!("sqlite://{}/dev.db?mode=rwc", dir.path().display()),
            )
            .env_remove("SIGNER_PRIVATE_KEY")
            .env_remove("KEYSTORE_PATH")
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("run mintflow dev"),
    );
    let logs = || std::fs::read_to_string(dir.path().join("stderr.log")).unwrap_or_default();

    // Every stdout line goes through a channel, so waiting for the ready line has a deadline
    // and the pipe never fills up.
    let (lines_tx, lines) = mpsc::channel::<String>();
    let stdout = child.0.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + READY_TIMEOUT;
    let mut banner = Vec::new();
    let base = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => match line.strip_prefix(READY) {
                Some(base) => break base.trim().to_owned(),
                None => banner.push(line),
            },
            Err(e) => panic!(
                "no ready line ({e}); stdout:\n{}\nstderr:\n{}",
                banner.join("\n"),
                logs()
            ),
        }
    };
    let rpc = banner
        .iter()
        .find_map(|l| l.trim().strip_prefix("RPC"))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no RPC line in the banner:\n{}", banner.join("\n")))
        .to_owned();
    assert!(
        banner.iter().any(|l| l.contains(&format!("{base}/docs"))),
        "{banner:?}"
    );

    let res = reqwest::get(format!("{base}/ready")).await.unwrap();
    assert_eq!(res.status(), reqwest::StatusCode::OK);
    let ready: serde_json::Value = res.json().await.unwrap();
    let rpc_check = ready["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "rpc")
        .cloned()
        .unwrap();
    assert_eq!(rpc_check["ok"], true, "{ready}");
    assert!(
        rpc_check["detail"]
            .as_str()
            .unwrap()
            .starts_with("chain 31337 at block "),
        "{ready}"
    );

    let anvil_addr = rpc.trim_start_matches("http://").to_owned();
    assert!(
        std::net::TcpStream::connect(&anvil_addr).is_ok(),
        "anvil answers at {anvil_addr} while dev runs"
    );
    let status = Command::new("kill")
        .arg("-TERM")
        .arg(child.0.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
    let exit = wait_exit(&mut child.0, EXIT_TIMEOUT)
        .unwrap_or_else(|| panic!("dev did not exit after SIGTERM; stderr:\n{}", logs()));
    assert!(
        exit.success(),
        "dev exited with {exit}; stderr:\n{}",
        logs()
    );
    assert!(
        std::net::TcpStream::connect(&anvil_addr).is_err(),
        "anvil still answers at {anvil_addr} after dev exited"
    );
}

/// Waits for the child's exit on a thread, so the wait has a deadline without polling.
fn wait_exit(child: &mut Child, timeout: Duration) -> Option<std::process::ExitStatus> {
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::scope(|s| {
        s.spawn(|| {
            let _ = tx.send(child.wait());
        });
        match rx.recv_timeout(timeout) {
            Ok(status) => status.ok(),
            Err(_) => {
                // Unblocks the waiting thread so the scope can end.
                let _ = Command::new("kill")
                    .arg("-KILL")
                    .arg(pid.to_string())
                    .status();
                None
            }
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_prints_addresses_with_code() {
    let node = anvil(&["--block-time", "0.2"]);
    let dir = tempfile::tempdir().unwrap();
    let out = tokio::task::spawn_blocking({
        let endpoint = node.endpoint();
        let url = format!("sqlite://{}/deploy.db?mode=rwc", dir.path().display());
        move || {
            Command::new(env!("CARGO_BIN_EXE_mintflow"))
                .args(["deploy", "--mock-usdc", "--name", "Test Token"])
                .env("DATABASE_URL", url)
                .env("RPC_URL", endpoint)
                .env("SIGNER_PRIVATE_KEY", DEV_KEY)
                .output()
                .expect("run mintflow deploy")
        }
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(
        !stderr.contains(&DEV_KEY[2..]),
        "the key must never be logged"
    );
    assert_eq!(stdout.lines().count(), 1, "one JSON line: {stdout}");
    let deployed: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(deployed["chainId"], 31337, "{deployed}");

    let provider: RootProvider = RootProvider::new_http(node.endpoint_url());
    for field in ["usdc", "token"] {
        let address: Address = deployed[field]
            .as_str()
            .unwrap_or_else(|| panic!("{field} missing: {deployed}"))
            .parse()
            .unwrap();
        let code = provider.get_code_at(address).await.unwrap();
        assert!(!code.is_empty(), "{field} at {address} has no code");
    }
}

/// Clear refusals before anything starts: no anvil for `dev`, no signer for `serve` with a chain.
#[test]
fn missing_anvil_or_signer_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/x.db?mode=rwc", dir.path().display());
    let out = Command::new(env!("CARGO_BIN_EXE_mintflow"))
        .arg("dev")
        .current_dir(dir.path())
        .env("DATABASE_URL", &db)
        .env("PATH", dir.path().join("nowhere"))
        .env_remove("ANVIL_PATH")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("npm ci --prefix tools"), "{stderr}");

    let out = Command::new(env!("CARGO_BIN_EXE_mintflow"))
        .args(["serve", "--rpc-url", "http://127.0.0.1:9"])
        .current_dir(dir.path())
        .env("DATABASE_URL", &db)
        .env_remove("SIGNER_PRIVATE_KEY")
        .env_remove("KEYSTORE_PATH")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("RPC_URL is set, so a signer is required")
            && stderr.contains("SIGNER_PRIVATE_KEY"),
        "{stderr}"
    );

    let out = Command::new(env!("CARGO_BIN_EXE_mintflow"))
        .args(["serve", "--rpc-url", "http://127.0.0.1:9"])
        .current_dir(dir.path())
        .env("DATABASE_URL", &db)
        .env("SIGNER_PRIVATE_KEY", "0xabcdef0123")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("not a valid") && !stderr.contains("abcdef0123"),
        "{stderr}"
    );
}
