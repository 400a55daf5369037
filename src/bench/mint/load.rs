//! The mint benchmark's load: requests from distinct payers, as fast as `clients` allow or at a
//! steady rate.
use std::collections::HashMap;
use std::time::{Duration, Instant};

use alloy::primitives::{Address, keccak256};
use futures::{StreamExt, TryStreamExt};
use reqwest::StatusCode;
use serde_json::json;
use uuid::Uuid;

use anyhow::Context;

use super::STEADY_RATE;
use crate::store;

/// A payer no other request uses (a hash, so never a precompile or a funded account).
fn payer(i: usize) -> Address {
    Address::from_word(keccak256(format!("mintflow-bench/payer/{i}")))
}

/// Posts mint request `i`: its own payer (the recipient too) and idempotency key.
async fn post_mint(
    http: &reqwest::Client,
    url: &str,
    i: usize,
) -> anyhow::Result<reqwest::Response> {
    http.post(url)
        .header("Idempotency-Key", format!("bench-mint-{i}"))
        .json(&json!({ "payer": payer(i) }))
        .send()
        .await
        .with_context(|| format!("mint request {i}"))
}

/// Sends requests `0..n`, `clients` at a time, each on its own task (the load uses every
/// core, as separate clients would) and over the pool's keep-alive connections, request `i` to
/// `urls[i % urls.len()]` (one per API process, as a round-robin load balancer would); returns
/// every request's latency in ms, sorted, how many were accepted (202), and when each answer
/// came (seconds from the first request, sorted).
pub(super) async fn enqueue(
    http: &reqwest::Client,
    urls: &[String],
    n: usize,
    clients: usize,
) -> anyhow::Result<(Vec<f64>, usize, Vec<f64>)> {
    let run = Instant::now();
    let samples: Vec<(f64, StatusCode, f64)> = futures::stream::iter(0..n)
        .map(|i| {
            let (http, url) = (http.clone(), urls[i % urls.len()].clone());
            tokio::spawn(async move {
                let started = Instant::now();
                let status = post_mint(&http, &url, i).await?.status();
                let answered = run.elapsed().as_secs_f64();
                anyhow::Ok((started.elapsed().as_secs_f64() * 1000.0, status, answered))
            })
        })
        .buffer_unordered(clients)
        .map(|joined| joined?)
        .try_collect()
        .await?;
    let accepted = samples
        .iter()
        .filter(|(_, s, _)| *s == StatusCode::ACCEPTED)
        .count();
    let (mut latencies_ms, mut answered): (Vec<f64>, Vec<f64>) =
        samples.into_iter().map(|(ms, _, at)| (ms, at)).unzip();
    latencies_ms.sort_by(f64::total_cmp);
    answered.sort_by(f64::total_cmp);
    Ok((latencies_ms, accepted, answered))
}

/// Sends requests `first..first + n` at `STEADY_RATE` per second, each on its own task so a
/// slow answer does not delay the next; returns each accepted mint with its request's start
/// (unix ms, the unit of event times).
pub(super) async fn steady(
    http: &reqwest::Client,
    url: &str,
    first: usize,
    n: usize,
) -> anyhow::Result<HashMap<Uuid, i64>> {
    #[derive(serde::Deserialize)]
    struct Accepted {
        id: Uuid,
    }
    let mut tick = tokio::time::interval(Duration::from_secs(1) / STEADY_RATE as u32);
    let mut set = tokio::task::JoinSet::new();
    for i in first..first + n {
        tick.tick().await;
        let (http, url) = (http.clone(), url.to_owned());
        set.spawn(async move {
            let start_ms = store::now_ms();
            let res = post_mint(&http, &url, i).await?;
            if res.status() != StatusCode::ACCEPTED {
                return anyhow::Ok(None);
            }
            let accepted: Accepted = res.json().await?;
            Ok(Some((accepted.id, start_ms)))
        });
    }
    let mut starts = HashMap::with_capacity(n);
    while let Some(r) = set.join_next().await {
        starts.extend(r??);
    }
    Ok(starts)
}
