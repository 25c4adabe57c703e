//! The rig: the portrait cropped to the video frame, a triangle mesh over face, hair, neck,
//! shoulders and background out to the frame border, and linear blendshape bases in the ARKit
//! convention; `Rig::deform` turns one `MotionFrame` into the mesh's vertex positions in the frame.
//! Not for: drawing (see `render`) or deciding motion (see `motion`).
//!
//! Geometry: the 468 face landmarks keep the depth the landmark model gives, so a head turn rotates
//! a 3D face surface about a pivot inside the head and projects it with perspective (the nose moves
//! further than the cheeks, the far cheek compresses). Three rings of extra vertices (hair and head
//! outline, outer hair and neck, the frame border) follow the head less and less, so a turn or nod
//! bends the picture smoothly instead of tearing it. The mouth opening and the eye openings are
//! holes in the mesh, drawn by `render`'s mouth and eye shaders.

use image::RgbImage;

use crate::face::{idx, FaceAnalysis, Iris, LANDMARK_COUNT};
use crate::motion_params::{MotionFrame, Param};

/// How far below the lips' midline (in inter-ocular distances) the skin takes the jaw's full
/// motion: small, so that the skin just under the lower lip moves with it instead of folding.
const RAMP: f32 = 0.35;
/// The face mesh's triangles, derived from mediapipe's tessellation by
/// `models/convert/face_mesh_triangles.py`; the mouth and eye openings are holes.
const FACE_MESH: &str = include_str!("../models/data/face_mesh_triangles.txt");

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

/// Sparse displacement of vertices at full activation of one parameter.
#[derive(Debug, Clone)]
pub struct Basis {
    pub param: Param,
    pub deltas: Vec<(u32, [f32; 3])>,
}

/// One eye as the renderer needs it.
#[derive(Debug, Clone)]
pub struct EyeRegion {
    /// Corner vertices (outer, inner) and the lid polylines from outer to inner corner.
    pub upper: Vec<u32>,
    pub lower: Vec<u32>,
    pub iris: Iris,
    pub sclera_rgb: [f32; 3],
    pub iris_rgb: [f32; 3],
    /// +1 when the outer corner is on the image's right (the subject's left eye), else −1.
    pub outward_x: f32,
}

#[derive(Debug, Clone)]
pub struct Rig {
    pub width: u32,
    pub height: u32,
    /// The portrait, cropped and scaled to the video frame.
    pub image: RgbImage,
    /// Neutral 3D position of each vertex in frame pixels (z: depth, same scale).
    pub rest: Vec<[f32; 3]>,
    /// How much each vertex follows the head pose (1 face and hair, 0 the frame border).
    pub head_weight: Vec<f32>,
    pub skin: Vec<[u32; 3]>,
    pub mouth: Vec<[u32; 3]>,
    pub eyes_tris: Vec<[u32; 3]>,
    /// [subject's right eye, subject's left eye].
    pub eyes: [EyeRegion; 2],
    pub bases: Vec<Basis>,
    pub pivot: [f32; 3],
    pub focal_px: f32,
    /// Inter-ocular distance in frame pixels: the unit of every displacement.
    pub iod: f32,
    /// Where the crop sits in the original image: x, y, width, height.
    pub crop: [u32; 4],
}

