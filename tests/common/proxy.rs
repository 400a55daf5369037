//! A chain node behind a URL with a secret path (`http://127.0.0.1:PORT/SECRET`), as hosted
//! RPC endpoints carry their API key, that a test can take down and bring back on the same
//! port: while down, connections are refused, so the service's errors quote the URL. It can
//! also play a load-balanced node whose receipts lag: while `hide_receipts` is on, every
//! `eth_getTransactionReceipt` answers `null`, whatever the chain holds.
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use poem::listener::TcpAcceptor;
use poem::{EndpointExt, Route, handler, web::Data};
use tokio::sync::oneshot;

pub struct NodeProxy {
    addr: SocketAddr,
    secret: String,
    target: String,
    hide_receipts: Arc<AtomicBool>,
    running: Mutex<Option<(oneshot::Sender<()>, tokio::task::JoinHandle<()>)>>,
}

impl NodeProxy {
    /// Forwards `POST /{secret}` to the node at `target` from a free port of 127.0.0.1.
    pub async fn start(target: &str, secret: &str) -> NodeProxy {
        let listener = bind("127.0.0.1:0".parse().unwrap());
        let proxy = NodeProxy {
            addr: listener.local_addr().unwrap(),
            secret: secret.to_owned(),
            target: target.to_owned(),
            hide_receipts: Arc::new(AtomicBool::new(false)),
            running: Mutex::new(None),
        };
        proxy.serve(listener);
        proxy
    }

    /// The URL the service is given: the secret is its path.
    pub fn url(&self) -> String {
        format!("http://{}/{}", self.addr, self.secret)
    }

    /// Stops listening: new connections are refused and open ones are closed.
    pub async fn down(&self) {
        let running = self.running.lock().unwrap().take();
        if let Some((stop, task)) = running {
            let _ = stop.send(());
            task.await.unwrap();
        }
    }

    /// While `hide`, receipts are not found (the chain's other answers pass unchanged).
    pub fn hide_receipts(&self, hide: bool) {
        self.hide_receipts.store(hide, Ordering::SeqCst);
    }

    /// Listens again on the same port.
    pub fn up(&self) {
        self.serve(bind(self.addr));
    }

    fn serve(&self, listener: tokio::net::TcpListener) {
        let (stop, stopped) = oneshot::channel::<()>();
        let app = Route::new()
            .at(format!("/{}", self.secret), poem::post(forward))
            .data(Target(self.target.clone()))
            .data(HideReceipts(self.hide_receipts.clone()));
        let acceptor = TcpAcceptor::from_tokio(listener).unwrap();
        let task = tokio::spawn(async move {
            let _ = poem::Server::new_with_acceptor(acceptor)
                .run_with_graceful_shutdown(
                    app,
                    async {
                        let _ = stopped.await;
                    },
                    Some(std::time::Duration::ZERO),
                )
                .await;
        });
        *self.running.lock().unwrap() = Some((stop, task));
    }
}

/// A listener that may take a port whose earlier connections linger in TIME_WAIT.
fn bind(addr: SocketAddr) -> tokio::net::TcpListener {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_reuseaddr(true).unwrap();
    socket.bind(addr).unwrap();
    socket.listen(128).unwrap()
}

#[derive(Clone)]
struct Target(String);

#[derive(Clone)]
struct HideReceipts(Arc<AtomicBool>);

#[handler]
async fn forward(body: String, target: Data<&Target>, hide: Data<&HideReceipts>) -> poem::Response {
    if hide.0.0.load(Ordering::SeqCst)
        && let Ok(call) = serde_json::from_str::<serde_json::Value>(&body)
        && call["method"] == "eth_getTransactionReceipt"
    {
        let none = serde_json::json!({ "jsonrpc": "2.0", "id": call["id"], "result": null });
        return poem::Response::builder()
            .content_type("application/json")
            .body(none.to_string());
    }
    let answer = reqwest::Client::new()
        .post(target.0.0.as_str())
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await;
    match answer {
        Ok(res) => {
            let status = res.status().as_u16();
            let bytes = res.bytes().await.unwrap_or_default();
            poem::Response::builder()
                .status(poem::http::StatusCode::from_u16(status).unwrap())
                .content_type("application/json")
                .body(bytes.to_vec())
        }
        Err(_) => poem::Response::builder()
            .status(poem::http::StatusCode::BAD_GATEWAY)
            .finish(),
    }
}
