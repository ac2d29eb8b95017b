//! Prometheus collectors, served by `http::metrics`: requests by route and status, latency
//! histograms, uploads and their bytes, and assets by state (so pending uploads are visible).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry,
    TextEncoder,
};
use tower::{Layer, Service};

use crate::meta::AssetCounts;

/// The service's collectors.
#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    uploads: IntCounterVec,
    upload_bytes: IntCounter,
    assets: IntGaugeVec,
    /// Bytes of stored files delivered with `sendfile` (zero-copy).
    pub sendfile_bytes: IntCounter,
    webhook_attempts: IntCounterVec,
    webhook_lag: prometheus::Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Fresh collectors in their own registry.
    pub fn new() -> Self {
        let registry = Registry::new_custom(Some("assetd".into()), None)
            .expect("a static prefix is a valid registry prefix");
        let requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests by route, method and status",
            ),
            &["route", "method", "status"],
        )
        .expect("valid metric");
        let latency = HistogramVec::new(
            HistogramOpts::new("http_request_duration_seconds", "HTTP request latency").buckets(
                vec![
                    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0,
                ],
            ),
            &["route", "method"],
        )
        .expect("valid metric");
        let uploads = IntCounterVec::new(
            Opts::new(
                "uploads_total",
                "Uploads by outcome (stored, confirmed, or the S3 error code)",
            ),
            &["outcome"],
        )
        .expect("valid metric");
        let upload_bytes =
            IntCounter::new("upload_bytes_total", "Bytes of stored uploads").expect("valid metric");
        let assets = IntGaugeVec::new(Opts::new("assets", "Assets by state"), &["state"])
            .expect("valid metric");
        let sendfile_bytes = IntCounter::new(
            "sendfile_bytes_total",
            "Bytes of stored files delivered with sendfile, without a copy through assetd",
        )
        .expect("valid metric");
        let webhook_attempts = IntCounterVec::new(
            Opts::new(
                "webhook_attempts_total",
                "Webhook delivery attempts by outcome (delivered, failed, given_up)",
            ),
            &["outcome"],
        )
        .expect("valid metric");
        let webhook_lag = prometheus::Histogram::with_opts(
            HistogramOpts::new(
                "webhook_delivery_lag_seconds",
                "Time from an event to its successful delivery",
            )
            .buckets(vec![
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0, 300.0, 3600.0, 86400.0,
            ]),
        )
        .expect("valid metric");
        for collector in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(latency.clone()),
            Box::new(uploads.clone()),
            Box::new(upload_bytes.clone()),
            Box::new(assets.clone()),
            Box::new(sendfile_bytes.clone()),
            Box::new(webhook_attempts.clone()),
            Box::new(webhook_lag.clone()),
        ] {
            registry
                .register(collector)
                .expect("metric names are unique");
        }
        Self {
            registry,
            requests,
            latency,
            uploads,
            upload_bytes,
            assets,
            sendfile_bytes,
            webhook_attempts,
            webhook_lag,
        }
    }

    /// Records one webhook delivery attempt; `lag` (event to delivery) when it succeeded.
    pub fn webhook_attempt(&self, outcome: &str, lag: Option<std::time::Duration>) {
        self.webhook_attempts.with_label_values(&[outcome]).inc();
        if let Some(lag) = lag {
            self.webhook_lag.observe(lag.as_secs_f64());
        }
    }

    /// Records one answered request: `route` is its route pattern, `method` its
    /// label (see `method_label`), `started` when it came in.
    pub fn request(&self, route: &str, method: &str, status: StatusCode, started: Instant) {
        self.latency
            .with_label_values(&[route, method])
            .observe(started.elapsed().as_secs_f64());
        self.requests
            .with_label_values(&[route, method, status.as_str()])
            .inc();
    }

    /// Records one upload outcome.
    pub fn upload(&self, outcome: &str, bytes: u64) {
        self.uploads.with_label_values(&[outcome]).inc();
        self.upload_bytes.inc_by(bytes);
    }
}

/// Counts and times every request under its route pattern (`route_layer`, so only routed
/// requests). A tower layer rather than axum's `from_fn` middleware, which cloned the app state
/// and the rest of the stack and boxed a future for every request.
#[derive(Debug, Clone)]
pub struct TrackLayer(pub Arc<Metrics>);

impl<S> Layer<S> for TrackLayer {
    type Service = Track<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Track {
            inner,
            metrics: self.0.clone(),
        }
    }
}

/// The service of [`TrackLayer`].
#[derive(Debug, Clone)]
pub struct Track<S> {
    inner: S,
    metrics: Arc<Metrics>,
}

impl<S> Service<Request> for Track<S>
where
    S: Service<Request, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Tracked<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        Tracked {
            route: request.extensions().get::<MatchedPath>().cloned(),
            method: method_label(request.method()),
            started: Instant::now(),
            metrics: self.metrics.clone(),
            inner: self.inner.call(request),
        }
    }
}

pin_project_lite::pin_project! {
    /// A request's response on its way, with what its metrics need.
    pub struct Tracked<F> {
        #[pin]
        inner: F,
        route: Option<MatchedPath>,
        method: &'static str,
        started: Instant,
        metrics: Arc<Metrics>,
    }
}

impl<F, E> Future for Tracked<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        if let Ok(response) = &result {
            let route = this.route.as_ref().map_or("unmatched", MatchedPath::as_str);
            this.metrics
                .request(route, this.method, response.status(), *this.started);
        }
        Poll::Ready(result)
    }
}

/// The `method` label of a request: its method if standard, else `other`. A label value the
/// client chooses would let anyone add series without bound (each new method on a known route
/// made a histogram and a counter, kept for the life of the process).
fn method_label(method: &Method) -> &'static str {
    const STANDARD: [Method; 7] = [
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
        Method::OPTIONS,
    ];
    STANDARD
        .iter()
        .find(|m| *m == method)
        .map_or("other", Method::as_str)
}

impl Metrics {
    /// Records how many assets are in each state (read from the database when scraped).
    pub fn set_asset_counts(&self, counts: &AssetCounts) {
        let gauge = &self.assets;
        gauge.with_label_values(&["pending"]).set(counts.pending);
        gauge.with_label_values(&["uploaded"]).set(counts.uploaded);
        gauge.with_label_values(&["failed"]).set(counts.failed);
    }

    /// Every collector in Prometheus' text format.
    pub fn encode(&self) -> Result<Vec<u8>, prometheus::Error> {
        let mut body = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut body)?;
        Ok(body)
    }
}
