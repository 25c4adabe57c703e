//! Geometry for the rig: the face mesh's triangles, small vector helpers, point-in-polygon and
//! polygon rasterisation, 3D rotations, and untangling crossed landmark pairs.

/// The face mesh's triangles, derived from mediapipe's tessellation by
/// `models/convert/face_mesh_triangles.py`; the mouth and eye openings are holes.
pub(crate) const FACE_MESH: &str = include_str!("../../models/data/face_mesh_triangles.txt");

pub fn face_mesh_triangles() -> Vec<[u32; 3]> {
    FACE_MESH
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let v: Vec<u32> = l.split_whitespace().filter_map(|s| s.parse().ok()).collect();
            (v.len() == 3).then(|| [v[0], v[1], v[2]])
        })
        .collect()
}

pub(crate) fn sub(a: [f32; 2], b: [f32; 2]) -> [f32; 2] {
    [a[0] - b[0], a[1] - b[1]]
}
pub(crate) fn len(a: [f32; 2]) -> f32 {
    (a[0] * a[0] + a[1] * a[1]).sqrt()
}
pub(crate) fn smoothstep(e0: f32, e1: f32, x: f32) -> f32 {
    let t = ((x - e0) / (e1 - e0)).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

/// Point-in-polygon (even-odd rule).
pub fn inside_polygon(p: [f32; 2], poly: &[[f32; 2]]) -> bool {
    let mut inside = false;
    let mut j = poly.len() - 1;
    for i in 0..poly.len() {
        let (a, b) = (poly[i], poly[j]);
        if (a[1] > p[1]) != (b[1] > p[1]) && p[0] < (b[0] - a[0]) * (p[1] - a[1]) / (b[1] - a[1]) + a[0] {
            inside = !inside;
        }
        j = i;
    }
    inside
}

/// The pixels (x, y) of a `w × h` image whose centres lie inside `poly`.
pub fn polygon_pixels(poly: &[[f32; 2]], w: u32, h: u32) -> impl Iterator<Item = (u32, u32)> + '_ {
    let (mut x0, mut x1, mut y0, mut y1) = (f32::MAX, f32::MIN, f32::MAX, f32::MIN);
    for p in poly {
        x0 = x0.min(p[0]);
        x1 = x1.max(p[0]);
        y0 = y0.min(p[1]);
        y1 = y1.max(p[1]);
    }
    let ys = (y0.max(0.0) as u32)..=(y1.min(h as f32 - 1.0).max(0.0) as u32);
    let xs = (x0.max(0.0) as u32)..=(x1.min(w as f32 - 1.0).max(0.0) as u32);
    ys.flat_map(move |y| xs.clone().map(move |x| (x, y)))
        .filter(move |&(x, y)| inside_polygon([x as f32 + 0.5, y as f32 + 0.5], poly))
}

/// Yaw about the vertical axis (front towards +x), then pitch (front down), then roll (clockwise
/// in the image), as one matrix acting on (x right, y down, z away from the camera).
pub(crate) fn rotation(yaw: f32, pitch: f32, roll: f32) -> [[f32; 3]; 3] {
    let (sy, cy) = yaw.sin_cos();
    let (sp, cp) = pitch.sin_cos();
    let (sr, cr) = roll.sin_cos();
    let ry = [[cy, 0.0, -sy], [0.0, 1.0, 0.0], [sy, 0.0, cy]];
    let rp = [[1.0, 0.0, 0.0], [0.0, cp, -sp], [0.0, sp, cp]];
    let rr = [[cr, -sr, 0.0], [sr, cr, 0.0], [0.0, 0.0, 1.0]];
    mul(rr, mul(rp, ry))
}

pub(crate) fn mul(a: [[f32; 3]; 3], b: [[f32; 3]; 3]) -> [[f32; 3]; 3] {
    let mut o = [[0.0; 3]; 3];
    for i in 0..3 {
        for j in 0..3 {
            o[i][j] = (0..3).map(|k| a[i][k] * b[k][j]).sum();
        }
    }
    o
}

pub(crate) fn uncross(p: &mut [[f32; 3]], pairs: impl Iterator<Item = (usize, usize)>) {
    for (u, l) in pairs {
        if p[u][1] > p[l][1] {
            let m = [(p[u][0] + p[l][0]) / 2.0, (p[u][1] + p[l][1]) / 2.0, (p[u][2] + p[l][2]) / 2.0];
            p[u] = m;
            p[l] = m;
        }
    }
}
