//! Every connection state has a time bound, and a full connection table never locks out new
//! clients while some connection is doing nothing.
//!
//! hyper bounds some states and not others, so each connection runs under a watchdog
//! ([`supervise`]) that enforces what hyper does not:
//! - **first request** (first byte, the HTTP/1-or-HTTP/2 detection, a partial HTTP/2 preface,
//!   the first request's headers): cut when no request has started within the header timeout.
//!   hyper's own header timeout starts only after the detection, so a socket that sends nothing,
//!   or half the HTTP/2 preface, was never closed.
//! - **idle** (no request in flight after one or more): closed gracefully (HTTP/2 `GOAWAY`)
//!   after the idle timeout, and cut if it has not closed a header timeout later. For HTTP/1
//!   hyper's header timeout already starts right after each response, so its idle bound is the
//!   header timeout; HTTP/2 had none.
//! - **a response the client stops reading**: cut once the socket has refused writes for the
//!   body idle timeout.
//! - **request bodies** are bounded by their readers (the JSON body reader and the S3 POST
//!   form each give up after the body idle timeout), and **HTTP/2 peers that vanish** by
//!   keep-alive pings (`server.rs`).
//!
//! When the table is full, a new connection takes the place of the connection that has been
//! idle longest (no request in flight), which is closed; only when every connection has a
//! request in flight is the new one refused. So silent sockets cannot hold the table against
//! clients with work to do, however many an attacker opens.

use std::collections::HashMap;
use std::io;
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::task::AtomicWaker;
use http_body::{Body, Frame, SizeHint};
use hyper_util::server::graceful::GracefulConnection;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The time bounds a connection is held to.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    /// From accept to the first request's headers; also how long a closing connection may take.
    pub first_request: Duration,
    /// With no request in flight, after at least one.
    pub idle: Duration,
    /// How long the socket may refuse writes while a response is being sent.
    pub write_stall: Duration,
}

impl Bounds {
    /// How often the watchdog looks: a quarter of the shortest bound, between 100 ms and 1 s.
    fn tick(&self) -> Duration {
        let shortest = self.first_request.min(self.idle).min(self.write_stall);
        (shortest / 4).clamp(Duration::from_millis(100), Duration::from_secs(1))
    }
}

/// What one connection is doing, shared by its socket wrapper, its requests and the watchdog.
#[derive(Debug)]
pub struct Connection {
    id: u64,
    epoch: Instant,
    accepted: Duration,
    in_flight: AtomicUsize,
    requests: AtomicU64,
    /// When the last request started or ended (or the connection was accepted), since `epoch`.
    last_change_ms: AtomicU64,
    /// When the socket last took bytes, since `epoch`.
    last_write_ms: AtomicU64,
    /// When a response body was last polled, since `epoch`.
    last_body_poll_ms: AtomicU64,
    /// Response bodies whose next poll is hyper's to make, i.e. waits on the client taking
    /// bytes (HTTP/1 socket or HTTP/2 flow-control window), not on assetd producing them.
    bodies_waiting_on_client: AtomicUsize,
    /// The connection speaks HTTP/2 (its pings are writes that say nothing of the client).
    http2: AtomicBool,
    /// Another connection took this one's place (set under the table's lock).
    evicted: AtomicBool,
    /// The server is shutting down.
    closing: AtomicBool,
    /// Wakes the connection's task when `evicted` or `closing` is set. Per connection, so that
    /// polling it (on every wake of the connection) never contends with other connections, as
    /// a shared cancellation token's lock did.
    signal: AtomicWaker,
}

impl Connection {
    fn millis(&self, now: Instant) -> u64 {
        u64::try_from(now.saturating_duration_since(self.epoch).as_millis()).unwrap_or(u64::MAX)
    }

