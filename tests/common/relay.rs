//! One loopback address that outlives the servers behind it. A test that kills and restarts a
//! server keeps its clients on the relay's address, which the test holds for its whole run
//! (bound to port 0, never released), while each run of the server listens on a port of its
//! own: no port is released and bound again, where another process could take it in between.
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};

pub struct Relay {
    pub addr: SocketAddr,
    target: Arc<Mutex<Option<SocketAddr>>>,
    accepting: tokio::task::JoinHandle<()>,
}

impl Relay {
    /// A relay on a free port of 127.0.0.1, pointing nowhere yet: connections are closed at once.
    pub async fn start() -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let target = Arc::new(Mutex::new(None));
        let accepting = tokio::spawn(accept(listener, target.clone()));
        Relay {
            addr,
            target,
            accepting,
        }
    }

    /// Sends the connections accepted from now on to `target`.
    pub fn point_at(&self, target: SocketAddr) {
        *self.target.lock().unwrap() = Some(target);
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

async fn accept(listener: TcpListener, target: Arc<Mutex<Option<SocketAddr>>>) {
    while let Ok((mut inbound, _)) = listener.accept().await {
        let Some(to) = *target.lock().unwrap() else {
            continue; // dropped: closed, as a server that is down would
        };
        tokio::spawn(async move {
            // A server that is down refuses the connection; so does the relay, by closing it.
            if let Ok(mut outbound) = TcpStream::connect(to).await {
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
            }
        });
    }
}
