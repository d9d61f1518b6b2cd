//! The HTTP/1.1 server in front of the router, closed against slow and abusive clients:
//!
//! - a connection cap (`server.max_connections`): past it the accept loop waits, so further
//!   clients queue in the kernel's backlog instead of taking file descriptors;
//! - a header-read timeout (`server.header_read_timeout_ms`) from a request's first byte (or
//!   a new connection's accept) to its complete head, and an idle timeout
//!   (`server.idle_timeout_ms`) for keep-alive connections between requests; the
//!   body-read timeout is applied where bodies are read ([`crate::body`]);
//! - hyper's own answers to unparseable requests (400, 414, 431, which it writes with an
//!   empty body) are rewritten into the API's JSON error shape ([`io`]).
//!
//! HTTP/2 without TLS (h2c) is not served: its preface detection has no timeout, and the
//! gateway does not terminate TLS, where h2 is negotiated.

mod io;
mod tracked;

use axum::extract::ConnectInfo;
use axum::Router;
use broker::config::ServerConfig;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

pub use io::ConnIo;
pub use tracked::ConnState;

/// Serves `app` on `listener` until `shutdown`, then stops accepting and lets open
/// connections finish their requests (the caller bounds how long).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    cfg: &ServerConfig,
    shutdown: CancellationToken,
) {
    let permits = Arc::new(Semaphore::new(cfg.max_connections));
    let head_timeout = Duration::from_millis(cfg.header_read_timeout_ms);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(Duration::from_millis(cfg.idle_timeout_ms))
        .keep_alive(true);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut at_cap_logged = false;
    loop {
        let permit = match permits.clone().try_acquire_owned() {
            Ok(p) => {
                at_cap_logged = false;
                p
            }
            Err(_) => {
                if !at_cap_logged {
                    tracing::warn!(max_connections = cfg.max_connections, "connection cap reached: new clients wait until one closes (raise server.max_connections if this is normal load)");
                    at_cap_logged = true;
                }
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    p = permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
                }
            }
        };
        let (tcp, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            a = listener.accept() => match a {
                Ok(a) => a,
                Err(e) => {
                    // EMFILE and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "cannot accept a connection; retrying in 50 ms (check the process's file descriptor limit)");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = tcp.set_nodelay(true);
        let state = Arc::new(ConnState::default());
        let io = TokioIo::new(ConnIo::new(tcp, state.clone(), head_timeout));
        let router = app.clone();
        let svc =
            hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                let guard = state.begin();
                let router = router.clone();
                async move {
                    let resp = router.oneshot(req.map(axum::body::Body::new)).await;
                    resp.map(|r| r.map(|b| axum::body::Body::new(tracked::Tracked::new(b, guard))))
                }
            });
        let conn = graceful.watch(http.serve_connection(io, svc));
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(peer = %peer, error = %e, "connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    graceful.shutdown().await;
}
