//! Clients generated from openapi/openapi.json work: a TypeScript client (openapi-typescript +
//! openapi-fetch, pinned in tools/) compiles a strict consumer, and a Python client
//! (openapi-python-client, pinned in tests/clients/python/requirements.txt) follows a mint on
//! a running server. The generators are the ones integrators use; their output goes to a
//! temporary directory, never into the repository.
mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::Backend;
use common::stack::{ADMIN_TOKEN, Stack, StackOptions};
use tokio::process::Command;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn spec() -> PathBuf {
    repo().join("openapi/openapi.json")
}

/// A binary installed by `npm ci --prefix tools`.
fn npm_tool(name: &str) -> PathBuf {
    let path = repo().join("tools/node_modules/.bin").join(name);
    assert!(
        path.exists(),
        "{name} is missing: run `npm ci --prefix tools`"
    );
    path
}

/// Runs `command` to its end and returns its stdout; any failure panics with what it printed.
async fn run(what: &str, command: &mut Command) -> String {
    let Output {
        status,
        stdout,
        stderr,
    } = command
        .kill_on_drop(true)
        .output()
        .await
        .unwrap_or_else(|e| panic!("{what}: cannot start {command:?}: {e}"));
    let (stdout, stderr) = (
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    );
    assert!(
        status.success(),
        "{what} failed ({status}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
    stdout
}

#[tokio::test]
async fn typescript_client_compiles_a_strict_consumer() {
    let dir = tempfile::tempdir().unwrap();
    let sources = repo().join("tests/clients/typescript");
    for file in ["consumer.ts", "tsconfig.json"] {
        std::fs::copy(sources.join(file), dir.path().join(file)).unwrap();
    }
    // The consumer imports openapi-fetch as a package: resolved from the pinned tools.
    std::os::unix::fs::symlink(
        repo().join("tools/node_modules"),
        dir.path().join("node_modules"),
    )
    .unwrap();
    run(
        "openapi-typescript",
        Command::new(npm_tool("openapi-typescript"))
            .arg(spec())
            .arg("--output")
            .arg(dir.path().join("schema.d.ts")),
    )
    .await;
    run(
        "tsc (strict) on tests/clients/typescript/consumer.ts",
        Command::new(npm_tool("tsc"))
            .arg("--project")
            .arg(dir.path().join("tsconfig.json")),
    )
    .await;
}

/// The virtualenv with tests/clients/python/requirements.txt, under target/: made on first
/// use (pip from PyPI) and again whenever the requirements change.
async fn python_venv() -> PathBuf {
    let requirements = repo().join("tests/clients/python/requirements.txt");
    let wanted = std::fs::read_to_string(&requirements).unwrap();
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("clients-python-venv");
    // Written last, so a venv whose install was cut short is made again.
    let installed = venv.join("installed-requirements.txt");
    if std::fs::read_to_string(&installed).ok().as_deref() == Some(wanted.as_str()) {
        return venv;
    }
    if venv.exists() {
        std::fs::remove_dir_all(&venv).unwrap();
    }
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    run(
        "creating the Python venv (needs python3 >= 3.10 with venv: apt-get install python3-venv)",
        Command::new(python).args(["-m", "venv"]).arg(&venv),
    )
    .await;
    run(
        "pip install -r tests/clients/python/requirements.txt",
        Command::new(venv.join("bin/python"))
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .arg("--requirement")
            .arg(&requirements),
    )
    .await;
    std::fs::write(&installed, wanted).unwrap();
    venv
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_client_follows_a_mint() {
    let venv = python_venv().await;
    let python = venv.join("bin/python");
    let dir = tempfile::tempdir().unwrap();
    run(
        "openapi-python-client generate",
        Command::new(&python)
            .args(["-m", "openapi_python_client", "generate", "--meta", "none"])
            .arg("--fail-on-warning")
            .arg("--path")
            .arg(spec())
            .arg("--config")
            .arg(repo().join("tests/clients/python/generator.yaml"))
            .arg("--output-path")
            .arg(dir.path().join("mintflow_client")),
    )
    .await;

    // The chain mines only when the flow asks, so the mint is seen sent and not yet confirmed.
    let stack = Stack::start(
        Backend::Sqlite,
        StackOptions {
            anvil_args: &[],
            manual_mining: true,
            ..Default::default()
        },
    )
    .await;
    let payer = alloy::primitives::Address::repeat_byte(0x11).to_string();
    let out = run(
        "tests/clients/python/flow.py",
        Command::new(&python)
            .arg(repo().join("tests/clients/python/flow.py"))
            .env("PYTHONPATH", dir.path())
            .env("MINTFLOW_URL", &stack.base)
            .env("MINTFLOW_TOKEN", ADMIN_TOKEN)
            .env("RPC_URL", stack.anvil.endpoint())
            .env("PAYER", payer),
    )
    .await;
    assert!(out.contains("python client flow: ok"), "{out}");
    stack.service.stop().await;
}
