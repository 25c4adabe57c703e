//! The mouth's own axis, from one inner corner to the other, and lip lines as offsets from it:
//! the coordinates the mouth shader and the dental arches share.

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
    /// Corner-to-corner length in pixels.
    pub(super) fn len(&self) -> f32 {
        self.len
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
