//! The accept loop: HTTP/1.1 connections over [`GuardedStream`]s, with a deadline
//! for request headers (idle keep-alive included) and a drain at shutdown.

use std::future::Future;
use std::time::Duration;

use axum::body::Body;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::ServiceExt;

use crate::guarded_stream::GuardedStream;

/// How long idle HTTP connections get to finish at shutdown.
const HTTP_DRAIN: Duration = Duration::from_secs(1);

/// Timeouts of one listener.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HttpLimits {
    /// Deadline for a request's headers, counted from the connection's start or the
    /// end of the previous response.
    pub(crate) headers: Duration,
    /// A read waiting this long for a byte fails and the connection closes.
    pub(crate) idle: Duration,
}

/// Accepts and serves connections until `stop` completes, then asks the HTTP
/// connections still open to finish (upgraded WebSockets are not affected: the
/// manager owns their shutdown).
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    limits: HttpLimits,
    stop: impl Future<Output = ()>,
) {
    let (stopping, stop_rx) = watch::channel(false);
    tokio::pin!(stop);
    loop {
        let accepted = tokio::select! {
            () = &mut stop => break,
            accepted = listener.accept() => accepted,
        };
        let tcp = match accepted {
            Ok((tcp, _peer)) => tcp,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        // Frames are batched by the writer; Nagle's algorithm would only add delay.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY not set");
        }
        let io = TokioIo::new(GuardedStream::new(tcp, limits.idle));
        let service = TowerToHyperService::new(
            app.clone()
                .map_request(|request: hyper::Request<Incoming>| request.map(Body::new)),
        );
        let mut stop_rx = stop_rx.clone();
        tokio::spawn(async move {
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.headers)
                .serve_connection(io, service)
                .with_upgrades();
            tokio::pin!(connection);
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(e) = result {
                        tracing::debug!(error = %e, "HTTP connection ended");
                    }
                }
                () = async { let _ = stop_rx.wait_for(|stopping| *stopping).await; } => {
                    connection.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(HTTP_DRAIN, connection).await;
                }
            }
        });
    }
    stopping.send_replace(true);
}
