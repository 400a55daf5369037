//! Failed authentications by client: past `MAX_FAILURES` in a window, a client is refused
//! before its credentials are even read, so guessing keys stays slow.
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::api::error::ApiError;

/// Failed authentications one client may make per window before it is refused outright.
pub const MAX_FAILURES: u32 = 20;
const FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// Most clients remembered; past it, those whose window ended are forgotten.
const CLIENTS_CAP: usize = 10_000;

#[derive(Default)]
struct Failures {
    window_start: Option<Instant>,
    count: u32,
}

/// The failures of every client of a process.
#[derive(Default)]
pub struct FailureCount(Mutex<HashMap<String, Failures>>);

impl FailureCount {
    /// 429 `too_many_auth_failures` for a client that failed too often this window.
    pub fn check_not_blocked(&self, client: &str) -> Result<(), ApiError> {
        let failures = self.0.lock().expect("failures");
        match failures.get(client) {
            Some(f)
                if f.count >= MAX_FAILURES
                    && f.window_start.is_some_and(|s| s.elapsed() < FAILURE_WINDOW) =>
            {
                let wait = FAILURE_WINDOW.saturating_sub(f.window_start.expect("set").elapsed());
                Err(ApiError::too_many_requests(
                    "too_many_auth_failures",
                    format!(
                        "{MAX_FAILURES} failed authentications from this client in a minute; \
                         try again later"
                    ),
                    wait.as_secs().max(1),
                ))
            }
            _ => Ok(()),
        }
    }

    pub fn count_failure(&self, client: &str) {
        let mut failures = self.0.lock().expect("failures");
        if failures.len() >= CLIENTS_CAP {
            failures.retain(|_, f| f.window_start.is_some_and(|s| s.elapsed() < FAILURE_WINDOW));
        }
        let f = failures.entry(client.to_owned()).or_default();
        if f.window_start.is_none_or(|s| s.elapsed() >= FAILURE_WINDOW) {
            *f = Failures {
                window_start: Some(Instant::now()),
                count: 0,
            };
        }
        f.count += 1;
        if f.count == MAX_FAILURES {
            tracing::warn!(
                client,
                "too many failed authentications; refusing this client for a minute"
            );
        }
    }
}
