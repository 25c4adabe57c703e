//! Rasterising: the pixel spans of a triangle (each pixel centre inside it exactly once, shared
//! edges without gaps), bilinear sampling, and `Lanes`, the skin pass's fixed-point sampler that
//! does a row's three channels in one 64-bit word.

#[inline]
pub(super) fn sample(img: &[u8], w: usize, h: usize, x: f32, y: f32) -> [f32; 3] {
    let xf = (x - 0.5).clamp(0.0, (w - 1) as f32);
    let yf = (y - 0.5).clamp(0.0, (h - 1) as f32);
    let x0 = xf as usize;
    let y0 = yf as usize;
    let x1 = (x0 + 1).min(w - 1);
    let y1 = (y0 + 1).min(h - 1);
    let fx = xf - x0 as f32;
    let fy = yf - y0 as f32;
    let i00 = (y0 * w + x0) * 3;
    let i10 = (y0 * w + x1) * 3;
    let i01 = (y1 * w + x0) * 3;
    let i11 = (y1 * w + x1) * 3;
    let mut out = [0.0; 3];
    for c in 0..3 {
        let top = img[i00 + c] as f32 + (img[i10 + c] as f32 - img[i00 + c] as f32) * fx;
        let bot = img[i01 + c] as f32 + (img[i11 + c] as f32 - img[i01 + c] as f32) * fx;
        out[c] = top + (bot - top) * fy;
    }
    out
}

#[inline]
pub(super) fn put(frame: &mut [u8], w: usize, x: usize, y: usize, c: [f32; 3]) {
    let i = (y * w + x) * 3;
    frame[i] = c[0].clamp(0.0, 255.0) as u8;
    frame[i + 1] = c[1].clamp(0.0, 255.0) as u8;
    frame[i + 2] = c[2].clamp(0.0, 255.0) as u8;
}

pub(super) fn mix(a: [f32; 3], b: [f32; 3], t: f32) -> [f32; 3] {
    [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t]
}

/// Calls `f(y, lo, hi, l1, l2, d1, d2)` for each row `y` of triangle (a, b, c) with the run of
/// pixel centres `lo..=hi` inside it: (l1, l2) are the barycentric weights of b and c at pixel
/// `lo`, and they grow by (d1, d2) per pixel to the right. A pixel centre is inside when
/// l1, l2 ≥ 0 and l1 + l2 ≤ 1, each with a hair of slack, so centres on an edge belong to both
/// sides: no gaps. Each row's run is solved from the three edge equations (a row crosses a
/// triangle in one run), not found by testing every pixel of the bounding box.
#[inline]
#[allow(clippy::type_complexity)]
pub(super) fn spans(w: usize, h: usize, a: [f32; 2], b: [f32; 2], c: [f32; 2], mut f: impl FnMut(usize, usize, usize, f32, f32, f32, f32)) {
    let area = (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]);
    // Degenerate, or not a number (a vertex pushed to infinity): nothing to draw.
    if !(area.abs() >= 1e-6 && area.is_finite()) {
        return;
    }
    let inv = 1.0 / area;
    // Non-negative before the casts, so truncation is floor.
    let x0 = a[0].min(b[0]).min(c[0]).max(0.0) as usize;
    let y0 = a[1].min(b[1]).min(c[1]).max(0.0) as usize;
    let x1 = (a[0].max(b[0]).max(c[0]) + 1.0).min(w as f32) as isize - 1;
    let y1 = (a[1].max(b[1]).max(c[1]) + 1.0).min(h as f32) as isize - 1;
    if x1 < x0 as isize || y1 < y0 as isize {
        return;
    }
    let (x1, y1) = (x1 as usize, y1 as usize);
    // l1 = ((p - a) × (c - a)) / area, l2 = ((b - a) × (p - a)) / area: affine in p. At the
    // centre of pixel (x, y): l = k + kx·x + ky·y.
    let (d1x, d1y) = ((c[1] - a[1]) * inv, -(c[0] - a[0]) * inv);
    let (d2x, d2y) = (-(b[1] - a[1]) * inv, (b[0] - a[0]) * inv);
    let k1 = (0.5 - a[0]) * d1x + (0.5 - a[1]) * d1y;
    let k2 = (0.5 - a[0]) * d2x + (0.5 - a[1]) * d2y;
    const SLACK: f32 = 1e-5;
    let edges = [(k1 + SLACK, d1x, d1y), (k2 + SLACK, d2x, d2y), (1.0 + SLACK - k1 - k2, -d1x - d2x, -d1y - d2y)];
    let recip = edges.map(|(_, kx, _)| if kx != 0.0 { 1.0 / kx } else { 0.0 });
    for y in y0..=y1 {
        let (mut lo, mut hi) = (x0 as f32, x1 as f32);
        for ((k, kx, ky), r) in edges.iter().zip(recip) {
            // k + ky·y + kx·x ≥ 0 bounds x from one side.
            let v = k + ky * y as f32;
            if *kx > 0.0 {
                lo = lo.max(-v * r);
            } else if *kx < 0.0 {
                hi = hi.min(-v * r);
            } else if v < 0.0 {
                hi = -1.0;
            }
        }
        if hi < lo {
            continue;
        }
        // lo ≥ x0 ≥ 0 and hi ≥ lo: truncation is floor; ceil(lo) by hand (no libm call).
        let first = lo as usize + ((lo as usize as f32) < lo) as usize;
        let last = hi as usize;
        if first > last {
            continue;
        }
        let (xf, yf) = (first as f32, y as f32);
        f(y, first, last, k1 + d1x * xf + d1y * yf, k2 + d2x * xf + d2y * yf, d1x, d2x);
    }
}

