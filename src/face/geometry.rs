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

/// The face mesh's triangles wound consistently: neighbours run their shared edge in opposite
/// directions (the file lists each triangle's corners in ascending order, which says nothing of
/// its orientation). On a face the right way up, their signed areas
/// ([`signed_area`]) are all of one sign; a triangle of the other sign is folded over.
pub fn face_mesh_wound() -> Vec<[u32; 3]> {
    use std::collections::HashMap;
    let mut tris = face_mesh_triangles();
    let mut by_edge: HashMap<(u32, u32), Vec<usize>> = HashMap::new();
    for (k, t) in tris.iter().enumerate() {
        for e in 0..3 {
            let (a, b) = (t[e], t[(e + 1) % 3]);
            by_edge.entry((a.min(b), a.max(b))).or_default().push(k);
        }
    }
    let mut done = vec![false; tris.len()];
    for seed in 0..tris.len() {
        if done[seed] {
            continue;
        }
        done[seed] = true;
        let mut stack = vec![seed];
        while let Some(k) = stack.pop() {
            let t = tris[k];
            for e in 0..3 {
                let (a, b) = (t[e], t[(e + 1) % 3]);
                let Some(ns) = by_edge.get(&(a.min(b), a.max(b))) else { continue };
                if ns.len() != 2 {
                    continue;
                }
                let j = if ns[0] == k { ns[1] } else { ns[0] };
                if done[j] {
                    continue;
                }
                // The neighbour must run the edge b -> a.
                let u = tris[j];
                let runs_ab = (0..3).any(|f| u[f] == a && u[(f + 1) % 3] == b);
                if runs_ab {
                    tris[j] = [u[0], u[2], u[1]];
                }
                done[j] = true;
                stack.push(j);
            }
        }
    }
    tris
}

/// Twice the signed area of the triangle `t` over the points `p` (x, y).
pub fn signed_area(t: &[u32; 3], p: impl Fn(usize) -> [f32; 2]) -> f32 {
    let (a, b, c) = (p(t[0] as usize), p(t[1] as usize), p(t[2] as usize));
    (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])
}

/// Untangles the landmarks where the portrait's own mesh is folded over (a closed mouth crowds
/// the lips' inner rings and corners into a pixel or two, and the landmark model sometimes
/// crosses them): each `movable` corner of a folded triangle moves part of the way towards the
/// middle of its neighbours, until no triangle with a movable corner is folded (at most 200
/// rounds). Moving a landmark of the rest mesh does not change the rest frame (the warp at rest
/// is the identity wherever the points are); it makes every pose's warp start from a mesh
/// without folds. Only where folds are noise: the far side of a turned face is folded because it
/// is hidden, and stays as it is. Returns how many triangles were folded before.
pub(crate) fn untangle(p: &mut [[f32; 3]], wound: &[[u32; 3]], movable: impl Fn(usize) -> bool) -> usize {
    let n = p.len();
    let mut nbrs: Vec<Vec<usize>> = vec![Vec::new(); n];
    for t in wound {
        for e in 0..3 {
            let (a, b) = (t[e] as usize, t[(e + 1) % 3] as usize);
            if a < n && b < n {
                if !nbrs[a].contains(&b) {
                    nbrs[a].push(b);
                }
                if !nbrs[b].contains(&a) {
                    nbrs[b].push(a);
                }
            }
        }
    }
    let total: f32 = wound.iter().map(|t| signed_area(t, |i| [p[i][0], p[i][1]])).sum();
    let sign = if total < 0.0 { -1.0 } else { 1.0 };
    let wound: Vec<[u32; 3]> = wound.iter().filter(|t| t.iter().any(|&i| (i as usize) < n && movable(i as usize))).copied().collect();
    let wound = &wound[..];
    let folded = |p: &[[f32; 3]]| -> Vec<usize> {
        let mut v: Vec<usize> = Vec::new();
        for t in wound {
            if sign * signed_area(t, |i| [p[i][0], p[i][1]]) <= 0.0 {
                v.extend(t.iter().map(|&i| i as usize).filter(|&i| movable(i)));
            }
        }
        v.sort_unstable();
        v.dedup();
        v
    };
    let before = wound.iter().filter(|t| sign * signed_area(t, |i| [p[i][0], p[i][1]]) <= 0.0).count();
    for _ in 0..200 {
        let moving = folded(p);
        if moving.is_empty() {
            break;
        }
        let targets: Vec<[f32; 2]> = moving
            .iter()
            .map(|&v| {
                let k = nbrs[v].len().max(1) as f32;
                let s = nbrs[v].iter().fold([0.0, 0.0], |a, &u| [a[0] + p[u][0], a[1] + p[u][1]]);
                [s[0] / k, s[1] / k]
            })
            .collect();
        for (&v, t) in moving.iter().zip(&targets) {
            p[v][0] += 0.3 * (t[0] - p[v][0]);
            p[v][1] += 0.3 * (t[1] - p[v][1]);
        }
    }
    before
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wound_mesh_runs_every_shared_edge_both_ways() {
        let t = face_mesh_wound();
        let mut directed = std::collections::HashMap::new();
        for tri in &t {
            for e in 0..3 {
                *directed.entry((tri[e], tri[(e + 1) % 3])).or_insert(0) += 1;
            }
        }
        let mut shared = 0;
        for (&(a, b), &n) in &directed {
            assert_eq!(n, 1, "edge {a}-{b} runs the same way in {n} triangles");
            if directed.contains_key(&(b, a)) {
                shared += 1;
            }
        }
        assert!(shared > 2000, "only {shared} shared edges");
    }

    #[test]
    fn untangling_unfolds_only_what_it_may_move() {
        // A square split in four around a centre point; the centre pushed out past one side
        // folds the triangle on that side.
        let wound: Vec<[u32; 3]> = vec![[0, 1, 4], [1, 2, 4], [2, 3, 4], [3, 0, 4]];
        let square = [[0.0, 0.0, 0.0], [10.0, 0.0, 0.0], [10.0, 10.0, 0.0], [0.0, 10.0, 0.0]];
        let folded_count = |p: &[[f32; 3]]| {
            let s: f32 = wound.iter().map(|t| signed_area(t, |i| [p[i][0], p[i][1]])).sum::<f32>().signum();
            wound.iter().filter(|t| s * signed_area(t, |i| [p[i][0], p[i][1]]) <= 0.0).count()
        };
        let mut p: Vec<[f32; 3]> = square.to_vec();
        p.push([5.0, -2.0, 0.0]);
        assert_eq!(folded_count(&p), 1);
        let kept = p.clone();
        assert_eq!(untangle(&mut p, &wound, |_| false), 0, "nothing movable: nothing counted");
        assert_eq!(p, kept);
        assert_eq!(untangle(&mut p, &wound, |i| i == 4), 1);
        assert_eq!(folded_count(&p), 0, "still folded: {p:?}");
        assert_eq!(&p[..4], &kept[..4], "a corner that may not move moved");
    }
}
