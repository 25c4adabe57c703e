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

use super::bases::{build_bases, Basis, FaceFrame};
use super::geometry::*;
use super::analysis::{idx, FaceAnalysis, Iris, LANDMARK_COUNT};
use crate::motion_params::{MotionFrame, Param};

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
    /// The user's hair mask (`portrait.hair_mask`) cropped and scaled like `image`.
    pub hair_mask: Option<image::GrayImage>,
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
        {
            // The lips and the skin just around them (an ellipse 1.6 mouth widths across, 1.2
            // tall): where a closed mouth crowds the landmarks into folds.
            let (l, r) = (rest[idx::MOUTH_LEFT], rest[idx::MOUTH_RIGHT]);
            let c = [(l[0] + r[0]) / 2.0, (l[1] + r[1]) / 2.0];
            let wm = len(sub([l[0], l[1]], [r[0], r[1]])).max(1.0);
            let near: Vec<bool> = rest[..LANDMARK_COUNT]
                .iter()
                .map(|p| ((p[0] - c[0]) / (0.8 * wm)).powi(2) + ((p[1] - c[1]) / (0.6 * wm)).powi(2) < 1.0)
                .collect();
            untangle(&mut rest[..LANDMARK_COUNT], &face_mesh_wound(), |i| near[i]);
        }
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
            hair_mask: None,
        }
    }

    /// Sets the hair mask, given at the portrait's own size: cropped and scaled like the portrait.
    pub fn set_hair_mask(&mut self, mask: &image::GrayImage) {
        let c = self.crop;
        let cropped = image::imageops::crop_imm(mask, c[0], c[1], c[2], c[3]).to_image();
        self.hair_mask = Some(image::imageops::resize(&cropped, self.width, self.height, image::imageops::FilterType::Triangle));
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

        let pose = HeadPose::of(self, m);
        out.clear();
        depth.clear();
        let mut last_w = f32::NAN;
        let mut rot = [[1.0f32, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
        for (i, p) in scratch.iter().enumerate() {
            let hw = self.head_weight[i];
            if hw != last_w {
                rot = pose.rotation(hw);
                last_w = hw;
            }
            let (xy, z) = pose.apply(self, &rot, hw, *p, self.rest[i]);
            out.push(xy);
            depth.push(z);
        }
    }
}

impl Rig {
    /// Where a point rigidly attached to the skull lands in the frame: `p` is its position
    /// after the face's own deformation (3D, frame pixels, as in `rest`), `rest` where it sits
    /// in the portrait. The head pose and perspective of `deform` with the full head weight.
    /// For geometry that is not in the mesh: the teeth.
    pub fn place(&self, m: &MotionFrame, p: [f32; 3], rest: [f32; 3]) -> [f32; 2] {
        let pose = HeadPose::of(self, m);
        pose.apply(self, &pose.rotation(1.0), 1.0, p, rest).0
    }
}

/// One frame's head pose, as `deform` and `place` apply it after the face's own deformation.
struct HeadPose {
    yaw: f32,
    pitch: f32,
    roll: f32,
    scale: f32,
    shift: [f32; 2],
}

impl HeadPose {
    fn of(rig: &Rig, m: &MotionFrame) -> HeadPose {
        HeadPose {
            yaw: m.get(Param::HeadYaw).to_radians(),
            pitch: m.get(Param::HeadPitch).to_radians(),
            roll: m.get(Param::HeadRoll).to_radians(),
            scale: m.get(Param::HeadScale),
            shift: [m.get(Param::HeadX) * rig.width as f32, m.get(Param::HeadY) * rig.height as f32],
        }
    }

    /// The rotation at head weight `hw` (vertices that follow the head less turn less).
    fn rotation(&self, hw: f32) -> [[f32; 3]; 3] {
        rotation(self.yaw * hw, self.pitch * hw, self.roll * hw)
    }

    /// Point `p` (deformed; `rest` where it sits in the portrait) under the pose at head weight
    /// `hw` with `rot = self.rotation(hw)`: its frame position and its depth after the pose.
    /// The perspective moves the point by the difference of the two projections, so a still
    /// head leaves the portrait exactly as it is.
    fn apply(&self, rig: &Rig, rot: &[[f32; 3]; 3], hw: f32, p: [f32; 3], rest: [f32; 3]) -> ([f32; 2], f32) {
        let (c, f, pv) = ([rig.width as f32 / 2.0, rig.height as f32 / 2.0], rig.focal_px, rig.pivot);
        let project = |p: [f32; 3]| {
            let s = f / (f + p[2] - pv[2]).max(f * 0.2);
            [c[0] + (p[0] - c[0]) * s, c[1] + (p[1] - c[1]) * s]
        };
        let d = [p[0] - pv[0], p[1] - pv[1], p[2] - pv[2]];
        let s = 1.0 + (self.scale - 1.0) * hw;
        let q = [
            pv[0] + s * (rot[0][0] * d[0] + rot[0][1] * d[1] + rot[0][2] * d[2]) + self.shift[0] * hw,
            pv[1] + s * (rot[1][0] * d[0] + rot[1][1] * d[1] + rot[1][2] * d[2]) + self.shift[1] * hw,
            pv[2] + s * (rot[2][0] * d[0] + rot[2][1] * d[1] + rot[2][2] * d[2]),
        ];
        let (pq, pr) = (project(q), project(rest));
        ([rest[0] + pq[0] - pr[0], rest[1] + pq[1] - pr[1]], q[2])
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

