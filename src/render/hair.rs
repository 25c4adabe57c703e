//! Facial hair over the mouth: a moustache is read from the user's hair mask
//! (`portrait.hair_mask`) or else found by its texture (hair is busier than the bare skin of
//! the forehead and cheeks) in the band between the nose and the upper lip, and
//! measured column by column: how far below the upper lip's inner line it hangs in the portrait.
//! The mouth shader then draws the opening *under* it: the fringe stays on the upper lip and
//! hangs over the opening, and the lower lip that the hair hid in the portrait shows as lip, not
//! as a second copy of the fringe carried down by the jaw.

use super::axis::{line_at, Axis};
use super::palette::MouthPalette;
use crate::face::geometry::{inside_polygon, smoothstep};
use crate::face::idx;
use crate::face::rig::Rig;

/// Columns across the mouth at which the hanging length is measured.
const COLS: usize = 21;

#[derive(Debug, Clone)]
pub(super) struct Hair {
    /// A moustache covers the band between the nose and the upper lip.
    pub found: bool,
    x0: usize,
    y0: usize,
    w: usize,
    h: usize,
    /// Hair-likeness 0..1 per portrait pixel in the box [x0, x0 + w) × [y0, y0 + h).
    mask: Vec<f32>,
    /// Per column: pixels below the upper lip's inner line the hair reaches in the portrait.
    hang: [f32; COLS],
    /// Per column: pixels below the lower lip's inner line the hair covers in the portrait.
    hang_lower: [f32; COLS],
    /// The lip colour to show where the hair hid the lower lip.
    pub lip: [f32; 3],
}

/// The value of a `w`×`h` mask whose corner is at (`x0`, `y0`) at a portrait point; 0 outside.
fn lookup(mask: &[f32], x0: usize, y0: usize, w: usize, h: usize, q: [f32; 2]) -> f32 {
    let (x, y) = (q[0] as isize - x0 as isize, q[1] as isize - y0 as isize);
    if x < 0 || y < 0 || x >= w as isize || y >= h as isize {
        0.0
    } else {
        mask[y as usize * w + x as usize]
    }
}

/// Fine texture at each pixel: mean absolute difference from the 3×3 mean, over a 5×5 window.
fn texture(img: &[u8], w: usize, h: usize, x0: usize, y0: usize, bw: usize, bh: usize) -> Vec<f32> {
    let g = |x: usize, y: usize| {
        let i = (y.min(h - 1) * w + x.min(w - 1)) * 3;
        (img[i] as f32 + img[i + 1] as f32 + img[i + 2] as f32) / 3.0
    };
    let mut resid = vec![0.0f32; bw * bh];
    for y in 0..bh {
        for x in 0..bw {
            let (px, py) = (x0 + x, y0 + y);
            let mut s = 0.0;
            for dy in 0..3 {
                for dx in 0..3 {
                    s += g((px + dx).saturating_sub(1), (py + dy).saturating_sub(1));
                }
            }
            resid[y * bw + x] = (g(px, py) - s / 9.0).abs();
        }
    }
    let mut out = vec![0.0f32; bw * bh];
    for y in 0..bh {
        for x in 0..bw {
            let (mut s, mut n) = (0.0, 0.0);
            for yy in y.saturating_sub(2)..(y + 3).min(bh) {
                for xx in x.saturating_sub(2)..(x + 3).min(bw) {
                    s += resid[yy * bw + xx];
                    n += 1.0;
                }
            }
            out[y * bw + x] = s / n;
        }
    }
    out
}

