//! The HTTP edge against a real server (no chain): Slowloris and the connection cap, trusted
//! proxies, CORS, `Allow` on 405, per-client caps on streams and paid requests, the request
//! timeout and the rate limits of payment, deployment and key-less read routes.
mod common;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{Backend, TestDb, eventually, metrics};
use mintflow::api::edge::EdgeConfig;
use mintflow::api::edge::cors::AllowedOrigins;
use mintflow::api::edge::proxy::TrustedProxies;
use mintflow::engine::{EngineConfig, Registry, StartOptions};
use mintflow::service::{Limits, Role, Service, ServiceConfig};
use mintflow::store;
use mintflow::workflows::probe::{Probe, ProbeData, ProbeState};
use reqwest::StatusCode;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const TOKEN: &str = "edge-test-admin-token";

struct Server {
    _t: TestDb,
    service: Service,
    addr: SocketAddr,
    base: String,
}

/// A server with `edge`, `limits` and these settings (every edge rate is off unless given).
async fn server(edge: EdgeConfig, limits: Limits, settings: &[(&str, i64)]) -> Server {
    let t = TestDb::new(Backend::Sqlite).await;
    // Probe workflows make events for the stream tests.
    Probe::create_tables(&t.db).await.unwrap();
    let off = [
        ("payment_rate_per_minute", 0),
        ("deploy_rate_per_minute", 0),
        ("public_read_rate_per_minute", 0),
    ];
    for (key, value) in off.iter().chain(settings) {
        store::settings::put(&t.db, key, (*value).into(), "test", store::now_ms())
            .await
            .unwrap();
    }
    let config = ServiceConfig {
        database_url: t.url.clone(),
        database_max_connections: 4,
        listen_addr: "127.0.0.1:0".into(),
        admin_token: Some(TOKEN.into()),
        public_reads: false,
        role: Role::Api,
        engine: EngineConfig {
            worker_id: "edge-test".into(),
            shutdown_grace: Duration::from_secs(2),
        },
        chain: None,
        limits,
        edge,
        webhook_targets: Default::default(),
    };
    let service = Service::start(config, |_| Registry::new()).await.unwrap();
    let addr = service.http_addr().unwrap();
    Server {
        _t: t,
        service,
        addr,
        base: format!("http://{addr}"),
    }
}

fn header<'a>(res: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    res.headers().get(name).and_then(|v| v.to_str().ok())
}

/// A slow client: connects, then sends a request head one byte a second without ever ending
/// it. Returns how long after connecting the server closed the connection (`None` when it
/// still stood after `give_up`).
async fn slow_client(
    addr: SocketAddr,
    connected: Arc<AtomicUsize>,
    give_up: Duration,
) -> Option<Duration> {
    let started = Instant::now();
    let stream = TcpStream::connect(addr).await.unwrap();
    connected.fetch_add(1, Ordering::SeqCst);
    let (mut read, mut write) = stream.into_split();
    let head = b"GET /health HTTP/1.1\r\nHost: edge\r\nX-Slow: "
        .iter()
        .chain(std::iter::repeat(&b'a'));
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut buf = [0u8; 256];
    for byte in head {
        tokio::select! {
            // Nothing is ever answered to a head that never ends: data or not, the server
            // is done with us.
            _ = read.read(&mut buf) => return Some(started.elapsed()),
            _ = tick.tick() => {
                if write.write_all(&[*byte]).await.is_err() {
                    return Some(started.elapsed());
                }
            }
        }
        if started.elapsed() > give_up {
            return None;
        }
    }
    unreachable!("the head is endless")
}

