//! `mintflow dev` (the real binary) as a child process of a test.
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The line dev prints once it serves, followed by its base URL.
pub const READY: &str = "mintflow dev ready: ";
const READY_TIMEOUT: Duration = Duration::from_secs(120);
/// How long dev gets to stop (and stop its anvil) after SIGTERM.
pub const EXIT_TIMEOUT: Duration = Duration::from_secs(30);

/// A running `mintflow dev --automine` on free ports, with its database in a test's directory.
/// Dropped, it gets SIGTERM (so it stops its anvil too), and SIGKILL if it has not exited in
/// time.
pub struct Dev {
    pub child: Child,
    /// `http://127.0.0.1:PORT`, from the ready line.
    pub base: String,
    /// Every line it printed before the ready line.
    pub banner: Vec<String>,
    stderr: PathBuf,
}

impl Dev {
    /// Starts dev with its SQLite database in `dir` and the extra environment `env`; returns
    /// once it printed its ready line.
    pub fn start(dir: &Path, env: &[(&str, &str)]) -> Dev {
        Dev::start_with(dir, &[], env)
    }

    /// `start`, with `args` added to dev's own.
    pub fn start_with(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Dev {
        let stderr = dir.join("stderr.log");
        let mut command = Command::new(env!("CARGO_BIN_EXE_mintflow"));
        command
            .args(["dev", "--listen-addr", "127.0.0.1:0", "--automine"])
            .args(args)
            .env(
                "DATABASE_URL",
                format!("sqlite://{}/dev.db?mode=rwc", dir.display()),
            )
            .env_remove("SIGNER_PRIVATE_KEY")
            .env_remove("KEYSTORE_PATH")
            .env_remove("ADMIN_TOKEN")
            .env_remove("PAY_TO")
            .env_remove("DEPLOY_PRICE")
            .envs(env.iter().copied())
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).unwrap());
        let mut child = command.spawn().expect("run mintflow dev");
        // Every stdout line goes through a channel, so waiting for the ready line has a
        // deadline and the pipe never fills up.
        let (lines_tx, lines) = mpsc::channel::<String>();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if lines_tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut dev = Dev {
            child,
            base: String::new(),
            banner: Vec::new(),
            stderr,
        };
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines.recv_timeout(left) {
                Ok(line) => match line.strip_prefix(READY) {
                    Some(base) => {
                        dev.base = base.trim().to_owned();
                        return dev;
                    }
                    None => dev.banner.push(line),
                },
                Err(e) => panic!(
                    "no ready line ({e}); stdout:\n{}\nstderr:\n{}",
                    dev.banner.join("\n"),
                    dev.logs()
                ),
            }
        }
    }

    /// The first word after `name` on the banner line that starts with it (`RPC`, `USDC`...).
    pub fn field(&self, name: &str) -> String {
        self.banner
            .iter()
            .find_map(|l| l.trim().strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("no {name} line in the banner:\n{}", self.banner.join("\n")))
            .to_owned()
    }

    /// What it wrote to stderr so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for Dev {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_some() {
            return;
        }
        self.terminate();
        wait_exit(&mut self.child, EXIT_TIMEOUT);
    }
}

/// Waits for the child's exit on a thread, so the wait has a deadline without polling; kills
/// it (and answers `None`) when the deadline passes.
pub fn wait_exit(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
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
