//! Serving: `run(listener, state, shutdown)` takes the listener and the shutdown signal as
//! inputs, so tests bind `127.0.0.1:0` and stop the server when they are done.
//!
//! The accept loop is our own (hyper-util) rather than `axum::serve`, for protection against
//! slow and silent clients, which must not starve others (see `connections`):
//! - a connection must start a request within `--header-read-timeout-secs` of being accepted,
//!   and each HTTP/1 request's headers must arrive within it (slowloris);
//! - a connection with no request in flight is closed after `--idle-timeout-secs`;
//! - request bodies that stall are cut off by their readers' idle timeouts, and a response the
//!   client stops reading after `--body-idle-timeout-secs`;
//! - HTTP/2 peers are pinged while a request is in flight, and dropped if they stop answering;
//! - at most `--max-connections` connections are open; past that, a new one takes the place of
//!   the longest-idle one, and is closed at once only if every connection has work in flight.
//!
//! Each HTTP/1 connection can send stored files with `sendfile` (see `zero_copy`): its stream
//! is a [`ZeroCopyStream`] and its requests carry the connection's [`FileRegions`].
//!
//! On shutdown it stops accepting, closes every connection gracefully once its in-flight
//! requests are answered (up to 30 s), and returns.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::http::{HeaderValue, header};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use tokio::net::TcpListener;
use tokio_util::task::TaskTracker;

use crate::connections::{Bounds, ConnectionTable, Ending, ReadToEnd, Tracked, Watched};
use crate::http;
use crate::state::AppState;
use crate::zero_copy::{self, FileRegions, ZeroCopyStream};

/// How long in-flight requests may take to finish after a shutdown signal.
const DRAIN: Duration = Duration::from_secs(30);

/// Most bytes hyper buffers per HTTP/1 connection.
const READ_BUFFER_MAX: usize = 64 * 1024;

/// How often an HTTP/2 peer is pinged, and how long it has to answer.
const HTTP2_PING: Duration = Duration::from_secs(20);

/// Serves until `shutdown` completes, then finishes in-flight requests and returns.
pub async fn run(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let settings = &state.settings;
    let bounds = Bounds {
        first_request: settings.header_read_timeout,
        idle: settings.idle_timeout,
        write_stall: settings.body_idle_timeout,
    };
    let table = ConnectionTable::new(settings.max_connections);
    let sendfile_bytes = state.metrics.sendfile_bytes.clone();
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(settings.header_read_timeout)
        // Vectored writes keep hyper from copying response bodies, which `zero_copy` relies on;
        // pinned here rather than left to hyper's default.
        .writev(true)
        // hyper's read buffer grows to ~400 KiB on a connection streaming a body; 64 concurrent
        // uploads then hold 25 MiB in buffers alone. 64 KiB keeps reads large enough to be cheap.
        .max_buf_size(READ_BUFFER_MAX);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(HTTP2_PING)
        .keep_alive_timeout(HTTP2_PING);
    let app = http::dispatch::App::new(state);
    let connections = TaskTracker::new();
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
        let Ok(admission) = table.admit() else {
            tracing::warn!(%peer, "every connection has a request in flight; closing new connection");
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let connection = Arc::clone(admission.connection());
        let regions = FileRegions::new();
        let stream = ZeroCopyStream::new(stream, Arc::clone(&regions), sendfile_bytes.clone());
        let stream = Watched::new(stream, Arc::clone(&connection));
        let counted = Arc::clone(&connection);
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            let guard = counted.request_started(request.version() == hyper::Version::HTTP_2);
            request.extensions_mut().insert(ConnectInfo(peer));
            // HTTP/2 frames its data itself: only HTTP/1 responses may carry placeholders.
            if zero_copy::SUPPORTED && request.version() <= hyper::Version::HTTP_11 {
                request.extensions_mut().insert(Arc::clone(&regions));
            }
            // An HTTP/1 request with a body: note whether the answer comes before its end.
            let (request, body_ended) = if request.version() <= hyper::Version::HTTP_11
                && !http_body::Body::is_end_stream(request.body())
            {
                let (parts, body) = request.into_parts();
                let (body, ended) = ReadToEnd::new(body);
                let body = axum::body::Body::new(body);
                (hyper::Request::from_parts(parts, body), Some(ended))
            } else {
                (request.map(axum::body::Body::new), None)
            };
            let answer = app.clone().call(request);
            async move {
                let mut response = answer.await?;
                if body_ended.is_some_and(|ended| !ended.load(Ordering::Relaxed)) {
                    response
                        .headers_mut()
                        .insert(header::CONNECTION, HeaderValue::from_static("close"));
                }
                Ok::<_, std::convert::Infallible>(response.map(|body| Tracked::new(body, guard)))
            }
        });
        let served = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), service)
            .into_owned();
        connections.spawn(async move {
            match crate::connections::supervise(served, &connection, bounds).await {
                Ending::Finished(Ok(())) => {}
                Ending::Finished(Err(e)) => {
                    tracing::debug!(%peer, error = ?e, "connection ended with an error");
                }
                Ending::Evicted => tracing::debug!(%peer, "idle connection closed for a new one"),
                Ending::Cut(why) => tracing::debug!(%peer, why, "connection cut"),
            }
            drop(admission);
        });
    }
    drop(listener);
    table.close_all();
    connections.close();
    if tokio::time::timeout(DRAIN, connections.wait())
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