/// 1,000 connections sending their heads a byte a second: others are served promptly
/// meanwhile, and every slow connection is closed at the header timeout (2 s here). Needs
/// about 2,000 open files (both ends live in this process): `ulimit -n` must allow it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn slowloris_is_closed_at_the_header_timeout_and_others_are_served() {
    const SLOW: usize = 1_000;
    let edge = EdgeConfig {
        header_timeout_secs: 2,
        ..Default::default()
    };
    let s = server(edge, Limits::default(), &[]).await;
    let run = async {
        let connected = Arc::new(AtomicUsize::new(0));
        let slow: Vec<_> = (0..SLOW)
            .map(|_| {
                tokio::spawn(slow_client(
                    s.addr,
                    connected.clone(),
                    Duration::from_secs(15),
                ))
            })
            .collect();
        eventually(
            Duration::from_secs(10),
            "the slow clients to connect",
            || {
                let n = connected.load(Ordering::SeqCst);
                async move { (n == SLOW).then_some(()) }
            },
        )
        .await;

        // While they trickle, a normal client is answered at once, on new connections.
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .unwrap();
        let mut slowest = Duration::ZERO;
        for _ in 0..10 {
            let started = Instant::now();
            let res = http.get(format!("{}/health", s.base)).send().await.unwrap();
            assert_eq!(res.status(), StatusCode::OK);
            slowest = slowest.max(started.elapsed());
        }
        // A timing bound, because promptness is the claim: a server that served the normal
        // client only once slow heads timed out would take the 2 s header timeout.
        assert!(
            slowest < Duration::from_secs(1),
            "a normal request took {slowest:?}"
        );

        let mut closed_after = Vec::new();
        for task in slow {
            closed_after.push(
                task.await
                    .unwrap()
                    .expect("a slow connection was never closed"),
            );
        }
        let first = closed_after.iter().min().unwrap();
        let last = closed_after.iter().max().unwrap();
        assert!(
            *first >= Duration::from_millis(1500),
            "closed too early: {first:?}"
        );
        // The header timeout (2 s) is the behaviour under test: bounds generous on both sides,
        // that a server without it (never closing) or closing on connect would still fail.
        assert!(*last < Duration::from_secs(8), "closed too late: {last:?}");
    };
    tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("the Slowloris test is bounded");
    s.service.stop().await;
}

/// With `--max-connections 2` and two connections held, a third client waits until they
/// are closed (here by the header timeout), then is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_cap_wait_for_a_free_slot() {
    let edge = EdgeConfig {
        header_timeout_secs: 2,
        max_connections: 2,
        ..Default::default()
    };
    let s = server(edge, Limits::default(), &[]).await;
    let held = [
        TcpStream::connect(s.addr).await.unwrap(),
        TcpStream::connect(s.addr).await.unwrap(),
    ];
    let started = Instant::now();
    let res = reqwest::get(format!("{}/health", s.base)).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    // The wait is the behaviour: the third client is served only once the held slots are
    // freed, by the 2 s header timeout.
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(1500),
        "served after {waited:?}, while both slots were held"
    );
    drop(held);
    s.service.stop().await;
}

/// Sends one `GET /health` on `stream` and reads its whole answer (it ends with its JSON).
async fn health_on(stream: &mut TcpStream) -> String {
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: edge\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    while !answer.ends_with(b"}") {
        let n = stream.read(&mut buf).await.unwrap();
        assert!(
            n > 0,
            "closed mid-answer: {}",
            String::from_utf8_lossy(&answer)
        );
        answer.extend_from_slice(&buf[..n]);
    }
    String::from_utf8(answer).unwrap()
}

/// The header timeout times heads, not the quiet between requests: a kept-alive connection
/// idle for longer than it still serves the next request, and is closed at the idle timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kept_alive_connections_last_until_the_idle_timeout() {
    let edge = EdgeConfig {
        header_timeout_secs: 1,
        idle_timeout_secs: 3,
        ..Default::default()
    };
    let s = server(edge, Limits::default(), &[]).await;
    let mut stream = TcpStream::connect(s.addr).await.unwrap();
    assert!(health_on(&mut stream).await.starts_with("HTTP/1.1 200"));
    // The quiet itself is what is tested: longer than the header timeout, shorter than the
    // idle one.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(health_on(&mut stream).await.starts_with("HTTP/1.1 200"));
    let quiet = Instant::now();
    let mut buf = [0u8; 64];
    let closed = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
        .await
        .expect("the idle connection is closed");
    assert!(matches!(closed, Ok(0) | Err(_)), "{closed:?}");
    let idle = quiet.elapsed();
    assert!(
        idle >= Duration::from_secs(2),
        "closed after {idle:?} of quiet"
    );
    s.service.stop().await;
}

/// A client whose connections come from `local` (any 127.x.y.z reaches the server).
fn client_from(local: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(local.parse::<IpAddr>().unwrap())
        .build()
        .unwrap()
}

async fn ready_status(http: &reqwest::Client, s: &Server, forwarded_for: &str) -> StatusCode {
    http.get(format!("{}/ready", s.base))
        .header("X-Forwarded-For", forwarded_for)
        .send()
        .await
        .unwrap()
        .status()
}

