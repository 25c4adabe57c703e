//! The rig and renderer on a real portrait analysed by the real models: the neutral pose is the
//! portrait, each control moves the part of the face it names, and the head turns without tearing.

mod common;
use common::*;

use speakface::config::Config;
use speakface::face::idx;
use speakface::motion_params::{MotionFrame, Param};
use speakface::render::Renderer;
use speakface::face::geometry::inside_polygon;
use speakface::face::rig::Rig;

fn rig() -> Rig {
    rig_of("portraits/default.jpg")
}

fn rig_of(portrait: &str) -> Rig {
    let dir = tmpdir("rig");
    std::env::set_var("SPEAKFACE_CACHE", dir.join("cache"));
    let (img, analysis) = speakface::face::analyze_portrait(&Config::default(), &asset(portrait)).unwrap();
    Rig::build(&img, &analysis, 512, 512, 1.0)
}

fn region(rig: &Rig, ids: &[usize], pad: f32) -> [u32; 4] {
    bbox(ids.iter().map(|&i| [rig.rest[i][0], rig.rest[i][1]]), pad, rig.width, rig.height)
}

fn with(p: Param, v: f32) -> MotionFrame {
    let mut m = MotionFrame::default();
    m.set(p, v);
    m
}

#[test]
fn the_neutral_pose_reproduces_the_portrait() {
    let rig = rig();
    let mut r = Renderer::new(&rig);
    let frame = r.render(&rig, &MotionFrame::default()).to_vec();
    let p = psnr(&frame, rig.image.as_raw());
    assert!(p > 45.0, "neutral frame PSNR {p:.1} dB");
}

#[test]
fn each_control_moves_the_part_it_names() {
    let rig = rig();
    let mut r = Renderer::new(&rig);
    let neutral = r.render(&rig, &MotionFrame::default()).to_vec();
    let mouth: Vec<usize> = idx::UPPER_LIP_OUTER.iter().chain(idx::LOWER_LIP_OUTER.iter()).copied().collect();
    let mouth_r = region(&rig, &mouth, 10.0);
    let left_eye: Vec<usize> = idx::LEFT_EYE_UPPER.iter().chain(idx::LEFT_EYE_LOWER.iter()).copied().collect();
    let right_eye: Vec<usize> = idx::RIGHT_EYE_UPPER.iter().chain(idx::RIGHT_EYE_LOWER.iter()).copied().collect();
    let (le, re) = (region(&rig, &left_eye, 4.0), region(&rig, &right_eye, 4.0));
    let brows = region(&rig, &[idx::LEFT_BROW.as_slice(), idx::RIGHT_BROW.as_slice()].concat(), 8.0);

    let d = |m: MotionFrame, r_: [u32; 4], r: &mut Renderer| region_diff(&neutral, r.render(&rig, &m), 512, r_);
    let jaw = d(with(Param::JawOpen, 1.0), mouth_r, &mut r);
    assert!(jaw > 15.0, "jawOpen moves the mouth by only {jaw:.1}");
    let jaw_eyes = d(with(Param::JawOpen, 1.0), le, &mut r);
    assert!(jaw_eyes < 0.5, "jawOpen moved the eyes ({jaw_eyes:.2})");
    let smile = d(with(Param::MouthSmileLeft, 1.0), mouth_r, &mut r);
    assert!(smile > 2.0, "smile: {smile:.2}");
    let blink_l = d(with(Param::EyeBlinkLeft, 1.0), le, &mut r);
    let blink_l_other = d(with(Param::EyeBlinkLeft, 1.0), re, &mut r);
    assert!(blink_l > 8.0, "eyeBlinkLeft changes the left eye by only {blink_l:.1}");
    assert!(blink_l_other < 0.5, "eyeBlinkLeft moved the right eye ({blink_l_other:.2})");
    // The subject's left eye is on the image's right.
    assert!(le[0] > re[0]);
    let brow = d(with(Param::BrowInnerUp, 1.0), brows, &mut r);
    assert!(brow > 1.0, "browInnerUp: {brow:.2}");
    let mut look = MotionFrame::default();
    look.set(Param::EyeLookOutLeft, 1.0);
    look.set(Param::EyeLookInRight, 1.0);
    let gaze = d(look, le, &mut r);
    assert!(gaze > 2.0, "gaze does not move the iris: {gaze:.2}");
}

