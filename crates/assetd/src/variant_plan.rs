//! Which variants an image gets and what they are called: pure, no I/O.
//!
//! Webflow makes responsive copies at fixed widths and names them after the original with a
//! `-p-{width}` suffix (`spec/webflow-assets-notes.md` §1.2); assetd does the same, keeping the
//! original's format and aspect ratio and never enlarging. Optionally (`--variant-formats
//! original,webp`, an assetd extension) each width also gets a lossy WebP beside it.

/// The widths Webflow generates, narrowest first.
pub const WEBFLOW_WIDTHS: [u32; 7] = [500, 800, 1080, 1600, 2000, 2600, 3200];

/// The raster formats that get variants. SVG is vector (any width is already sharp), and the
/// other allowed image types (AVIF, BMP) are passed through without variants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VariantFormat {
    /// PNG, lossless.
    Png,
    /// JPEG, re-encoded at [`JPEG_QUALITY`].
    Jpeg,
    /// WebP, lossless (the encoder the `image` crate ships).
    WebP,
    /// GIF: the first frame of an animation.
    Gif,
}

/// The JPEG quality of variants: visually lossless for photographs at a fraction of the size.
pub const JPEG_QUALITY: u8 = 85;

impl VariantFormat {
    /// The format of an asset with this Content-Type, if it gets variants.
    pub fn from_content_type(content_type: &str) -> Option<Self> {
        match content_type {
            "image/png" => Some(Self::Png),
            "image/jpeg" => Some(Self::Jpeg),
            "image/webp" => Some(Self::WebP),
            "image/gif" => Some(Self::Gif),
            _ => None,
        }
    }

    /// The Content-Types that get variants (for queueing jobs in SQL).
    pub const CONTENT_TYPES: [&'static str; 4] =
        ["image/png", "image/jpeg", "image/webp", "image/gif"];

    /// The `quality` reported for variants of this format (100 for lossless encodings).
    pub fn quality(self) -> u8 {
        match self {
            Self::Jpeg => JPEG_QUALITY,
            Self::Png | Self::WebP | Self::Gif => 100,
        }
    }
}

/// The quality of the optional lossy WebP variants (libwebp's default settings otherwise). A
/// `render` test holds it to SSIM ≥ 0.98 against the same-format (JPEG Q85) variant on a
/// photo-like image with fine grain: 90 gave 0.982–0.986 at 500–1600 px for about half the
/// JPEG's bytes; 85 gave 0.979 and 82 0.978 at 500 px (measured 2026-12-06), so 90 it is.
pub const WEBP_QUALITY: u8 = 90;

/// The `format` a WebP variant reports (and the extension of its key).
pub const WEBP_FORMAT: &str = "webp";

/// Which encodings each width gets: always the original's format (what Webflow makes and the
/// SDKs expect), and a lossy WebP beside it when the operator asks for it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VariantFormats {
    /// A lossy WebP at each width too.
    pub webp: bool,
}

/// One encoding of a variant width.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// The original's format, named `{stem}-p-{width}.{ext}`.
    Original,
    /// A lossy WebP at [`WEBP_QUALITY`], named `{stem}-p-{width}.webp`.
    LossyWebP,
}

impl VariantFormats {
    /// The encodings an image of `format` gets at each width, the original's first. A WebP
    /// original's own variants are already WebP (and a second one would take the same key), so
    /// it gets no other.
    pub fn encodings(self, format: VariantFormat) -> Vec<Encoding> {
        let mut encodings = vec![Encoding::Original];
        if self.webp && format != VariantFormat::WebP {
            encodings.push(Encoding::LossyWebP);
        }
        encodings
    }
}

impl Encoding {
    /// The encoding of a recorded variant of `format` of an asset of `content_type`.
    pub fn of_variant(content_type: &str, format: &str) -> Self {
        let original_is_webp = VariantFormat::from_content_type(content_type)
            .is_some_and(|f| f == VariantFormat::WebP);
        if format == WEBP_FORMAT && !original_is_webp {
            Self::LossyWebP
        } else {
            Self::Original
        }
    }

    /// The key of this encoding's variant of width `width` of the object `original_key`.
    pub fn key(self, original_key: &str, width: u32) -> String {
        match self {
            Self::Original => variant_key(original_key, width),
            Self::LossyWebP => webp_variant_key(original_key, width),
        }
    }

    /// The `originalFileName` of this encoding's variant of width `width`.
    pub fn file_name(self, original_file_name: &str, width: u32) -> String {
        self.key(original_file_name, width)
    }

    /// The `format` the variant reports.
    pub fn format_name(self, original_file_name: &str) -> String {
        match self {
            Self::Original => format_name(original_file_name),
            Self::LossyWebP => WEBP_FORMAT.to_owned(),
        }
    }

    /// The `quality` the variant reports, for an original of `format`.
    pub fn quality(self, format: VariantFormat) -> u8 {
        match self {
            Self::Original => format.quality(),
            Self::LossyWebP => WEBP_QUALITY,
        }
    }

    /// The Content-Type the variant is stored and served with, for an original of
    /// `content_type`.
    pub fn content_type(self, content_type: &str) -> &str {
        match self {
            Self::Original => content_type,
            Self::LossyWebP => "image/webp",
        }
    }
}

/// One variant to make: its width and the height that keeps the original's aspect ratio.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VariantSize {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels (at least 1).
    pub height: u32,
}

/// The variants of a `width`×`height` image: every Webflow width strictly narrower than it.
pub fn sizes(width: u32, height: u32) -> Vec<VariantSize> {
    WEBFLOW_WIDTHS
        .iter()
        .filter(|&&w| w < width)
        .map(|&w| VariantSize {
            width: w,
            height: scaled_height(width, height, w),
        })
        .collect()
}