/// Calls `f(x, y, l1, l2)` for every pixel centre inside triangle (a, b, c), with (l1, l2) the
/// barycentric weights of b and c (see `spans`).
#[inline]
pub(super) fn raster(w: usize, h: usize, a: [f32; 2], b: [f32; 2], c: [f32; 2], mut f: impl FnMut(usize, usize, f32, f32)) {
    spans(w, h, a, b, c, |y, lo, hi, l1, l2, d1, d2| {
        for x in lo..=hi {
            let t = (x - lo) as f32;
            f(x, y, l1 + d1 * t, l2 + d2 * t);
        }
    });
}

/// The portrait for the skin warp: each pixel's channels in 21-bit lanes of one u64
/// (R | G << 21 | B << 42), plus one padding column and row repeating the edge, so that a
/// bilinear tap is four loads and six multiplications for all three channels together, and its
/// second column and row never need clamping. Weights have `FRAC` bits per axis (1/64 pixel; OpenCV's
/// `remap` uses 1/32): 255 · 64 · 64 plus rounding stays below 2^21, so lanes never carry.
pub(super) struct Lanes {
    px: Vec<u64>,
    stride: usize,
    max_x: f32,
    max_y: f32,
}

const FRAC: u32 = 6;
const ONE: u64 = 1 << FRAC;
const LANE: u32 = 21;
const HALF: u64 = (1 << (2 * FRAC - 1)) * (1 | 1 << LANE | 1 << (2 * LANE));

impl Lanes {
    pub(super) fn of(img: &[u8], w: usize, h: usize) -> Lanes {
        let stride = w + 1;
        let mut px = Vec::with_capacity(stride * (h + 1));
        for y in 0..=h {
            let row = &img[y.min(h - 1) * w * 3..][..w * 3];
            px.extend(row.chunks_exact(3).map(|p| p[0] as u64 | (p[1] as u64) << LANE | (p[2] as u64) << (2 * LANE)));
            let edge = px[px.len() - 1];
            px.push(edge);
        }
        Lanes { px, stride, max_x: (w - 1) as f32, max_y: (h - 1) as f32 }
    }

