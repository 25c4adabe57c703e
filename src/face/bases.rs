//! The rig's blendshape bases: one sparse displacement field per ARKit parameter, laid out in the
//! face's own frame (eye line, face axis, inter-ocular distance) from the 468 rest landmarks; and
//! which lip each lip-interior vertex belongs to.

use super::geometry::*;
use super::analysis::{idx, LANDMARK_COUNT};
use crate::motion_params::Param;

/// How far below the lips' midline (in inter-ocular distances) the skin takes the jaw's full
/// motion: small, so that the skin just under the lower lip moves with it instead of folding.
pub(crate) const RAMP: f32 = 0.35;

/// The seams from each inner mouth corner to its outer corner (78-62-76-61 and its mirror
/// 308-292-306-291): they close the two lips off from each other, and belong to both.
const CORNER_SEAMS: [usize; 8] = [78, 62, 76, 61, 308, 292, 306, 291];

/// Sparse displacement of vertices at full activation of one parameter.
#[derive(Debug, Clone)]
pub struct Basis {
    pub param: Param,
    pub deltas: Vec<(u32, [f32; 3])>,
}

/// The face's own frame: origin between the mouth corners, x along the eye line towards the
/// subject's left, y down the face, unit one inter-ocular distance.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FaceFrame {
    pub(crate) origin: [f32; 2],
    pub(crate) ex: [f32; 2],
    pub(crate) ey: [f32; 2],
    pub(crate) iod: f32,
}

impl FaceFrame {
    pub(crate) fn local(&self, p: [f32; 2]) -> [f32; 2] {
        let d = sub(p, self.origin);
        [(d[0] * self.ex[0] + d[1] * self.ex[1]) / self.iod, (d[0] * self.ey[0] + d[1] * self.ey[1]) / self.iod]
    }
    /// A displacement given in face units (x, y) plus depth, in frame pixels.
    pub(crate) fn delta(&self, d: [f32; 3]) -> [f32; 3] {
        [
            (d[0] * self.ex[0] + d[1] * self.ey[0]) * self.iod,
            (d[0] * self.ex[1] + d[1] * self.ey[1]) * self.iod,
            d[2] * self.iod,
        ]
    }
}

/// Which lip each vertex between the lip contours belongs to, from the mesh's connections alone:
/// `Some(false)` upper, `Some(true)` lower, `None` not a lip-interior vertex. A closed-mouth
/// portrait puts the upper lip's lowest ring of points on or even below the line where the lips
/// meet, so the points' positions cannot tell the lips apart; the mesh can, because the mouth is a
/// hole in it: flooding from the upper inner contour without crossing the outer contour or the
/// corner seams reaches the upper lip only.
pub fn lip_sides() -> Vec<Option<bool>> {
    let n = LANDMARK_COUNT;
    let mut adj = vec![Vec::new(); n];
    for t in face_mesh_triangles() {
        for k in 0..3 {
            let (a, b) = (t[k] as usize, t[(k + 1) % 3] as usize);
            if a < n && b < n {
                adj[a].push(b);
                adj[b].push(a);
            }
        }
    }
    let wall = |i: usize| idx::UPPER_LIP_OUTER.contains(&i) || idx::LOWER_LIP_OUTER.contains(&i) || CORNER_SEAMS.contains(&i);
    let flood = |seeds: &[usize], other: &[usize]| {
        let mut seen = vec![false; n];
        let mut stack: Vec<usize> = seeds.to_vec();
        while let Some(v) = stack.pop() {
            if seen[v] {
                continue;
            }
            seen[v] = true;
            for &u in &adj[v] {
                if !seen[u] && !wall(u) && !other.contains(&u) {
                    stack.push(u);
                }
            }
        }
        seen
    };
    let up = flood(&idx::UPPER_LIP_INNER[1..10], &idx::LOWER_LIP_INNER);
    let lo = flood(&idx::LOWER_LIP_INNER[1..10], &idx::UPPER_LIP_INNER);
    (0..n)
        .map(|i| match (up[i], lo[i]) {
            (true, false) => Some(false),
            (false, true) => Some(true),
            _ => None,
        })
        .collect()
}