#[test]
fn a_head_turn_moves_the_nose_more_than_the_face_outline_and_leaves_the_border() {
    let rig = rig();
    let mut scratch = Vec::new();
    let (mut out, mut depth) = (Vec::new(), Vec::new());
    rig.deform(&with(Param::HeadYaw, 15.0), &mut scratch, &mut out, &mut depth);
    let dx = |i: usize| out[i][0] - rig.rest[i][0];
    assert!(dx(idx::NOSE_TIP) > 5.0, "yaw +15° moves the nose by {:.1} px", dx(idx::NOSE_TIP));
    assert!(dx(idx::NOSE_TIP) > 1.5 * dx(234).abs(), "nose {:.1} vs cheek outline {:.1}: a flat sticker, not a 3D turn", dx(idx::NOSE_TIP), dx(234));
    let last = rig.rest.len() - 1;
    assert_eq!(out[last], [rig.rest[last][0], rig.rest[last][1]], "the frame corner moved");
    // A turned head may hide its far side behind its near side (triangles there fold, as in 3D),
    // but the picture must never tear: every pixel of the frame stays covered by the mesh.
    for (yaw, pitch, jaw) in [(12.0, 8.0, 0.6), (-15.0, -6.0, 0.3), (0.0, 10.0, 0.0)] {
        let mut m = with(Param::HeadYaw, yaw);
        m.set(Param::HeadPitch, pitch);
        m.set(Param::JawOpen, jaw);
        rig.deform(&m, &mut scratch, &mut out, &mut depth);
        let holes = uncovered(&rig, &out);
        assert_eq!(holes, 0, "yaw {yaw} pitch {pitch}: {holes} pixels uncovered (a tear)");
    }
    // Expressions alone are 2D: what folds over must be slivers, not visible patches.
    let mut m = with(Param::JawOpen, 0.6);
    m.set(Param::MouthSmileLeft, 0.7);
    m.set(Param::MouthSmileRight, 0.7);
    m.set(Param::BrowInnerUp, 1.0);
    rig.deform(&m, &mut scratch, &mut out, &mut depth);
    let area = |t: &[u32; 3], p: &dyn Fn(usize) -> [f32; 2]| {
        let (a, b, c) = (p(t[0] as usize), p(t[1] as usize), p(t[2] as usize));
        ((b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])) / 2.0
    };
    let (mut folded, mut face) = (0.0f32, 0.0f32);
    for t in rig.skin.iter().filter(|t| t.iter().all(|&i| (i as usize) < 468)) {
        let a0 = area(t, &|i| [rig.rest[i][0], rig.rest[i][1]]);
        let a1 = area(t, &|i| out[i]);
        face += a0.abs();
        if a0.signum() != a1.signum() {
            folded += a1.abs();
        }
    }
    assert!(folded < 0.002 * face, "expressions fold {folded:.0} px² of a {face:.0} px² face");
}

/// Pixels of the frame that no triangle of the deformed mesh (skin, mouth, eyes) covers.
fn uncovered(rig: &Rig, out: &[[f32; 2]]) -> usize {
    coverage(rig, rig.skin.iter().chain(&rig.mouth).chain(&rig.eyes_tris), out).iter().filter(|c| !**c).count()
}

