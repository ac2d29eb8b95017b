//! Responsive-image variants: smaller copies of uploaded PNG, JPEG, WebP and GIF images at
//! Webflow's widths, listed in each asset's `variants`.
//!
//! - [`plan`]: which widths and names an image gets (pure, a domain module of its own,
//!   [`crate::variant_plan`], since metadata and keys need it too);
//! - [`render`]: decoding, resizing and encoding in memory (pure CPU);
//! - [`lossy_webp`]: the optional lossy WebP encoding, pixels in, bytes out;
//! - [`worker`]: the bounded pool that takes queued jobs, writes the variants to the blob store
//!   and records them.
//!
//! A job is queued in the transaction that marks an upload complete, and a variant's row is
//! written before its object, so a restart resumes unfinished work and a delete finds every
//! object to remove.

pub use crate::variant_plan as plan;
pub mod lossy_webp;
pub mod render;
#[cfg(test)]
mod ssim;
pub mod worker;