/// Builds the blendshape bases: one sparse displacement field per parameter, in frame pixels.
pub(crate) fn build_bases(rest: &[[f32; 3]], fr: &FaceFrame) -> Vec<Basis> {
    let n = LANDMARK_COUNT;
    let loc: Vec<[f32; 2]> = (0..n).map(|i| fr.local([rest[i][0], rest[i][1]])).collect();
    let lp = |i: usize| loc[i];
    // Lips: the outer lip polygon; the inner-lip midline splits it into upper and lower lip.
    let outer: Vec<[f32; 2]> =
        idx::UPPER_LIP_OUTER.iter().chain(idx::LOWER_LIP_OUTER.iter().rev()).map(|&i| lp(i)).collect();
    let half_w = (lp(idx::MOUTH_LEFT)[0] - lp(idx::MOUTH_RIGHT)[0]).abs() / 2.0;
    let mid_line = |x: f32| -> f32 {
        // Inner-lip midline at x (linear between matching upper/lower inner points).
        let mids: Vec<[f32; 2]> = idx::UPPER_LIP_INNER
            .iter()
            .zip(idx::LOWER_LIP_INNER.iter())
            .map(|(&u, &l)| [(lp(u)[0] + lp(l)[0]) / 2.0, (lp(u)[1] + lp(l)[1]) / 2.0])
            .collect();
        if x <= mids[0][0] {
            return mids[0][1];
        }
        for w in mids.windows(2) {
            if x <= w[1][0] {
                let t = (x - w[0][0]) / (w[1][0] - w[0][0]).max(1e-6);
                return w[0][1] + t * (w[1][1] - w[0][1]);
            }
        }
        mids[mids.len() - 1][1]
    };
    let inner_set: Vec<usize> = idx::UPPER_LIP_INNER.iter().chain(idx::LOWER_LIP_INNER.iter()).copied().collect();
    // A contour's height at x (linear between its points, held beyond its ends).
    let contour_at = |ids: &[usize], x: f32| -> f32 {
        let pts: Vec<[f32; 2]> = ids.iter().map(|&i| lp(i)).collect();
        let (first, last) = (pts[0], pts[pts.len() - 1]);
        let (lo, hi) = if first[0] <= last[0] { (first, last) } else { (last, first) };
        if x <= lo[0] {
            return lo[1];
        }
        if x >= hi[0] {
            return hi[1];
        }
        for w in pts.windows(2) {
            let (a, b) = if w[0][0] <= w[1][0] { (w[0], w[1]) } else { (w[1], w[0]) };
            if x >= a[0] && x <= b[0] {
                let t = (x - a[0]) / (b[0] - a[0]).max(1e-6);
                return a[1] + t * (b[1] - a[1]);
            }
        }
        lo[1]
    };
    // How deep into its lip a point lies, from the outer contour (0) to the inner one (1). The
    // lips' own shapes grow smoothly with it: a displacement that jumped from one ring of points
    // to the next folded the lip wherever the portrait set two rings close together (a closed
    // mouth squeezes the inner rings into a pixel or two).
    let depth_in = |outer: &[usize], inner: &[usize], p: [f32; 2]| -> f32 {
        let (yo, yi) = (contour_at(outer, p[0]), contour_at(inner, p[0]));
        if (yi - yo).abs() < 1e-4 {
            return 1.0;
        }
        ((p[1] - yo) / (yi - yo)).clamp(0.0, 1.0)
    };
    // Each lip's own polygon (outer contour, then inner contour back): near the corners the
    // midline alone misfiles lower-lip points as upper ones and the lip tears there.
    let upper_lip: Vec<[f32; 2]> =
        idx::UPPER_LIP_OUTER.iter().chain(idx::UPPER_LIP_INNER.iter().rev()).map(|&i| lp(i)).collect();
    let lower_lip: Vec<[f32; 2]> =
        idx::LOWER_LIP_OUTER.iter().chain(idx::LOWER_LIP_INNER.iter().rev()).map(|&i| lp(i)).collect();
    let sides = lip_sides();
    let mut lip_upper = vec![0.0f32; n];
    let mut lip_lower = vec![0.0f32; n];
    let mut jaw = vec![0.0f32; n];
    let mut lift = vec![0.0f32; n];
    let mut lip_depth = vec![0.0f32; n];
    // How far the jaw parts the lips at x across the mouth: 1 in the middle, 0 at the corners.
    let lens = |x: f32| (1.0 - (x.abs() / half_w.max(1e-3)).min(1.0).powf(2.2)).max(0.0);
    for i in 0..n {
        let [x, y] = loc[i];
        let in_lips = inside_polygon([x, y], &outer)
            || idx::UPPER_LIP_OUTER.contains(&i)
            || idx::LOWER_LIP_OUTER.contains(&i)
            || inner_set.contains(&i);
        let corner = smoothstep(0.72, 1.0, x.abs() / half_w);
        let below = if sides[i] == Some(false) {
            false
        } else if sides[i] == Some(true) {
            true
        } else if inside_polygon([x, y], &lower_lip) {
            true
        } else if inside_polygon([x, y], &upper_lip) {
            false
        } else {
            y > mid_line(x)
        };
        if in_lips {
            let (u, l) = if below { (0.0, 1.0) } else { (1.0, 0.0) };
            lip_upper[i] = u * (1.0 - corner) + 0.35 * corner;
            lip_lower[i] = l * (1.0 - corner) + 0.35 * corner;
            // An open jaw parts the lips as a lens, not a slot: the lower lip drops most in the
            // middle and less and less towards the corners, and the upper lip's middle lifts a
            // little; both lips near a corner go down together with it, so the corners stay shut.
            let lens = lens(x);
            lip_depth[i] = if below {
                depth_in(&idx::LOWER_LIP_OUTER, &idx::LOWER_LIP_INNER, [x, y])
            } else {
                depth_in(&idx::UPPER_LIP_OUTER, &idx::UPPER_LIP_INNER, [x, y])
            };
            if CORNER_SEAMS.contains(&i) {
                // The corners' seam belongs to both lips: halfway between them.
                jaw[i] = 0.35 + 0.15 * lens;
            } else if below {
                jaw[i] = 0.35 + 0.65 * lens;
            } else {
                jaw[i] = 0.35 * (1.0 - lens);
                lift[i] = lens * (0.03 + 0.09 * lip_depth[i]);
            }
        } else if y > mid_line(x.clamp(-half_w, half_w)) {
            let lateral = 1.0 - smoothstep(0.5, 1.35, x.abs());
            let dy = y - mid_line(x.clamp(-half_w, half_w));
            // The skin under the lower lip goes down with it (no squeeze between lip and chin).
            let lens = lens(x);
            let under_lip = (0.35 + 0.65 * lens) * smoothstep(0.0, 0.15, dy);
            jaw[i] = smoothstep(0.0, RAMP, dy).max(under_lip) * lateral;
        }
    }
    let gauss = |p: [f32; 2], c: [f32; 2], r: f32| {
        let d = len(sub(p, c)) / r;
        (-d * d).exp()
    };
    let mut bases = Vec::new();
    let mut push = |param: Param, f: &dyn Fn(usize) -> Option<[f32; 3]>| {
        let deltas: Vec<(u32, [f32; 3])> = (0..n)
            .filter_map(|i| f(i).map(|d| (i as u32, fr.delta(d))))
            .filter(|(_, d)| d.iter().any(|v| v.abs() > 1e-3))
            .collect();
        bases.push(Basis { param, deltas });
    };
    const JAW: f32 = 0.5;
    push(Param::JawOpen, &|i| {
        let w = jaw[i];
        let inward = if lip_lower[i] > 0.0 { -0.06 * loc[i][0] / half_w.max(1e-3) * w } else { 0.0 };
        (w > 0.0 || lift[i] > 0.0).then_some([inward * JAW, (w - lift[i]) * JAW, 0.15 * w * JAW])
    });
    push(Param::MouthClose, &|i| {
        let up = lip_upper[i] * (1.0 - lip_lower[i]);
        let lo = lip_lower[i] * (1.0 - lip_upper[i]);
        (up + lo > 0.0).then_some([0.0, (0.3 * up - 0.7 * lo) * JAW, 0.0])
    });
    let mouth_c = [0.0, mid_line(0.0)];
    let lipish = |i: usize| (lip_upper[i] + lip_lower[i]).min(1.0).max(0.5 * gauss(loc[i], mouth_c, 0.6 * half_w.max(0.3) + 0.2));
    push(Param::MouthFunnel, &|i| {
        let w = lipish(i);
        let centre = 1.0 - (loc[i][0] / half_w.max(1e-3)).powi(2).min(1.0);
        // The inner edges part (the lips' depth squared: their inner rims most, nothing at the
        // outer contour, smoothly between).
        let t2 = lip_depth[i] * lip_depth[i];
        let open = if CORNER_SEAMS.contains(&i) {
            0.0
        } else if lip_lower[i] > lip_upper[i] {
            0.06 * t2
        } else if lip_upper[i] > lip_lower[i] {
            -0.05 * t2
        } else {
            0.0
        };
        Some([-0.22 * loc[i][0] * w, open * centre, -0.08 * w])
    });
    push(Param::MouthPucker, &|i| {
        let w = lipish(i);
        Some([-0.42 * loc[i][0] * w, 0.0, -0.12 * w])
    });
    for (left, smile, frown, stretch, press, upper_up, lower_down) in [
        (true, Param::MouthSmileLeft, Param::MouthFrownLeft, Param::MouthStretchLeft, Param::MouthPressLeft, Param::MouthUpperUpLeft, Param::MouthLowerDownLeft),
        (false, Param::MouthSmileRight, Param::MouthFrownRight, Param::MouthStretchRight, Param::MouthPressRight, Param::MouthUpperUpRight, Param::MouthLowerDownRight),
    ] {
        let s = if left { 1.0 } else { -1.0 };
        let corner = lp(if left { idx::MOUTH_LEFT } else { idx::MOUTH_RIGHT });
        let cheek = [corner[0] + 0.15 * s, corner[1] - 0.55];
        // The cheek's apple, under the outer half of the eye: a smile bunches it up and out,
        // pushing the lower lid up a little.
        let apple = [corner[0] + 0.28 * s, corner[1] - 0.78];
        let side = move |x: f32| smoothstep(-0.25, 0.45, s * x / half_w.max(1e-3));
        push(smile, &|i| {
            let g = gauss(loc[i], corner, 0.33);
            let gc = gauss(loc[i], cheek, 0.45);
            let ga = gauss(loc[i], apple, 0.32);
            Some([s * (0.13 * g + 0.03 * gc + 0.012 * ga), -0.10 * g - 0.05 * gc - 0.055 * ga, 0.04 * ga])
        });
        push(frown, &|i| Some([0.02 * s * gauss(loc[i], corner, 0.33), 0.09 * gauss(loc[i], corner, 0.33), 0.0]));
        push(stretch, &|i| {
            let g = gauss(loc[i], corner, 0.38);
            Some([0.11 * s * g, 0.03 * g, 0.0])
        });
        push(press, &|i| {
            // Pressed lips thin towards the line where they meet: the outer contours move in,
            // the meeting rims (already touching) stay.
            let w = side(loc[i][0]) * (1.0 - lip_depth[i]);
            let d = 0.04 * w * (lip_upper[i] * (1.0 - lip_lower[i]) - lip_lower[i] * (1.0 - lip_upper[i]));
            Some([0.0, d, 0.0])
        });
        push(upper_up, &|i| Some([0.0, -0.07 * side(loc[i][0]) * lip_upper[i] * (1.0 - lip_lower[i]), 0.0]));
        push(lower_down, &|i| Some([0.0, 0.09 * side(loc[i][0]) * lip_lower[i] * (1.0 - lip_upper[i]), 0.0]));
    }
    // Brows: inner ends (55/107, 285/336), outer ends (46/70, 276/300), centres.
    let mean = |ids: &[usize]| {
        let s = ids.iter().fold([0.0, 0.0], |a, &i| [a[0] + lp(i)[0], a[1] + lp(i)[1]]);
        [s[0] / ids.len() as f32, s[1] / ids.len() as f32]
    };
    let inner_r = mean(&[55, 107]);
    let inner_l = mean(&[285, 336]);
    push(Param::BrowInnerUp, &|i| {
        let g = gauss(loc[i], inner_r, 0.38).max(gauss(loc[i], inner_l, 0.38));
        Some([0.0, -0.12 * g, 0.0])
    });
    for (left, down, outer_up) in [(true, Param::BrowDownLeft, Param::BrowOuterUpLeft), (false, Param::BrowDownRight, Param::BrowOuterUpRight)] {
        let s = if left { 1.0 } else { -1.0 };
        let centre = mean(if left { &idx::LEFT_BROW } else { &idx::RIGHT_BROW });
        let outer_end = mean(if left { &[276, 300] } else { &[46, 70] });
        push(down, &|i| {
            let g = gauss(loc[i], centre, 0.42);
            Some([-0.03 * s * g, 0.08 * g, 0.0])
        });
        push(outer_up, &|i| Some([0.0, -0.10 * gauss(loc[i], outer_end, 0.38), 0.0]));
    }
    // Eyes: lids move along the segment between matching upper and lower lid points.
    for (left, blink, squint, wide) in [
        (true, Param::EyeBlinkLeft, Param::EyeSquintLeft, Param::EyeWideLeft),
        (false, Param::EyeBlinkRight, Param::EyeSquintRight, Param::EyeWideRight),
    ] {
        let (up, lo) = if left { (&idx::LEFT_EYE_UPPER, &idx::LEFT_EYE_LOWER) } else { (&idx::RIGHT_EYE_UPPER, &idx::RIGHT_EYE_LOWER) };
        let gap = |k: usize| {
            let (u, l) = (rest[up[k]], rest[lo[k]]);
            [l[0] - u[0], l[1] - u[1], l[2] - u[2]]
        };
        // Skin above the upper lid follows part of the lid's travel (the lid fold).
        let lid_follow = |i: usize, factor: f32| -> Option<[f32; 3]> {
            if up.contains(&i) || lo.contains(&i) {
                return None;
            }
            let (mut best, mut bk) = (f32::MAX, 0);
            for k in 1..up.len() - 1 {
                let d = len(sub(loc[i], lp(up[k])));
                if d < best {
                    best = d;
                    bk = k;
                }
            }
            let above = loc[i][1] < lp(up[bk])[1];
            let w = factor * (1.0 - best / 0.3).max(0.0);
            (above && w > 0.0).then(|| {
                let g = gap(bk);
                [g[0] * w, g[1] * w, g[2] * w]
            })
        };
        let pixels_to_units = |d: [f32; 3]| -> [f32; 3] {
            // bases are built in face units; convert a frame-pixel vector back.
            let x = (d[0] * fr.ex[0] + d[1] * fr.ex[1]) / fr.iod;
            let y = (d[0] * fr.ey[0] + d[1] * fr.ey[1]) / fr.iod;
            [x, y, d[2] / fr.iod]
        };
        let lid = |i: usize, up_share: f32, lo_share: f32, fold: f32| -> Option<[f32; 3]> {
            if let Some(k) = up.iter().position(|&u| u == i) {
                if k == 0 || k == up.len() - 1 {
                    return None;
                }
                let g = gap(k);
                return Some(pixels_to_units([g[0] * up_share, g[1] * up_share, g[2] * up_share]));
            }
            if let Some(k) = lo.iter().position(|&l| l == i) {
                if k == 0 || k == lo.len() - 1 {
                    return None;
                }
                let g = gap(k);
                return Some(pixels_to_units([-g[0] * lo_share, -g[1] * lo_share, -g[2] * lo_share]));
            }
            lid_follow(i, fold * up_share).map(pixels_to_units)
        };
        push(blink, &|i| lid(i, 0.88, 0.12, 0.5));
        push(squint, &|i| lid(i, 0.1, 0.3, 0.3));
        push(wide, &|i| lid(i, -0.22, -0.03, 0.5));
    }
    bases
}