    /// Counts a request as in flight until the returned guard is dropped (keep the guard with
    /// the response body, so that a response being sent counts as work).
    pub fn request_started(self: &Arc<Self>, http2: bool) -> RequestGuard {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.requests.fetch_add(1, Ordering::Relaxed);
        if http2 {
            self.http2.store(true, Ordering::Relaxed);
        }
        self.last_change_ms
            .store(self.millis(Instant::now()), Ordering::Release);
        RequestGuard(Arc::clone(self))
    }

    fn now_ms(&self) -> u64 {
        self.millis(Instant::now())
    }

    fn snapshot(&self) -> Snapshot {
        let ms = Duration::from_millis;
        let body_poll = self.last_body_poll_ms.load(Ordering::Relaxed);
        // What shows the client taking bytes: for HTTP/1 any write; for HTTP/2 only a body
        // being polled again (its pings are written whatever the client does with a stream).
        let client_progress = if self.http2.load(Ordering::Relaxed) {
            body_poll
        } else {
            body_poll.max(self.last_write_ms.load(Ordering::Relaxed))
        };
        Snapshot {
            accepted: self.accepted,
            in_flight: self.in_flight.load(Ordering::Acquire),
            requests: self.requests.load(Ordering::Relaxed),
            last_change: ms(self.last_change_ms.load(Ordering::Acquire)),
            waiting_on_client: self.bodies_waiting_on_client.load(Ordering::Relaxed) > 0,
            client_progress: ms(client_progress),
        }
    }

    /// Since when the connection has had nothing in flight and written nothing, if it has not.
    fn idle_since(&self) -> Option<u64> {
        (self.in_flight.load(Ordering::Acquire) == 0).then(|| {
            // A response's last bytes may still be leaving after its body was dropped.
            self.last_change_ms
                .load(Ordering::Acquire)
                .max(self.last_write_ms.load(Ordering::Relaxed))
        })
    }
}

/// Holds a request in flight; see [`Connection::request_started`].
#[derive(Debug)]
pub struct RequestGuard(Arc<Connection>);

