//! The HTTP listener of a process, behind the edge's connection cap and timeouts.
use std::net::SocketAddr;

use anyhow::Context;
use poem::Endpoint;
use poem::listener::{Acceptor, Listener, TcpListener};
use tokio::sync::oneshot;

use crate::api::edge::{EdgeConfig, conn::EdgeAcceptor};

pub(super) struct Http {
    pub(super) addr: SocketAddr,
    pub(super) stop: oneshot::Sender<()>,
    pub(super) task: tokio::task::JoinHandle<std::io::Result<()>>,
}

pub(super) async fn serve_http(
    listen_addr: &str,
    edge: &EdgeConfig,
    app: impl Endpoint + 'static,
) -> anyhow::Result<Http> {
    let acceptor = TcpListener::bind(listen_addr.to_owned())
        .into_acceptor()
        .await
        .with_context(|| format!("listening on {listen_addr} (LISTEN_ADDR)"))?;
    let addr = acceptor
        .local_addr()
        .first()
        .and_then(|a| a.as_socket_addr().copied())
        .context("listener has no socket address")?;
    let acceptor = EdgeAcceptor::new(
        acceptor,
        edge.max_connections as usize,
        edge.header_timeout(),
    );
    let (stop, stopped) = oneshot::channel::<()>();
    let idle_timeout = edge.idle_timeout();
    let task = tokio::spawn(async move {
        poem::Server::new_with_acceptor(acceptor)
            .idle_timeout(idle_timeout)
            .run_with_graceful_shutdown(
                app,
                async {
                    let _ = stopped.await;
                },
                Some(std::time::Duration::from_secs(10)),
            )
            .await
    });
    tracing::info!(%addr, "HTTP API listening (Swagger UI at /docs)");
    Ok(Http { addr, stop, task })
}

/// Resolves at the first SIGINT or SIGTERM (handlers are installed when first polled).
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing the SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