fn sub(a: [f32; 2], b: [f32; 2]) -> [f32; 2] {
    [a[0] - b[0], a[1] - b[1]]
}
fn len(a: [f32; 2]) -> f32 {
    (a[0] * a[0] + a[1] * a[1]).sqrt()
}
fn smoothstep(e0: f32, e1: f32, x: f32) -> f32 {
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

/// The face's own frame: origin between the mouth corners, x along the eye line towards the
/// subject's left, y down the face, unit one inter-ocular distance.
#[derive(Debug, Clone, Copy)]
struct FaceFrame {
    origin: [f32; 2],
    ex: [f32; 2],
    ey: [f32; 2],
    iod: f32,
}

impl FaceFrame {
    fn local(&self, p: [f32; 2]) -> [f32; 2] {
        let d = sub(p, self.origin);
        [(d[0] * self.ex[0] + d[1] * self.ex[1]) / self.iod, (d[0] * self.ey[0] + d[1] * self.ey[1]) / self.iod]
    }
    /// A displacement given in face units (x, y) plus depth, in frame pixels.
    fn delta(&self, d: [f32; 3]) -> [f32; 3] {
        [
            (d[0] * self.ex[0] + d[1] * self.ey[0]) * self.iod,
            (d[0] * self.ex[1] + d[1] * self.ey[1]) * self.iod,
            d[2] * self.iod,
        ]
    }
}

/// Choice of crop: the face a bit above centre, the face height about 1/2.3 of the frame
/// (times `head_distance`), shrunk to fit inside the picture.
pub fn choose_crop(a: &FaceAnalysis, width: u32, height: u32, head_distance: f32) -> [u32; 4] {
    let pts: Vec<[f32; 2]> = idx::FACE_OVAL.iter().map(|&i| [a.landmarks[i][0], a.landmarks[i][1]]).collect();
    let cx = pts.iter().map(|p| p[0]).sum::<f32>() / pts.len() as f32;
    let cy = pts.iter().map(|p| p[1]).sum::<f32>() / pts.len() as f32;
    let fh = len(sub(
        [a.landmarks[idx::CHIN][0], a.landmarks[idx::CHIN][1]],
        [a.landmarks[idx::FOREHEAD][0], a.landmarks[idx::FOREHEAD][1]],
    ));
    let aspect = width as f32 / height as f32;
    let (iw, ih) = (a.image_width as f32, a.image_height as f32);
    let mut ch = fh * 2.3 * head_distance.max(0.1);
    let mut cw = ch * aspect;
    let fit = (iw / cw).min(ih / ch).min(1.0);
    ch *= fit;
    cw *= fit;
    let x0 = (cx - cw / 2.0).clamp(0.0, (iw - cw).max(0.0));
    let y0 = (cy + 0.12 * fh - ch / 2.0).clamp(0.0, (ih - ch).max(0.0));
    let cw = (cw.round() as u32).clamp(1, a.image_width);
    let ch = (ch.round() as u32).clamp(1, a.image_height);
    let x0 = (x0.round() as u32).min(a.image_width - cw);
    let y0 = (y0.round() as u32).min(a.image_height - ch);
    [x0, y0, cw, ch]
}

impl Rig {
    /// Builds the rig for a `width`×`height` video from a portrait and its analysis.
    pub fn build(portrait: &RgbImage, a: &FaceAnalysis, width: u32, height: u32, head_distance: f32) -> Rig {
        let crop = choose_crop(a, width, height, head_distance);
        let cropped = image::imageops::crop_imm(portrait, crop[0], crop[1], crop[2], crop[3]).to_image();
        let image = image::imageops::resize(&cropped, width, height, image::imageops::FilterType::CatmullRom);
        let sx = width as f32 / crop[2] as f32;
        let sy = height as f32 / crop[3] as f32;
        let to_frame = |p: [f32; 3]| [(p[0] - crop[0] as f32) * sx, (p[1] - crop[1] as f32) * sy, p[2] * sx];
        let mut rest: Vec<[f32; 3]> = a.landmarks.iter().map(|&p| to_frame(p)).collect();
        let p2 = |rest: &[[f32; 3]], i: usize| [rest[i][0], rest[i][1]];

        let eye_center = |r: &[[f32; 3]], a: usize, b: usize| {
            let (p, q) = (p2(r, a), p2(r, b));
            [(p[0] + q[0]) / 2.0, (p[1] + q[1]) / 2.0]
        };
        let right_eye = eye_center(&rest, 33, 133);
        let left_eye = eye_center(&rest, 263, 362);
        let iod = len(sub(left_eye, right_eye)).max(4.0);
        let ex = [(left_eye[0] - right_eye[0]) / iod, (left_eye[1] - right_eye[1]) / iod];
        let ey = [-ex[1], ex[0]];
        let mr = p2(&rest, idx::MOUTH_RIGHT);
        let ml = p2(&rest, idx::MOUTH_LEFT);
        let frame = FaceFrame { origin: [(mr[0] + ml[0]) / 2.0, (mr[1] + ml[1]) / 2.0], ex, ey, iod };

        // Head pivot: at the depth of the face's silhouette (the cheek-side oval points), level
        // with them, so a turn swings the nose and keeps the outline nearly in place.
        let (s1, s2) = (rest[234], rest[454]);
        let pivot = [(s1[0] + s2[0]) / 2.0, (s1[1] + s2[1]) / 2.0, (s1[2] + s2[2]) / 2.0];
        let mut head_weight = vec![1.0f32; LANDMARK_COUNT];

        // Rings out to the border, built radially from the face oval's centre.
        let oval: Vec<[f32; 2]> = idx::FACE_OVAL.iter().map(|&i| p2(&rest, i)).collect();
        let c = [
            oval.iter().map(|p| p[0]).sum::<f32>() / oval.len() as f32,
            oval.iter().map(|p| p[1]).sum::<f32>() / oval.len() as f32,
        ];
        let (w, h) = (width as f32, height as f32);
        // Largest t ≤ want such that c + d·t stays `margin` inside the frame.
        let fit_t = |d: [f32; 2], want: f32, margin: f32| {
            let mut t = want;
            for (dc, cc, lim) in [(d[0], c[0], w), (d[1], c[1], h)] {
                if dc > 0.0 {
                    t = t.min((lim - margin - cc) / dc);
                } else if dc < 0.0 {
                    t = t.min((margin - cc) / dc);
                }
            }
            t.max(1.0)
        };
        let n = oval.len();
        let mut ring1 = Vec::with_capacity(n);
        let mut ring2 = Vec::with_capacity(n);
        let mut border = Vec::with_capacity(n);
        let mut parent = Vec::new(); // (ring vertex, oval landmark, share of its displacement)
        for (k, &p) in oval.iter().enumerate() {
            let d = sub(p, c);
            // 0 beside and above the face, 1 straight below the chin (the neck).
            let down = smoothstep(0.1, 0.9, (d[0] * ey[0] + d[1] * ey[1]) / len(d).max(1e-3));
            let t2 = fit_t(d, 1.6, 2.0);
            let t1 = (1.25f32).min(1.0 + (t2 - 1.0) * 0.5);
            let z = pivot[2];
            let v1 = rest.len() as u32;
            rest.push([c[0] + d[0] * t1, c[1] + d[1] * t1, z]);
            head_weight.push(1.0 - 0.45 * down);
            parent.push((v1, idx::FACE_OVAL[k], 0.8));
            ring1.push(v1);
            let v2 = rest.len() as u32;
            rest.push([c[0] + d[0] * t2, c[1] + d[1] * t2, z]);
            head_weight.push(0.55 - 0.4 * down);
            parent.push((v2, idx::FACE_OVAL[k], 0.35));
            ring2.push(v2);
            let tb = fit_t(d, 1e6, 0.0);
            let vb = rest.len() as u32;
            rest.push([c[0] + d[0] * tb, c[1] + d[1] * tb, z]);
            head_weight.push(0.0);
            border.push(vb);
        }
        let mut corners = Vec::new();
        for (x, y) in [(0.0, 0.0), (w, 0.0), (w, h), (0.0, h)] {
            let v = rest.len() as u32;
            rest.push([x, y, pivot[2]]);
            head_weight.push(0.0);
            corners.push((v, (y - c[1]).atan2(x - c[0])));
        }

        // Skin: the face mesh, bands oval→ring1→ring2, and ring2→border with the corners.
        let mut skin = face_mesh_triangles();
        let oval_v: Vec<u32> = idx::FACE_OVAL.iter().map(|&i| i as u32).collect();
        for (inner, outer) in [(&oval_v, &ring1), (&ring1, &ring2)] {
            for k in 0..n {
                let k1 = (k + 1) % n;
                skin.push([inner[k], inner[k1], outer[k]]);
                skin.push([inner[k1], outer[k1], outer[k]]);
            }
        }
        let angle = |v: u32, rest: &[[f32; 3]]| (rest[v as usize][1] - c[1]).atan2(rest[v as usize][0] - c[0]);
        for k in 0..n {
            let k1 = (k + 1) % n;
            let (a0, a1) = (angle(border[k], &rest), angle(border[k1], &rest));
            // Angular span from k to k1, going the way the oval goes.
            let span = {
                let mut s = a1 - a0;
                while s > std::f32::consts::PI {
                    s -= 2.0 * std::f32::consts::PI;
                }
                while s < -std::f32::consts::PI {
                    s += 2.0 * std::f32::consts::PI;
                }
                s
            };
            let mut inside: Vec<(f32, u32)> = corners
                .iter()
                .filter_map(|&(v, ca)| {
                    let mut s = ca - a0;
                    while s > std::f32::consts::PI {
                        s -= 2.0 * std::f32::consts::PI;
                    }
                    while s < -std::f32::consts::PI {
                        s += 2.0 * std::f32::consts::PI;
                    }
                    let t = s / span;
                    (t > 0.0 && t < 1.0).then_some((t, v))
                })
                .collect();
            inside.sort_by(|a, b| a.0.total_cmp(&b.0));
            let mut chain = vec![border[k]];
            chain.extend(inside.iter().map(|&(_, v)| v));
            chain.push(border[k1]);
            // Fan: ring2[k] sees the first half of the chain, ring2[k1] the rest.
            let mid = chain.len() / 2;
            for j in 0..mid {
                skin.push([ring2[k], chain[j], chain[j + 1]]);
            }
            skin.push([ring2[k], chain[mid], ring2[k1]]);
            for j in mid..chain.len() - 1 {
                skin.push([ring2[k1], chain[j], chain[j + 1]]);
            }
        }

        // Holes: ladders between the upper and lower lines of the mouth and the eyes.
        let ladder = |up: &[usize], lo: &[usize]| {
            let mut t = Vec::new();
            for k in 0..up.len() - 1 {
                t.push([up[k] as u32, up[k + 1] as u32, lo[k] as u32]);
                t.push([up[k + 1] as u32, lo[k + 1] as u32, lo[k] as u32]);
            }
            t
        };
        let mouth = ladder(&idx::UPPER_LIP_INNER, &idx::LOWER_LIP_INNER);
        let mut eyes_tris = ladder(&idx::RIGHT_EYE_UPPER, &idx::RIGHT_EYE_LOWER);
        eyes_tris.extend(ladder(&idx::LEFT_EYE_UPPER, &idx::LEFT_EYE_LOWER));

        let to_frame2 = |i: Iris| Iris {
            center: [(i.center[0] - crop[0] as f32) * sx, (i.center[1] - crop[1] as f32) * sy],
            radius: i.radius * sx,
        };
        let make_eye = |upper: &[usize], lower: &[usize], iris: Iris, outward_x: f32| {
            let poly: Vec<[f32; 2]> =
                upper.iter().chain(lower.iter().rev()).map(|&i| p2(&rest, i)).collect();
            let (sclera_rgb, iris_rgb) = eye_colors(&image, &poly, &iris);
            EyeRegion {
                upper: upper.iter().map(|&i| i as u32).collect(),
                lower: lower.iter().map(|&i| i as u32).collect(),
                iris,
                sclera_rgb,
                iris_rgb,
                outward_x,
            }
        };
        let eyes = [
            make_eye(&idx::RIGHT_EYE_UPPER, &idx::RIGHT_EYE_LOWER, to_frame2(a.irises[0]), -1.0),
            make_eye(&idx::LEFT_EYE_UPPER, &idx::LEFT_EYE_LOWER, to_frame2(a.irises[1]), 1.0),
        ];

        let mut bases = build_bases(&rest, &frame);
        // Rings share part of the motion of the oval point they grew from (the jaw drags the
        // skin under the chin along instead of folding over it).
        for b in bases.iter_mut() {
            let mut extra = Vec::new();
            for &(ring_v, oval_i, share) in &parent {
                if let Some(&(_, d)) = b.deltas.iter().find(|(v, _)| *v as usize == oval_i) {
                    extra.push((ring_v, [d[0] * share, d[1] * share, d[2] * share]));
                }
            }
            b.deltas.extend(extra);
        }
        let focal_px = 2.5 * w.max(h);
        Rig {
            width,
            height,
            image,
            rest,
            head_weight,
            skin,
            mouth,
            eyes_tris,
            eyes,
            bases,
            pivot,
            focal_px,
            iod,
            crop,
        }
    }

    /// Vertex positions in the frame for one motion frame, written into `out` (xy) and `depth`
    /// (z after the head pose, for drawing order). Allocation-free once `out` has its size.
    pub fn deform(&self, m: &MotionFrame, scratch: &mut Vec<[f32; 3]>, out: &mut Vec<[f32; 2]>, depth: &mut Vec<f32>) {
        scratch.clear();
        scratch.extend_from_slice(&self.rest);
        for b in &self.bases {
            let mut wgt = m.get(b.param);
            if b.param == Param::MouthClose {
                // ARKit's mouthClose is a corrective on an open jaw: it cannot close more than it opened.
                wgt = wgt.min(m.get(Param::JawOpen));
            }
            if wgt == 0.0 {
                continue;
            }
            for &(v, d) in &b.deltas {
                let p = &mut scratch[v as usize];
                p[0] += d[0] * wgt;
                p[1] += d[1] * wgt;
                p[2] += d[2] * wgt;
            }
        }
        // Lids and lips never pass through each other, whatever the sum of the shapes.
        for e in &self.eyes {
            let n = e.upper.len() - 1;
            uncross(scratch, e.upper[1..n].iter().zip(&e.lower[1..n]).map(|(&u, &l)| (u as usize, l as usize)));
        }
        uncross(scratch, idx::UPPER_LIP_INNER[1..10].iter().copied().zip(idx::LOWER_LIP_INNER[1..10].iter().copied()));

        let yaw = m.get(Param::HeadYaw).to_radians();
        let pitch = m.get(Param::HeadPitch).to_radians();
        let roll = m.get(Param::HeadRoll).to_radians();
        let scale = m.get(Param::HeadScale);
        let (tx, ty) = (m.get(Param::HeadX) * self.width as f32, m.get(Param::HeadY) * self.height as f32);
        let c = [self.width as f32 / 2.0, self.height as f32 / 2.0];
        let f = self.focal_px;
        let project = |p: [f32; 3]| {
            let s = f / (f + p[2] - self.pivot[2]).max(f * 0.2);
            [c[0] + (p[0] - c[0]) * s, c[1] + (p[1] - c[1]) * s]
        };
        out.clear();
        depth.clear();
        let mut last_w = f32::NAN;
        let mut rot = [[1.0f32, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
        for (i, p) in scratch.iter().enumerate() {
            let hw = self.head_weight[i];
            let rest = self.rest[i];
            if hw != last_w {
                rot = rotation(yaw * hw, pitch * hw, roll * hw);
                last_w = hw;
            }
            let d = [p[0] - self.pivot[0], p[1] - self.pivot[1], p[2] - self.pivot[2]];
            let s = 1.0 + (scale - 1.0) * hw;
            let q = [
                self.pivot[0] + s * (rot[0][0] * d[0] + rot[0][1] * d[1] + rot[0][2] * d[2]) + tx * hw,
                self.pivot[1] + s * (rot[1][0] * d[0] + rot[1][1] * d[1] + rot[1][2] * d[2]) + ty * hw,
                self.pivot[2] + s * (rot[2][0] * d[0] + rot[2][1] * d[1] + rot[2][2] * d[2]),
            ];
            let (pq, pr) = (project(q), project(rest));
            out.push([rest[0] + pq[0] - pr[0], rest[1] + pq[1] - pr[1]]);
            depth.push(q[2]);
        }
    }
}

/// Yaw about the vertical axis (front towards +x), then pitch (front down), then roll (clockwise
/// in the image), as one matrix acting on (x right, y down, z away from the camera).
fn rotation(yaw: f32, pitch: f32, roll: f32) -> [[f32; 3]; 3] {
    let (sy, cy) = yaw.sin_cos();
    let (sp, cp) = pitch.sin_cos();
    let (sr, cr) = roll.sin_cos();
    let ry = [[cy, 0.0, -sy], [0.0, 1.0, 0.0], [sy, 0.0, cy]];
    let rp = [[1.0, 0.0, 0.0], [0.0, cp, -sp], [0.0, sp, cp]];
    let rr = [[cr, -sr, 0.0], [sr, cr, 0.0], [0.0, 0.0, 1.0]];
    mul(rr, mul(rp, ry))
}

fn mul(a: [[f32; 3]; 3], b: [[f32; 3]; 3]) -> [[f32; 3]; 3] {
    let mut o = [[0.0; 3]; 3];
    for i in 0..3 {
        for j in 0..3 {
            o[i][j] = (0..3).map(|k| a[i][k] * b[k][j]).sum();
        }
    }
    o
}

fn uncross(p: &mut [[f32; 3]], pairs: impl Iterator<Item = (usize, usize)>) {
    for (u, l) in pairs {
        if p[u][1] > p[l][1] {
            let m = [(p[u][0] + p[l][0]) / 2.0, (p[u][1] + p[l][1]) / 2.0, (p[u][2] + p[l][2]) / 2.0];
            p[u] = m;
            p[l] = m;
        }
    }
}

/// Mean colour of the eye white (brightest part of the eye opening outside the iris) and of the iris.
fn eye_colors(img: &RgbImage, poly: &[[f32; 2]], iris: &Iris) -> ([f32; 3], [f32; 3]) {
    let mut sclera: Vec<[f32; 3]> = Vec::new();
    let mut iris_sum = [0.0f32; 3];
    let mut iris_n = 0.0;
    for (x, y) in polygon_pixels(poly, img.width(), img.height()) {
        let p = [x as f32 + 0.5, y as f32 + 0.5];
        let px = img.get_pixel(x, y).0.map(f32::from);
        let r = len(sub(p, iris.center));
        if r < iris.radius * 0.8 {
            for c in 0..3 {
                iris_sum[c] += px[c];
            }
            iris_n += 1.0;
        } else if r > iris.radius * 1.15 {
            sclera.push(px);
        }
    }
    sclera.sort_by(|a, b| (b[0] + b[1] + b[2]).total_cmp(&(a[0] + a[1] + a[2])));
    let keep = (sclera.len() * 6 / 10).max(1).min(sclera.len());
    let mut s = [0.0f32; 3];
    for px in &sclera[..keep] {
        for c in 0..3 {
            s[c] += px[c] / keep as f32;
        }
    }
    if sclera.is_empty() {
        s = [215.0, 205.0, 200.0];
    }
    let iris_rgb = if iris_n > 0.0 { iris_sum.map(|v| v / iris_n) } else { [70.0, 50.0, 40.0] };
    (s, iris_rgb)
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
    // The seams from each inner mouth corner to its outer corner (78-62-76-61 and its mirror
    // 308-292-306-291) close the two lips off from each other.
    let corners = [78, 62, 76, 61, 308, 292, 306, 291];
    let wall = |i: usize| idx::UPPER_LIP_OUTER.contains(&i) || idx::LOWER_LIP_OUTER.contains(&i) || corners.contains(&i);
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
fn build_bases(rest: &[[f32; 3]], fr: &FaceFrame) -> Vec<Basis> {
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
            jaw[i] = lip_lower[i];
        } else if y > mid_line(x.clamp(-half_w, half_w)) {
            let lateral = 1.0 - smoothstep(0.5, 1.35, x.abs());
            jaw[i] = smoothstep(0.0, RAMP, y - mid_line(x.clamp(-half_w, half_w))) * lateral;
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
        (w > 0.0).then_some([inward * JAW, w * JAW, 0.15 * w * JAW])
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
        let open = if idx::UPPER_LIP_INNER.contains(&i) { -0.05 } else if idx::LOWER_LIP_INNER.contains(&i) { 0.06 } else { 0.0 };
        Some([-0.22 * loc[i][0] * w, open * centre, -0.08 * w])
    });
    push(Param::MouthPucker, &|i| {
        let w = lipish(i);
        Some([-0.32 * loc[i][0] * w, 0.0, -0.12 * w])
    });
    for (left, smile, frown, stretch, press, upper_up, lower_down) in [
        (true, Param::MouthSmileLeft, Param::MouthFrownLeft, Param::MouthStretchLeft, Param::MouthPressLeft, Param::MouthUpperUpLeft, Param::MouthLowerDownLeft),
        (false, Param::MouthSmileRight, Param::MouthFrownRight, Param::MouthStretchRight, Param::MouthPressRight, Param::MouthUpperUpRight, Param::MouthLowerDownRight),
    ] {
        let s = if left { 1.0 } else { -1.0 };
        let corner = lp(if left { idx::MOUTH_LEFT } else { idx::MOUTH_RIGHT });
        let cheek = [corner[0] + 0.15 * s, corner[1] - 0.55];
        let side = move |x: f32| smoothstep(-0.25, 0.45, s * x / half_w.max(1e-3));
        push(smile, &|i| {
            let g = gauss(loc[i], corner, 0.33);
            let gc = gauss(loc[i], cheek, 0.45);
            Some([s * (0.13 * g + 0.03 * gc), -0.10 * g - 0.05 * gc, 0.0])
        });
        push(frown, &|i| Some([0.02 * s * gauss(loc[i], corner, 0.33), 0.09 * gauss(loc[i], corner, 0.33), 0.0]));
        push(stretch, &|i| {
            let g = gauss(loc[i], corner, 0.38);
            Some([0.11 * s * g, 0.03 * g, 0.0])
        });
        push(press, &|i| {
            let w = side(loc[i][0]);
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
