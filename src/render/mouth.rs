//! The mouth shader: the portrait's own lips and teeth where it had them and, where the jaw
//! opens further, a mouth built behind the lips: the dental arches (`teeth`), a tongue that rides
//! on the jaw, and a cavity darkened by depth, all in the portrait's colours, sharpness and grain
//! (`palette`). The opening's rim is soft: the lips' inner surface turns away into shadow
//! over a width set by the portrait's own sharpness, so no polygon edge or stair step shows.

use super::palette::{grain_at, MouthPalette};
use super::raster::{mix, put, raster, sample};
use super::axis::{line_at, Axis};
use super::hair::Hair;
use super::teeth::{Arches, Hit};
use crate::face::geometry::{inside_polygon, smoothstep};
use crate::face::idx;
use crate::face::rig::Rig;
use crate::motion_params::{MotionFrame, Param};

/// Distance from `p` to the nearest edge of the closed polygon `poly`, and that nearest point.
fn nearest_on_outline(poly: &[[f32; 2]], p: [f32; 2]) -> (f32, [f32; 2]) {
    let mut best = (f32::MAX, p);
    let mut j = poly.len() - 1;
    for i in 0..poly.len() {
        let (a, b) = (poly[j], poly[i]);
        let ab = [b[0] - a[0], b[1] - a[1]];
        let ap = [p[0] - a[0], p[1] - a[1]];
        let t = ((ap[0] * ab[0] + ap[1] * ab[1]) / (ab[0] * ab[0] + ab[1] * ab[1]).max(1e-6)).clamp(0.0, 1.0);
        let (dx, dy) = (ap[0] - ab[0] * t, ap[1] - ab[1] * t);
        let d2 = dx * dx + dy * dy;
        if d2 < best.0 {
            best = (d2, [a[0] + ab[0] * t, a[1] + ab[1] * t]);
        }
        j = i;
    }
    (best.0.sqrt(), best.1)
}

