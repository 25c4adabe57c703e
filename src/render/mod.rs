//! Rig + motion → RGB frame. Backward mesh warp (each destination pixel of a triangle samples the
//! portrait bilinearly at its affine pre-image), drawn far to near; the mouth opening and the eye
//! openings have shaders of their own: the mouth shows the portrait's own lips and teeth where it
//! had them and a synthesized cavity, teeth and tongue where the jaw opens further; the eyes keep
//! their whites and move the iris for gaze, clipped by the lids (which close for blinks).
//! Not for: deciding motion or encoding. No allocation per frame once the renderer is built.
//!
//! Here: the renderer and its skin pass; `raster`: triangle spans and the bilinear sampler;
//! `mouth`: the mouth shader, with `axis` (its coordinates), `teeth` (the dental arches) and
//! `palette` (the portrait's colours, sharpness and grain), `hair` (a moustache over the mouth);
//! `eyes`: the eye shader; `shade`: the shadow under the lower lip and the nasolabial folds.

mod axis;
mod eyes;
mod hair;
mod mouth;
mod palette;
mod raster;
mod shade;
mod teeth;

use crate::face::rig::Rig;
use crate::motion_params::MotionFrame;
use palette::MouthPalette;
use raster::{spans, Lanes};

pub struct Renderer {
    scratch: Vec<[f32; 3]>,
    dest: Vec<[f32; 2]>,
    depth: Vec<f32>,
    order: Vec<(f32, u32)>,
    frame: Vec<u8>,
    eye_poly: Vec<[f32; 2]>,
    palette: MouthPalette,
    hair: hair::Hair,
    lanes: Lanes,
    /// The skin's shading with the bones (`shade`): on unless a test compares without it.
    pub shading: bool,
}

impl Renderer {
    pub fn new(rig: &Rig) -> Renderer {
        let n = rig.rest.len();
        let palette = MouthPalette::of(rig);
        let hair = hair::Hair::of(rig, &palette);
        Renderer {
            scratch: Vec::with_capacity(n),
            dest: Vec::with_capacity(n),
            depth: Vec::with_capacity(n),
            order: Vec::with_capacity(rig.skin.len()),
            frame: rig.image.as_raw().clone(),
            eye_poly: Vec::with_capacity(32),
            palette,
            hair,
            lanes: Lanes::of(rig.image.as_raw(), rig.width as usize, rig.height as usize),
            shading: true,
        }
    }

    /// Draws one frame; the returned slice is RGB24, `rig.width × rig.height`.
    /// `rig` is the rig the renderer was made for.
    pub fn render(&mut self, rig: &Rig, m: &MotionFrame) -> &[u8] {
        debug_assert_eq!(self.frame.len(), rig.image.as_raw().len());
        let mut m = *m;
        m.clamp();
        rig.deform(&m, &mut self.scratch, &mut self.dest, &mut self.depth);
        let (w, h) = (rig.width as usize, rig.height as usize);
        let src = rig.image.as_raw().as_slice();
        self.frame.copy_from_slice(src);

        for (e, eye) in rig.eyes.iter().enumerate() {
            eyes::draw_eye(&mut self.frame, &self.dest, &mut self.eye_poly, rig, eye, e, &m, w, h);
        }

        self.order.clear();
        for (i, t) in rig.skin.iter().enumerate() {
            let d = self.depth[t[0] as usize] + self.depth[t[1] as usize] + self.depth[t[2] as usize];
            self.order.push((d, i as u32));
        }
        // Far first, so a turned head's near side covers its far side.
        self.order.sort_unstable_by(|a, b| b.0.total_cmp(&a.0));
        let (frame, lanes) = (&mut self.frame, &self.lanes);
        for &(_, ti) in &self.order {
            let t = rig.skin[ti as usize];
            let (a, b, c) = (self.dest[t[0] as usize], self.dest[t[1] as usize], self.dest[t[2] as usize]);
            let (sa, sb, sc) = (rig.rest[t[0] as usize], rig.rest[t[1] as usize], rig.rest[t[2] as usize]);
            let (ux, uy) = ([sb[0] - sa[0], sb[1] - sa[1]], [sc[0] - sa[0], sc[1] - sa[1]]);
            spans(w, h, a, b, c, |y, lo, hi, l1, l2, d1, d2| {
                // The source point is affine along the row: a start and a step per pixel.
                let (sx, sy) = (sa[0] + ux[0] * l1 + uy[0] * l2, sa[1] + ux[1] * l1 + uy[1] * l2);
                let (dx, dy) = (ux[0] * d1 + uy[0] * d2, ux[1] * d1 + uy[1] * d2);
                lanes.row(sx, sy, dx, dy, &mut frame[(y * w + lo) * 3..(y * w + hi + 1) * 3]);
            });
        }
        if self.shading {
            shade::draw_shading(&mut self.frame, &self.dest, rig, &m, w, h);
        }
        mouth::draw_mouth(&mut self.frame, &self.dest, &self.scratch, &self.palette, &self.hair, rig, &m, w, h);
        &self.frame
    }


}

