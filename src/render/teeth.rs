//! The dental arches: an upper row of teeth fixed to the skull and a lower row carried by the
//! jaw, each tooth placed along a parabolic arch in 3D behind the lips and projected with the
//! head's pose, so a turned head shows the near teeth wide and the far ones foreshortened.
//! Sizes are an adult's, in millimetres, scaled by the inter-ocular distance (63 mm).
//!
//! Per frame, `Arches::place` projects each tooth boundary into the frame's mouth axis (a few
//! dozen points); per pixel, `Arch::tooth_at` finds the tooth under it by binary search.

use super::axis::Axis;
use crate::face::rig::Rig;
use crate::motion_params::MotionFrame;

/// Millimetres per inter-ocular distance.
const IOD_MM: f32 = 63.0;
/// Depth of the arch per mm² of sideways offset (z = K·x²): incisors in front, premolars back.
const K: f32 = 0.045;
/// Width and crown height (mm) of the five teeth each side shows, from the middle outwards.
const UPPER: [(f32, f32); 5] = [(8.5, 10.5), (6.5, 9.0), (7.5, 10.0), (7.0, 8.0), (6.5, 7.5)];
const LOWER: [(f32, f32); 5] = [(5.0, 9.0), (5.5, 9.0), (6.5, 10.5), (7.0, 8.0), (7.0, 8.0)];
/// Boundaries across the arch: 5 teeth a side → 11 edges.
pub(super) const EDGES: usize = 11;

/// One row of teeth in the frame: for each tooth boundary, its offset along the mouth axis
/// (px), the biting edge's and the gum line's perpendicular offsets (px, down positive), and per
/// tooth its height, foreshortening (projected over true width) and rank from the middle.
#[derive(Clone, Copy, Default)]
pub(super) struct Arch {
    pub xs: [f32; EDGES],
    pub edge: [f32; EDGES],
    pub gum: [f32; EDGES],
    pub facing: [f32; EDGES - 1],
    pub rank: [u8; EDGES - 1],
}

/// The tooth under a point: which one, where across it (0..1), and the edge and gum offsets there.
pub(super) struct Hit {
    pub t: f32,
    pub edge: f32,
    pub gum: f32,
    pub facing: f32,
    pub rank: u8,
    pub width: f32,
}

impl Arch {
    /// The tooth at offset `x` along the mouth axis, if the arch reaches it.
    #[inline]
    pub(super) fn tooth_at(&self, x: f32) -> Option<Hit> {
        if !(x > self.xs[0] && x < self.xs[EDGES - 1]) {
            return None;
        }
        let i = self.xs.partition_point(|&b| b <= x).clamp(1, EDGES - 1) - 1;
        let width = (self.xs[i + 1] - self.xs[i]).max(1e-3);
        let t = (x - self.xs[i]) / width;
        Some(Hit {
            t,
            edge: self.edge[i] + (self.edge[i + 1] - self.edge[i]) * t,
            gum: self.gum[i] + (self.gum[i + 1] - self.gum[i]) * t,
            facing: self.facing[i],
            rank: self.rank[i],
            width,
        })
    }
}

/// The two arches in one frame.
#[derive(Clone, Copy, Default)]
pub(super) struct Arches {
    pub upper: Arch,
    pub lower: Arch,
    /// Frame pixels per millimetre.
    pub mm: f32,
}

/// Sideways offsets (mm) of the tooth boundaries along the arch, found by walking its arc length,
/// and the widths they came from.
fn boundaries(teeth: &[(f32, f32); 5]) -> [f32; EDGES] {
    let arc_to_x = |s: f32| {
        // ∫ sqrt(1 + (2Kx)²) dx = s, in small steps.
        let (mut x, mut acc) = (0.0f32, 0.0f32);
        let dx = 0.05;
        while acc < s {
            acc += (1.0 + (2.0 * K * x).powi(2)).sqrt() * dx;
            x += dx;
        }
        x
    };
    let mut out = [0.0; EDGES];
    let mut s = 0.0;
    out[5] = 0.0;
    for (k, &(w, _)) in teeth.iter().enumerate() {
        s += w;
        let x = arc_to_x(s);
        out[5 + k + 1] = x;
        out[5 - k - 1] = -x;
    }
    out
}

