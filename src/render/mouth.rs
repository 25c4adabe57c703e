//! The mouth shader: the portrait's own lips and teeth where it had them, and a synthesized
//! cavity, teeth and tongue where the jaw opens further, laid along the lips' own axis.

use super::raster::{mix, put, raster, sample};
use crate::face::geometry::{inside_polygon, polygon_pixels, smoothstep};
use crate::face::idx;
use crate::face::rig::Rig;

/// A lip line as a function of position along the mouth: `u` (0 at one corner, 1 at the other)
/// → perpendicular offset `v` from the corner-to-corner axis.
#[derive(Clone, Copy)]
pub(super) struct Axis {
    a: [f32; 2],
    dir: [f32; 2],
    len: f32,
    n: [f32; 2],
}

impl Axis {
    pub(super) fn new(a: [f32; 2], b: [f32; 2]) -> Axis {
        let d = [b[0] - a[0], b[1] - a[1]];
        let len = (d[0] * d[0] + d[1] * d[1]).sqrt().max(1e-3);
        let dir = [d[0] / len, d[1] / len];
        Axis { a, dir, len, n: [-dir[1], dir[0]] }
    }
    pub(super) fn uv(&self, p: [f32; 2]) -> (f32, f32) {
        let d = [p[0] - self.a[0], p[1] - self.a[1]];
        ((d[0] * self.dir[0] + d[1] * self.dir[1]) / self.len, d[0] * self.n[0] + d[1] * self.n[1])
    }
    pub(super) fn point(&self, u: f32, v: f32) -> [f32; 2] {
        [
            self.a[0] + self.dir[0] * u * self.len + self.n[0] * v,
            self.a[1] + self.dir[1] * u * self.len + self.n[1] * v,
        ]
    }
}

/// Offset of a polyline (given as 11 (u, v) points) at u, by linear interpolation.
pub(super) fn line_at(pts: &[(f32, f32); 11], u: f32) -> f32 {
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

/// The mouth opening: the portrait's own lips and teeth where it had them, a synthesized
/// cavity, teeth and tongue where the jaw opens further.
pub(super) fn draw_mouth(frame: &mut [u8], dest: &[[f32; 2]], pal: MouthPalette, rig: &Rig, w: usize, h: usize) {
    let src = rig.image.as_raw().as_slice();
    let d = |i: usize| dest[i];
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
    for t in &rig.mouth {
        let (a, b, c) = (dest[t[0] as usize], dest[t[1] as usize], dest[t[2] as usize]);
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

/// The colours of the inside of the mouth, in the portrait's own light and palette.
#[derive(Debug, Clone, Copy)]
pub(super) struct MouthPalette {
    /// Per-channel factor from a typical photographed lip to this portrait's lips.
    tint: [f32; 3],
    teeth: [f32; 3],
}

impl MouthPalette {
    pub(super) fn of(rig: &Rig) -> MouthPalette {
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
pub(super) fn mouth_interior(u: f32, d_up: f32, d_lo: f32, open: f32, iod: f32, pal: &MouthPalette) -> [f32; 3] {
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