/// The mouth opening for one frame, drawn after the skin (its rim blends from the lips the
/// skin pass drew around it). `scratch` holds the vertices after the face's own
/// deformation (from `Rig::deform`), for the jaw that carries the lower teeth.
#[allow(clippy::too_many_arguments)]
pub(super) fn draw_mouth(frame: &mut [u8], dest: &[[f32; 2]], scratch: &[[f32; 3]], pal: &MouthPalette, hair: &Hair, rig: &Rig, m: &MotionFrame, w: usize, h: usize) {
    let src = rig.image.as_raw().as_slice();
    let d = |i: usize| dest[i];
    let s = |i: usize| [rig.rest[i][0], rig.rest[i][1]];
    let ax_d = Axis::new(d(78), d(308));
    let ax_s = Axis::new(s(78), s(308));
    let mut up_d = [(0.0, 0.0); 11];
    let mut lo_d = [(0.0, 0.0); 11];
    let mut up_s = [(0.0, 0.0); 11];
    let mut lo_s = [(0.0, 0.0); 11];
    for k in 0..11 {
        up_d[k] = ax_d.uv(d(idx::UPPER_LIP_INNER[k]));
        lo_d[k] = ax_d.uv(d(idx::LOWER_LIP_INNER[k]));
        up_s[k] = ax_s.uv(s(idx::UPPER_LIP_INNER[k]));
        lo_s[k] = ax_s.uv(s(idx::LOWER_LIP_INNER[k]));
    }
    let arches = Arches::place(rig, m, scratch, &ax_d);
    let mut hole = [[0.0f32; 2]; 20];
    for k in 0..11 {
        hole[k] = d(idx::UPPER_LIP_INNER[k]);
    }
    for k in 1..10 {
        hole[10 + k] = d(idx::LOWER_LIP_INNER[10 - k]);
    }
    let centre = [(hole[0][0] + hole[10][0]) / 2.0, (hole[0][1] + hole[10][1]) / 2.0];
    let inside = Inside { pal, arches, len: ax_d.len(), tongue_up: m.get(Param::TongueUp) };
    // Parted lips do not show the dark line where they met in the portrait: the band of lip
    // along the outline takes the lip's colour from just beyond it, as much as the lips parted.
    let seam = (0.03 * rig.iod).clamp(1.5, 4.0);
    let outward = |p: [f32; 2], dist: f32, q: [f32; 2]| {
        if dist > 0.5 {
            [(q[0] - p[0]) / dist, (q[1] - p[1]) / dist]
        } else {
            let (dx, dy) = (q[0] - centre[0], q[1] - centre[1]);
            let l = (dx * dx + dy * dy).sqrt().max(1e-3);
            [dx / l, dy / l]
        }
    };
    let (mut x0, mut y0, mut x1, mut y1) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
    for p in &hole {
        (x0, y0, x1, y1) = (x0.min(p[0]), y0.min(p[1]), x1.max(p[0]), y1.max(p[1]));
    }
    let clampx = |v: f32| (v.max(0.0) as usize).min(w - 1);
    let clampy = |v: f32| (v.max(0.0) as usize).min(h - 1);
    // Parted anywhere beyond the portrait's own opening? A closed mouth has no band to redo.
    let parted_max = (0..11).map(|k| (lo_d[k].1 - up_d[k].1) - (lo_s[k].1 - up_s[k].1).max(0.0)).fold(f32::MIN, f32::max);
    // Under a moustache, the lower lip the hair hid in the portrait shows as lip once the lips
    // part (the fringe itself stays on the upper lip, below).
    let lower_hair = if hair.found { hair.max_hang_lower() } else { 0.0 };
    // The lower lip shown where the hair hid it: softened with the opening, below.
    let mut lip_band: Vec<(usize, usize)> = Vec::new();
    let band_rows = if parted_max > 0.0 { clampy(y0 - seam - 1.0)..=clampy(y1 + seam + 1.0 + lower_hair) } else { 1..=0 };
    for y in band_rows {
        for x in clampx(x0 - seam - 1.0)..=clampx(x1 + seam + 1.0) {
            let p = [x as f32 + 0.5, y as f32 + 0.5];
            let (dist, q) = nearest_on_outline(&hole, p);
            let parted_at = |u: f32| (line_at(&lo_d, u) - line_at(&up_d, u)) - (line_at(&lo_s, u) - line_at(&up_s, u)).max(0.0);
            // Inside too: the hole pass below repaints what it covers, and a pixel on the
            // outline that neither pass covers still shows lip, not the portrait's seam.
            if dist <= seam {
                let (u, _) = ax_d.uv(q);
                let inside = inside_polygon(p, &hole);
                // Inside the outline the skin pass drew nothing: lip there whatever the parting
                // (a sliver at a corner that the hole pass misses must not show the portrait).
                let k = if inside { 1.0 } else { smoothstep(0.0, 2.0 * seam, parted_at(u)) * smoothstep(seam, 0.4 * seam, dist) };
                if k > 0.0 {
                    let o = if inside { outward(p, dist, q) } else { outward(q, dist, p) };
                    let beyond = sample(frame, w, h, q[0] + (seam + 1.0) * o[0], q[1] + (seam + 1.0) * o[1]);
                    let i = (y * w + x) * 3;
                    let here = [frame[i] as f32, frame[i + 1] as f32, frame[i + 2] as f32];
                    put(frame, w, x, y, mix(here, beyond, k));
                }
            }
            if lower_hair > 0.0 {
                let (u, v) = ax_d.uv(p);
                let (hl, d) = (hair.hang_lower_at(u), v - line_at(&lo_d, u));
                if hl > 0.0 && d >= 0.0 && d <= hl + 1.0 && (0.0..=1.0).contains(&u) {
                    let i = (y * w + x) * 3;
                    let mut c = [frame[i] as f32, frame[i + 1] as f32, frame[i + 2] as f32];
                    // Where the jaw carried the hair that lay on the lower lip away from the
                    // fringe, the lower lip shows: darker where it turns in, lit across.
                    let sp = ax_s.point(u, line_at(&lo_s, u) + d);
                    let a = hair.mask_at(sp) * smoothstep(0.0, 2.0 * seam, parted_at(u)) * smoothstep(hl + 1.0, hl - 1.0, d);
                    if a > 0.0 {
                        // With the face's grain at a fixed spot on the lip (a flat fill read as a
                        // cut-out).
                        let g = grain_at(x as i32, d as i32) * 2.45 * pal.grain;
                        let lip = hair.lip.map(|c| c * (0.72 + 0.28 * smoothstep(0.0, 0.5 * hl.max(1.0), d)) + g);
                        c = mix(c, lip, a);
                        lip_band.push((x, y));
                    }
                    // The fringe itself stays where it hangs from the upper lip, over the lip.
                    let from_up = v - line_at(&up_d, u);
                    let hg = hair.hang_at(u);
                    let f = smoothstep(hg + 1.0, hg - 1.0, from_up);
                    if f > 0.0 {
                        let hp = ax_s.point(u, line_at(&up_s, u) + from_up);
                        c = mix(c, sample(src, w, h, hp[0], hp[1]), f);
                    }
                    put(frame, w, x, y, c);
                }
            }
        }
    }
    for t in &rig.mouth {
        let (a, b, c) = (dest[t[0] as usize], dest[t[1] as usize], dest[t[2] as usize]);
        raster(w, h, a, b, c, |x, y, _, _| {
            let (u, v) = ax_d.uv([x as f32 + 0.5, y as f32 + 0.5]);
            let (vu, vl) = (line_at(&up_d, u), line_at(&lo_d, u));
            let (su, sl) = (line_at(&up_s, u), line_at(&lo_s, u));
            let open = (vl - vu).max(1e-3);
            let src_open = (sl - su).max(0.0);
            let (d_up, d_lo) = (v - vu, vl - v);
            // The lip the rim turns in from: what the skin pass drew just outside the outline.
            let p = [x as f32 + 0.5, y as f32 + 0.5];
            let (dist, q) = nearest_on_outline(&hole, p);
            let out = outward(p, dist, q);
            let lip = sample(frame, w, h, q[0] + (seam + 1.0) * out[0], q[1] + (seam + 1.0) * out[1]);
            let half = src_open / 2.0;
            // The portrait's own opening (its teeth) rides on the lips, half on each; the built
            // mouth shows beyond it, its rim starting from what the portrait showed at its seam.
            let (inner, into, from) = if d_up <= half {
                let p = ax_s.point(u, su + d_up);
                (sample(src, w, h, p[0], p[1]), dist, lip)
            } else if d_lo <= half {
                let p = ax_s.point(u, sl - d_lo);
                (sample(src, w, h, p[0], p[1]), dist, lip)
            } else if half > 0.5 {
                // Beyond the portrait's own opening the built mouth starts from the middle of
                // it. Where that shows teeth, it fades in over the height from the nearer band of
                // them, not over the distance to the outline: near the corners that distance
                // stays small down the whole opening and drew the teeth's colour there as long
                // vertical bars. A dark gap fades over the distance (a height's ramp runs steep
                // sideways where the lips' lines slope into the corners).
                let m = ax_s.point(u, su + half);
                let into = (dist - half).max(0.0) + pal.own_teeth * ((d_up.min(d_lo) - half).max(0.0) - (dist - half).max(0.0));
                (inside.at(u, v, d_up, d_lo, open, src_open), into, sample(src, w, h, m[0], m[1]))
            } else {
                (inside.at(u, v, d_up, d_lo, open, src_open), (dist - half).max(0.0), lip)
            };
            // The rim: lip turning into the opening over the width the portrait's sharpness
            // allows for the step between them.
            let rim = pal.ramp(MouthPalette::lum(from) - MouthPalette::lum(inner)) + 0.5;
            // Only as far as the lips parted beyond the portrait's own opening: at rest the
            // portrait's mouth is exactly itself.
            let parted = smoothstep(0.0, 2.0 * seam, open - src_open);
            let mut color = mix(inner, mix(from, inner, smoothstep(0.0, rim, into)), parted);
            // A moustache's fringe stays on the upper lip and hangs over the opening.
            if hair.found {
                let hg = hair.hang_at(u);
                if d_up < hg + 1.0 {
                    let sp = ax_s.point(u, su + d_up.max(0.0));
                    // All of the fringe, its hairs and the shadow between them, not only what
                    // reads as hair pixel by pixel.
                    let a = smoothstep(hg + 1.0, hg - 1.0, d_up);
                    color = mix(color, sample(src, w, h, sp[0], sp[1]), a);
                }
            }
            put(frame, w, x, y, color);
        });
    }
    // Lips pressed together past where they met in the portrait: the skin pass squeezes the
    // portrait's meeting line into less than a pixel, and drew it as a stair-stepped line. One
    // blur along it, as strong as the press.
    // (Against the portrait's own lines as they are: on a portrait whose inner lip lines cross at
    // rest, the rest pose is no press.)
    let pressed = (0..11).map(|k| (lo_d[k].1 - up_d[k].1) - (lo_s[k].1 - up_s[k].1)).fold(f32::MAX, f32::min);
    if parted_max <= 0.0 && pressed < -0.5 {
        let mut seam_px = Vec::new();
        for y in clampy(y0 - 2.0)..=clampy(y1 + 2.0) {
            for x in clampx(x0 - 1.0)..=clampx(x1 + 1.0) {
                let (u, v) = ax_d.uv([x as f32 + 0.5, y as f32 + 0.5]);
                if (0.0..=1.0).contains(&u) && (v - 0.5 * (line_at(&up_d, u) + line_at(&lo_d, u))).abs() <= 1.5 {
                    seam_px.push((x, y));
                }
            }
        }
        blur_once(frame, w, h, &seam_px, smoothstep(0.5, 2.0, -pressed));
    }
    // Last, the guarantee the passes above aim for by construction: no step in or around the
    // opening steeper than the portrait's own steepest. Where two of them meet (the rim starts
    // from a lip colour sampled beyond the band, the portrait's own opening rides on the lips
    // beside the built one) a step can still come out 1.3-1.7× too steep on soft portraits.
    if parted_max > 0.0 {
        let rows = clampy(y0 - seam - 2.0)..=clampy(y1 + seam + 2.0 + lower_hair);
        let cols = clampx(x0 - seam - 2.0)..=clampx(x1 + seam + 2.0);
        // Near the opening: inside it, or within the lip band around it (a square dilation of
        // the inside, cheaper than a distance per pixel and a little wider at the corners).
        let (bx0, by0) = (*cols.start(), *rows.start());
        let (bw, bh) = (cols.end() - bx0 + 1, rows.end() - by0 + 1);
        let mut near = vec![false; bw * bh];
        for (x, y) in crate::face::geometry::polygon_pixels(&hole, w as u32, h as u32) {
            let (x, y) = (x as usize, y as usize);
            if (bx0..bx0 + bw).contains(&x) && (by0..by0 + bh).contains(&y) {
                near[(y - by0) * bw + (x - bx0)] = true;
            }
        }
        for &(x, y) in &lip_band {
            if (bx0..bx0 + bw).contains(&x) && (by0..by0 + bh).contains(&y) {
                near[(y - by0) * bw + (x - bx0)] = true;
            }
        }
        dilate(&mut near, bw, bh, (seam + 1.5).ceil() as usize);
        let strength = smoothstep(0.0, 2.0 * seam, parted_max);
        soften(frame, w, h, (bx0, by0, bw, bh), &near, pal.max_step, strength);
    }
}