/// `X-Forwarded-For` counts only from a trusted proxy (127.0.0.1 here): observed through the
/// key-less read limit (2 a minute per client).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_for_names_the_client_only_from_a_trusted_proxy() {
    let edge = EdgeConfig {
        trusted_proxies: TrustedProxies(vec!["127.0.0.1/32".parse().unwrap()]),
        ..Default::default()
    };
    let s = server(
        edge,
        Limits::default(),
        &[("public_read_rate_per_minute", 2)],
    )
    .await;

    // From an untrusted peer (127.0.0.2) the header is ignored: every address it claims is
    // the same client, the peer.
    let untrusted = client_from("127.0.0.2");
    assert_ne!(
        ready_status(&untrusted, &s, "198.51.100.1").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_ne!(
        ready_status(&untrusted, &s, "198.51.100.2").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        ready_status(&untrusted, &s, "198.51.100.3").await,
        StatusCode::TOO_MANY_REQUESTS
    );

    // Through the trusted proxy, each forwarded client has its own budget; a forged entry
    // left of the real one changes nothing.
    let proxy = client_from("127.0.0.1");
    for _ in 0..2 {
        assert_ne!(
            ready_status(&proxy, &s, "203.0.113.7").await,
            StatusCode::TOO_MANY_REQUESTS
        );
    }
    let res = proxy
        .get(format!("{}/ready", s.base))
        .header("X-Forwarded-For", "192.0.2.99, 203.0.113.7")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(header(&res, "retry-after").is_some());
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["code"], "read_rate_limited");
    assert_ne!(
        ready_status(&proxy, &s, "203.0.113.8").await,
        StatusCode::TOO_MANY_REQUESTS
    );

    // IPv6 clients count by their /64.
    for addr in ["2001:db8:1:2::1", "2001:db8:1:2::2"] {
        assert_ne!(
            ready_status(&proxy, &s, addr).await,
            StatusCode::TOO_MANY_REQUESTS
        );
    }
    assert_eq!(
        ready_status(&proxy, &s, "2001:db8:1:2:ffff::9").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_ne!(
        ready_status(&proxy, &s, "2001:db8:1:3::1").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    s.service.stop().await;
}

fn preflight(http: &reqwest::Client, s: &Server, origin: &str) -> reqwest::RequestBuilder {
    http.request(reqwest::Method::OPTIONS, format!("{}/x402/mint", s.base))
        .header("Origin", origin)
        .header("Access-Control-Request-Method", "POST")
        .header(
            "Access-Control-Request-Headers",
            "content-type,payment-signature",
        )
}

/// CORS answers the allowed origin only, exposing the x402 headers; without the setting no
/// answer carries CORS headers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_answers_allowed_origins_only() {
    let shop = "https://shop.example";
    let edge = EdgeConfig {
        cors_allowed_origins: AllowedOrigins(vec![shop.into()]),
        ..Default::default()
    };
    let s = server(edge, Limits::default(), &[]).await;
    let http = reqwest::Client::new();

    let res = preflight(&http, &s, shop).send().await.unwrap();
    assert!(res.status().is_success(), "{}", res.status());
    assert_eq!(header(&res, "access-control-allow-origin"), Some(shop));
    let allowed = header(&res, "access-control-allow-headers")
        .unwrap()
        .to_lowercase();
    assert!(
        allowed.contains("payment-signature") && allowed.contains("idempotency-key"),
        "{allowed}"
    );
    assert!(
        header(&res, "access-control-allow-methods")
            .unwrap()
            .contains("POST")
    );

    // The real request: the script may read the x402 headers and Retry-After.
    let res = http
        .post(format!("{}/x402/mint", s.base))
        .header("Origin", shop)
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(header(&res, "access-control-allow-origin"), Some(shop));
    let exposed = header(&res, "access-control-expose-headers")
        .unwrap()
        .to_lowercase();
    for name in ["payment-required", "payment-response", "retry-after"] {
        assert!(exposed.contains(name), "{exposed}");
    }

    // Another origin gets no CORS headers (and the browser keeps the answer from it).
    let res = preflight(&http, &s, "https://evil.example")
        .send()
        .await
        .unwrap();
    assert!(header(&res, "access-control-allow-origin").is_none());
    s.service.stop().await;

    let s = server(EdgeConfig::default(), Limits::default(), &[]).await;
    let res = preflight(&http, &s, shop).send().await.unwrap();
    assert!(header(&res, "access-control-allow-origin").is_none());
    assert!(header(&res, "access-control-allow-headers").is_none());
    s.service.stop().await;
}

