//! Rig + motion → RGB frame. Backward mesh warp (each destination pixel of a triangle samples the
//! portrait bilinearly at its affine pre-image), drawn far to near; the mouth opening and the eye
//! openings have shaders of their own: the mouth shows the portrait's own lips and teeth where it
//! had them and a synthesized cavity, teeth and tongue where the jaw opens further; the eyes keep
//! their whites and move the iris for gaze, clipped by the lids (which close for blinks).
//! Not for: deciding motion or encoding. No allocation per frame once the renderer is built.

use crate::face::idx;
use crate::motion_params::{MotionFrame, Param};
use crate::rig::{inside_polygon, polygon_pixels, EyeRegion, Rig};

pub struct Renderer {
    scratch: Vec<[f32; 3]>,
    dest: Vec<[f32; 2]>,
    depth: Vec<f32>,
    order: Vec<(f32, u32)>,
    frame: Vec<u8>,
    eye_poly: Vec<[f32; 2]>,
    palette: MouthPalette,
    lanes: Lanes,
}

#[inline]
fn sample(img: &[u8], w: usize, h: usize, x: f32, y: f32) -> [f32; 3] {
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
fn put(frame: &mut [u8], w: usize, x: usize, y: usize, c: [f32; 3]) {
    let i = (y * w + x) * 3;
    frame[i] = c[0].clamp(0.0, 255.0) as u8;
    frame[i + 1] = c[1].clamp(0.0, 255.0) as u8;
    frame[i + 2] = c[2].clamp(0.0, 255.0) as u8;
}

fn mix(a: [f32; 3], b: [f32; 3], t: f32) -> [f32; 3] {
    [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t]
}

fn smoothstep(e0: f32, e1: f32, x: f32) -> f32 {
    let t = ((x - e0) / (e1 - e0)).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

/// Calls `f(y, lo, hi, l1, l2, d1, d2)` for each row `y` of triangle (a, b, c) with the run of
/// pixel centres `lo..=hi` inside it: (l1, l2) are the barycentric weights of b and c at pixel
/// `lo`, and they grow by (d1, d2) per pixel to the right. A pixel centre is inside when
/// l1, l2 ≥ 0 and l1 + l2 ≤ 1, each with a hair of slack, so centres on an edge belong to both
/// sides: no gaps. Each row's run is solved from the three edge equations (a row crosses a
/// triangle in one run), not found by testing every pixel of the bounding box.
#[inline]
#[allow(clippy::type_complexity)]
fn spans(w: usize, h: usize, a: [f32; 2], b: [f32; 2], c: [f32; 2], mut f: impl FnMut(usize, usize, usize, f32, f32, f32, f32)) {
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
fn raster(w: usize, h: usize, a: [f32; 2], b: [f32; 2], c: [f32; 2], mut f: impl FnMut(usize, usize, f32, f32)) {
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
struct Lanes {
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
    fn of(img: &[u8], w: usize, h: usize) -> Lanes {
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
    fn row(&self, x: f32, y: f32, dx: f32, dy: f32, out: &mut [u8]) {
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

/// A lip line as a function of position along the mouth: `u` (0 at one corner, 1 at the other)
/// → perpendicular offset `v` from the corner-to-corner axis.
#[derive(Clone, Copy)]
struct Axis {
    a: [f32; 2],
    dir: [f32; 2],
    len: f32,
    n: [f32; 2],
}

impl Axis {
    fn new(a: [f32; 2], b: [f32; 2]) -> Axis {
        let d = [b[0] - a[0], b[1] - a[1]];
        let len = (d[0] * d[0] + d[1] * d[1]).sqrt().max(1e-3);
        let dir = [d[0] / len, d[1] / len];
        Axis { a, dir, len, n: [-dir[1], dir[0]] }
    }
    fn uv(&self, p: [f32; 2]) -> (f32, f32) {
        let d = [p[0] - self.a[0], p[1] - self.a[1]];
        ((d[0] * self.dir[0] + d[1] * self.dir[1]) / self.len, d[0] * self.n[0] + d[1] * self.n[1])
    }
    fn point(&self, u: f32, v: f32) -> [f32; 2] {
        [
            self.a[0] + self.dir[0] * u * self.len + self.n[0] * v,
            self.a[1] + self.dir[1] * u * self.len + self.n[1] * v,
        ]
    }
}

/// Offset of a polyline (given as 11 (u, v) points) at u, by linear interpolation.
fn line_at(pts: &[(f32, f32); 11], u: f32) -> f32 {
    if u <= pts[0].0 {
        return pts[0].1;
    }
    for k in 0..10 {
        let (a, b) = (pts[k], pts[k + 1]);
        if u <= b.0 {
            let t = if b.0 - a.0 > 1e-6 { (u - a.0) / (b.0 - a.0) } else { 1.0 };
            return a.1 + (b.1 - a.1) * t;
        }
    }
    pts[10].1
}

impl Renderer {
    pub fn new(rig: &Rig) -> Renderer {
        let n = rig.rest.len();
        Renderer {
            scratch: Vec::with_capacity(n),
            dest: Vec::with_capacity(n),
            depth: Vec::with_capacity(n),
            order: Vec::with_capacity(rig.skin.len()),
            frame: rig.image.as_raw().clone(),
            eye_poly: Vec::with_capacity(32),
            palette: MouthPalette::of(rig),
            lanes: Lanes::of(rig.image.as_raw(), rig.width as usize, rig.height as usize),
        }
    }

    /// Draws one frame; the returned slice is RGB24, `rig.width × rig.height`.
    /// `rig` is the rig the renderer was made for.
    pub fn render(&mut self, rig: &Rig, m: &MotionFrame) -> &[u8] {
        debug_assert_eq!(self.frame.len(), rig.image.as_raw().len());
        let mut m = *m;
        m.clamp();
        rig.deform(&m, &mut self.scratch, &mut self.dest, &mut self.depth);
        let (w, h) = (rig.width as usize, rig.height as usize);
        let src = rig.image.as_raw().as_slice();
        self.frame.copy_from_slice(src);

        self.draw_mouth(rig, w, h);
        for (e, eye) in rig.eyes.iter().enumerate() {
            self.draw_eye(rig, eye, e, &m, w, h);
        }

        self.order.clear();
        for (i, t) in rig.skin.iter().enumerate() {
            let d = self.depth[t[0] as usize] + self.depth[t[1] as usize] + self.depth[t[2] as usize];
            self.order.push((d, i as u32));
        }
        // Far first, so a turned head's near side covers its far side.
        self.order.sort_unstable_by(|a, b| b.0.total_cmp(&a.0));
        let (frame, lanes) = (&mut self.frame, &self.lanes);
        for &(_, ti) in &self.order {
            let t = rig.skin[ti as usize];
            let (a, b, c) = (self.dest[t[0] as usize], self.dest[t[1] as usize], self.dest[t[2] as usize]);
            let (sa, sb, sc) = (rig.rest[t[0] as usize], rig.rest[t[1] as usize], rig.rest[t[2] as usize]);
            let (ux, uy) = ([sb[0] - sa[0], sb[1] - sa[1]], [sc[0] - sa[0], sc[1] - sa[1]]);
            spans(w, h, a, b, c, |y, lo, hi, l1, l2, d1, d2| {
                // The source point is affine along the row: a start and a step per pixel.
                let (sx, sy) = (sa[0] + ux[0] * l1 + uy[0] * l2, sa[1] + ux[1] * l1 + uy[1] * l2);
                let (dx, dy) = (ux[0] * d1 + uy[0] * d2, ux[1] * d1 + uy[1] * d2);
                lanes.row(sx, sy, dx, dy, &mut frame[(y * w + lo) * 3..(y * w + hi + 1) * 3]);
            });
        }
        &self.frame
    }

    fn draw_mouth(&mut self, rig: &Rig, w: usize, h: usize) {
        let src = rig.image.as_raw().as_slice();
        let d = |i: usize| self.dest[i];
        let s = |i: usize| [rig.rest[i][0], rig.rest[i][1]];
        let ax_d = Axis::new(d(78), d(308));
        let ax_s = Axis::new(s(78), s(308));
        let mut up_d = [(0.0, 0.0); 11];
        let mut lo_d = [(0.0, 0.0); 11];
        let mut up_s = [(0.0, 0.0); 11];
        let mut lo_s = [(0.0, 0.0); 11];
        for k in 0..11 {
            up_d[k] = ax_d.uv(d(idx::UPPER_LIP_INNER[k]));
            lo_d[k] = ax_d.uv(d(idx::LOWER_LIP_INNER[k]));
            up_s[k] = ax_s.uv(s(idx::UPPER_LIP_INNER[k]));
            lo_s[k] = ax_s.uv(s(idx::LOWER_LIP_INNER[k]));
        }
        let iod = rig.iod;
        let pal = self.palette;
        let frame = &mut self.frame;
        for t in &rig.mouth {
            let (a, b, c) = (self.dest[t[0] as usize], self.dest[t[1] as usize], self.dest[t[2] as usize]);
            raster(w, h, a, b, c, |x, y, _, _| {
                let (u, v) = ax_d.uv([x as f32 + 0.5, y as f32 + 0.5]);
                let (vu, vl) = (line_at(&up_d, u), line_at(&lo_d, u));
                let (su, sl) = (line_at(&up_s, u), line_at(&lo_s, u));
                let open = (vl - vu).max(1e-3);
                let src_open = (sl - su).max(0.0);
                let (d_up, d_lo) = (v - vu, vl - v);
                let color = if d_up <= src_open / 2.0 {
                    let p = ax_s.point(u, su + d_up);
                    sample(src, w, h, p[0], p[1])
                } else if d_lo <= src_open / 2.0 {
                    let p = ax_s.point(u, sl - d_lo);
                    sample(src, w, h, p[0], p[1])
                } else {
                    // A lip parting only a pixel or two wider than the portrait's shows mostly the
                    // portrait's own seam (lip shadow, teeth), not a drawn black line.
                    let inner = mouth_interior(u, d_up, d_lo, open, iod, &pal);
                    let seam = ax_s.point(u, (su + sl) / 2.0);
                    let reveal = smoothstep(0.0, 0.05 * iod, open - src_open);
                    mix(sample(src, w, h, seam[0], seam[1]), inner, reveal)
                };
                put(frame, w, x, y, color);
            });
        }
    }

    fn draw_eye(&mut self, rig: &Rig, eye: &EyeRegion, e: usize, m: &MotionFrame, w: usize, h: usize) {
        let src = rig.image.as_raw().as_slice();
        let n = eye.upper.len();
        let (od, id) = (self.dest[eye.upper[0] as usize], self.dest[eye.upper[n - 1] as usize]);
        let rs = |i: u32| [rig.rest[i as usize][0], rig.rest[i as usize][1]];
        let (os, is) = (rs(eye.upper[0]), rs(eye.upper[n - 1]));
        // Similarity from the frame to the portrait fixed by the two corners (complex ratio).
        let ed = [id[0] - od[0], id[1] - od[1]];
        let es = [is[0] - os[0], is[1] - os[1]];
        let dd = (ed[0] * ed[0] + ed[1] * ed[1]).max(1e-6);
        let r = [(es[0] * ed[0] + es[1] * ed[1]) / dd, (es[1] * ed[0] - es[0] * ed[1]) / dd];
        let eye_w = (es[0] * es[0] + es[1] * es[1]).sqrt();
        let (look_up, look_down, look_in, look_out) = if e == 1 {
            (m.get(Param::EyeLookUpLeft), m.get(Param::EyeLookDownLeft), m.get(Param::EyeLookInLeft), m.get(Param::EyeLookOutLeft))
        } else {
            (m.get(Param::EyeLookUpRight), m.get(Param::EyeLookDownRight), m.get(Param::EyeLookInRight), m.get(Param::EyeLookOutRight))
        };
        let g = [(look_out - look_in) * eye.outward_x * 0.2 * eye_w, (look_down - look_up) * 0.1 * eye_w];
        self.eye_poly.clear();
        for &i in eye.upper.iter().chain(eye.lower.iter().rev()) {
            self.eye_poly.push(rs(i));
        }
        let poly = &self.eye_poly;
        let (ci, rad) = (eye.iris.center, eye.iris.radius.max(0.5));
        let moved = [ci[0] + g[0], ci[1] + g[1]];
        let frame = &mut self.frame;
        let tris = if e == 0 { &rig.eyes_tris[..16] } else { &rig.eyes_tris[16..] };
        for t in tris {
            let (a, b, c) = (self.dest[t[0] as usize], self.dest[t[1] as usize], self.dest[t[2] as usize]);
            raster(w, h, a, b, c, |x, y, _, _| {
                let p = [x as f32 + 0.5 - od[0], y as f32 + 0.5 - od[1]];
                let q = [os[0] + r[0] * p[0] - r[1] * p[1], os[1] + r[1] * p[0] + r[0] * p[1]];
                let dist = |a: [f32; 2], b: [f32; 2]| ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt();
                // Behind the iris: the eye white where the iris used to be, the portrait elsewhere.
                let behind = if g == [0.0, 0.0] || dist(q, ci) > rad * 1.08 {
                    sample(src, w, h, q[0], q[1])
                } else {
                    mix(eye.sclera_rgb.map(|v| v * 0.92), sample(src, w, h, q[0], q[1]), smoothstep(rad, rad * 1.08, dist(q, ci)))
                };
                let cover = (rad - dist(q, moved) + 0.5).clamp(0.0, 1.0);
                let color = if cover > 0.0 && g != [0.0, 0.0] {
                    let sp = [q[0] - g[0], q[1] - g[1]];
                    let iris = if inside_polygon(sp, poly) { sample(src, w, h, sp[0], sp[1]) } else { eye.iris_rgb };
                    mix(behind, iris, cover)
                } else {
                    behind
                };
                put(frame, w, x, y, color);
            });
        }
    }
}

/// The colours of the inside of the mouth, in the portrait's own light and palette.
#[derive(Debug, Clone, Copy)]
struct MouthPalette {
    /// Per-channel factor from a typical photographed lip to this portrait's lips.
    tint: [f32; 3],
    teeth: [f32; 3],
}

impl MouthPalette {
    fn of(rig: &Rig) -> MouthPalette {
        // Teeth as bright as the whites of the eyes and a little warmer: a varnished painting gets
        // ivory teeth, not the white of a toothpaste advert.
        let s = [0, 1, 2].map(|c| (rig.eyes[0].sclera_rgb[c] + rig.eyes[1].sclera_rgb[c]) / 2.0);
        let lum = (0.299 * s[0] + 0.587 * s[1] + 0.114 * s[2]).clamp(90.0, 225.0);
        let hue = mix([226.0, 220.0, 205.0], s, 0.4);
        let hl = 0.299 * hue[0] + 0.587 * hue[1] + 0.114 * hue[2];
        let teeth = hue.map(|v| (v * 1.05 * lum / hl).min(245.0));
        // The lips' mean colour (between the outer and inner contours) against a typical lip.
        let p = |i: usize| [rig.rest[i][0], rig.rest[i][1]];
        let outer: Vec<[f32; 2]> = idx::UPPER_LIP_OUTER.iter().chain(idx::LOWER_LIP_OUTER.iter().rev()).map(|&i| p(i)).collect();
        let hole: Vec<[f32; 2]> = idx::UPPER_LIP_INNER.iter().chain(idx::LOWER_LIP_INNER.iter().rev()).map(|&i| p(i)).collect();
        let (mut sum, mut n) = ([0.0f32; 3], 0.0f32);
        for (x, y) in polygon_pixels(&outer, rig.width, rig.height) {
            if !inside_polygon([x as f32 + 0.5, y as f32 + 0.5], &hole) {
                let px = rig.image.get_pixel(x, y).0;
                for c in 0..3 {
                    sum[c] += px[c] as f32;
                }
                n += 1.0;
            }
        }
        let typical = [170.0, 95.0, 95.0];
        let tint = if n > 0.0 { [0, 1, 2].map(|c| (0.5 + 0.5 * sum[c] / n / typical[c]).clamp(0.6, 1.4)) } else { [1.0; 3] };
        MouthPalette { tint, teeth }
    }
}

/// The inside of an open mouth at position `u` across it, `d_up` below the upper lip and `d_lo`
/// above the lower lip, with the opening `open` pixels tall (all in frame pixels; `iod` sets scale).
fn mouth_interior(u: f32, d_up: f32, d_lo: f32, open: f32, iod: f32, pal: &MouthPalette) -> [f32; 3] {
    let teeth = pal.teeth;
    let tint = |c: [f32; 3]| [c[0] * pal.tint[0], c[1] * pal.tint[1], c[2] * pal.tint[2]];
    let side = ((u - 0.5) * 2.0).abs().min(1.0);
    let deep = smoothstep(0.0, 0.5, d_up.min(d_lo) / open);
    let mut c = mix(tint([92.0, 38.0, 40.0]), tint([24.0, 9.0, 11.0]), deep);
    // Tongue: a soft mound rising from the lower lip, visible when the mouth is well open.
    let tongue_h = 0.45 * open * smoothstep(0.08 * iod, 0.3 * iod, open);
    let tongue_w = 0.36;
    let tu = (u - 0.5) / tongue_w;
    if tu.abs() < 1.0 && tongue_h > 0.5 {
        let top = tongue_h * (1.0 - tu * tu).sqrt();
        let t = smoothstep(top, top - 1.5, d_lo);
        let shade = 0.65 + 0.35 * (1.0 - d_lo / tongue_h.max(1.0)).clamp(0.0, 1.0);
        c = mix(c, tint([150.0 * shade, 64.0 * shade, 70.0 * shade]), t);
    }
    // Upper teeth hang from the upper lip; lower teeth show only when the jaw is well open.
    let shade = 1.0 - 0.55 * side * side;
    let up_h = (0.32 * open).min(0.11 * iod);
    if side < 0.82 && up_h > 0.5 {
        let a = smoothstep(up_h + 0.75, up_h - 0.75, d_up) * smoothstep(0.82, 0.7, side);
        // Faint gaps between teeth.
        let tooth = (u - 0.5) * 2.0 / 0.25;
        let gap = 1.0 - 0.18 * (1.0 - ((tooth.fract().abs() - 0.5).abs() * 8.0).min(1.0));
        let depth = 0.82 + 0.18 * (1.0 - d_up / up_h.max(1.0)).clamp(0.0, 1.0);
        c = mix(c, teeth.map(|v| v * shade * gap * depth), a);
    }
    let lo_h = (0.2 * open).min(0.07 * iod) * smoothstep(0.15 * iod, 0.35 * iod, open);
    if side < 0.66 && lo_h > 0.5 {
        let a = smoothstep(lo_h + 0.75, lo_h - 0.75, d_lo) * smoothstep(0.66, 0.55, side);
        c = mix(c, teeth.map(|v| v * shade * 0.85), a);
    }
    c
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