/// Which pixels of the frame the given triangles of the deformed mesh cover.
fn coverage<'a>(rig: &Rig, tris: impl Iterator<Item = &'a [u32; 3]>, out: &[[f32; 2]]) -> Vec<bool> {
    let (w, h) = (rig.width as usize, rig.height as usize);
    let mut covered = vec![false; w * h];
    for t in tris {
        let (a, b, c) = (out[t[0] as usize], out[t[1] as usize], out[t[2] as usize]);
        let det = (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]);
        if det.abs() < 1e-6 {
            continue;
        }
        let x0 = a[0].min(b[0]).min(c[0]).floor().max(0.0) as usize;
        let x1 = (a[0].max(b[0]).max(c[0]).ceil() as usize).min(w - 1);
        let y0 = a[1].min(b[1]).min(c[1]).floor().max(0.0) as usize;
        let y1 = (a[1].max(b[1]).max(c[1]).ceil() as usize).min(h - 1);
        for y in y0..=y1 {
            for x in x0..=x1 {
                let p = [x as f32 + 0.5, y as f32 + 0.5];
                let l1 = ((p[0] - a[0]) * (c[1] - a[1]) - (p[1] - a[1]) * (c[0] - a[0])) / det;
                let l2 = ((b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0])) / det;
                if l1 >= -1e-3 && l2 >= -1e-3 && l1 + l2 <= 1.0 + 1e-3 {
                    covered[y * w + x] = true;
                }
            }
        }
    }
    covered
}

#[test]
fn rendering_reuses_its_buffers() {
    let rig = rig();
    let mut r = Renderer::new(&rig);
    let p1 = r.render(&rig, &with(Param::JawOpen, 0.5)).as_ptr();
    let p2 = r.render(&rig, &with(Param::HeadYaw, 10.0)).as_ptr();
    assert_eq!(p1, p2, "the frame buffer was reallocated");
}

/// A portrait with closed lips (the Mona Lisa) has its inner lip contours on top of each other and
/// the upper lip's lowest points on or below them; the opened mouth must still be a lip-shaped
/// opening across the whole mouth, not skin stretched over it with a slot in the middle.
#[test]
fn a_closed_mouth_opens_across_its_whole_width() {
    for portrait in ["portraits/painting.jpg", "portraits/default.jpg"] {
        let rig = rig_of(portrait);
        let (mut scratch, mut out, mut depth) = (Vec::new(), Vec::new(), Vec::new());
        let open = with(Param::JawOpen, 0.42);
        rig.deform(&open, &mut scratch, &mut out, &mut depth);
        let hole: Vec<[f32; 2]> = idx::UPPER_LIP_INNER
            .iter()
            .chain(idx::LOWER_LIP_INNER.iter().rev())
            .map(|&i| out[i])
            .collect();
        // The lips may overhang the opening by a pixel (the upper lip's lowest points lie on the
        // line where the lips meet); skin stretched across it is the failure.
        let skin_cover = coverage(&rig, rig.skin.iter(), &out);
        let (mut hole_px, mut covered) = (0, 0);
        for y in 0..512 {
            for x in 0..512 {
                if inside_polygon([x as f32 + 0.5, y as f32 + 0.5], &hole) {
                    hole_px += 1;
                    covered += skin_cover[y * 512 + x] as usize;
                }
            }
        }
        let share = covered as f32 / hole_px as f32;
        assert!(
            share < 0.15,
            "{portrait}: skin covers {:.0} % of the {hole_px} px open mouth",
            share * 100.0
        );

        let mut r = Renderer::new(&rig);
        let neutral = r.render(&rig, &MotionFrame::default()).to_vec();
        let frame = r.render(&rig, &open).to_vec();
        let lum = |f: &[u8], x: usize, y: usize| {
            let i = (y * 512 + x) * 3;
            0.299 * f[i] as f32 + 0.587 * f[i + 1] as f32 + 0.114 * f[i + 2] as f32
        };
        // Between the upper teeth and the tongue, 40 % of the way down the opening, the mouth is dark.
        let (x0, x1) = (out[78][0], out[308][0]);
        let (mut dark, mut cols) = (0, 0);
        for k in 0..10 {
            let (u, l) = (out[idx::UPPER_LIP_INNER[k]], out[idx::LOWER_LIP_INNER[k]]);
            let (u2, l2) = (
                out[idx::UPPER_LIP_INNER[k + 1]],
                out[idx::LOWER_LIP_INNER[k + 1]],
            );
            for x in u[0].ceil() as usize..u2[0].ceil() as usize {
                let t = (x as f32 + 0.5 - u[0]) / (u2[0] - u[0]).max(1e-3);
                let (yu, yl) = (u[1] + t * (u2[1] - u[1]), l[1] + t * (l2[1] - l[1]));
                let y = (yu + 0.4 * (yl - yu)) as usize;
                cols += 1;
                if lum(&frame, x, y) < 0.5 * lum(&neutral, x, y) {
                    dark += 1;
                }
            }
        }
        let share = dark as f32 / cols as f32;
        eprintln!("{portrait}: skin over the opening {:.1} %, dark across {:.1} % of {cols} columns", 100.0 * covered as f32 / hole_px as f32, share * 100.0);
        assert!(
            cols as f32 > 0.8 * (x1 - x0),
            "{portrait}: {cols} columns over a {:.0} px mouth",
            x1 - x0
        );
        assert!(
            share > 0.7,
            "{portrait}: the open mouth is dark over only {:.0} % of its width",
            share * 100.0
        );
    }
}