/// A 405 names the methods of its path in `Allow` and keeps the error body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn method_not_allowed_carries_allow() {
    let s = server(EdgeConfig::default(), Limits::default(), &[]).await;
    let http = reqwest::Client::new();
    let res = http
        .delete(format!("{}/v1/mints", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
    let allow = header(&res, "allow").unwrap().to_owned();
    let mut methods: Vec<&str> = allow.split(", ").collect();
    methods.sort();
    assert_eq!(methods, ["GET", "HEAD", "POST"]);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["code"], "method_not_allowed");
    assert!(body["message"].is_string());

    let res = http
        .get(format!("{}/x402/mint", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(header(&res, "allow"), Some("POST"));
    s.service.stop().await;
}

async fn open_stream(http: &reqwest::Client, s: &Server) -> reqwest::Response {
    http.get(format!("{}/v1/events", s.base))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
}

/// With 8 streams per process, one client holds at most 2 (a quarter); a closed stream
/// gives its slot back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_client_holds_at_most_its_share_of_event_streams() {
    let limits = Limits {
        event_streams: 8,
        ..Default::default()
    };
    let s = server(EdgeConfig::default(), limits, &[]).await;
    let http = reqwest::Client::new();
    let first = open_stream(&http, &s).await;
    let second = open_stream(&http, &s).await;
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(second.status(), StatusCode::OK);
    let third = open_stream(&http, &s).await;
    assert_eq!(third.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(header(&third, "retry-after").is_some());
    let body: Value = third.json().await.unwrap();
    assert_eq!(body["code"], "too_many_streams_for_client");

    drop(first);
    // The server learns of the closed stream when a write to it fails: each try makes an
    // event (a new workflow), as the first write only draws the peer's reset.
    eventually(
        Duration::from_secs(20),
        "a closed stream's slot back",
        || {
            let http = http.clone();
            let s = &s;
            async move {
                s.service
                    .client
                    .start::<Probe>(
                        ProbeState::First,
                        &ProbeData::default(),
                        StartOptions::default(),
                    )
                    .await
                    .unwrap();
                let res = open_stream(&http, s).await;
                (res.status() == StatusCode::OK).then_some(res)
            }
        },
    )
    .await;
    drop(second);
    s.service.stop().await;
}

/// A request whose body arrives through `chunks` (it stays unfinished while the sender
/// lives).
fn slow_body() -> (
    tokio::sync::mpsc::Sender<Result<Vec<u8>, std::io::Error>>,
    reqwest::Body,
) {
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let body = reqwest::Body::wrap_stream(tokio_stream_from(rx));
    (tx, body)
}

fn tokio_stream_from<T: Send + 'static>(
    mut rx: tokio::sync::mpsc::Receiver<T>,
) -> impl futures::Stream<Item = T> + Send + 'static {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// One client may have `--max-x402-waits-per-client` paid requests in flight; the slot is
/// held for the whole request (here kept open by an unfinished body).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clients_waiting_payments_are_capped() {
    // Its refusals of `/x402/mint` count where the rate limit test compares its own.
    let _counters = metrics::exclusive().await;
    let edge = EdgeConfig {
        max_x402_waits_per_client: 1,
        ..Default::default()
    };
    let s = server(edge, Limits::default(), &[]).await;
    let http = reqwest::Client::new();
    let paid = |body: reqwest::Body| {
        http.post(format!("{}/x402/mint", s.base))
            .header("PAYMENT-SIGNATURE", "e30=")
            .header("Content-Type", "application/json")
            .body(body)
            .send()
    };
    let paid = &paid;
    let hold = || async move {
        let (tx, body) = slow_body();
        tx.send(Ok(b"{".to_vec())).await.unwrap();
        (tx, tokio::spawn(paid(body)))
    };
    let (mut tx, mut waiting) = hold().await;

    let deadline = Instant::now() + Duration::from_secs(10);
    let refused = loop {
        let res = paid("{}".into()).await.unwrap();
        if res.status() == StatusCode::TOO_MANY_REQUESTS {
            break res;
        }
        if waiting.is_finished() {
            // The held request reached the server while a probe held the client's one slot,
            // so it was the one refused: hold a slot again.
            let first = waiting.await.unwrap().unwrap();
            assert_eq!(first.status(), StatusCode::TOO_MANY_REQUESTS);
            (tx, waiting) = hold().await;
        }
        assert!(
            Instant::now() < deadline,
            "the second paid request was never refused"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(header(&refused, "retry-after").is_some());
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["code"], "too_many_payments_waiting");
    // An unpaid request from the same client is not held back.
    let unpaid = http
        .post(format!("{}/x402/mint", s.base))
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_ne!(unpaid.status(), StatusCode::TOO_MANY_REQUESTS);

    tx.send(Ok(b"}".to_vec())).await.unwrap();
    drop(tx);
    let first = waiting.await.unwrap().unwrap();
    assert_ne!(first.status(), StatusCode::TOO_MANY_REQUESTS);
    let next = paid("{}".into()).await.unwrap();
    assert_ne!(next.status(), StatusCode::TOO_MANY_REQUESTS);
    s.service.stop().await;
}

/// A request that takes longer than `--http-request-timeout-secs` (here its body never
/// ends) is answered 503 `request_timed_out`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_is_bounded_by_the_request_timeout() {
    let edge = EdgeConfig {
        request_timeout_secs: 1,
        ..Default::default()
    };
    let s = server(edge, Limits::default(), &[]).await;
    let (tx, body) = slow_body();
    tx.send(Ok(b"{".to_vec())).await.unwrap();
    let started = Instant::now();
    let res = reqwest::Client::new()
        .post(format!("{}/v1/webhooks", s.base))
        .bearer_auth(TOKEN)
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    // The 1 s timeout is the behaviour under test; the bound is generous, and a server without
    // the timeout would wait for the body forever.
    assert!(started.elapsed() < Duration::from_secs(5));
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["code"], "request_timed_out");
    drop(tx);
    s.service.stop().await;
}

