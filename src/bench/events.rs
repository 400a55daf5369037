//! What operators' live views add to the mint benchmark: a client following `/v1/events` and a
//! webhook receiver subscribed to confirmations, each timing every transition from the moment
//! its checkpoint was written (the event's `at`) to the moment it arrived.
use std::sync::{Arc, Mutex};

use anyhow::Context;
use eventsource_stream::Eventsource;
use futures::StreamExt;
use serde::Deserialize;

use super::percentile;
use crate::store;

/// The part of a transition the benchmark reads.
#[derive(Deserialize)]
struct Transition {
    at: chrono::DateTime<chrono::Utc>,
}

/// Arrival delays in ms (arrival time, delay), as they come.
type Arrivals = Arc<Mutex<Vec<(i64, f64)>>>;

fn arrived(arrivals: &Arrivals, body: &str) {
    if let Ok(t) = serde_json::from_str::<Transition>(body) {
        let now = store::now_ms();
        let delay = (now - t.at.timestamp_millis()) as f64;
        arrivals.lock().expect("arrivals lock").push((now, delay));
    }
}

/// Live views measured alongside the load.
pub struct LiveViews {
    stream: Arrivals,
    webhook: Arrivals,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl LiveViews {
    /// Follows `{base}/v1/events?kind=mint` and subscribes a local receiver to mint
    /// confirmations (with the admin `token`).
    pub async fn start(base: &str, token: &str) -> anyhow::Result<LiveViews> {
        let (stream, webhook): (Arrivals, Arrivals) = Default::default();
        let res = reqwest::Client::new()
            .get(format!("{base}/v1/events?kind=mint"))
            .bearer_auth(token)
            .send()
            .await?;
        anyhow::ensure!(
            res.status().is_success(),
            "/v1/events answered {}",
            res.status()
        );
        let mut events = res.bytes_stream().eventsource();
        let seen = stream.clone();
        let follower = tokio::spawn(async move {
            while let Some(Ok(e)) = events.next().await {
                arrived(&seen, &e.data);
            }
        });

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/hook", listener.local_addr()?);
        let seen = webhook.clone();
        let app = poem::Route::new().at(
            "/hook",
            poem::post(poem::endpoint::make(move |req: poem::Request| {
                let seen = seen.clone();
                async move {
                    if let Ok(body) = req.into_body().into_string().await {
                        arrived(&seen, &body);
                    }
                    poem::http::StatusCode::NO_CONTENT
                }
            })),
        );
        let acceptor = poem::listener::TcpAcceptor::from_tokio(listener)?;
        let receiver = tokio::spawn(async move {
            let _ = poem::Server::new_with_acceptor(acceptor).run(app).await;
        });
        let res = reqwest::Client::new()
            .post(format!("{base}/v1/webhooks"))
            .bearer_auth(token)
            .json(&serde_json::json!({
                "url": url, "kinds": ["mint"], "states": ["confirmed"],
                "description": "bench mint",
            }))
            .send()
            .await
            .context("subscribing the benchmark's webhook receiver")?;
        anyhow::ensure!(
            res.status().is_success(),
            "/v1/webhooks answered {}",
            res.status()
        );
        Ok(LiveViews {
            stream,
            webhook,
            tasks: vec![follower, receiver],
        })
    }

    /// How many events each view has received so far.
    pub fn counts(&self) -> (usize, usize) {
        let n = |a: &Arrivals| a.lock().expect("arrivals lock").len();
        (n(&self.stream), n(&self.webhook))
    }

    /// Prints the delays of the events that arrived since `since_ms` (unix ms), as `label`.
    pub fn print(&self, label: &str, since_ms: i64) {
        let delays = |a: &Arrivals| {
            let mut v: Vec<f64> = a
                .lock()
                .expect("arrivals lock")
                .iter()
                .filter(|(at, _)| *at >= since_ms)
                .map(|(_, d)| *d)
                .collect();
            v.sort_by(f64::total_cmp);
            v
        };
        let (stream, webhook) = (delays(&self.stream), delays(&self.webhook));
        println!(
            "{label}: checkpoint -> /v1/events p50 {:.0} ms, p99 {:.0} ms ({} events); \
             -> webhook p50 {:.0} ms, p99 {:.0} ms ({} confirmations)",
            percentile(&stream, 50.0),
            percentile(&stream, 99.0),
            stream.len(),
            percentile(&webhook, 50.0),
            percentile(&webhook, 99.0),
            webhook.len(),
        );
    }
}

impl Drop for LiveViews {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}