/// `height * target / width`, rounded to the nearest pixel, at least 1.
fn scaled_height(width: u32, height: u32, target: u32) -> u32 {
    let (width, height, target) = (u64::from(width), u64::from(height), u64::from(target));
    let rounded = (height * target + width / 2) / width.max(1);
    u32::try_from(rounded.max(1)).unwrap_or(u32::MAX)
}

/// The key of the variant of width `width` of the object `original_key`
/// (`{site}/{id}_{stem}.{ext}` → `{site}/{id}_{stem}-p-{width}.{ext}`). A name without an
/// extension gets the suffix at its end.
pub fn variant_key(original_key: &str, width: u32) -> String {
    match split_extension(original_key) {
        (stem, Some(ext)) => format!("{stem}-p-{width}.{ext}"),
        (name, None) => format!("{name}-p-{width}"),
    }
}

/// A key's stem and extension, if its last path segment has one.
fn split_extension(key: &str) -> (&str, Option<&str>) {
    match key.rsplit_once('.') {
        Some((stem, ext)) if !stem.ends_with('/') && !ext.contains('/') => (stem, Some(ext)),
        _ => (key, None),
    }
}

/// The key of the WebP variant of width `width` of the object `original_key`
/// (`{site}/{id}_{stem}.{ext}` → `{site}/{id}_{stem}-p-{width}.webp`): distinct from the
/// same-format variant's whenever the original is not itself a WebP.
pub fn webp_variant_key(original_key: &str, width: u32) -> String {
    let (stem, _) = split_extension(original_key);
    format!("{stem}-p-{width}.{WEBP_FORMAT}")
}

/// The lower-case extension of a file name, which variants report as their `format`.
pub fn format_name(file_name: &str) -> String {
    file_name
        .rsplit_once('.')
        .map(|(_, ext)| ext.to_ascii_lowercase())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_are_webflows_and_narrower_than_the_original() {
        let widths = |w, h| sizes(w, h).iter().map(|s| s.width).collect::<Vec<_>>();
        assert_eq!(widths(4000, 3000), WEBFLOW_WIDTHS.to_vec());
        assert_eq!(widths(1600, 900), vec![500, 800, 1080]);
        assert_eq!(widths(501, 10), vec![500]);
        assert!(widths(500, 500).is_empty());
        assert!(widths(1, 1).is_empty());
    }

    #[test]
    fn heights_keep_the_aspect_ratio_rounded() {
        let four_by_three = sizes(4000, 3000);
        assert_eq!(
            four_by_three[0],
            VariantSize {
                width: 500,
                height: 375
            }
        );
        // 1000×333 → 500 × 166.5 rounds up to 167.
        assert_eq!(sizes(1000, 333)[0].height, 167);
        // A very wide strip never gets a zero height.
        assert_eq!(sizes(100_000, 1)[0].height, 1);
    }

    #[test]
    fn variant_names_put_the_width_before_the_extension() {
        assert_eq!(
            variant_key("s/a_photo.final.JPG", 800),
            "s/a_photo.final-p-800.JPG"
        );
        assert_eq!(variant_key("s/a_noext", 500), "s/a_noext-p-500");
        assert_eq!(
            Encoding::Original.file_name("logo.png", 500),
            "logo-p-500.png"
        );
        assert_eq!(format_name("photo.JPG"), "jpg");
    }

    #[test]
    fn webp_variants_have_their_own_names() {
        assert_eq!(
            webp_variant_key("s/a_photo.final.JPG", 800),
            "s/a_photo.final-p-800.webp"
        );
        assert_eq!(webp_variant_key("s/a_noext", 500), "s/a_noext-p-500.webp");
        assert_eq!(
            webp_variant_key("s.d/a_noext", 500),
            "s.d/a_noext-p-500.webp"
        );
        let key = "s/a_photo.jpg";
        assert_ne!(
            Encoding::LossyWebP.key(key, 500),
            Encoding::Original.key(key, 500)
        );
        assert_eq!(
            Encoding::LossyWebP.file_name("photo.jpg", 500),
            "photo-p-500.webp"
        );
        assert_eq!(Encoding::LossyWebP.format_name("photo.jpg"), "webp");
        assert_eq!(Encoding::LossyWebP.content_type("image/jpeg"), "image/webp");
        assert_eq!(Encoding::Original.content_type("image/jpeg"), "image/jpeg");
    }

    #[test]
    fn webp_is_an_extra_only_when_asked_and_for_other_formats() {
        let off = VariantFormats::default();
        let on = VariantFormats { webp: true };
        assert_eq!(off.encodings(VariantFormat::Jpeg), vec![Encoding::Original]);
        assert_eq!(
            on.encodings(VariantFormat::Png),
            vec![Encoding::Original, Encoding::LossyWebP]
        );
        assert_eq!(on.encodings(VariantFormat::WebP), vec![Encoding::Original]);
        // A recorded row tells its encoding back from its format and the asset's type.
        assert_eq!(
            Encoding::of_variant("image/jpeg", "webp"),
            Encoding::LossyWebP
        );
        assert_eq!(
            Encoding::of_variant("image/jpeg", "jpg"),
            Encoding::Original
        );
        assert_eq!(
            Encoding::of_variant("image/webp", "webp"),
            Encoding::Original
        );
    }

    #[test]
    fn only_raster_formats_get_variants() {
        for ct in VariantFormat::CONTENT_TYPES {
            assert!(VariantFormat::from_content_type(ct).is_some(), "{ct}");
        }
        for ct in [
            "image/svg+xml",
            "image/avif",
            "image/bmp",
            "application/pdf",
        ] {
            assert_eq!(VariantFormat::from_content_type(ct), None, "{ct}");
        }
    }
}
