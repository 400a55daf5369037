//! Clients of the operators' interfaces for tests: a server-sent events reader and a local
//! webhook receiver.
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use eventsource_stream::Eventsource;
use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::Value;

/// One server-sent event.
#[derive(Clone, Debug)]
pub struct Sse {
    pub id: i64,
    pub event: String,
    pub data: Value,
}

type Events = std::pin::Pin<
    Box<
        dyn futures::Stream<
                Item = Result<
                    eventsource_stream::Event,
                    eventsource_stream::EventStreamError<reqwest::Error>,
                >,
            > + Send,
    >,
>;

/// A `text/event-stream` reader.
pub struct SseClient {
    events: Events,
}

impl SseClient {
    /// Opens the stream at `url` with `token` (a `read` key or the admin token).
    pub async fn connect(url: &str, token: &str, last_event_id: Option<i64>) -> SseClient {
        Self::try_connect(url, token, last_event_id)
            .await
            .expect("the event stream opens")
    }

    /// `None` when the server cannot be reached.
    pub async fn try_connect(
        url: &str,
        token: &str,
        last_event_id: Option<i64>,
    ) -> Option<SseClient> {
        let mut req = reqwest::Client::new().get(url).bearer_auth(token);
        if let Some(id) = last_event_id {
            req = req.header("Last-Event-ID", id.to_string());
        }
        let res = req.send().await.ok()?;
        assert_eq!(res.status(), StatusCode::OK);
        assert!(
            res.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/event-stream")
        );
        Some(SseClient {
            events: Box::pin(res.bytes_stream().eventsource()),
        })
    }

    /// The next event; `None` when the server ended the stream or went away.
    pub async fn next(&mut self) -> Option<Sse> {
        let e = tokio::time::timeout(Duration::from_secs(30), self.events.next())
            .await
            .expect("an event (or a keep-alive) within 30 s")?
            .ok()?;
        Some(Sse {
            id: e.id.parse().expect("every event has a position"),
            event: e.event,
            data: serde_json::from_str(&e.data).unwrap(),
        })
    }
}

pub type Accepted = Vec<(BTreeMap<String, String>, String)>;

/// A local HTTP receiver that answers 500 to its first `fail_first` requests.
pub struct Receiver {
    pub url: String,
    state: Arc<Mutex<(u32, u32, Accepted)>>,
}

impl Receiver {
    pub async fn start(fail_first: u32) -> Receiver {
        let state: Arc<Mutex<(u32, u32, Accepted)>> =
            Arc::new(Mutex::new((fail_first, 0, Vec::new())));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let shared = state.clone();
        let app = poem::Route::new().at(
            "/hook",
            poem::post(poem::endpoint::make(move |req: poem::Request| {
                let shared = shared.clone();
                async move {
                    let headers: BTreeMap<String, String> = req
                        .headers()
                        .iter()
                        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap().to_owned()))
                        .collect();
                    let body = req.into_body().into_string().await.unwrap();
                    let mut s = shared.lock().unwrap();
                    if s.0 > 0 {
                        s.0 -= 1;
                        s.1 += 1;
                        return poem::http::StatusCode::INTERNAL_SERVER_ERROR;
                    }
                    s.2.push((headers, body));
                    poem::http::StatusCode::OK
                }
            })),
        );
        let acceptor = poem::listener::TcpAcceptor::from_tokio(listener).unwrap();
        tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(app));
        Receiver { url, state }
    }

    pub fn accepted(&self) -> Accepted {
        self.state.lock().unwrap().2.clone()
    }

    pub fn refused(&self) -> u32 {
        self.state.lock().unwrap().1
    }
}
