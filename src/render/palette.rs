//! What the synthesized inside of the mouth may look like on this portrait: its colours come from
//! the portrait's own lips and eye whites, no colour is more saturated than the portrait's face
//! already is (a sepia photo gets sepia teeth and tongue), no edge is steeper than the face's own
//! steepest edges (a soft painting gets soft teeth), and the grain matches the face's.

use crate::face::geometry::{inside_polygon, polygon_pixels};
use crate::face::idx;
use crate::face::rig::Rig;

#[derive(Debug, Clone, Copy)]
pub(super) struct MouthPalette {
    /// Mean colour of the lips (between the outer and inner contours).
    pub lip: [f32; 3],
    /// Teeth, lit: as bright as the eye whites and a little warmer.
    pub teeth: [f32; 3],
    /// Highest colour saturation, (max − min) / max, a synthesized colour may have.
    pub sat_cap: f32,
    /// Steepest brightness step per pixel a synthesized edge may have.
    pub max_step: f32,
    /// Standard deviation of the face's fine grain, in levels.
    pub grain: f32,
    /// How much the portrait's own opening, where its lips are parted, looks like teeth (0..1):
    /// brighter than the lips. A dark gap (lips parted over a shadow, or a moustache's shade read
    /// as an opening) is no teeth, and the built teeth show behind it.
    pub own_teeth: f32,
}

fn lum(c: [f32; 3]) -> f32 {
    0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2]
}

fn percentile(v: &mut [f32], q: f32) -> f32 {
    if v.is_empty() {
        return 0.0;
    }
    let k = ((v.len() - 1) as f32 * q).round() as usize;
    *v.select_nth_unstable_by(k, |a, b| a.total_cmp(b)).1
}

impl MouthPalette {
    pub(super) fn of(rig: &Rig) -> MouthPalette {
        let p = |i: usize| [rig.rest[i][0], rig.rest[i][1]];
        let (w, h) = (rig.width as usize, rig.height as usize);
        let img = rig.image.as_raw();
        let px = |x: usize, y: usize| {
            let i = (y * w + x) * 3;
            [img[i] as f32, img[i + 1] as f32, img[i + 2] as f32]
        };
        // The lips' mean colour.
        let outer: Vec<[f32; 2]> = idx::UPPER_LIP_OUTER.iter().chain(idx::LOWER_LIP_OUTER.iter().rev()).map(|&i| p(i)).collect();
        let hole: Vec<[f32; 2]> = idx::UPPER_LIP_INNER.iter().chain(idx::LOWER_LIP_INNER.iter().rev()).map(|&i| p(i)).collect();
        let (mut sum, mut n) = ([0.0f32; 3], 0.0f32);
        let mut opening = Vec::new();
        for (x, y) in polygon_pixels(&outer, rig.width, rig.height) {
            let c = px(x as usize, y as usize);
            if !inside_polygon([x as f32 + 0.5, y as f32 + 0.5], &hole) {
                for k in 0..3 {
                    sum[k] += c[k];
                }
                n += 1.0;
            } else {
                opening.push(lum(c));
            }
        }
        let lip = if n > 0.0 { sum.map(|v| v / n) } else { [150.0, 100.0, 95.0] };
        // Teeth in the opening make its brighter quarter brighter than the lips.
        let own_teeth = if opening.is_empty() {
            0.0
        } else {
            let bright = percentile(&mut opening, 0.75);
            crate::face::geometry::smoothstep(1.0, 1.25, bright / lum(lip).max(1.0))
        };
        // Over the face: saturation, steepest steps (central differences, as an outside yardstick
        // measures sharpness) and grain (what a 3×3 box blur takes away).
        let oval: Vec<[f32; 2]> = idx::FACE_OVAL.iter().map(|&i| p(i)).collect();
        let (mut sats, mut steps, mut grain) = (Vec::new(), Vec::new(), Vec::new());
        for (x, y) in polygon_pixels(&oval, rig.width, rig.height) {
            let (x, y) = (x as usize, y as usize);
            if x < 1 || y < 1 || x + 1 >= w || y + 1 >= h {
                continue;
            }
            let c = px(x, y);
            let (mx, mn) = (c[0].max(c[1]).max(c[2]), c[0].min(c[1]).min(c[2]));
            sats.push((mx - mn) / (mx + 1e-3));
            let g = |x: usize, y: usize| {
                let c = px(x, y);
                (c[0] + c[1] + c[2]) / 3.0
            };
            let gx = (g(x + 1, y) - g(x - 1, y)) / 2.0;
            let gy = (g(x, y + 1) - g(x, y - 1)) / 2.0;
            steps.push((gx * gx + gy * gy).sqrt());
            let mut box3 = 0.0;
            for dy in 0..3 {
                for dx in 0..3 {
                    box3 += g(x + dx - 1, y + dy - 1);
                }
            }
            grain.push((g(x, y) - box3 / 9.0).abs());
        }
        let sat_cap = (percentile(&mut sats, 0.97) * 0.9).clamp(0.05, 0.9);
        let max_step = percentile(&mut steps, 0.995).clamp(6.0, 60.0);
        // Median absolute deviation of the residual → standard deviation of a normal grain.
        let grain = (percentile(&mut grain, 0.5) * 1.48).clamp(0.0, 12.0);
        // Teeth: as bright as the eye whites and a little warmer, so a varnished painting gets
        // ivory teeth, not the white of a toothpaste advert.
        let s = [0, 1, 2].map(|c| (rig.eyes[0].sclera_rgb[c] + rig.eyes[1].sclera_rgb[c]) / 2.0);
        let l = lum(s).clamp(90.0, 225.0);
        let hue = [0, 1, 2].map(|c| 0.6 * [226.0, 220.0, 205.0][c] + 0.4 * s[c]);
        let teeth = hue.map(|v| (v * 1.02 * l / lum(hue)).min(240.0));
        MouthPalette { lip, teeth, sat_cap, max_step, grain, own_teeth }
    }

    /// `c` with its saturation held to what the portrait's face shows (the brightest channel kept).
    #[inline]
    pub(super) fn tame(&self, c: [f32; 3]) -> [f32; 3] {
        let mx = c[0].max(c[1]).max(c[2]).max(1e-3);
        let mn = c[0].min(c[1]).min(c[2]);
        let s = (mx - mn) / mx;
        if s <= self.sat_cap {
            return c;
        }
        let k = self.sat_cap / s;
        c.map(|v| mx - (mx - v) * k)
    }

    /// Width in pixels over which a step of `contrast` levels must be spread so it is no steeper
    /// than the face's own edges (smoothstep's steepest slope is 1.5× its mean).
    #[inline]
    pub(super) fn ramp(&self, contrast: f32) -> f32 {
        (1.5 * contrast.abs() / self.max_step).max(1.0)
    }

    /// Brightness of `c` (Rec. 601).
    #[inline]
    pub(super) fn lum(c: [f32; 3]) -> f32 {
        lum(c)
    }
}

/// A fixed grain value in −1..1 for an integer position (a hash, so it is the same every frame
/// for the same spot on a tooth).
#[inline]
pub(super) fn grain_at(x: i32, y: i32) -> f32 {
    let mut h = (x as u32).wrapping_mul(0x9E37_79B1) ^ (y as u32).wrapping_mul(0x85EB_CA77);
    h ^= h >> 15;
    h = h.wrapping_mul(0x2C1B_3C6D);
    h ^= h >> 12;
    // Sum of two uniforms: a triangle distribution, close enough to film grain.
    let a = (h & 0xFFFF) as f32 / 65535.0;
    let b = (h >> 16) as f32 / 65535.0;
    a + b - 1.0
}
