//! Making variants: decode once, resize to each width, encode in the original's format (and, when
//! asked, as a lossy WebP too, from the same resized pixels). Pure CPU work on bytes in memory,
//! no I/O, so it runs on the blocking pool and is benchmarked alone.
//!
//! Decompression bombs are refused before any pixel is decoded: the header's dimensions are
//! checked against a pixel limit first, and the decoder also gets an allocation limit in case a
//! format's header understates what decoding allocates.

use std::io::Cursor;

use fast_image_resize::images::Image;
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::metadata::Orientation;
use image::{
    DynamicImage, ExtendedColorType, ImageDecoder, ImageEncoder, ImageFormat, ImageReader, Limits,
};

use super::lossy_webp;
use super::plan::{Encoding, JPEG_QUALITY, VariantFormat, VariantSize, WEBP_QUALITY};

/// Why a variant (or every variant of an image) could not be made. The text is what the asset's
/// `variants[].error` says.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// The bytes are not a readable image of the asset's format.
    #[error("cannot decode the image: {0}")]
    Decode(String),
    /// The image has more pixels than the service decodes (a decompression bomb, or simply too
    /// large).
    #[error("the image has {pixels} pixels, more than the limit of {limit}")]
    TooManyPixels {
        /// width × height of the original.
        pixels: u64,
        /// The configured limit.
        limit: u64,
    },
    /// Resizing failed.
    #[error("cannot resize the image: {0}")]
    Resize(String),
    /// Encoding the variant failed.
    #[error("cannot encode the variant: {0}")]
    Encode(String),
}

/// A variant's encoded bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedVariant {
    /// Its size in pixels.
    pub size: VariantSize,
    /// How it is encoded.
    pub encoding: Encoding,
    /// The encoded file.
    pub bytes: Vec<u8>,
}

fn image_format(format: VariantFormat) -> ImageFormat {
    match format {
        VariantFormat::Png => ImageFormat::Png,
        VariantFormat::Jpeg => ImageFormat::Jpeg,
        VariantFormat::WebP => ImageFormat::WebP,
        VariantFormat::Gif => ImageFormat::Gif,
    }
}

fn reader(bytes: &[u8], format: VariantFormat) -> ImageReader<Cursor<&[u8]>> {
    ImageReader::with_format(Cursor::new(bytes), image_format(format))
}

/// The image's width and height as displayed, read from its header only: a photo whose EXIF
/// orientation turns it by a quarter has its width and height swapped.
pub fn dimensions(bytes: &[u8], format: VariantFormat) -> Result<(u32, u32), RenderError> {
    let mut decoder = reader(bytes, format)
        .into_decoder()
        .map_err(|e| RenderError::Decode(e.to_string()))?;
    let (width, height) = decoder.dimensions();
    Ok(if turns_a_quarter(orientation(&mut decoder)) {
        (height, width)
    } else {
        (width, height)
    })
}

/// The EXIF orientation; a missing or unreadable one means none (as browsers treat it).
fn orientation(decoder: &mut impl ImageDecoder) -> Orientation {
    decoder.orientation().unwrap_or(Orientation::NoTransforms)
}

fn turns_a_quarter(orientation: Orientation) -> bool {
    matches!(
        orientation,
        Orientation::Rotate90
            | Orientation::Rotate270
            | Orientation::Rotate90FlipH
            | Orientation::Rotate270FlipH
    )
}

/// Refuses an image of more than `max_pixels` pixels.
pub fn check_pixels(width: u32, height: u32, max_pixels: u64) -> Result<(), RenderError> {
    let pixels = u64::from(width) * u64::from(height);
    if pixels > max_pixels {
        return Err(RenderError::TooManyPixels {
            pixels,
            limit: max_pixels,
        });
    }
    Ok(())
}

