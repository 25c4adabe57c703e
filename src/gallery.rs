//! The gallery: a fixed set of poses (rest, the visemes "aa" "ee" "oo" "mm" "ff" "ll", a blink, a
//! 20° head turn and a smile) rendered for each portrait, laid out as one PNG sheet per portrait:
//! each pose's full frame with 2× crops of the mouth and the eyes under it, for a person to look
//! at. The same poses as a motion track (`poses_csv`) let tests render them through the MP4
//! path and measure them with an outside yardstick.
//! Not for: deciding motion (the poses are fixed values, one row each).

use std::path::Path;

use image::{imageops, Rgb, RgbImage};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::face::idx;
use crate::face::rig::Rig;
use crate::motion::track::write_csv;
use crate::motion_params::{MotionFrame, Param};
use crate::render::Renderer;

/// One pose: a name and the parameters it sets (everything else at rest).
pub struct Pose {
    pub name: &'static str,
    pub values: &'static [(Param, f32)],
}

use Param::*;
/// The gallery's poses, in sheet order. "aa" is jawOpen 0.6, the open vowel the yardsticks read.
pub const POSES: [Pose; 10] = [
    Pose { name: "rest", values: &[] },
    Pose { name: "aa", values: &[(JawOpen, 0.6)] },
    Pose { name: "ee", values: &[(JawOpen, 0.15), (MouthStretchLeft, 0.6), (MouthStretchRight, 0.6), (MouthSmileLeft, 0.3), (MouthSmileRight, 0.3)] },
    Pose { name: "oo", values: &[(JawOpen, 0.25), (MouthFunnel, 0.6), (MouthPucker, 0.7)] },
    Pose { name: "mm", values: &[(MouthClose, 0.3), (MouthPressLeft, 0.6), (MouthPressRight, 0.6)] },
    Pose { name: "ff", values: &[(JawOpen, 0.08), (MouthUpperUpLeft, 0.4), (MouthUpperUpRight, 0.4), (MouthPressLeft, 0.3), (MouthPressRight, 0.3)] },
    Pose { name: "ll", values: &[(JawOpen, 0.3), (TongueUp, 1.0)] },
    Pose { name: "blink", values: &[(EyeBlinkLeft, 1.0), (EyeBlinkRight, 1.0)] },
    Pose { name: "turn", values: &[(HeadYaw, 20.0)] },
    Pose { name: "smile", values: &[(MouthSmileLeft, 0.8), (MouthSmileRight, 0.8), (JawOpen, 0.1), (EyeSquintLeft, 0.3), (EyeSquintRight, 0.3)] },
];

impl Pose {
    pub fn frame(&self) -> MotionFrame {
        let mut m = MotionFrame::default();
        for &(p, v) in self.values {
            m.set(p, v);
        }
        m
    }
}

/// Writes the poses as a motion track, each held for `hold` frames (every parameter named, so
/// the rendered frames are exactly these poses: no idle motion, no speech).
pub fn poses_csv(path: &Path, hold: usize) -> Result<()> {
    let frames: Vec<MotionFrame> = POSES.iter().flat_map(|p| std::iter::repeat(p.frame()).take(hold)).collect();
    write_csv(path, &frames)
}

/// Box around landmarks `ids` in the frame, widened by `pad_x`/`pad_y` of its size each side.
fn crop_box(rig: &Rig, ids: &[usize], pad_x: f32, pad_y: f32) -> [u32; 4] {
    let (mut x0, mut y0, mut x1, mut y1) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
    for &i in ids {
        let p = rig.rest[i];
        (x0, y0, x1, y1) = (x0.min(p[0]), y0.min(p[1]), x1.max(p[0]), y1.max(p[1]));
    }
    let (pw, ph) = ((x1 - x0) * pad_x, (y1 - y0) * pad_y);
    let x0 = (x0 - pw).max(0.0) as u32;
    let y0 = (y0 - ph).max(0.0) as u32;
    let x1 = ((x1 + pw) as u32).min(rig.width);
    let y1 = ((y1 + ph) as u32).min(rig.height);
    [x0, y0, (x1 - x0).max(1), (y1 - y0).max(1)]
}

/// Renders every pose for the rig and lays them out as one sheet: per pose a column with the
/// frame at 1/`shrink` size (2: half), the mouth at 2× and the eyes at 2×.
pub fn sheet(rig: &Rig, shrink: u32) -> RgbImage {
    let shrink = shrink.max(1);
    let mut r = Renderer::new(rig);
    let mouth_ids: Vec<usize> = idx::UPPER_LIP_OUTER.iter().chain(idx::LOWER_LIP_OUTER.iter()).copied().collect();
    let eye_ids: Vec<usize> = idx::RIGHT_EYE_UPPER.iter().chain(idx::LEFT_EYE_UPPER.iter()).chain(idx::RIGHT_EYE_LOWER.iter()).chain(idx::LEFT_EYE_LOWER.iter()).copied().collect();
    let mb = crop_box(rig, &mouth_ids, 0.25, 0.7);
    let eb = crop_box(rig, &eye_ids, 0.12, 0.9);
    let col_w = (rig.width / shrink).max(mb[2] * 2).max(eb[2] * 2);
    let full_h = rig.height / shrink;
    let h = full_h + mb[3] * 2 + eb[3] * 2 + 8;
    let mut out = RgbImage::from_pixel(col_w * POSES.len() as u32 + 4 * (POSES.len() as u32 - 1), h, Rgb([32, 32, 32]));
    for (k, pose) in POSES.iter().enumerate() {
        let rgb = r.render(rig, &pose.frame()).to_vec();
        let frame = RgbImage::from_raw(rig.width, rig.height, rgb).expect("frame size");
        let x = k as u32 * (col_w + 4);
        let small = imageops::resize(&frame, rig.width / shrink, full_h, imageops::FilterType::Triangle);
        imageops::replace(&mut out, &small, x as i64, 0);
        let up2 = |b: [u32; 4]| {
            let c = imageops::crop_imm(&frame, b[0], b[1], b[2], b[3]).to_image();
            imageops::resize(&c, b[2] * 2, b[3] * 2, imageops::FilterType::Nearest)
        };
        imageops::replace(&mut out, &up2(mb), x as i64, (full_h + 4) as i64);
        imageops::replace(&mut out, &up2(eb), x as i64, (full_h + 8 + mb[3] * 2) as i64);
    }
    out
}

/// Renders the sheet for one portrait into `out` (PNG); see `sheet` for `shrink`.
pub fn portrait_sheet(cfg: &Config, portrait: &Path, out: &Path, shrink: u32) -> Result<()> {
    let (img, analysis) = crate::face::analyze_portrait(cfg, portrait)?;
    // A hair mask beside the portrait (NAME.hair.png) is used as `portrait.hair_mask` would be.
    let mut cfg = cfg.clone();
    let mask = portrait.with_extension("hair.png");
    if cfg.portrait.hair_mask.is_none() && mask.exists() {
        cfg.portrait.hair_mask = Some(mask);
    }
    let rig = crate::face::rig_for(&cfg, &img, &analysis)?;
    sheet(&rig, shrink).save(out).map_err(|e| Error::Output { path: out.to_path_buf(), message: format!("cannot write: {e}") })
}