/// The 3×3 binomial average (1 2 1 / 2 4 2 / 1 2 1, over 16) around (x, y), which must lie one
/// pixel inside the frame.
#[inline]
fn binomial(frame: &[u8], w: usize, x: usize, y: usize) -> [f32; 3] {
    let mut acc = [0.0f32; 3];
    for (dy, wy) in [(0usize, 1.0f32), (1, 2.0), (2, 1.0)] {
        for (dx, wx) in [(0usize, 1.0f32), (1, 2.0), (2, 1.0)] {
            let i = ((y + dy - 1) * w + (x + dx - 1)) * 3;
            for c in 0..3 {
                acc[c] += wx * wy * frame[i + c] as f32;
            }
        }
    }
    acc.map(|v| v / 16.0)
}

/// One 3×3 binomial blur of the pixels `px` (each read as it was before any was written),
/// mixed in by `strength`.
fn blur_once(frame: &mut [u8], w: usize, h: usize, px: &[(usize, usize)], strength: f32) {
    let out: Vec<(usize, usize, [f32; 3])> = px
        .iter()
        .filter(|&&(x, y)| x >= 1 && y >= 1 && x + 1 < w && y + 1 < h)
        .map(|&(x, y)| {
            let i = (y * w + x) * 3;
            (x, y, mix([frame[i] as f32, frame[i + 1] as f32, frame[i + 2] as f32], binomial(frame, w, x, y), strength))
        })
        .collect();
    for (x, y, c) in out {
        put(frame, w, x, y, c);
    }
}