/// Brightness (channels' mean) central-difference step at (x, y) of an RGB frame `w` wide.
fn step(f: &[u8], w: usize, x: usize, y: usize) -> f32 {
    let g = |x: usize, y: usize| {
        let i = (y * w + x) * 3;
        (f[i] as f32 + f[i + 1] as f32 + f[i + 2] as f32) / 3.0
    };
    let gx = (g(x + 1, y) - g(x - 1, y)) / 2.0;
    let gy = (g(x, y + 1) - g(x, y - 1)) / 2.0;
    (gx * gx + gy * gy).sqrt()
}

/// Issue 22: the teeth, tongue and rim the renderer builds are never sharper than the portrait's
/// own face. On a sharp photo, a soft low-resolution painting and a varnished painting, with the
/// jaw wide open, the steps inside the opening stay within the 99.5th percentile of the steps
/// over the portrait's face oval at their 99th percentile, and within 1.15× of it at their maximum.
#[test]
fn the_open_mouth_is_no_sharper_than_the_face() {
    for portrait in ["portraits/default.jpg", "portraits/gallery/lowres.jpg", "portraits/gallery/painting_2.jpg"] {
        let rig = rig_of(portrait);
        let w = rig.width as usize;
        let poly = |ids: &[usize], rest: &dyn Fn(usize) -> [f32; 2]| -> Vec<[f32; 2]> { ids.iter().map(|&i| rest(i)).collect() };
        let oval = poly(&idx::FACE_OVAL, &|i| [rig.rest[i][0], rig.rest[i][1]]);
        let img = rig.image.as_raw();
        let mut face: Vec<f32> = speakface::face::geometry::polygon_pixels(&oval, rig.width, rig.height)
            .filter(|&(x, y)| x >= 1 && y >= 1 && x + 1 < rig.width && y + 1 < rig.height)
            .map(|(x, y)| step(img, w, x as usize, y as usize))
            .collect();
        face.sort_by(f32::total_cmp);
        let limit = face[((face.len() - 1) as f32 * 0.995).round() as usize].clamp(6.0, 60.0);

        let mut r = Renderer::new(&rig);
        let mut m = MotionFrame::default();
        m.set(Param::JawOpen, 0.8);
        let frame = r.render(&rig, &m).to_vec();
        // The opening as drawn: the inner lip contour after the deformation.
        let (mut scratch, mut out, mut depth) = (Vec::new(), Vec::new(), Vec::new());
        rig.deform(&m, &mut scratch, &mut out, &mut depth);
        let hole: Vec<[f32; 2]> = idx::UPPER_LIP_INNER.iter().chain(idx::LOWER_LIP_INNER.iter().rev()).map(|&i| out[i]).collect();
        let hb = bbox(hole.iter().copied(), 3.0, rig.width, rig.height);
        let mut mouth: Vec<f32> = Vec::new();
        for y in hb[1].max(1)..hb[3].min(rig.height - 1) {
            for x in hb[0].max(1)..hb[2].min(rig.width - 1) {
                if inside_polygon([x as f32 + 0.5, y as f32 + 0.5], &hole) {
                    mouth.push(step(&frame, w, x as usize, y as usize));
                }
            }
        }
        mouth.sort_by(f32::total_cmp);
        let p99 = mouth[((mouth.len() - 1) as f32 * 0.99) as usize];
        let max = *mouth.last().unwrap();
        eprintln!("{portrait}: face's steepest (99.5th pct) {limit:.1}; opening's 99th pct {p99:.1}, max {max:.1} ({} px)", mouth.len());
        assert!(mouth.len() > 200, "{portrait}: the jaw hardly opened ({} px)", mouth.len());
        // The softening pass blurs steps; a long even ramp it leaves as it is, and at the
        // painting's lower-right corner the rim's ramp runs 1.05× the face's steepest.
        assert!(p99 <= limit && max <= 1.15 * limit, "{portrait}: the opening's steps (99th pct {p99:.1}, max {max:.1}) are steeper than the face's own ({limit:.1})");
    }
}

