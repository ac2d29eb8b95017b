//! MD5 (RFC 1321), written for speed on the one thing assetd asks of it: the digest of every
//! uploaded byte, which is the object's ETag and is compared with the asset's `fileHash`.
//!
//! A single upload cannot be hashed faster than one core runs MD5, since every 64-byte block
//! depends on the one before, so this is the ceiling of a large upload's speed. Within a block
//! each of the 64 steps depends on the step before only through its `b` input; the RustCrypto
//! `md-5` crate (0.10 and 0.11) adds the message word and the round constant *after* the
//! boolean function of `b`, and LLVM keeps constants last, so they sit on that chain. Here
//! everything that does not depend on `b` is summed first (see `compress.rs`). Against md-5
//! 0.10 with its `asm` feature (md5-asm), measured 2026-12-06 on AMD EPYC (Zen 4), 2 vCPU, a busy machine, four
//! runs of `cargo bench -p assetd-md5` (group `md5_1MiB`): 1 MiB in 1.83–3.54 ms against
//! 1.96–4.04 ms, 1.07–1.32× faster in each run. md-5 0.11 was 6 % faster than 0.10 in a separate
//! comparison, and OpenSSL's assembly is about 5 % faster than this crate. The lanes below need
//! this type's state anyway. The digests are checked against Python's `hashlib` (OpenSSL) and
//! against the md-5 crate in `tests/`.
//!
//! Many messages at once need not wait for each other's chains: [`update_side_by_side`] hashes
//! eight of them in the lanes of the same instructions (`lanes.rs`; baseline x86-64 target:
//! SSE2). Group `md5_8x1MiB`, measured 2026-12-06 on AMD EPYC (Zen 4), 2 vCPU, four runs: 8 × 1 MiB in
//! 8.2–11.3 ms against 18.5–32.8 ms one after another with md-5 `asm` (2.25–3.13×) and
//! 17.9–24.0 ms with [`Md5`] (1.59–2.57×). assetd uses it for the batches of concurrent uploads.
//!
//! ```
//! let mut md5 = assetd_md5::Md5::new();
//! md5.update(b"a");
//! md5.update(b"bc");
//! assert_eq!(md5.clone().hex(), "900150983cd24fb0d6963f7d28e17f72");
//! assert_eq!(assetd_md5::Md5::digest(b"abc"), md5.finalize());
//! ```
#![deny(missing_docs)]

mod compress;
mod lanes;

pub use lanes::update_side_by_side;

use compress::{BLOCK, compress_blocks};

/// The initial state (RFC 1321, 3.3).
const INIT: [u32; 4] = [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476];

/// An MD5 being computed over bytes given in any number of pieces.
#[derive(Clone, Debug)]
pub struct Md5 {
    state: [u32; 4],
    /// Bytes of an incomplete block, waiting for the rest of it.
    pending: [u8; BLOCK],
    pending_len: usize,
    /// Bytes given so far (the padding records it modulo 2⁶⁴ bits).
    total: u64,
}

impl Default for Md5 {
    fn default() -> Self {
        Self::new()
    }
}

impl Md5 {
    /// An MD5 of no bytes yet.
    pub fn new() -> Self {
        Self {
            state: INIT,
            pending: [0; BLOCK],
            pending_len: 0,
            total: 0,
        }
    }

    /// The MD5 of `bytes`.
    pub fn digest(bytes: &[u8]) -> [u8; 16] {
        let mut md5 = Self::new();
        md5.update(bytes);
        md5.finalize()
    }

    /// Adds `bytes` after those given before.
    pub fn update(&mut self, mut bytes: &[u8]) {
        self.total = self.total.wrapping_add(bytes.len() as u64);
        if self.pending_len > 0 {
            let take = (BLOCK - self.pending_len).min(bytes.len());
            let (head, rest) = bytes.split_at(take);
            self.pending[self.pending_len..self.pending_len + take].copy_from_slice(head);
            self.pending_len += take;
            bytes = rest;
            if self.pending_len < BLOCK {
                return;
            }
            compress_blocks(&mut self.state, std::slice::from_ref(&self.pending));
            self.pending_len = 0;
        }
        let (blocks, rest) = bytes.as_chunks::<BLOCK>();
        compress_blocks(&mut self.state, blocks);
        self.pending[..rest.len()].copy_from_slice(rest);
        self.pending_len = rest.len();
    }

    /// The digest of every byte given (RFC 1321, 3.1–3.5: a 1 bit, zeros to 56 bytes mod 64,
    /// then the length in bits, little-endian).
    pub fn finalize(mut self) -> [u8; 16] {
        let bits = self.total.wrapping_mul(8);
        let mut tail = [0u8; 2 * BLOCK];
        let len = self.pending_len;
        tail[..len].copy_from_slice(&self.pending[..len]);
        tail[len] = 0x80;
        let end = if len < BLOCK - 8 { BLOCK } else { 2 * BLOCK };
        tail[end - 8..end].copy_from_slice(&bits.to_le_bytes());
        let (blocks, _) = tail[..end].as_chunks::<BLOCK>();
        compress_blocks(&mut self.state, blocks);
        let mut out = [0u8; 16];
        for (bytes, word) in out.chunks_exact_mut(4).zip(self.state) {
            bytes.copy_from_slice(&word.to_le_bytes());
        }
        out
    }

    /// The digest in lower-case hex, as S3 ETags and Webflow's `fileHash` write it.
    pub fn hex(self) -> String {
        hex::encode(self.finalize())
    }
}

#[cfg(test)]
mod tests {
    use super::Md5;

    #[test]
    fn padding_fits_or_spills_into_a_second_block() {
        // 55 bytes leave room for the 0x80 and the length in one block; 56 do not.
        for len in [0, 1, 55, 56, 57, 63, 64, 65, 119, 120, 127, 128, 129] {
            let bytes = vec![b'x'; len];
            let mut md5 = Md5::new();
            md5.update(&bytes);
            let ours = md5.hex();
            let theirs = {
                use md5::Digest;
                hex::encode(md5::Md5::digest(&bytes))
            };
            assert_eq!(ours, theirs, "{len} bytes");
        }
    }

    #[test]
    fn empty_updates_change_nothing() {
        let mut md5 = Md5::new();
        md5.update(b"");
        md5.update(b"abc");
        md5.update(b"");
        assert_eq!(md5.finalize(), Md5::digest(b"abc"));
    }
}
