//! Prometheus metrics: the process-wide recorder (`metrics` + `metrics-exporter-prometheus`, without a listener of its own: the API
//! serves `/metrics`), and the rendering of the overview's gauges.
//!
//! Counters and histograms (HTTP requests, steps, batches, confirmations, fee bumps) are events
//! of this process and go through the global recorder. Gauges read from the database and the
//! node (workflows, the mint queue, the signer) are rendered from a fresh overview at each
//! scrape instead: a global gauge would be overwritten by any other service sharing the process
//! (tests run several), and a stale one would lie after a failed read.
use std::fmt::Write;
use std::sync::OnceLock;
use std::time::Duration;

use metrics::Unit;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use super::overview::Overview;
use crate::telemetry::names::*;

/// Latency buckets, in seconds: HTTP and steps sit in the low ones, confirmations (blocks
/// times `confirmations`) in the high ones.
const SECONDS_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
];
/// Batch size buckets, up to the largest `max_batch_size`.
const BATCH_SIZE_BUCKETS: &[f64] = &[
    1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0,
];
/// How often histogram samples are folded into their buckets when nobody scrapes (without it
/// they would pile up in memory until the next scrape).
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// Installs the process-wide recorder the first time, and returns its handle. Any later call
/// (another service in the same process) gets the same handle.
pub fn install() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets(SECONDS_BUCKETS)
            .and_then(|b| {
                b.set_buckets_for_metric(Matcher::Full(MINT_BATCH_SIZE.into()), BATCH_SIZE_BUCKETS)
            })
            .expect("the bucket lists are not empty");
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        if let Err(e) = metrics::set_global_recorder(recorder) {
            // Another recorder was installed first (an embedding program's): ours stays empty.
            tracing::warn!(error = %e, "a metrics recorder is already installed; /metrics shows only the overview");
        }
        describe();
        let upkeep = handle.clone();
        // A thread, not a task: it must outlive whichever tokio runtime installed the recorder.
        let spawned = std::thread::Builder::new()
            .name("metrics-upkeep".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(UPKEEP_EVERY);
                    upkeep.run_upkeep();
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "could not start the metrics upkeep thread; scrapes do it");
        }
        handle
    })
}

fn describe() {
    metrics::describe_histogram!(
        HTTP_REQUEST_DURATION,
        Unit::Seconds,
        "HTTP requests by method, route template and status code."
    );
    metrics::describe_histogram!(
        STEP_DURATION,
        Unit::Seconds,
        "Workflow steps run by this process, by kind."
    );
    metrics::describe_histogram!(
        MINT_BATCH_SIZE,
        Unit::Count,
        "Mints in each batch formed by this process."
    );
    metrics::describe_histogram!(
        TX_CONFIRMATION,
        Unit::Seconds,
        "Transactions confirmed by this process's sender, from first broadcast to confirmed."
    );
    metrics::describe_counter!(
        TX_FEE_BUMPS,
        Unit::Count,
        "Replacements signed by this process's sender: tx (raised fees) or filler (nonce freed)."
    );
    metrics::describe_counter!(
        TX_SPEND_BUDGET_REFUSALS,
        Unit::Count,
        "New transactions refused by this process because the signer's gas spend budget was reached."
    );
    metrics::describe_counter!(
        WEBHOOK_ATTEMPTS,
        Unit::Count,
        "Webhook delivery attempts by this process: delivered, retry or failed (given up)."
    );
    // Present from the start, so a rate over them is 0 rather than missing.
    for kind in ["tx", "filler"] {
        metrics::counter!(TX_FEE_BUMPS, "kind" => kind).increment(0);
    }
    metrics::counter!(TX_SPEND_BUDGET_REFUSALS).increment(0);
    for outcome in ["delivered", "retry", "failed"] {
        metrics::counter!(WEBHOOK_ATTEMPTS, "outcome" => outcome).increment(0);
    }
}

/// The whole `/metrics` text: the overview's gauges (or `mintflow_overview_up 0` without
/// them), then everything the recorder holds.
pub fn render(overview: Option<&Overview>) -> String {
    let mut out = String::new();
    gauge(
        &mut out,
        OVERVIEW_UP,
        "1 when the overview could be read from the database.",
        [(Vec::new(), f64::from(u8::from(overview.is_some())))],
    );
    if let Some(overview) = overview {
        render_overview(&mut out, overview);
    }
    out.push_str(&install().render());
    out
}