/// `POST /x402/mint` requests answered 429 so far, in the process's HTTP histogram.
async fn refused_x402_mints(s: &Server) -> f64 {
    let text = metrics::text(&common::http_as(TOKEN), &s.base).await;
    let refused = [("route", "/x402/mint"), ("status", "429")];
    metrics::sum(
        &text,
        "mintflow_http_request_duration_seconds_count",
        &refused,
    )
    .unwrap_or(0.0)
}

/// Payment and deployment routes have their own per-client rates (hot settings), each
/// refused with its code and Retry-After; 0 turns one off.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payment_and_deployment_routes_are_rate_limited() {
    let _counters = metrics::exclusive().await;
    let s = server(
        EdgeConfig::default(),
        Limits::default(),
        &[
            ("payment_rate_per_minute", 1),
            ("deploy_rate_per_minute", 1),
        ],
    )
    .await;
    let http = reqwest::Client::new();
    let post = |path: &str| {
        http.post(format!("{}{path}", s.base))
            .json(&serde_json::json!({}))
            .send()
    };
    let refused_before = refused_x402_mints(&s).await;
    let cases = [
        ("/v1/payments", "/x402/mint", "payment_rate_limited"),
        ("/v1/deployments", "/api/deploy", "deploy_rate_limited"),
    ];
    for (first, second, code) in cases {
        assert_ne!(
            post(first).await.unwrap().status(),
            StatusCode::TOO_MANY_REQUESTS
        );
        // The same class, on another route: one budget.
        let res = post(second).await.unwrap();
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS, "{second}");
        assert!(header(&res, "retry-after").is_some());
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["code"], code);
    }

    // Refused before the router ran, they still count under their route in the metrics.
    // The scrape is a snapshot up to a second old: the first one that moved, then by exactly
    // this test's one refusal.
    let refused = eventually(
        Duration::from_secs(10),
        "the refusal in a scrape",
        || async {
            let now = refused_x402_mints(&s).await;
            (now > refused_before).then_some(now)
        },
    )
    .await;
    assert_eq!(refused, refused_before + 1.0);

    store::settings::put(
        &s.service.db,
        "payment_rate_per_minute",
        0.into(),
        "test",
        store::now_ms(),
    )
    .await
    .unwrap();
    s.service.settings.reload(&s.service.db).await.unwrap();
    assert_ne!(
        post("/x402/mint").await.unwrap().status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    s.service.stop().await;
}