const ROUNDS: usize = 16; // softening rounds at most (8 left a 1.2× step at a painting's rim)

/// Grows the `true` cells of a `bw`×`bh` mask by `r` cells in every direction (a square).
fn dilate(mask: &mut [bool], bw: usize, bh: usize, r: usize) {
    let mut tmp = vec![false; mask.len()];
    for y in 0..bh {
        let row = &mask[y * bw..(y + 1) * bw];
        let mut last: Option<usize> = None;
        // Distance to the nearest set cell on the left, then on the right.
        for x in 0..bw {
            if row[x] {
                last = Some(x);
            }
            tmp[y * bw + x] = last.is_some_and(|l| x - l <= r);
        }
        last = None;
        for x in (0..bw).rev() {
            if row[x] {
                last = Some(x);
            }
            tmp[y * bw + x] |= last.is_some_and(|l| l - x <= r);
        }
    }
    for x in 0..bw {
        let mut last: Option<usize> = None;
        for y in 0..bh {
            if tmp[y * bw + x] {
                last = Some(y);
            }
            mask[y * bw + x] = last.is_some_and(|l| y - l <= r);
        }
        last = None;
        for y in (0..bh).rev() {
            if tmp[y * bw + x] {
                last = Some(y);
            }
            mask[y * bw + x] |= last.is_some_and(|l| l - y <= r);
        }
    }
}

