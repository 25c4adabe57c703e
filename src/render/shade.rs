//! Shading that follows the bones, drawn on the skin pass before the mouth's opening: a soft
//! shadow under the lower lip as the jaw opens (the lip rolls out over the chin and its underside
//! turns from the light), and the nasolabial folds deepening with a smile (the cheeks bunch up
//! against them). Both are zero at rest, so the neutral frame stays the portrait.

use super::axis::{line_at, Axis};
use crate::face::geometry::smoothstep;
use crate::face::idx;
use crate::face::rig::Rig;
use crate::motion_params::{MotionFrame, Param};

/// Darkest the shadow under the lower lip gets (a fraction of the brightness), at jawOpen ≥ 0.6.
pub(super) const UNDER_LIP: f32 = 0.14;
/// Darkest a nasolabial fold gets, at a full smile.
pub(super) const FOLD: f32 = 0.12;

/// Multiplies the pixel at (x, y) by 1 − `k`.
#[inline]
fn darken(frame: &mut [u8], w: usize, x: usize, y: usize, k: f32) {
    let i = (y * w + x) * 3;
    for c in 0..3 {
        frame[i + c] = (frame[i + c] as f32 * (1.0 - k)).round().clamp(0.0, 255.0) as u8;
    }
}

pub(super) fn draw_shading(frame: &mut [u8], dest: &[[f32; 2]], rig: &Rig, m: &MotionFrame, w: usize, h: usize) {
    let iod = rig.iod.max(1.0);
    let jaw = m.get(Param::JawOpen);
    let under = UNDER_LIP * smoothstep(0.05, 0.6, jaw);
    if under > 0.0 {
        // Below the lower lip's outer line: nothing on the line itself, darkest a little below it,
        // gone by the chin's crease; full across the middle of the lip, fading at its corners.
        let ax = Axis::new(dest[61], dest[291]);
        let mut lo = [(0.0, 0.0); 11];
        for k in 0..11 {
            lo[k] = ax.uv(dest[idx::LOWER_LIP_OUTER[k]]);
        }
        let (peak, end) = (0.05 * iod, 0.16 * iod);
        let (mut x0, mut y0, mut x1, mut y1) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
        for k in 0..11 {
            for v in [lo[k].1, lo[k].1 + end] {
                let p = ax.point(lo[k].0, v);
                (x0, y0, x1, y1) = (x0.min(p[0]), y0.min(p[1]), x1.max(p[0]), y1.max(p[1]));
            }
        }
        let (xa, xb) = ((x0.max(0.0) as usize).min(w - 1), (x1.max(0.0) as usize).min(w - 1));
        let (ya, yb) = ((y0.max(0.0) as usize).min(h - 1), (y1.max(0.0) as usize).min(h - 1));
        for y in ya..=yb {
            for x in xa..=xb {
                let (u, v) = ax.uv([x as f32 + 0.5, y as f32 + 0.5]);
                if !(0.0..=1.0).contains(&u) {
                    continue;
                }
                let d = v - line_at(&lo, u);
                if d <= 0.0 || d >= end {
                    continue;
                }
                let across = (std::f32::consts::PI * u).sin();
                let k = under * smoothstep(0.0, peak, d) * smoothstep(end, peak, d) * across * across;
                if k > 0.002 {
                    darken(frame, w, x, y, k);
                }
            }
        }
    }
    // The folds: from beside the nose's wing to beyond the mouth's corner, each side with its own
    // smile (the subject's left is the image's right on a face that looks at the camera).
    let (left, right) = (m.get(Param::MouthSmileLeft), m.get(Param::MouthSmileRight));
    if left.max(right) <= 0.0 {
        return;
    }
    let centre = [(dest[61][0] + dest[291][0]) / 2.0, (dest[61][1] + dest[291][1]) / 2.0];
    for (wing, corner) in [(98usize, 61usize), (327, 291)] {
        let subject_left = dest[corner][0] > centre[0];
        let s = if subject_left { left } else { right };
        let strength = FOLD * smoothstep(0.0, 0.8, s);
        if strength <= 0.0 {
            continue;
        }
        let (c, n) = (dest[corner], dest[wing]);
        let out = [c[0] - centre[0], c[1] - centre[1]];
        let ol = (out[0] * out[0] + out[1] * out[1]).sqrt().max(1e-3);
        let out = [out[0] / ol, out[1] / ol];
        // The fold starts just outside the wing and ends beside and below the corner.
        let a = [n[0] + out[0] * 0.06 * iod, n[1] + out[1] * 0.06 * iod];
        let b = [c[0] + out[0] * 0.12 * iod, c[1] + out[1] * 0.12 * iod + 0.12 * iod];
        let half = 0.06 * iod;
        let ab = [b[0] - a[0], b[1] - a[1]];
        let l2 = (ab[0] * ab[0] + ab[1] * ab[1]).max(1e-3);
        let (xa, xb) = (((a[0].min(b[0]) - half).max(0.0) as usize).min(w - 1), ((a[0].max(b[0]) + half).max(0.0) as usize).min(w - 1));
        let (ya, yb) = (((a[1].min(b[1]) - half).max(0.0) as usize).min(h - 1), ((a[1].max(b[1]) + half).max(0.0) as usize).min(h - 1));
        for y in ya..=yb {
            for x in xa..=xb {
                let p = [x as f32 + 0.5 - a[0], y as f32 + 0.5 - a[1]];
                let t = (p[0] * ab[0] + p[1] * ab[1]) / l2;
                if !(0.0..=1.0).contains(&t) {
                    continue;
                }
                let (dx, dy) = (p[0] - ab[0] * t, p[1] - ab[1] * t);
                let dist = (dx * dx + dy * dy).sqrt();
                if dist >= half {
                    continue;
                }
                // Deepest along the middle half of its length, a soft line across.
                let along = smoothstep(0.0, 0.2, t) * smoothstep(1.0, 0.75, t);
                let k = strength * along * smoothstep(half, 0.0, dist);
                if k > 0.002 {
                    darken(frame, w, x, y, k);
                }
            }
        }
    }
}
