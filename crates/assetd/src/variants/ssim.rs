//! SSIM (Wang, Bovik, Sheikh & Simoncelli, 2004) over luma, for the tests that hold the WebP
//! variants' quality: the mean of the index over 8×8 windows stepped by 4 pixels, with the
//! paper's constants (K1 = 0.01, K2 = 0.03, L = 255). Test code only.

use image::RgbImage;

const WINDOW: u32 = 8;
const STEP: u32 = 4;
const C1: f64 = (0.01 * 255.0) * (0.01 * 255.0);
const C2: f64 = (0.03 * 255.0) * (0.03 * 255.0);

/// BT.601 luma of each pixel, row after row.
fn luma(image: &RgbImage) -> Vec<f64> {
    image
        .pixels()
        .map(|p| {
            let [r, g, b] = p.0.map(f64::from);
            0.299 * r + 0.587 * g + 0.114 * b
        })
        .collect()
}

/// The SSIM index of one window from its statistics (population variances).
fn index(mean_a: f64, mean_b: f64, var_a: f64, var_b: f64, covariance: f64) -> f64 {
    ((2.0 * mean_a * mean_b + C1) * (2.0 * covariance + C2))
        / ((mean_a * mean_a + mean_b * mean_b + C1) * (var_a + var_b + C2))
}

/// The mean SSIM of two images of the same size (at least 8×8): 1 for identical images, lower
/// the more their local structure, contrast and brightness differ.
pub fn ssim(a: &RgbImage, b: &RgbImage) -> f64 {
    assert_eq!(
        a.dimensions(),
        b.dimensions(),
        "SSIM needs images of one size"
    );
    let (width, height) = a.dimensions();
    assert!(width >= WINDOW && height >= WINDOW, "smaller than a window");
    let (la, lb) = (luma(a), luma(b));
    let at = |plane: &[f64], x: u32, y: u32| plane[(y * width + x) as usize];
    let n = f64::from(WINDOW * WINDOW);
    let (mut total, mut windows) = (0.0, 0u32);
    for y0 in (0..=height - WINDOW).step_by(STEP as usize) {
        for x0 in (0..=width - WINDOW).step_by(STEP as usize) {
            let (mut sa, mut sb, mut saa, mut sbb, mut sab) = (0.0, 0.0, 0.0, 0.0, 0.0);
            for y in y0..y0 + WINDOW {
                for x in x0..x0 + WINDOW {
                    let (va, vb) = (at(&la, x, y), at(&lb, x, y));
                    sa += va;
                    sb += vb;
                    saa += va * va;
                    sbb += vb * vb;
                    sab += va * vb;
                }
            }
            let (ma, mb) = (sa / n, sb / n);
            total += index(
                ma,
                mb,
                saa / n - ma * ma,
                sbb / n - mb * mb,
                sab / n - ma * mb,
            );
            windows += 1;
        }
    }
    total / f64::from(windows)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pixels alternating between two greys, like a chessboard.
    fn checkerboard(low: u8, high: u8) -> RgbImage {
        RgbImage::from_fn(64, 48, |x, y| {
            let v = if (x + y) % 2 == 0 { low } else { high };
            image::Rgb([v, v, v])
        })
    }

    #[test]
    fn identical_images_score_one() {
        let image = checkerboard(0, 200);
        assert!((ssim(&image, &image) - 1.0).abs() < 1e-9);
    }

    #[test]
    fn matches_the_formula_on_known_distortions() {
        // Every window of a pixel checkerboard has mean 100 and variance 100² (0/200), or
        // variance 50² and covariance 100·50 (50/150): half the contrast, same brightness, so
        // SSIM = (2·5000 + C2) / (10000 + 2500 + C2) ≈ 0.801.
        let half_contrast = ssim(&checkerboard(0, 200), &checkerboard(50, 150));
        let expected = (10_000.0 + C2) / (12_500.0 + C2);
        assert!((half_contrast - expected).abs() < 1e-6, "{half_contrast}");
        // Against flat grey of the same mean only the brightness term is left:
        // SSIM = C2 / (10000 + C2) ≈ 0.0058.
        let flat = ssim(&checkerboard(0, 200), &checkerboard(100, 100));
        let expected = C2 / (10_000.0 + C2);
        assert!((flat - expected).abs() < 1e-6, "{flat}");
        // Inverted structure correlates negatively.
        assert!(ssim(&checkerboard(0, 200), &checkerboard(200, 0)) < 0.0);
    }
}
