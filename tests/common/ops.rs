//! Clients of the operators' interfaces for tests: a server-sent events reader and a local
//! webhook receiver.
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

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

/// A minimal `text/event-stream` reader.
pub struct SseClient {
    body: futures::stream::BoxStream<'static, reqwest::Result<Vec<u8>>>,
    buffer: String,
}

impl SseClient {
    pub async fn connect(url: &str, last_event_id: Option<i64>) -> SseClient {
        Self::try_connect(url, last_event_id)
            .await
            .expect("the event stream opens")
    }

    /// `None` when the server cannot be reached.
    pub async fn try_connect(url: &str, last_event_id: Option<i64>) -> Option<SseClient> {
        let mut req = reqwest::Client::new().get(url);
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
            body: res.bytes_stream().map(|c| c.map(|b| b.to_vec())).boxed(),
            buffer: String::new(),
        })
    }

    /// The next event; `None` when the server ended the stream.
    pub async fn next(&mut self) -> Option<Sse> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let (mut id, mut event, mut data) = (None, String::new(), String::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        id = Some(v.trim().parse().unwrap());
                    } else if let Some(v) = line.strip_prefix("event:") {
                        event = v.trim().into();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                match id {
                    Some(id) => {
                        return Some(Sse {
                            id,
                            event,
                            data: serde_json::from_str(&data).unwrap(),
                        });
                    }
                    None => continue, // a keep-alive comment
                }
            }
            let chunk = tokio::time::timeout(Duration::from_secs(30), self.body.next())
                .await
                .expect("an event within 30 s")?;
            match chunk {
                Ok(bytes) => self.buffer.push_str(&String::from_utf8_lossy(&bytes)),
                Err(_) => return None, // the server went away
            }
        }
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
