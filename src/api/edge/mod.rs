//! The edge: what protects the API from the clients it faces, before any handler runs.
//!
//! - `conn`: a cap on open connections and a header-read timeout (Slowloris), under poem's
//!   own idle timeout;
//! - `proxy`: who the client is (`TRUSTED_PROXIES` decide when `X-Forwarded-For` counts);
//! - `middleware`: per-client rate limits on payment, deployment and key-less read routes,
//!   per-client caps on event streams and on x402 requests waiting for their settlement, a
//!   whole-request timeout, and `Allow` on 405 answers;
//! - `cors`: `CORS_ALLOWED_ORIGINS`, for browser x402 clients on other origins.
pub mod conn;
pub mod cors;
pub mod middleware;
pub mod policy;
pub mod proxy;
pub mod rate;
pub mod routes;
pub mod slots;

use std::time::Duration;

pub use middleware::Edge;
pub use rate::RateLimit;

use cors::AllowedOrigins;
use proxy::TrustedProxies;

/// Requests with a payment one client may have waiting for their settlement at once.
pub const X402_WAITS_PER_CLIENT: usize = 8;

/// How the HTTP server meets its clients (`mintflow serve` flags, each with an env twin).
#[derive(Clone, Debug, PartialEq, Eq, clap::Args)]
pub struct EdgeConfig {
    /// Seconds a client has to send a request's head (from connecting, or from the first byte
    /// of a later request on a kept-alive connection); slower connections are closed.
    #[arg(long = "http-header-timeout-secs", env = "HTTP_HEADER_TIMEOUT_SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub header_timeout_secs: u64,
    /// Seconds a connection may stay without traffic (between requests, or a stalled reader)
    /// before it is closed.
    #[arg(long = "http-idle-timeout-secs", env = "HTTP_IDLE_TIMEOUT_SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    pub idle_timeout_secs: u64,
    /// Seconds to read a request's body and produce its answer (503 `request_timed_out`
    /// beyond). Answers that stream (event streams, dashboard assets) are not cut; a paid
    /// x402 request has the offer's settlement wait on top.
    #[arg(long = "http-request-timeout-secs", env = "HTTP_REQUEST_TIMEOUT_SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    pub request_timeout_secs: u64,
    /// Connections open at once; beyond them new ones wait to be accepted. Keep it below the
    /// process's open-file limit (`ulimit -n`).
    #[arg(long = "max-connections", env = "MAX_CONNECTIONS", default_value_t = 4096, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_connections: u64,
    /// Event streams one client may hold open (default: a quarter of --max-event-streams);
    /// beyond, 429 `too_many_streams_for_client`.
    #[arg(long, env = "MAX_EVENT_STREAMS_PER_CLIENT", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_event_streams_per_client: Option<u64>,
    /// Paid x402 requests one client may have waiting for their settlement at once; beyond,
    /// 429 `too_many_payments_waiting`.
    #[arg(long, env = "MAX_X402_WAITS_PER_CLIENT", default_value_t = X402_WAITS_PER_CLIENT as u64, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_x402_waits_per_client: u64,
    /// Proxies (comma-separated CIDRs or addresses) whose `X-Forwarded-For` names the client;
    /// from anyone else the TCP peer is the client.
    #[arg(long, env = "TRUSTED_PROXIES", default_value = "", hide_default_value = true, value_parser = proxy::parse_list)]
    pub trusted_proxies: TrustedProxies,
    /// Origins (comma-separated, like `https://shop.example`) whose browser scripts may call
    /// the API (CORS); none by default.
    #[arg(long, env = "CORS_ALLOWED_ORIGINS", default_value = "", hide_default_value = true, value_parser = cors::parse_list)]
    pub cors_allowed_origins: AllowedOrigins,
}

impl Default for EdgeConfig {
    fn default() -> Self {
        EdgeConfig {
            header_timeout_secs: 10,
            idle_timeout_secs: 60,
            request_timeout_secs: 30,
            max_connections: 4096,
            max_event_streams_per_client: None,
            max_x402_waits_per_client: X402_WAITS_PER_CLIENT as u64,
            trusted_proxies: TrustedProxies::default(),
            cors_allowed_origins: AllowedOrigins::default(),
        }
    }
}

impl EdgeConfig {
    pub fn header_timeout(&self) -> Duration {
        Duration::from_secs(self.header_timeout_secs)
    }

    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.idle_timeout_secs)
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs)
    }

    /// Event streams one client may hold, out of the process's `max_streams`.
    pub fn streams_per_client(&self, max_streams: usize) -> usize {
        match self.max_event_streams_per_client {
            Some(n) => n as usize,
            None => (max_streams / 4).max(1),
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Args {
        #[command(flatten)]
        edge: EdgeConfig,
    }

    #[test]
    fn defaults_and_lists_parse() {
        let parsed = Args::parse_from(["x"]).edge;
        assert_eq!(parsed, EdgeConfig::default());
        let parsed = Args::parse_from([
            "x",
            "--trusted-proxies",
            "10.0.0.0/8,::1",
            "--cors-allowed-origins",
            "https://shop.example,http://localhost:3000",
        ])
        .edge;
        assert_eq!(parsed.trusted_proxies.0.len(), 2);
        assert_eq!(
            parsed.cors_allowed_origins.0,
            ["https://shop.example", "http://localhost:3000"]
        );
        assert!(Args::try_parse_from(["x", "--trusted-proxies", "nope"]).is_err());
        assert!(Args::try_parse_from(["x", "--http-header-timeout-secs", "0"]).is_err());
    }

    #[test]
    fn a_client_gets_a_quarter_of_the_streams_unless_told() {
        let mut c = EdgeConfig::default();
        assert_eq!(c.streams_per_client(512), 128);
        assert_eq!(c.streams_per_client(2), 1);
        c.max_event_streams_per_client = Some(3);
        assert_eq!(c.streams_per_client(512), 3);
    }
}
