//! `/metrics` as the tests read it.
//!
//! Counters and histograms belong to the process, and every test of a binary shares it (the two
//! backend variants of one test among them): a test that compares them before and after its
//! work holds [`exclusive`] from its first scrape to its last, and so does every other test of
//! its binary that moves the same series, so that what moved in between is that test's own work.

use reqwest::StatusCode;
use tokio::sync::{Mutex, MutexGuard};

static PROCESS_COUNTERS: Mutex<()> = Mutex::const_new(());

/// Held while a test's work moves (or is measured by) the process-wide counters.
pub async fn exclusive() -> MutexGuard<'static, ()> {
    PROCESS_COUNTERS.lock().await
}

/// The `/metrics` text of the service at `base`; `http` carries a `read` key.
pub async fn text(http: &reqwest::Client, base: &str) -> String {
    let res = http.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK, "GET {base}/metrics");
    res.text().await.unwrap()
}

/// The sum of the samples of `metric` whose labels include `labels`; `None` without any.
pub fn sum(text: &str, metric: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let values: Vec<f64> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let (name, label_text) = series.split_once('{').unwrap_or((series, ""));
            let wanted = labels
                .iter()
                .all(|(k, v)| label_text.contains(&format!("{k}=\"{v}\"")));
            (name == metric && wanted).then(|| value.parse::<f64>().ok())?
        })
        .collect();
    (!values.is_empty()).then(|| values.iter().sum())
}