/// Decodes the image (the first frame of an animation) within `max_pixels`, turned upright by
/// its EXIF orientation: browsers show photos upright, so their variants must be too (variants
/// are encoded without the EXIF block that would turn them).
pub fn decode(
    bytes: &[u8],
    format: VariantFormat,
    max_pixels: u64,
) -> Result<DynamicImage, RenderError> {
    let (width, height) = dimensions(bytes, format)?;
    check_pixels(width, height, max_pixels)?;
    let mut limits = Limits::default();
    // 8 bytes a pixel covers 16-bit RGBA, the widest layout these decoders produce.
    limits.max_alloc = Some(max_pixels.saturating_mul(8).saturating_add(1 << 20));
    let mut reader = reader(bytes, format);
    reader.limits(limits);
    let decode_error = |e: image::ImageError| RenderError::Decode(e.to_string());
    let mut decoder = reader.into_decoder().map_err(decode_error)?;
    let orientation = orientation(&mut decoder);
    let mut image = DynamicImage::from_decoder(decoder).map_err(decode_error)?;
    image.apply_orientation(orientation);
    Ok(image)
}

/// Makes each of `sizes` from `original` (of `format`), in each of `encodings`: size by size, each
/// size's encodings in the order given, all from one resize. One failed variant does not stop the
/// others.
pub fn render(
    original: &DynamicImage,
    format: VariantFormat,
    encodings: &[Encoding],
    sizes: &[VariantSize],
) -> Vec<Result<RenderedVariant, RenderError>> {
    // JPEG has no alpha; the other formats keep it when the original has it.
    let (pixels, pixel_type, color) =
        if original.color().has_alpha() && format != VariantFormat::Jpeg {
            (
                original.to_rgba8().into_raw(),
                PixelType::U8x4,
                ExtendedColorType::Rgba8,
            )
        } else {
            (
                original.to_rgb8().into_raw(),
                PixelType::U8x3,
                ExtendedColorType::Rgb8,
            )
        };
    let source = match Image::from_vec_u8(original.width(), original.height(), pixels, pixel_type) {
        Ok(source) => source,
        Err(e) => {
            let error = RenderError::Resize(e.to_string());
            return (0..sizes.len() * encodings.len())
                .map(|_| Err(error.clone()))
                .collect();
        }
    };
    let mut resizer = Resizer::new();
    // Lanczos3, the filter image editors use for downscaling photographs; alpha is
    // premultiplied during the resize so transparent edges do not darken.
    let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3));
    let mut rendered = Vec::with_capacity(sizes.len() * encodings.len());
    for &size in sizes {
        let mut target = Image::new(size.width, size.height, pixel_type);
        let resized = resizer
            .resize(&source, &mut target, &options)
            .map_err(|e| RenderError::Resize(e.to_string()));
        rendered.extend(encodings.iter().map(|&encoding| {
            resized.clone()?;
            let bytes = match encoding {
                Encoding::Original => encode(target.buffer(), size, color, format)?,
                Encoding::LossyWebP => lossy_webp::encode(
                    target.buffer(),
                    size.width,
                    size.height,
                    color == ExtendedColorType::Rgba8,
                    WEBP_QUALITY,
                )
                .map_err(|e| RenderError::Encode(e.to_string()))?,
            };
            Ok(RenderedVariant {
                size,
                encoding,
                bytes,
            })
        }));
    }
    rendered
}

/// Encodes in the original's format.
fn encode(
    pixels: &[u8],
    size: VariantSize,
    color: ExtendedColorType,
    format: VariantFormat,
) -> Result<Vec<u8>, RenderError> {
    let mut out = Vec::new();
    let (w, h) = (size.width, size.height);
    let encoded = match format {
        VariantFormat::Png => {
            image::codecs::png::PngEncoder::new(&mut out).write_image(pixels, w, h, color)
        }
        VariantFormat::Jpeg => {
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, JPEG_QUALITY)
                .write_image(pixels, w, h, color)
        }
        VariantFormat::WebP => image::codecs::webp::WebPEncoder::new_lossless(&mut out)
            .write_image(pixels, w, h, color),
        VariantFormat::Gif => {
            // The GIF encoder quantises RGBA frames.
            let rgba;
            let frame = if color == ExtendedColorType::Rgba8 {
                pixels
            } else {
                rgba = rgb_to_rgba(pixels);
                &rgba
            };
            image::codecs::gif::GifEncoder::new(&mut out).encode(
                frame,
                w,
                h,
                ExtendedColorType::Rgba8,
            )
        }
    };
    encoded.map_err(|e| RenderError::Encode(e.to_string()))?;
    Ok(out)
}

