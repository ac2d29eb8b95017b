//! Serving: `run(listener, state, shutdown)` takes the listener and the shutdown signal as
//! inputs, so tests bind `127.0.0.1:0` and stop the server when they are done.
//!
//! The accept loop is our own (hyper-util) rather than `axum::serve`, for protection against
//! slow clients, which must not starve others:
//! - request headers must arrive within `--header-read-timeout-secs` (slowloris);
//! - at most `--max-connections` connections are open; past that, new ones are closed at once;
//! - request bodies that stall are cut off by the handlers' idle timeouts (see `s3_post`).
//!
//! Each HTTP/1 connection can send stored files with `sendfile` (see `zero_copy`): its stream
//! is a [`ZeroCopyStream`] and its requests carry the connection's [`FileRegions`].
//!
//! On shutdown it stops accepting, lets in-flight requests finish (up to 30 s), and returns.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::http;
use crate::state::AppState;
use crate::zero_copy::{self, FileRegions, ZeroCopyStream};

/// How long in-flight requests may take to finish after a shutdown signal.
const DRAIN: Duration = Duration::from_secs(30);

/// Most bytes hyper buffers per HTTP/1 connection.
const READ_BUFFER_MAX: usize = 64 * 1024;

/// Serves until `shutdown` completes, then finishes in-flight requests and returns.
pub async fn run(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let header_timeout = state.settings.header_read_timeout;
    let permits = Arc::new(Semaphore::new(state.settings.max_connections.max(1)));
    let sendfile_bytes = state.metrics.sendfile_bytes.clone();
    let app = http::dispatch::App::new(state);
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        // Vectored writes keep hyper from copying response bodies, which `zero_copy` relies on;
        // pinned here rather than left to hyper's default.
        .writev(true)
        // hyper's read buffer grows to ~400 KiB on a connection streaming a body; 64 concurrent
        // uploads then hold 25 MiB in buffers alone. 64 KiB keeps reads large enough to be cheap.
        .max_buf_size(READ_BUFFER_MAX);
    builder.http2().timer(TokioTimer::new());
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: wait a moment instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
            tracing::warn!(%peer, "connection limit reached; closing new connection");
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let regions = FileRegions::new();
        let stream = ZeroCopyStream::new(stream, Arc::clone(&regions), sendfile_bytes.clone());
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            // HTTP/2 frames its data itself: only HTTP/1 responses may carry placeholders.
            if zero_copy::SUPPORTED && request.version() <= hyper::Version::HTTP_11 {
                request.extensions_mut().insert(Arc::clone(&regions));
            }
            app.clone().call(request.map(axum::body::Body::new))
        });
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(%peer, error = ?e, "connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("in-flight requests did not finish within {DRAIN:?}; stopping anyway");
    }
    Ok(())
}

/// Completes on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
