//! The eye shader: whites kept, the iris moved for gaze, clipped by the lids (which close for
//! blinks).

use super::raster::{mix, put, raster, sample};
use crate::face::geometry::{inside_polygon, smoothstep};
use crate::face::rig::{EyeRegion, Rig};
use crate::motion_params::{MotionFrame, Param};

/// One eye: its whites kept, the iris moved for gaze, clipped by the lids.
#[allow(clippy::too_many_arguments)]
pub(super) fn draw_eye(frame: &mut [u8], dest: &[[f32; 2]], eye_poly: &mut Vec<[f32; 2]>, rig: &Rig, eye: &EyeRegion, e: usize, m: &MotionFrame, w: usize, h: usize) {
    let src = rig.image.as_raw().as_slice();
    let n = eye.upper.len();
    let (od, id) = (dest[eye.upper[0] as usize], dest[eye.upper[n - 1] as usize]);
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
    eye_poly.clear();
    for &i in eye.upper.iter().chain(eye.lower.iter().rev()) {
        eye_poly.push(rs(i));
    }
    let poly = &eye_poly;
    let (ci, rad) = (eye.iris.center, eye.iris.radius.max(0.5));
    let moved = [ci[0] + g[0], ci[1] + g[1]];
    let tris = if e == 0 { &rig.eyes_tris[..16] } else { &rig.eyes_tris[16..] };
    for t in tris {
        let (a, b, c) = (dest[t[0] as usize], dest[t[1] as usize], dest[t[2] as usize]);
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