impl Drop for RequestGuard {
    fn drop(&mut self) {
        let connection = &self.0;
        connection
            .last_change_ms
            .store(connection.now_ms(), Ordering::Release);
        connection.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A response body that keeps its request in flight until it is sent or dropped, and tells
/// its connection whether the next step is the client's (take the bytes given so far) or
/// assetd's (produce more). Frames pass through untouched (`zero_copy` recognises its
/// placeholders by address).
pub struct Tracked<B> {
    inner: B,
    guard: RequestGuard,
    waiting_on_client: bool,
}

impl<B> Tracked<B> {
    /// `inner`, holding `guard` until it is dropped. Until hyper first polls it, a body waits
    /// on the client (an HTTP/2 stream without window is never polled).
    pub fn new(inner: B, guard: RequestGuard) -> Self {
        let connection = &guard.0;
        connection
            .bodies_waiting_on_client
            .fetch_add(1, Ordering::Relaxed);
        connection
            .last_body_poll_ms
            .store(connection.now_ms(), Ordering::Relaxed);
        Self {
            inner,
            guard,
            waiting_on_client: true,
        }
    }

    fn set_waiting_on_client(&mut self, waiting: bool) {
        if waiting != self.waiting_on_client {
            let count = &self.guard.0.bodies_waiting_on_client;
            if waiting {
                count.fetch_add(1, Ordering::Relaxed);
            } else {
                count.fetch_sub(1, Ordering::Relaxed);
            }
            self.waiting_on_client = waiting;
        }
    }
}

impl<B> Drop for Tracked<B> {
    fn drop(&mut self) {
        self.set_waiting_on_client(false);
    }
}

impl<B: Body<Data = Bytes> + Unpin> Body for Tracked<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let connection = &self.guard.0;
        connection
            .last_body_poll_ms
            .store(connection.now_ms(), Ordering::Relaxed);
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        // A frame handed over: hyper polls again once the client has room for more. Pending:
        // assetd is producing (reading a file, waiting on S3), which is not the client's stall.
        self.set_waiting_on_client(matches!(polled, Poll::Ready(Some(Ok(_)))));
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A request body that records whether it was read to its end.
///
/// An HTTP/1 answer sent before the client's body was read (a 401 for a bad token, a 400 for
/// a refused form) ends the connection, since hyper will not read the rest; that answer must
/// say `Connection: close`, or a client that reuses the connection for its next request finds
/// it reset.
pub struct ReadToEnd<B> {
    inner: B,
    ended: Arc<AtomicBool>,
}

impl<B: Body> ReadToEnd<B> {
    /// `inner`, and the flag that turns true once it has ended.
    pub fn new(inner: B) -> (Self, Arc<AtomicBool>) {
        let ended = Arc::new(AtomicBool::new(inner.is_end_stream()));
        let body = Self {
            inner,
            ended: Arc::clone(&ended),
        };
        (body, ended)
    }
}

impl<B: Body + Unpin> Body for ReadToEnd<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if matches!(polled, Poll::Ready(None)) || self.inner.is_end_stream() {
            self.ended.store(true, Ordering::Relaxed);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The open connections, up to a maximum.
#[derive(Debug)]
pub struct ConnectionTable {
    max: usize,
    epoch: Instant,
    next_id: AtomicU64,
    open: Mutex<HashMap<u64, Arc<Connection>>>,
}

/// Why a connection was refused.
#[derive(Debug, PartialEq, Eq)]
pub struct TableFull;

impl ConnectionTable {
    /// A table of at most `max` connections (at least one).
    pub fn new(max: usize) -> Arc<Self> {
        Arc::new(Self {
            max: max.max(1),
            epoch: Instant::now(),
            next_id: AtomicU64::new(1),
            open: Mutex::new(HashMap::new()),
        })
    }

    /// Admits a new connection, closing the longest-idle one if the table is full; refuses it
    /// only when every open connection has a request in flight.
    pub fn admit(self: &Arc<Self>) -> Result<Admission, TableFull> {
        let now = Instant::now();
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if open.len() >= self.max {
            let longest_idle = open
                .values()
                .filter_map(|c| c.idle_since().map(|since| (since, c.id)))
                .min()
                .map(|(_, id)| id);
            let evicted = longest_idle
                .and_then(|id| open.remove(&id))
                .ok_or(TableFull)?;
            evicted.evicted.store(true, Ordering::Release);
            evicted.signal.wake();
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let accepted = now.saturating_duration_since(self.epoch);
        let connection = Arc::new(Connection {
            id,
            epoch: self.epoch,
            accepted,
            in_flight: AtomicUsize::new(0),
            requests: AtomicU64::new(0),
            last_change_ms: AtomicU64::new(u64::try_from(accepted.as_millis()).unwrap_or(u64::MAX)),
            last_write_ms: AtomicU64::new(0),
            last_body_poll_ms: AtomicU64::new(0),
            bodies_waiting_on_client: AtomicUsize::new(0),
            http2: AtomicBool::new(false),
            evicted: AtomicBool::new(false),
            closing: AtomicBool::new(false),
            signal: AtomicWaker::new(),
        });
        open.insert(id, Arc::clone(&connection));
        Ok(Admission {
            table: Arc::clone(self),
            connection,
        })
    }

    /// Tells every open connection to close gracefully (the server is shutting down).
    pub fn close_all(&self) {
        let open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        for connection in open.values() {
            connection.closing.store(true, Ordering::Release);
            connection.signal.wake();
        }
    }

    /// How many connections are open.
    pub fn len(&self) -> usize {
        self.open.lock().map_or(0, |open| open.len())
    }

    /// Whether no connection is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A connection's place in the table, given back when dropped.
#[derive(Debug)]
pub struct Admission {
    table: Arc<ConnectionTable>,
    connection: Arc<Connection>,
}

impl Admission {
    /// The connection's shared state.
    pub fn connection(&self) -> &Arc<Connection> {
        &self.connection
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        if let Ok(mut open) = self.table.open.lock() {
            open.remove(&self.connection.id);
        }
    }
}

/// A socket that tells its [`Connection`] when it last took bytes.
pub struct Watched<S> {
    inner: S,
    connection: Arc<Connection>,
}

impl<S> Watched<S> {
    /// Wraps `inner` for `connection`.
    pub fn new(inner: S, connection: Arc<Connection>) -> Self {
        Self { inner, connection }
    }

    fn note_write(&self, polled: Poll<io::Result<usize>>) -> Poll<io::Result<usize>> {
        if let Poll::Ready(Ok(n)) = &polled
            && *n > 0
        {
            self.connection
                .last_write_ms
                .store(self.connection.now_ms(), Ordering::Relaxed);
        }
        polled
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.note_write(polled)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.note_write(polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// What the watchdog sees of a connection, in time since the table's epoch.
#[derive(Debug, Clone, Copy)]
struct Snapshot {
    accepted: Duration,
    in_flight: usize,
    requests: u64,
    last_change: Duration,
    /// Some response body waits on the client.
    waiting_on_client: bool,
    /// When the client last took bytes.
    client_progress: Duration,
}

/// What the watchdog does about a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Keep,
    /// Close gracefully (HTTP/2 `GOAWAY`; HTTP/1 closes when idle).
    Close(&'static str),
    /// Drop the socket now.
    Cut(&'static str),
}

fn verdict(c: Snapshot, now: Duration, bounds: &Bounds) -> Verdict {
    let since = |t: Duration| now.saturating_sub(t);
    if c.in_flight == 0 {
        if c.requests == 0 {
            if since(c.accepted) >= bounds.first_request {
                return Verdict::Cut("no request within the header timeout");
            }
        } else if since(c.last_change) >= bounds.idle {
            return Verdict::Close("idle");
        }
    } else if c.waiting_on_client && since(c.client_progress) >= bounds.write_stall {
        return Verdict::Cut("the client stopped reading its response");
    }
    Verdict::Keep
}

/// How a supervised connection ended.
#[derive(Debug)]
pub enum Ending<E> {
    /// hyper finished it (the client closed it, or it closed gracefully), with hyper's error if
    /// any.
    Finished(Result<(), E>),
    /// Another connection took its place in a full table.
    Evicted,
    /// The watchdog dropped it.
    Cut(&'static str),
}

/// What a connection's task has already done about its signals.
#[derive(Debug, Default, Clone, Copy)]
struct Handled {
    evicted: bool,
    closing: bool,
}

/// Completes when the connection is evicted or told to close, and that is not yet handled.
fn signalled<'a>(
    connection: &'a Connection,
    handled: Handled,
) -> impl std::future::Future<Output = ()> + 'a {
    std::future::poll_fn(move |cx| {
        connection.signal.register(cx.waker());
        let evicted = connection.evicted.load(Ordering::Acquire) && !handled.evicted;
        let closing = connection.closing.load(Ordering::Acquire) && !handled.closing;
        if evicted || closing {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
}

/// Runs `served` (hyper's connection) until it ends, holding it to `bounds`; when the table
/// closes it (shutdown) it is closed gracefully, and cut if, with no request in flight, that
/// takes longer than the header timeout.
pub async fn supervise<C>(served: C, connection: &Connection, bounds: Bounds) -> Ending<C::Error>
where
    C: GracefulConnection,
{
    let mut served = pin!(served);
    let mut ticks = tokio::time::interval(bounds.tick());
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut closing_since: Option<Instant> = None;
    let mut handled = Handled::default();
    loop {
        tokio::select! {
            biased;
            result = served.as_mut() => return Ending::Finished(result),
            () = signalled(connection, handled) => {
                if connection.evicted.load(Ordering::Acquire) && !handled.evicted {
                    handled.evicted = true;
                    // Picked while idle, but a request may have started since: let it finish.
                    if connection.in_flight.load(Ordering::Acquire) == 0 {
                        return Ending::Evicted;
                    }
                }
                handled.closing |= connection.closing.load(Ordering::Acquire);
                served.as_mut().graceful_shutdown();
                closing_since.get_or_insert_with(Instant::now);
            }
            _ = ticks.tick() => {
                let now = Instant::now();
                if let Some(since) = closing_since {
                    // Requests in flight get the server's drain time; a connection with none
                    // (say, half a request's headers) has no reason to stay.
                    if connection.in_flight.load(Ordering::Acquire) == 0
                        && now.duration_since(since) >= bounds.first_request
                    {
                        return Ending::Cut("did not close within the header timeout");
                    }
                    continue;
                }
                let elapsed = now.saturating_duration_since(connection.epoch);
                match verdict(connection.snapshot(), elapsed, &bounds) {
                    Verdict::Keep => {}
                    Verdict::Close(why) => {
                        tracing::debug!(why, "closing connection");
                        served.as_mut().graceful_shutdown();
                        closing_since = Some(now);
                    }
                    Verdict::Cut(why) => return Ending::Cut(why),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    fn bounds() -> Bounds {
        Bounds {
            first_request: S(10),
            idle: S(60),
            write_stall: S(30),
        }
    }

    fn fresh() -> Snapshot {
        Snapshot {
            accepted: S(100),
            in_flight: 0,
            requests: 0,
            last_change: S(100),
            waiting_on_client: false,
            client_progress: S(100),
        }
    }

    #[test]
    fn a_connection_without_a_request_is_cut_after_the_header_timeout() {
        assert_eq!(verdict(fresh(), S(109), &bounds()), Verdict::Keep);
        assert!(matches!(
            verdict(fresh(), S(110), &bounds()),
            Verdict::Cut(_)
        ));
    }

    #[test]
    fn an_idle_connection_is_closed_gracefully_after_the_idle_timeout() {
        let idle = Snapshot {
            requests: 3,
            last_change: S(200),
            ..fresh()
        };
        assert_eq!(verdict(idle, S(259), &bounds()), Verdict::Keep);
        assert!(matches!(
            verdict(idle, S(260), &bounds()),
            Verdict::Close(_)
        ));
    }

    #[test]
    fn a_request_in_flight_is_kept_unless_its_response_stalls() {
        let busy = Snapshot {
            in_flight: 1,
            requests: 1,
            ..fresh()
        };
        // assetd itself is slow to produce the body: not the client's stall.
        assert_eq!(verdict(busy, S(10_000), &bounds()), Verdict::Keep);
        let stalled = Snapshot {
            waiting_on_client: true,
            client_progress: S(500),
            ..busy
        };
        assert_eq!(verdict(stalled, S(529), &bounds()), Verdict::Keep);
        assert!(matches!(
            verdict(stalled, S(530), &bounds()),
            Verdict::Cut(_)
        ));
    }

    #[test]
    fn a_full_table_evicts_the_longest_idle_connection_and_never_a_busy_one() {
        let table = ConnectionTable::new(2);
        let first = table.admit().unwrap();
        std::thread::sleep(Duration::from_millis(5));
        let second = table.admit().unwrap();
        let busy = first.connection().request_started(false);
        // The first has a request in flight: the second, idle, makes room.
        let third = table.admit().unwrap();
        assert!(second.connection().evicted.load(Ordering::Acquire));
        assert!(!first.connection().evicted.load(Ordering::Acquire));
        assert_eq!(table.len(), 2);
        // Now both have work: a fourth is refused.
        let _also_busy = third.connection().request_started(false);
        assert_eq!(table.admit().unwrap_err(), TableFull);
        drop(busy);
        // The first's request ended: it is idle again and gives way.
        let _fourth = table.admit().unwrap();
        assert!(first.connection().evicted.load(Ordering::Acquire));
        drop(second);
        drop(first);
        assert_eq!(table.len(), 2);
    }
}