type Labels = Vec<(&'static str, String)>;

fn render_overview(out: &mut String, o: &Overview) {
    gauge(
        out,
        WORKFLOWS,
        "Workflows by kind, state and status.",
        o.workflows.iter().map(|w| {
            let labels = vec![
                ("kind", w.kind.clone()),
                ("state", w.state.clone()),
                ("status", w.status.clone()),
            ];
            (labels, w.count as f64)
        }),
    );
    gauge(
        out,
        MINT_QUEUE_PENDING,
        "Mints waiting to be taken into a batch.",
        [(Vec::new(), o.mint_queue.pending as f64)],
    );
    gauge(
        out,
        MINT_QUEUE_OLDEST_AGE,
        "Age of the oldest mint waiting for a batch (0 when none waits).",
        [(Vec::new(), seconds(o.mint_queue.oldest_pending_age_ms))],
    );
    gauge(
        out,
        OUTBOX_UNORDERED,
        "Outbox rows not ordered yet: events not yet visible to streams and webhooks.",
        [(Vec::new(), o.events.outbox_unordered as f64)],
    );
    gauge(
        out,
        WEBHOOK_PENDING,
        "Webhook deliveries not delivered (nor given up) yet.",
        [(Vec::new(), o.events.webhook_pending as f64)],
    );
    gauge(
        out,
        WEBHOOK_OLDEST_AGE,
        "Age of the oldest webhook delivery not delivered yet (0 when none waits).",
        [(Vec::new(), seconds(o.events.oldest_webhook_age_ms))],
    );
    gauge(
        out,
        WEBHOOK_FAILED,
        "Webhook deliveries given up after webhook_max_attempts, waiting to be redelivered.",
        [(Vec::new(), o.events.webhook_failed as f64)],
    );
    let pool_labels = |s: &crate::ops::overview::PoolSigner| -> Labels {
        vec![
            ("chain_id", s.chain_id.to_string()),
            ("signer", s.address.to_string()),
        ]
    };
    gauge(
        out,
        SIGNER_IN_FLIGHT,
        "Transactions of each signer of the pool not final yet (at most max_in_flight_per_signer).",
        o.signers
            .iter()
            .map(|s| (pool_labels(s), s.in_flight as f64)),
    );
    gauge(
        out,
        SIGNER_HEALTHY,
        "1 when new work may go to the signer, 0 while it is skipped (unfunded or stuck).",
        o.signers
            .iter()
            .map(|s| (pool_labels(s), f64::from(u8::from(!s.unfunded && !s.stuck)))),
    );
    let Some(s) = &o.signer else {
        return;
    };
    let labels: Labels = vec![
        ("chain_id", s.chain_id.to_string()),
        ("signer", s.address.to_string()),
    ];
    let with = |value: Option<f64>| value.map(|v| (labels.clone(), v));
    gauge(
        out,
        SIGNER_BALANCE,
        "The signer's balance in wei (absent when the node did not answer).",
        with(s.balance_wei.map(f64::from)),
    );
    gauge(
        out,
        SIGNER_NEXT_NONCE,
        "The nonce the signer's next transaction gets, as stored.",
        with(Some(s.next_nonce as f64)),
    );
    gauge(
        out,
        SIGNER_CHAIN_PENDING_NONCE,
        "The node's pending transaction count for the signer (absent when it did not answer).",
        with(s.chain_pending_nonce.map(|n| n as f64)),
    );
    gauge(
        out,
        SIGNER_NONCE_DRIFT,
        "Stored next nonce minus the node's pending count: transactions signed and not in the node's pool.",
        with(s.nonce_drift.map(|d| d as f64)),
    );
    gauge(
        out,
        TX_OPEN,
        "The signer's transactions not final yet (signed, sent or mined).",
        with(Some(s.open_txs as f64)),
    );
    gauge(
        out,
        TX_OLDEST_UNCONFIRMED_AGE,
        "Age of the signer's oldest transaction not final yet (0 when none is open).",
        with(Some(seconds(s.oldest_unconfirmed_age_ms))),
    );
}

/// `mintflow_doctor_findings`, from the latest doctor run (nothing before the first).
pub fn render_doctor(out: &mut String, per_check: &[(String, u64)]) {
    gauge(
        out,
        DOCTOR_FINDINGS,
        "Findings of the latest GET /v1/doctor run of this service, by check (0 when skipped).",
        per_check
            .iter()
            .map(|(check, n)| (vec![("check", check.clone())], *n as f64)),
    );
}

fn seconds(ms: Option<i64>) -> f64 {
    ms.unwrap_or(0) as f64 / 1000.0
}

/// One gauge family in the text exposition format; nothing at all without samples.
fn gauge(
    out: &mut String,
    name: &str,
    help: &str,
    samples: impl IntoIterator<Item = (Labels, f64)>,
) {
    let mut samples = samples.into_iter().peekable();
    if samples.peek().is_none() {
        return;
    }
    // Writing to a String cannot fail.
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
    for (labels, value) in samples {
        out.push_str(name);
        if !labels.is_empty() {
            let pairs: Vec<String> = labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
                .collect();
            let _ = write!(out, "{{{}}}", pairs.join(","));
        }
        let _ = writeln!(out, " {value}");
    }
    out.push('\n');
}

/// A label value as the exposition format wants it.
fn escape(value: &str) -> String {
    value
        .replace('\\', r"\\")
        .replace('"', "\\\"")
        .replace('\n', r"\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [&str; 24] = [
        HTTP_REQUEST_DURATION,
        STEP_DURATION,
        MINT_BATCH_SIZE,
        TX_CONFIRMATION,
        TX_FEE_BUMPS,
        TX_SPEND_BUDGET_REFUSALS,
        WORKFLOWS,
        MINT_QUEUE_PENDING,
        MINT_QUEUE_OLDEST_AGE,
        SIGNER_BALANCE,
        SIGNER_NEXT_NONCE,
        SIGNER_CHAIN_PENDING_NONCE,
        SIGNER_NONCE_DRIFT,
        SIGNER_IN_FLIGHT,
        SIGNER_HEALTHY,
        TX_OPEN,
        TX_OLDEST_UNCONFIRMED_AGE,
        OUTBOX_UNORDERED,
        WEBHOOK_PENDING,
        WEBHOOK_OLDEST_AGE,
        WEBHOOK_FAILED,
        WEBHOOK_ATTEMPTS,
        OVERVIEW_UP,
        DOCTOR_FINDINGS,
    ];

    #[test]
    fn the_grafana_dashboard_charts_every_metric_and_no_other() {
        let dashboard = include_str!("../../ops/grafana-dashboard.json");
        for name in ALL {
            assert!(dashboard.contains(name), "no panel shows {name}");
        }
        for word in dashboard.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
            if word.starts_with("mintflow_") {
                let family = ["_bucket", "_count", "_sum"]
                    .iter()
                    .find_map(|suffix| word.strip_suffix(suffix))
                    .unwrap_or(word);
                assert!(
                    ALL.contains(&family),
                    "the dashboard queries unknown {word}"
                );
            }
        }
    }

    /// `promtool` (CI) checks that the rules parse and fire; this checks what it cannot: that
    /// they query metrics mintflow exports, and link a runbook section that exists.
    #[test]
    fn alert_rules_query_known_metrics_and_link_runbook_sections() {
        let rules = include_str!("../../ops/alerts.yml");
        let tests = include_str!("../../ops/alerts.test.yml");
        let runbook = include_str!("../../docs/runbook.md");
        let names: Vec<&str> = rules
            .lines()
            .filter_map(|l| l.trim().strip_prefix("- alert: "))
            .collect();
        let links: Vec<&str> = rules
            .lines()
            .filter_map(|l| l.trim().strip_prefix("runbook_url: docs/runbook.md#"))
            .collect();
        assert_eq!(names.len(), links.len(), "every alert has one runbook_url");
        for (name, anchor) in names.iter().zip(links) {
            assert_eq!(anchor, name.to_lowercase(), "{name} links another section");
            assert!(
                runbook.contains(&format!("\n### {name}\n")),
                "docs/runbook.md has no section for {name}"
            );
            assert!(
                tests.contains(&format!("alertname: {name}\n")),
                "ops/alerts.test.yml does not test {name}"
            );
        }
        for word in rules.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
            if word.starts_with("mintflow_") {
                let family = word.strip_suffix("_count").unwrap_or(word);
                assert!(ALL.contains(&family), "an alert queries unknown {word}");
            }
        }
    }

    #[test]
    fn gauges_escape_labels_and_skip_empty_families() {
        let mut out = String::new();
        gauge(
            &mut out,
            "g",
            "help",
            [(vec![("l", "a\"b\\c\nd".into())], 1.5)],
        );
        gauge(&mut out, "empty", "help", std::iter::empty());
        assert_eq!(
            out,
            "# HELP g help\n# TYPE g gauge\ng{l=\"a\\\"b\\\\c\\nd\"} 1.5\n\n"
        );
    }
}