/// Blurs, with a 3×3 binomial kernel, the pixels of the box (`x0`, `y0`, width, height) where
/// `near` (one flag a box pixel) holds and the brightness step (central differences of the channels' mean, as `palette`
/// measures the face) exceeds `max_step`, with their four neighbours, until none does (at most
/// `ROUNDS` rounds); `strength` (0..1) fades the blur in with the opening. A step at the edge
/// of the mask is also the pixel beyond it, so the neighbours blurred may lie just outside.
fn soften(frame: &mut [u8], w: usize, h: usize, bx: (usize, usize, usize, usize), near: &[bool], max_step: f32, strength: f32) {
    let (bx0, by0, bw, bh) = bx;
    if strength <= 0.0 || bw < 3 || bh < 3 || w < 3 || h < 3 {
        return;
    }
    // Inside the frame by one pixel (the kernel and the steps read one beyond).
    let (x0, x1) = (bx0.max(1), (bx0 + bw - 1).min(w - 2));
    let (y0, y1) = (by0.max(1), (by0 + bh - 1).min(h - 2));
    if x1 < x0 || y1 < y0 {
        return;
    }
    let at = |x: usize, y: usize| (y - by0) * bw + (x - bx0);
    let g = |f: &[u8], x: usize, y: usize| {
        let i = (y * w + x) * 3;
        (f[i] as f32 + f[i + 1] as f32 + f[i + 2] as f32) / 3.0
    };
    let limit2 = max_step * max_step;
    // Round one looks at every pixel near the opening; later rounds only where a blur changed a
    // neighbour (a step reads the four pixels around it).
    let mut candidates: Vec<(usize, usize)> = (y0..=y1).flat_map(|y| (x0..=x1).map(move |x| (x, y))).filter(|&(x, y)| near[at(x, y)]).collect();
    let mut stamp = vec![0u8; near.len()];
    let mut blurred: Vec<(usize, usize, [f32; 3])> = Vec::new();
    for round in 1..=ROUNDS as u8 {
        // Mark the steep pixels and their four neighbours (a step at the mask's edge is also the
        // pixel beyond it).
        let mut marked: Vec<(usize, usize)> = Vec::new();
        for &(x, y) in &candidates {
            let gx = (g(frame, x + 1, y) - g(frame, x - 1, y)) / 2.0;
            let gy = (g(frame, x, y + 1) - g(frame, x, y - 1)) / 2.0;
            if gx * gx + gy * gy > limit2 {
                for (nx, ny) in [(x, y), (x - 1, y), (x + 1, y), (x, y - 1), (x, y + 1)] {
                    if (x0..=x1).contains(&nx) && (y0..=y1).contains(&ny) && stamp[at(nx, ny)] != 2 * round {
                        stamp[at(nx, ny)] = 2 * round;
                        marked.push((nx, ny));
                    }
                }
            }
        }
        if marked.is_empty() {
            break;
        }
        // Every blur reads the frame as it was before this round, then all are written.
        blurred.clear();
        for &(x, y) in &marked {
            let i = (y * w + x) * 3;
            let old = [frame[i] as f32, frame[i + 1] as f32, frame[i + 2] as f32];
            blurred.push((x, y, mix(old, binomial(frame, w, x, y), strength)));
        }
        candidates.clear();
        for &(x, y, c) in &blurred {
            put(frame, w, x, y, c);
            for (nx, ny) in [(x, y), (x - 1, y), (x + 1, y), (x, y - 1), (x, y + 1)] {
                if (x0..=x1).contains(&nx) && (y0..=y1).contains(&ny) && near[at(nx, ny)] && stamp[at(nx, ny)] != 2 * round + 1 {
                    stamp[at(nx, ny)] = 2 * round + 1;
                    candidates.push((nx, ny));
                }
            }
        }
    }
}