/// Mean brightness of `f` over the pixels of `r` ([x0, y0, x1, y1)).
fn mean_lum(f: &[u8], w: usize, r: [u32; 4]) -> f32 {
    let (mut s, mut n) = (0.0f32, 0.0f32);
    for y in r[1]..r[3] {
        for x in r[0]..r[2] {
            let i = (y as usize * w + x as usize) * 3;
            s += (f[i] as f32 + f[i + 1] as f32 + f[i + 2] as f32) / 3.0;
            n += 1.0;
        }
    }
    s / n.max(1.0)
}

/// Issue 22, skin that follows the bones: with the jaw open a soft shadow lies under the lower lip,
/// and a smile deepens the nasolabial folds; at rest the shading adds nothing (the neutral frame
/// stays the portrait), and it never reaches the forehead or the eyes.
#[test]
fn the_jaw_shades_under_the_lip_and_a_smile_deepens_the_folds() {
    let rig = rig();
    let w = rig.width as usize;
    let mut on = Renderer::new(&rig);
    let mut off = Renderer::new(&rig);
    off.shading = false;
    let rest = MotionFrame::default();
    assert_eq!(on.render(&rig, &rest).to_vec(), off.render(&rig, &rest).to_vec(), "shading at rest");

    let jaw = with(Param::JawOpen, 0.6);
    let (a, b) = (on.render(&rig, &jaw).to_vec(), off.render(&rig, &jaw).to_vec());
    let (mut scratch, mut out, mut depth) = (Vec::new(), Vec::new(), Vec::new());
    rig.deform(&jaw, &mut scratch, &mut out, &mut depth);
    // Just below the middle of the lower lip (landmark 17), a tenth of the eyes' distance down.
    let lip = out[17];
    let d = (0.1 * rig.iod) as u32;
    let below = [lip[0] as u32 - d, lip[1] as u32 + d / 3, lip[0] as u32 + d, lip[1] as u32 + d];
    let (la, lb) = (mean_lum(&a, w, below), mean_lum(&b, w, below));
    eprintln!("under the lip: {la:.1} shaded, {lb:.1} not");
    assert!(la < 0.95 * lb, "no shadow under the lower lip: {la:.1} vs {lb:.1}");
    let brows = region(&rig, &[idx::LEFT_BROW.as_slice(), idx::RIGHT_BROW.as_slice()].concat(), 8.0);
    assert_eq!(mean_lum(&a, w, brows), mean_lum(&b, w, brows), "the jaw's shadow reached the brows");

    let mut smile = MotionFrame::default();
    smile.set(Param::MouthSmileLeft, 0.8);
    smile.set(Param::MouthSmileRight, 0.8);
    let (a, b) = (on.render(&rig, &smile).to_vec(), off.render(&rig, &smile).to_vec());
    rig.deform(&smile, &mut scratch, &mut out, &mut depth);
    // Between each wing of the nose and the mouth's corner on its side, a little outside.
    for (wing, corner) in [(98usize, 61usize), (327, 291)] {
        let c = [(out[wing][0] + out[corner][0]) / 2.0, (out[wing][1] + out[corner][1]) / 2.0];
        let side = if out[corner][0] > out[wing][0] { 1.0 } else { -1.0 };
        let x = c[0] + side * 0.06 * rig.iod;
        let r = (0.04 * rig.iod) as u32;
        let fold = [x as u32 - r, c[1] as u32 - r, x as u32 + r, c[1] as u32 + r];
        let (la, lb) = (mean_lum(&a, w, fold), mean_lum(&b, w, fold));
        eprintln!("fold by landmark {corner}: {la:.1} shaded, {lb:.1} not");
        assert!(la < 0.97 * lb, "the smile did not deepen the fold by the corner {corner}: {la:.1} vs {lb:.1}");
    }
    assert_eq!(mean_lum(&a, w, brows), mean_lum(&b, w, brows), "the folds reached the brows");
}