impl Arches {
    /// Projects both arches for this frame. `scratch` holds the vertices after the face's own
    /// deformation and before the head pose (from `Rig::deform`); `ax` is the frame's mouth axis.
    pub(super) fn place(rig: &Rig, m: &MotionFrame, scratch: &[[f32; 3]], ax: &Axis) -> Arches {
        let mm = rig.iod / IOD_MM;
        let r = |i: usize| rig.rest[i];
        // The mouth's own frame in the portrait: centre between the inner lips, x along the
        // inner corners, y down, z away from the camera.
        let (a, b) = (r(78), r(308));
        let d = [b[0] - a[0], b[1] - a[1]];
        let l = (d[0] * d[0] + d[1] * d[1]).sqrt().max(1e-3);
        let ex = [d[0] / l, d[1] / l];
        let ey = [-ex[1], ex[0]];
        let (u13, l14) = (r(13), r(14));
        let c = [(u13[0] + l14[0]) / 2.0, (u13[1] + l14[1]) / 2.0, u13[2].max(l14[2])];
        // The lower teeth ride with the jaw: most of the chin's own displacement.
        let chin = scratch[152];
        let jaw = [0.85 * (chin[0] - r(152)[0]), 0.85 * (chin[1] - r(152)[1]), 0.85 * (chin[2] - r(152)[2])];
        let arch = |teeth: &[(f32, f32); 5], edge_mm: f32, depth_mm: f32, up: f32, moved: [f32; 3]| {
            let xs_mm = boundaries(teeth);
            let mut out = Arch::default();
            let point = |x: f32, y: f32| {
                let z = depth_mm + K * x * x;
                let p = [c[0] + (ex[0] * x + ey[0] * y) * mm, c[1] + (ex[1] * x + ey[1] * y) * mm, c[2] + z * mm];
                let q = rig.place(m, [p[0] + moved[0], p[1] + moved[1], p[2] + moved[2]], p);
                ax.uv(q)
            };
            for (i, &x) in xs_mm.iter().enumerate() {
                // The smile line: teeth further back sit a little higher.
                let y = edge_mm - 0.004 * x * x * up.signum();
                // Height of the tooth this boundary belongs to (the outer one's at the ends).
                let k = (if x >= 0.0 { (i as isize - 5).max(0) } else { (4 - i as isize).max(0) } as usize).min(4);
                let (uu, ev) = point(x, y);
                let (_, gv) = point(x, y - up * teeth[k].1);
                out.xs[i] = uu * ax.len();
                out.edge[i] = ev;
                out.gum[i] = gv;
            }
            for i in 0..EDGES - 1 {
                let k = if i >= 5 { i - 5 } else { 4 - i };
                let true_w = teeth[k].0 * mm;
                out.facing[i] = ((out.xs[i + 1] - out.xs[i]) / true_w.max(1e-3)).clamp(0.0, 1.0);
                out.rank[i] = k as u8;
            }
            out
        };
        // Upper edges 2 mm below the lips' meeting line, 4 mm behind the lips; the lower incisors
        // close 2 mm behind and 2 mm above them (overjet, overbite).
        Arches { upper: arch(&UPPER, 2.0, 4.0, 1.0, [0.0; 3]), lower: arch(&LOWER, 0.0, 6.0, -1.0, jaw), mm }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundaries_are_symmetric_and_grow_outwards() {
        let b = boundaries(&UPPER);
        for k in 0..5 {
            assert!((b[5 + k + 1] + b[5 - k - 1]).abs() < 1e-4);
            assert!(b[5 + k + 1] > b[5 + k]);
        }
        // Arc length 36 mm across five upper teeth, shorter in x because the arch curves back
        // (an adult's second premolars sit about 22 mm either side of the middle).
        assert!(b[10] > 20.0 && b[10] < 36.0, "{}", b[10]);
    }
}
