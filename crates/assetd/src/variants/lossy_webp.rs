//! Lossy WebP encoding: pixels in, bytes out. No I/O, no resizing.
//!
//! The `image` crate's WebP encoder is lossless only, which makes a photograph larger than its
//! JPEG; the optional WebP variants (`--variant-formats original,webp`) exist to be smaller. This
//! goes through libwebp (the `webp` crate over `libwebp-sys`, which builds libwebp from the source
//! it bundles, so a fresh machine needs no system library). Only libwebp's encoder is called:
//! assetd never hands it bytes from a client, only pixels it resized itself.

use webp::{Encoder, PixelLayout};

/// Why a WebP could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebPError {
    /// The pixel buffer does not hold `width` × `height` pixels of the layout (the `webp` crate
    /// would panic on a short one, so it is checked here first).
    #[error("{width}×{height} pixels need {needed} bytes, the buffer has {got}")]
    WrongLength {
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
        /// Bytes the pixels take.
        needed: u64,
        /// Bytes given.
        got: usize,
    },
    /// A picture has no pixels (libwebp refuses one; checked before calling it).
    #[error("a {width}×{height} picture has no pixels")]
    Empty {
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
    },
    /// libwebp refused (e.g. a dimension over its limit of 16383).
    #[error("libwebp: {0}")]
    Encoder(String),
}

/// Encodes 8-bit RGB (or RGBA, with `alpha`) pixels, row after row, as a lossy WebP of
/// `quality` (0–100; libwebp's default effort, method 4). Alpha, when there is one, is kept and
/// compressed losslessly, as `cwebp` does by default.
pub fn encode(
    pixels: &[u8],
    width: u32,
    height: u32,
    alpha: bool,
    quality: u8,
) -> Result<Vec<u8>, WebPError> {
    let layout = if alpha {
        PixelLayout::Rgba
    } else {
        PixelLayout::Rgb
    };
    if width == 0 || height == 0 {
        return Err(WebPError::Empty { width, height });
    }
    let needed = u64::from(width) * u64::from(height) * u64::from(layout.bytes_per_pixel());
    if u64::try_from(pixels.len()).ok() != Some(needed) {
        return Err(WebPError::WrongLength {
            width,
            height,
            needed,
            got: pixels.len(),
        });
    }
    let encoded = Encoder::new(pixels, layout, width, height)
        .encode_simple(false, f32::from(quality.min(100)))
        .map_err(|e| WebPError::Encoder(format!("{e:?}")))?;
    Ok(encoded.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gradient(width: u32, height: u32, channels: u32) -> Vec<u8> {
        (0..width * height * channels)
            .map(|i| u8::try_from(i % 251).unwrap_or(0))
            .collect()
    }

    #[test]
    fn makes_a_webp_an_independent_decoder_reads_at_its_size() {
        for alpha in [false, true] {
            let channels = if alpha { 4 } else { 3 };
            let bytes = encode(&gradient(120, 80, channels), 120, 80, alpha, 82).expect("encode");
            assert_eq!(&bytes[..4], b"RIFF");
            assert_eq!(&bytes[8..12], b"WEBP");
            let back = image::load_from_memory_with_format(&bytes, image::ImageFormat::WebP)
                .expect("the image crate decodes it");
            assert_eq!((back.width(), back.height()), (120, 80));
            assert_eq!(back.color().has_alpha(), alpha);
        }
    }

    #[test]
    fn refuses_a_buffer_of_the_wrong_length() {
        assert_eq!(
            encode(&[0; 10], 2, 2, false, 80),
            Err(WebPError::WrongLength {
                width: 2,
                height: 2,
                needed: 12,
                got: 10
            })
        );
        assert_eq!(
            encode(&[], 0, 3, false, 80),
            Err(WebPError::Empty {
                width: 0,
                height: 3
            })
        );
    }
}