impl Hair {
    pub(super) fn of(rig: &Rig, pal: &MouthPalette) -> Hair {
        let (w, h) = (rig.width as usize, rig.height as usize);
        let img = rig.image.as_raw();
        let p = |i: usize| [rig.rest[i][0], rig.rest[i][1]];
        // The box: nose bottom to a little below the lower lip, corner to corner and beyond.
        let iod = rig.iod;
        let xs = [p(idx::MOUTH_RIGHT)[0], p(idx::MOUTH_LEFT)[0]];
        let x0 = (xs[0].min(xs[1]) - 0.15 * iod).max(0.0) as usize;
        let x1 = ((xs[0].max(xs[1]) + 0.15 * iod) as usize).min(w - 1);
        let y0 = (p(2)[1].min(p(164)[1]) - 0.02 * iod).max(0.0) as usize;
        let y1 = ((p(17)[1] + 0.1 * iod) as usize).min(h - 1);
        let (bw, bh) = ((x1 - x0 + 1).max(1), (y1 - y0 + 1).max(1));
        let tex = texture(img, w, h, x0, y0, bw, bh);
        // Bare skin: the forehead and the two cheeks, each patch's median texture and median
        // brightness; the calmest texture, and the colour of the middle one by brightness.
        let lum_at = |x: usize, y: usize| {
            let i = (y.min(h - 1) * w + x.min(w - 1)) * 3;
            0.299 * img[i] as f32 + 0.587 * img[i + 1] as f32 + 0.114 * img[i + 2] as f32
        };
        let patch = |c: [f32; 2]| {
            let r = (0.08 * iod).max(2.0) as usize;
            let (cx, cy) = (c[0].max(0.0) as usize, c[1].max(0.0) as usize);
            let (px0, py0) = (cx.saturating_sub(r), cy.saturating_sub(r));
            let mut t = texture(img, w, h, px0, py0, 2 * r + 1, 2 * r + 1);
            t.sort_by(|a, b| a.total_cmp(b));
            let mut l: Vec<f32> = (py0..py0 + 2 * r + 1).flat_map(|y| (px0..px0 + 2 * r + 1).map(move |x| (x, y))).map(|(x, y)| lum_at(x, y)).collect();
            l.sort_by(|a, b| a.total_cmp(b));
            let i = (cy.min(h - 1) * w + cx.min(w - 1)) * 3;
            (t[t.len() / 2], l[l.len() / 2], [img[i] as f32, img[i + 1] as f32, img[i + 2] as f32])
        };
        let mut refs = [patch(p(151)), patch(p(50)), patch(p(280))];
        let skin_tex = refs.iter().map(|r| r.0).fold(f32::MAX, f32::min).max(0.6);
        refs.sort_by(|a, b| a.1.total_cmp(&b.1));
        let skin = refs[1].2;
        // Hair is busier than bare skin. (Brightness is no guide: a grey moustache on a sepia
        // face matches the cheeks, and the shade under a nose is as dark as a moustache.)
        // A mask the user drew (`portrait.hair_mask`) says exactly where the hair is.
        let mask: Vec<f32> = match &rig.hair_mask {
            Some(m) => (0..bh).flat_map(|y| (0..bw).map(move |x| (x, y))).map(|(x, y)| m.get_pixel((x0 + x) as u32, (y0 + y) as u32).0[0] as f32 / 255.0).collect(),
            None => tex.iter().map(|&t| smoothstep(1.6, 2.6, t / skin_tex)).collect(),
        };
        let at = |q: [f32; 2]| lookup(&mask, x0, y0, bw, bh, q);
        // Found: most of the band between the nose and the upper lip's outer line is hair.
        let band: Vec<[f32; 2]> = [2usize, 326, 327, 423]
            .iter()
            .chain([291usize, 267, 0, 37, 61].iter())
            .chain([203usize, 98, 97].iter())
            .map(|&i| p(i))
            .collect();
        let (mut hairy, mut all) = (0.0, 0.0);
        for y in y0..=y1 {
            for x in x0..=x1 {
                let c = [x as f32 + 0.5, y as f32 + 0.5];
                if inside_polygon(c, &band) {
                    hairy += at(c);
                    all += 1.0;
                }
            }
        }
        // From the user's mask, any real share of the band is a moustache.
        let found = all > 0.0 && hairy / all > if rig.hair_mask.is_some() { 0.2 } else { 0.55 };
        let ax = Axis::new(p(78), p(308));
        let mut up = [(0.0, 0.0); 11];
        let mut lo = [(0.0, 0.0); 11];
        for k in 0..11 {
            up[k] = ax.uv(p(idx::UPPER_LIP_INNER[k]));
            lo[k] = ax.uv(p(idx::LOWER_LIP_INNER[k]));
        }
        let (mut hang, mut hang_lower) = ([0.0f32; COLS], [0.0f32; COLS]);
        if found {
            let limit = 0.4 * iod;
            for k in 0..COLS {
                let u = k as f32 / (COLS - 1) as f32;
                let (su, sl) = (line_at(&up, u), line_at(&lo, u));
                // Walk down from just above the upper lip's inner line while it is hair; the
                // dark line where the lips meet under it is smooth, not hairy, so a gap of a few
                // pixels does not end the fringe.
                let start = -(0.03 * iod).max(2.0);
                let (mut d, mut last, mut misses, mut any) = (start, f32::NAN, 0, false);
                while d < limit {
                    if at(ax.point(u, su + d)) >= 0.4 {
                        misses = 0;
                        last = d;
                        any |= d <= 0.0;
                    } else {
                        misses += 1;
                        if misses > 4 {
                            break;
                        }
                    }
                    d += 1.0;
                }
                let reach = if any && last.is_finite() { last.max(0.0) } else { 0.0 };
                hang[k] = reach;
                hang_lower[k] = (reach - (sl - su).max(0.0)).max(0.0);
            }
        }
        // The lip under the hair: the skin's own hue in the moustache's shade. (A flush, red
        // raised over green and blue, turned pink in a sepia photograph.)
        let lip = pal.tame(skin.map(|c| c * 0.72));
        Hair { found, x0, y0, w: bw, h: bh, mask, hang, hang_lower, lip }
    }

    /// Hair-likeness at a portrait point (0 outside the measured box).
    #[inline]
    pub(super) fn mask_at(&self, q: [f32; 2]) -> f32 {
        lookup(&self.mask, self.x0, self.y0, self.w, self.h, q)
    }

    fn column(v: &[f32; COLS], u: f32) -> f32 {
        let f = u.clamp(0.0, 1.0) * (COLS - 1) as f32;
        let k = (f as usize).min(COLS - 2);
        let t = f - k as f32;
        v[k] + (v[k + 1] - v[k]) * t
    }

    /// How far below the upper lip's inner line the hair hangs at `u` (portrait pixels).
    #[inline]
    pub(super) fn hang_at(&self, u: f32) -> f32 {
        Self::column(&self.hang, u)
    }

    /// How much of the lower lip, below its inner line, the hair hid at `u` (portrait pixels).
    #[inline]
    pub(super) fn hang_lower_at(&self, u: f32) -> f32 {
        Self::column(&self.hang_lower, u)
    }

    /// Deepest `hang_lower` across the mouth.
    pub(super) fn max_hang_lower(&self) -> f32 {
        self.hang_lower.iter().copied().fold(0.0, f32::max)
    }
}