fn rgb_to_rgba(rgb: &[u8]) -> Vec<u8> {
    let mut rgba = Vec::with_capacity(rgb.len() / 3 * 4);
    for pixel in rgb.chunks_exact(3) {
        rgba.extend_from_slice(pixel);
        rgba.push(u8::MAX);
    }
    rgba
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::variant_plan::sizes;

    fn encoded(format: ImageFormat, width: u32, height: u32, alpha: bool) -> Vec<u8> {
        let image = if alpha {
            DynamicImage::ImageRgba8(image::RgbaImage::from_fn(width, height, |x, y| {
                image::Rgba([
                    (x % 256) as u8,
                    (y % 256) as u8,
                    128,
                    if x < width / 2 { 0 } else { 255 },
                ])
            }))
        } else {
            DynamicImage::ImageRgb8(image::RgbImage::from_fn(width, height, |x, y| {
                image::Rgb([(x % 256) as u8, (y % 256) as u8, 64])
            }))
        };
        let mut out = Cursor::new(Vec::new());
        image.write_to(&mut out, format).expect("encode test image");
        out.into_inner()
    }

    #[test]
    fn each_format_round_trips_at_the_planned_sizes() {
        for (format, image_format, alpha) in [
            (VariantFormat::Png, ImageFormat::Png, true),
            (VariantFormat::Jpeg, ImageFormat::Jpeg, false),
            (VariantFormat::WebP, ImageFormat::WebP, true),
            (VariantFormat::Gif, ImageFormat::Gif, true),
        ] {
            let bytes = encoded(image_format, 1200, 900, alpha);
            let original = decode(&bytes, format, 10_000_000).expect("decode");
            let planned = sizes(original.width(), original.height());
            let rendered = render(&original, format, &[Encoding::Original], &planned);
            assert_eq!(rendered.len(), 3, "{format:?}");
            for (variant, size) in rendered.into_iter().zip(&planned) {
                let variant = variant.expect("rendered");
                let back = image::load_from_memory_with_format(&variant.bytes, image_format)
                    .expect("variant decodes in its own format");
                assert_eq!(
                    (back.width(), back.height()),
                    (size.width, size.height),
                    "{format:?}"
                );
                assert_eq!(
                    back.color().has_alpha(),
                    alpha && format != VariantFormat::Jpeg || format == VariantFormat::Gif,
                    "{format:?}"
                );
            }
        }
    }

    /// A deterministic photo-like picture: smooth gradients and broad waves, cloudy value noise at
    /// two scales, fine grain, and a few hard-edged shapes (a flat colour would flatter any
    /// codec).
    fn photo_like(width: u32, height: u32) -> image::RgbImage {
        fn hash(x: u32, y: u32, seed: u32) -> f32 {
            let mut h = x
                .wrapping_mul(0x9E37_79B1)
                .wrapping_add(y.wrapping_mul(0x85EB_CA77))
                .wrapping_add(seed.wrapping_mul(0xC2B2_AE3D));
            h ^= h >> 15;
            h = h.wrapping_mul(0x2C1B_3C6D);
            h ^= h >> 12;
            (h & 0xFFFF) as f32 / 65535.0
        }
        // Bilinear value noise on a grid of `cell` pixels, in 0..1.
        fn noise(x: u32, y: u32, cell: u32, seed: u32) -> f32 {
            let (gx, gy) = (x / cell, y / cell);
            let (fx, fy) = (
                (x % cell) as f32 / cell as f32,
                (y % cell) as f32 / cell as f32,
            );
            let (fx, fy) = (fx * fx * (3.0 - 2.0 * fx), fy * fy * (3.0 - 2.0 * fy));
            let top = hash(gx, gy, seed) * (1.0 - fx) + hash(gx + 1, gy, seed) * fx;
            let bottom = hash(gx, gy + 1, seed) * (1.0 - fx) + hash(gx + 1, gy + 1, seed) * fx;
            top * (1.0 - fy) + bottom * fy
        }
        image::RgbImage::from_fn(width, height, |x, y| {
            let (u, v) = (x as f32 / width as f32, y as f32 / height as f32);
            let waves = (u * 9.0).sin() * (v * 6.0 + u * 2.0).cos();
            let channel = |c: u32, tint: f32| {
                let base = 40.0 + 150.0 * (tint * u + (1.0 - tint) * v) + 30.0 * waves;
                let clouds =
                    50.0 * (noise(x, y, 160, c) - 0.5) + 25.0 * (noise(x, y, 23, c + 7) - 0.5);
                let grain = 12.0 * (hash(x, y, c + 13) - 0.5);
                let mut value = base + clouds + grain;
                // A dark disc and a bright bar: hard edges.
                let (dx, dy) = (u - 0.3, (v - 0.6) * height as f32 / width as f32);
                if dx * dx + dy * dy < 0.012 {
                    value = 30.0 + 20.0 * noise(x, y, 9, c + 21);
                }
                if (0.62..0.7).contains(&u) && v > 0.15 {
                    value = 220.0 - 40.0 * tint;
                }
                value.clamp(0.0, 255.0) as u8
            };
            image::Rgb([channel(0, 0.8), channel(1, 0.5), channel(2, 0.2)])
        })
    }

    #[test]
    fn webp_variants_keep_ssim_of_098_against_the_same_format_variant_on_a_photo() {
        // The upload: a photo-like JPEG at quality 90, as a camera or an export would make it.
        let mut upload = Cursor::new(Vec::new());
        DynamicImage::ImageRgb8(photo_like(2000, 1500))
            .write_to(&mut upload, ImageFormat::Jpeg)
            .expect("encode the upload");
        let original = decode(upload.get_ref(), VariantFormat::Jpeg, 10_000_000).expect("decode");
        let planned = sizes(original.width(), original.height());
        assert_eq!(planned.len(), 4);
        let encodings = [Encoding::Original, Encoding::LossyWebP];
        let rendered = render(&original, VariantFormat::Jpeg, &encodings, &planned);
        assert_eq!(rendered.len(), planned.len() * 2);
        let (mut jpeg_bytes, mut webp_bytes) = (0, 0);
        for (pair, size) in rendered.chunks_exact(2).zip(&planned) {
            let [Ok(jpeg), Ok(webp)] = pair else {
                panic!("rendered {pair:?}");
            };
            assert_eq!((jpeg.encoding, webp.encoding), (encodings[0], encodings[1]));
            // Decoded by the `image` crate's own WebP decoder, independent of libwebp.
            let same = image::load_from_memory_with_format(&jpeg.bytes, ImageFormat::Jpeg)
                .expect("JPEG decodes")
                .to_rgb8();
            let lossy = image::load_from_memory_with_format(&webp.bytes, ImageFormat::WebP)
                .expect("WebP decodes")
                .to_rgb8();
            assert_eq!(lossy.dimensions(), (size.width, size.height));
            let score = super::super::ssim::ssim(&same, &lossy);
            println!(
                "{}px: SSIM {score:.4}, JPEG {} B, WebP {} B",
                size.width,
                jpeg.bytes.len(),
                webp.bytes.len()
            );
            assert!(score >= 0.98, "{}px: SSIM {score}", size.width);
            jpeg_bytes += jpeg.bytes.len();
            webp_bytes += webp.bytes.len();
        }
        // The point of them: smaller than the JPEGs they sit beside.
        assert!(
            webp_bytes < jpeg_bytes,
            "WebP {webp_bytes} B, JPEG {jpeg_bytes} B"
        );
    }

    #[test]
    fn webp_variants_of_a_png_keep_its_alpha() {
        let bytes = encoded(ImageFormat::Png, 1200, 900, true);
        let original = decode(&bytes, VariantFormat::Png, 10_000_000).expect("decode");
        let planned = sizes(original.width(), original.height());
        let rendered = render(
            &original,
            VariantFormat::Png,
            &[Encoding::LossyWebP],
            &planned,
        );
        assert_eq!(rendered.len(), planned.len());
        for (variant, size) in rendered.into_iter().zip(&planned) {
            let variant = variant.expect("rendered");
            let back = image::load_from_memory_with_format(&variant.bytes, ImageFormat::WebP)
                .expect("decodes");
            assert_eq!((back.width(), back.height()), (size.width, size.height));
            assert!(back.color().has_alpha());
        }
    }

    /// A JPEG whose EXIF orientation is 6: stored landscape, shown turned a quarter clockwise.
    fn jpeg_turned_a_quarter(width: u32, height: u32) -> Vec<u8> {
        let image = DynamicImage::ImageRgb8(image::RgbImage::from_fn(width, height, |x, _| {
            if x < width / 2 {
                image::Rgb([255, 0, 0])
            } else {
                image::Rgb([0, 0, 255])
            }
        }));
        let jpeg = {
            let mut out = Cursor::new(Vec::new());
            image.write_to(&mut out, ImageFormat::Jpeg).expect("encode");
            out.into_inner()
        };
        // APP1 "Exif": a little-endian TIFF header and one IFD entry, Orientation (0x0112) = 6.
        let mut exif = vec![0xFF, 0xE1, 0x00, 34];
        exif.extend_from_slice(b"Exif\0\0II*\0\x08\0\0\0\x01\0");
        exif.extend_from_slice(&[0x12, 0x01, 3, 0, 1, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0, 0]);
        let mut out = jpeg[..2].to_vec();
        out.extend_from_slice(&exif);
        out.extend_from_slice(&jpeg[2..]);
        out
    }

    #[test]
    fn photos_are_turned_upright_by_their_exif_orientation() {
        let bytes = jpeg_turned_a_quarter(1200, 600);
        assert_eq!(dimensions(&bytes, VariantFormat::Jpeg), Ok((600, 1200)));
        let upright = decode(&bytes, VariantFormat::Jpeg, 10_000_000).expect("decode");
        assert_eq!((upright.width(), upright.height()), (600, 1200));
        // The stored left half (red) is now the top half.
        let rgb = upright.to_rgb8();
        assert!(
            rgb.get_pixel(300, 100).0[0] > 200,
            "{:?}",
            rgb.get_pixel(300, 100)
        );
        assert!(
            rgb.get_pixel(300, 1100).0[2] > 200,
            "{:?}",
            rgb.get_pixel(300, 1100)
        );
        let planned = sizes(upright.width(), upright.height());
        assert_eq!(
            planned,
            vec![VariantSize {
                width: 500,
                height: 1000
            }]
        );
        let variant = render(
            &upright,
            VariantFormat::Jpeg,
            &[Encoding::Original],
            &planned,
        )
        .remove(0)
        .expect("rendered");
        let back = image::load_from_memory_with_format(&variant.bytes, ImageFormat::Jpeg)
            .expect("decodes");
        assert_eq!((back.width(), back.height()), (500, 1000));
    }

    #[test]
    fn refuses_images_over_the_pixel_limit_from_the_header() {
        let bytes = encoded(ImageFormat::Png, 100, 100, false);
        assert_eq!(dimensions(&bytes, VariantFormat::Png), Ok((100, 100)));
        assert_eq!(
            check_pixels(100, 100, 9_999),
            Err(RenderError::TooManyPixels {
                pixels: 10_000,
                limit: 9_999
            })
        );
        assert_eq!(check_pixels(100, 100, 10_000), Ok(()));
        assert!(matches!(
            decode(&bytes, VariantFormat::Png, 9_999),
            Err(RenderError::TooManyPixels { .. })
        ));
    }

    #[test]
    fn garbage_and_the_wrong_format_are_decode_errors() {
        assert!(matches!(
            decode(b"not an image", VariantFormat::Png, 1_000_000),
            Err(RenderError::Decode(_))
        ));
        let jpeg = encoded(ImageFormat::Jpeg, 10, 10, false);
        assert!(matches!(
            decode(&jpeg, VariantFormat::Png, 1_000_000),
            Err(RenderError::Decode(_))
        ));
        let mut truncated = encoded(ImageFormat::Png, 600, 400, false);
        truncated.truncate(truncated.len() / 2);
        assert!(matches!(
            decode(&truncated, VariantFormat::Png, 1_000_000),
            Err(RenderError::Decode(_))
        ));
    }
}