/// The inside of the mouth for one frame.
struct Inside<'a> {
    pal: &'a MouthPalette,
    arches: Arches,
    len: f32,
    /// How far the tongue's tip is raised towards the ridge behind the upper teeth (0..1).
    tongue_up: f32,
}

impl Inside<'_> {
    /// Colour at mouth-axis position (`u`, `v`) (`v` down, pixels), `d_up` below the upper lip's
    /// inner line and `d_lo` above the lower lip's, in an opening `open` pixels tall.
    /// Where the portrait shows its own teeth (its lips were parted by `src_open` pixels), those
    /// ride on the lips and the built teeth stay away.
    #[allow(clippy::too_many_arguments)]
    fn at(&self, u: f32, v: f32, d_up: f32, d_lo: f32, open: f32, src_open: f32) -> [f32; 3] {
        let pal = self.pal;
        let mm = self.arches.mm;
        let x = u * self.len;
        let side = ((u - 0.5) * 2.0).abs().min(1.0);
        // Cavity: the lips' inner surface in shadow near the rim, dark further in and towards
        // the cheeks.
        let depth = smoothstep(0.0, 0.45, d_up.min(d_lo) / open);
        // Dark, but not black: a luminance floor of 24 (a camera's colour noise on a black patch
        // reads as strong colour), and deep shadow keeps little of the lips' colour. A cavity as
        // bright and as red as the lips in shadow (the floor was 38, near 0.45 and deep 0.16 of
        // the lip colour, all of its hue) read to an outside face mesh as more lip: it put the
        // inner-lip points inside the opening and scored a visibly open mouth as shut.
        let floor = |c: [f32; 3]| {
            let l = MouthPalette::lum(c).max(1.0);
            let k = (24.0 / l).max(1.0);
            c.map(|v| v * k)
        };
        let grey = |c: [f32; 3], keep: f32| {
            let l = MouthPalette::lum(c);
            c.map(|v| l + (v - l) * keep)
        };
        let near = grey(floor(pal.lip.map(|c| c * 0.30)), 0.8);
        let deep = grey(floor(pal.lip.map(|c| c * 0.08)), 0.5);
        let mut c = mix(near, deep, depth.max(0.6 * side * side));
        // Tongue: a mound behind the lower incisors, riding on the jaw; for /t d n l/
        // (`tongue_up`) its tip rises to the ridge behind the upper teeth, so that between the
        // teeth the opening shows the tongue's underside, its sides staying low.
        if let Some(hit) = self.arches.lower.tooth_at(x).or_else(|| self.arches.lower.tooth_at(x.clamp(self.arches.lower.xs[0] + 0.01, self.arches.lower.xs[10] - 0.01))) {
            let mid = (self.arches.lower.xs[0] + self.arches.lower.xs[10]) / 2.0;
            let half = 15.0 * mm;
            let q = ((x - mid) / half).clamp(-1.0, 1.0);
            let rest = hit.edge - (4.0 - 6.0 * q * q) * mm;
            // The raised tip: half an ellipse 25 mm wide, its crown 1 mm above the upper teeth's
            // biting edge (behind them).
            let arch = if self.tongue_up > 0.0 { (1.0 - (q / 0.85) * (q / 0.85)).max(0.0).sqrt() } else { 0.0 };
            let tip = self.tongue_up * arch;
            let top = match if tip > 0.0 { self.arches.upper.tooth_at(x) } else { None } {
                Some(up) => rest + (up.edge - 1.0 * mm - rest).min(0.0) * tip,
                None => rest,
            };
            let below = v - top;
            if below > -3.0 {
                let tongue = pal.lip.map(|c| c * 0.78);
                // The underside of a raised tip faces the camera: no highlight along a top,
                // rounding off into shadow towards its sides and down towards the floor.
                let rest_lit = 0.6 + 0.5 * (1.0 - q * q) * smoothstep(6.0 * mm, 0.0, below.max(0.0));
                let under = 0.5 + 0.4 * arch - 0.15 * smoothstep(0.0, 8.0 * mm, below);
                let lit = rest_lit + (under - rest_lit) * tip;
                let col = pal.tame(tongue.map(|c| c * lit));
                let edge = pal.ramp(MouthPalette::lum(col) - MouthPalette::lum(c));
                c = mix(c, col, smoothstep(-edge / 2.0, edge / 2.0, below));
            }
        }
        // Lower teeth, then the upper teeth in front of them (the overbite).
        let own = smoothstep(1.0 * mm, 3.0 * mm, src_open) * pal.own_teeth;
        if own < 1.0 {
            let cavity = c;
            if let Some(hit) = self.arches.lower.tooth_at(x) {
                c = self.tooth(c, &hit, v, d_lo, false);
            }
            if let Some(hit) = self.arches.upper.tooth_at(x) {
                c = self.tooth(c, &hit, v, d_up, true);
            }
            c = mix(c, cavity, own);
        }
        let g = grain_at(x as i32, (v - self.arches.upper.edge[5]) as i32);
        let c = pal.tame(c);
        c.map(|v| v + g * 2.45 * pal.grain)
    }

    /// One tooth over `behind`: its crown from the biting edge to the gum, rounded corners, a
    /// dark gap to its neighbours, lit by how squarely it faces the camera and shadowed where the
    /// lip (`d_lip` away) overhangs it.
    fn tooth(&self, behind: [f32; 3], hit: &Hit, v: f32, d_lip: f32, upper: bool) -> [f32; 3] {
        let pal = self.pal;
        let mm = self.arches.mm;
        // Rounded corners: the edge recedes towards the crown near each side.
        let k = ((hit.t - 0.5).abs() * 2.0 - 0.55).max(0.0) / 0.45;
        let lift = 0.3 * hit.width * k * k;
        // Signed distance into the crown from the biting edge and from the gum line.
        let (from_edge, from_gum) = if upper { (hit.edge - lift - v, v - hit.gum) } else { (v - hit.edge - lift, hit.gum - v) };
        if from_edge < -4.0 || from_gum < -4.0 * mm {
            return behind;
        }
        let light = (0.45 + 0.55 * hit.facing) * (1.0 - 0.07 * hit.rank as f32);
        let shadow = 0.62 + 0.38 * smoothstep(0.0, 2.5 * mm, d_lip);
        let enamel = pal.tame(pal.teeth.map(|c| c * light * shadow * if upper { 1.0 } else { 0.9 }));
        // Gap to the neighbours: dark, a fraction of a millimetre, as soft as the edges.
        let gap_w = pal.ramp(0.5 * MouthPalette::lum(enamel)).max(0.35 * mm);
        let across = hit.t.min(1.0 - hit.t) * hit.width;
        let tooth = mix(enamel.map(|c| c * 0.55), enamel, smoothstep(0.0, gap_w, across));
        let gum = pal.tame(pal.lip.map(|c| c * 0.8 * shadow));
        let over_gum = mix(gum, tooth, smoothstep(-0.5 * mm, 0.5 * mm, from_gum));
        let edge = pal.ramp(MouthPalette::lum(tooth) - MouthPalette::lum(behind));
        mix(behind, over_gum, smoothstep(-edge / 2.0, edge / 2.0, from_edge))
    }
}