#[test]
fn the_tongue_rises_behind_the_teeth_for_t_d_n_l() {
    // A closed-mouth photograph and a painting: the opening is all built, nothing of their own.
    for portrait in ["portraits/gallery/closed_lips.jpg", "portraits/painting.jpg"] {
        let rig = rig_of(portrait);
        let w = rig.width as usize;
        let mut r = Renderer::new(&rig);
        let mut down = MotionFrame::default();
        down.set(Param::JawOpen, 0.35);
        let mut up = down;
        up.set(Param::TongueUp, 1.0);
        let (a, b) = (r.render(&rig, &down).to_vec(), r.render(&rig, &up).to_vec());
        let (mut scratch, mut out, mut depth) = (Vec::new(), Vec::new(), Vec::new());
        rig.deform(&down, &mut scratch, &mut out, &mut depth);
        // The middle of the opening: between the inner lips' midpoints (13 above, 14 below),
        // a tenth of the eyes' distance wide and a fifth of the gap tall.
        let (top, bottom) = (out[13], out[14]);
        let (cx, cy) = ((top[0] + bottom[0]) / 2.0, (top[1] + bottom[1]) / 2.0);
        let (hw, hh) = (0.05 * rig.iod, 0.1 * (bottom[1] - top[1]));
        let mid = [(cx - hw) as u32, (cy - hh) as u32, (cx + hw) as u32, (cy + hh).ceil() as u32];
        let (ld, lu) = (mean_lum(&a, w, mid), mean_lum(&b, w, mid));
        eprintln!("{portrait}: middle of the opening {ld:.1} with the tongue down, {lu:.1} raised");
        assert!(lu > ld + 8.0, "{portrait}: the raised tongue does not fill the middle of the opening: {lu:.1} vs {ld:.1}");
        // Only the opening changes: every pixel outside the lips' box is the same.
        let lips = region(&rig, &[idx::UPPER_LIP_OUTER.as_slice(), idx::LOWER_LIP_OUTER.as_slice()].concat(), 0.3 * rig.iod);
        let changed_outside = (0..a.len() / 3)
            .filter(|&p| {
                let (x, y) = ((p % w) as u32, (p / w) as u32);
                !(x >= lips[0] && x <= lips[2] && y >= lips[1] && y <= lips[3]) && a[p * 3..p * 3 + 3] != b[p * 3..p * 3 + 3]
            })
            .count();
        assert_eq!(changed_outside, 0, "{portrait}: the tongue changed pixels outside the mouth");
    }
}