    /// A row of bilinear samples into `out` (RGB24): the first at (x, y) in pixel units (pixel
    /// centres at +0.5), each next one (dx, dy) further on; clamped to the edge. The position
    /// steps in 16.16 fixed point (over a 512-pixel row the rounding adds up to < 0.01 pixel) and
    /// is rounded to 1/64 pixel for the weights.
    #[inline(always)]
    pub(super) fn row(&self, x: f32, y: f32, dx: f32, dy: f32, out: &mut [u8]) {
        const FIX: f32 = 65536.0;
        // Half a weight step added once: the weights below truncate, so this rounds to the nearest.
        const ROUND: i64 = 1 << (15 - FRAC);
        let (mut px, mut py) = (((x - 0.5) * FIX) as i64 + ROUND, ((y - 0.5) * FIX) as i64 + ROUND);
        let (sx, sy) = ((dx * FIX) as i64, (dy * FIX) as i64);
        let (mx, my) = ((self.max_x * FIX) as i64, (self.max_y * FIX) as i64);
        let m = (1u64 << 8) - 1;
        for o in out.chunks_exact_mut(3) {
            let (cx, cy) = (px.clamp(0, mx) as usize, py.clamp(0, my) as usize);
            px += sx;
            py += sy;
            let (fx, fy) = ((cx >> (16 - FRAC)) as u64 & (ONE - 1), (cy >> (16 - FRAC)) as u64 & (ONE - 1));
            let i = (cy >> 16) * self.stride + (cx >> 16);
            // One bounds check for the four taps: the block from the top-left to the bottom-right.
            let q = &self.px[i..i + self.stride + 2];
            let (t0, t1, b0, b1) = (q[0], q[1], q[self.stride], q[self.stride + 1]);
            let acc = (t0 * (ONE - fx) + t1 * fx) * (ONE - fy) + (b0 * (ONE - fx) + b1 * fx) * fy + HALF;
            o[0] = (acc >> (2 * FRAC) & m) as u8;
            o[1] = (acc >> (LANE + 2 * FRAC) & m) as u8;
            o[2] = (acc >> (2 * LANE + 2 * FRAC) & m) as u8;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator for test triangles and images.
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> f32 {
            self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (self.0 >> 40) as f32 / (1u64 << 24) as f32
        }
    }

    fn covered(w: usize, h: usize, a: [f32; 2], b: [f32; 2], c: [f32; 2]) -> Vec<u8> {
        let mut hits = vec![0u8; w * h];
        raster(w, h, a, b, c, |x, y, _, _| hits[y * w + x] += 1);
        hits
    }

    /// Barycentric weights of the centre of pixel (x, y), in f64.
    fn bary(a: [f32; 2], b: [f32; 2], c: [f32; 2], x: usize, y: usize) -> [f64; 3] {
        let p = [x as f64 + 0.5, y as f64 + 0.5];
        let [a, b, c] = [a, b, c].map(|v| [v[0] as f64, v[1] as f64]);
        let area = (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]);
        let l1 = ((p[0] - a[0]) * (c[1] - a[1]) - (p[1] - a[1]) * (c[0] - a[0])) / area;
        let l2 = ((b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0])) / area;
        [1.0 - l1 - l2, l1, l2]
    }

    #[test]
    fn a_triangle_covers_the_pixel_centres_inside_it_once_and_no_others() {
        let (w, h) = (48, 40);
        let mut r = Lcg(7);
        for _ in 0..400 {
            let mut p = || [r.next() * 60.0 - 6.0, r.next() * 52.0 - 6.0];
            let (a, b, c) = (p(), p(), p());
            let hits = covered(w, h, a, b, c);
            for y in 0..h {
                for x in 0..w {
                    let l = bary(a, b, c, x, y);
                    let min = l.iter().copied().fold(f64::INFINITY, f64::min);
                    let n = hits[y * w + x];
                    assert!(n <= 1, "pixel ({x}, {y}) drawn {n} times");
                    if min > 1e-3 {
                        assert_eq!(n, 1, "pixel ({x}, {y}) inside {a:?} {b:?} {c:?} not drawn");
                    } else if min < -1e-3 {
                        assert_eq!(n, 0, "pixel ({x}, {y}) outside {a:?} {b:?} {c:?} drawn");
                    }
                }
            }
        }
    }

    #[test]
    fn a_degenerate_or_broken_triangle_draws_nothing() {
        for (a, b, c) in [
            ([3.0, 3.0], [10.0, 10.0], [20.0, 20.0]),
            ([f32::NAN, 3.0], [10.0, 1.0], [2.0, 20.0]),
            ([f32::INFINITY, 3.0], [10.0, 1.0], [2.0, 20.0]),
        ] {
            assert!(covered(32, 32, a, b, c).iter().all(|&n| n == 0), "{a:?} {b:?} {c:?} drew pixels");
        }
    }

    #[test]
    fn triangles_sharing_edges_leave_no_gaps() {
        // A fan of triangles round a point, with vertices on pixel centres and edges through many.
        let (w, h) = (64, 64);
        let centre = [31.5, 30.5];
        let mut hits = vec![0u8; w * h];
        let n = 13;
        let rim = |k: usize| {
            let t = k as f32 / n as f32 * std::f32::consts::TAU;
            [centre[0] + 28.0 * t.cos(), centre[1] + 28.0 * t.sin()]
        };
        for k in 0..n {
            for (i, v) in covered(w, h, centre, rim(k), rim(k + 1)).iter().enumerate() {
                hits[i] += v;
            }
        }
        let inner = (0..h).flat_map(|y| (0..w).map(move |x| (x, y))).filter(|&(x, y)| {
            let (dx, dy) = (x as f32 + 0.5 - centre[0], y as f32 + 0.5 - centre[1]);
            (dx * dx + dy * dy).sqrt() < 26.0
        });
        for (x, y) in inner {
            assert!(hits[y * w + x] >= 1, "gap at ({x}, {y})");
        }
    }

    fn bilinear(img: &[u8], w: usize, h: usize, x: f64, y: f64) -> [f64; 3] {
        let xf = (x - 0.5).clamp(0.0, (w - 1) as f64);
        let yf = (y - 0.5).clamp(0.0, (h - 1) as f64);
        let (x0, y0) = (xf as usize, yf as usize);
        let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
        let (fx, fy) = (xf - x0 as f64, yf - y0 as f64);
        let at = |x: usize, y: usize, c: usize| img[(y * w + x) * 3 + c] as f64;
        [0, 1, 2].map(|c| {
            let top = at(x0, y0, c) * (1.0 - fx) + at(x1, y0, c) * fx;
            let bottom = at(x0, y1, c) * (1.0 - fx) + at(x1, y1, c) * fx;
            top * (1.0 - fy) + bottom * fy
        })
    }

    /// Worst difference between `Lanes::row` and an f64 bilinear sample at the exact positions.
    fn worst_row_error(img: &[u8], w: usize, h: usize, seed: u64) -> f64 {
        let lanes = Lanes::of(img, w, h);
        let mut r = Lcg(seed);
        let mut worst = 0.0f64;
        let mut out = vec![0u8; 3 * 200];
        for _ in 0..300 {
            // Starts and steps reaching past every edge, so clamping is exercised too.
            let (x, y) = (r.next() * (w as f32 + 20.0) - 10.0, r.next() * (h as f32 + 20.0) - 10.0);
            let (dx, dy) = (r.next() * 2.4 - 1.2, r.next() * 0.8 - 0.4);
            lanes.row(x, y, dx, dy, &mut out);
            for k in 0..200 {
                let want = bilinear(img, w, h, x as f64 + dx as f64 * k as f64, y as f64 + dy as f64 * k as f64);
                for c in 0..3 {
                    worst = worst.max((out[k * 3 + c] as f64 - want[c]).abs());
                }
            }
        }
        worst
    }

    #[test]
    fn the_skin_sampler_matches_bilinear_interpolation() {
        let (w, h) = (57, 43);
        // A smooth image (as a portrait mostly is): within a grey level.
        let smooth: Vec<u8> = (0..h)
            .flat_map(|y| (0..w).flat_map(move |x| [(x * 4) as u8, (y * 5) as u8, ((x + y) * 2) as u8]))
            .collect();
        let e = worst_row_error(&smooth, w, h, 1);
        assert!(e <= 1.0, "smooth image: off by {e:.2}");
        // Hard edges: a position rounded to 1/64 pixel is off by up to 1/128 on each axis, so a
        // 0-to-255 step between neighbours allows 2 · 255 / 128 ≈ 4 levels, plus the rounding.
        let mut r = Lcg(3);
        let noise: Vec<u8> = (0..w * h * 3).map(|_| (r.next() * 256.0) as u8).collect();
        let e = worst_row_error(&noise, w, h, 2);
        assert!(e <= 5.0, "noise image: off by {e:.2}");
    }
}
