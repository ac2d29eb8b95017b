//! What every request handler shares.

use std::sync::Arc;

use crate::config::Settings;
use crate::meta::MetaStore;
use crate::ratelimit::RateLimiter;
use crate::storage::BlobStore;
use crate::storage::disk::DiskStore;
use crate::upload_signer::UploadSigner;

/// The service's shared state, cheap to clone: one reference count, however many parts it
/// has. (A struct of a dozen `Arc`s was cloned and dropped several times per request by the
/// router and middleware, each a contended atomic: 3–4 % of the CPU of a create.)
#[derive(Clone)]
pub struct AppState(Arc<SharedState>);

impl AppState {
    /// Shares `state`.
    pub fn new(state: SharedState) -> Self {
        Self(Arc::new(state))
    }

    /// The handles the variant workers use.
    pub fn variant_work(&self) -> crate::variants::worker::VariantWork {
        crate::variants::worker::VariantWork {
            meta: self.meta.clone(),
            blobs: self.blobs.clone(),
            max_pixels: self.settings.variants.max_pixels,
            formats: self.settings.variants.formats,
        }
    }

    /// The handles the sweep uses.
    pub fn sweep_work(&self) -> crate::sweep::SweepWork {
        crate::sweep::SweepWork {
            meta: self.meta.clone(),
            blobs: self.blobs.clone(),
            confirmer: self.confirmer.clone(),
        }
    }

    /// Starts the variant workers the settings ask for (see [`crate::variants::worker`]).
    pub fn spawn_variant_workers(&self, background: &crate::background::Background) {
        crate::variants::worker::spawn(
            &self.variant_work(),
            self.settings.variants.workers,
            &self.variant_jobs,
            background,
        );
    }
}

impl AppState {
    /// Starts the webhook delivery worker (see [`crate::webhooks`]).
    pub fn spawn_webhook_worker(
        &self,
        background: &crate::background::Background,
    ) -> Result<(), crate::webhooks::StartError> {
        crate::webhooks::spawn(
            crate::webhooks::WebhookWork {
                meta: self.meta.clone(),
                urls: self.settings.urls.clone(),
                settings: self.settings.webhooks.clone(),
                metrics: self.metrics.clone(),
            },
            background,
        )
    }
}

impl std::ops::Deref for AppState {
    type Target = SharedState;

    fn deref(&self) -> &SharedState {
        &self.0
    }
}

/// What [`AppState`] shares.
pub struct SharedState {
    /// Metadata backend.
    pub meta: Arc<dyn MetaStore>,
    /// Reads and deletes stored bytes.
    pub blobs: Arc<dyn BlobStore>,
    /// The embedded store, which the S3 POST endpoint writes into; `None` with S3 storage, where
    /// uploads go straight to the S3 service.
    pub receiver: Option<Arc<DiskStore>>,
    /// Signs upload policies.
    pub signer: Arc<UploadSigner>,
    /// Recently seen token grants.
    pub grants: Arc<crate::grant_cache::GrantCache>,
    /// Token uses not yet written.
    pub token_usage: Arc<crate::token_usage::TokenUsage>,
    /// Per-token request limits.
    pub limiter: Arc<RateLimiter>,
    /// Prometheus collectors.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Run-time settings.
    pub settings: Arc<Settings>,
    /// Recently served objects.
    pub delivery_cache: Arc<crate::delivery_cache::DeliveryCache>,
    /// Wakes an idle variant worker when an upload completes.
    pub variant_jobs: Arc<tokio::sync::Notify>,
    /// Confirms uploads that bypass assetd (S3 storage), in the background.
    pub confirmer: crate::confirmer::Confirmer,
}
