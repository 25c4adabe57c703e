//! Embedding: the payload's bump pattern added to each frame's luma, fading in and out over the
//! 50-frame period.

use std::f64::consts::PI;

use super::payload::{axis, Layout, Payload, GRID, PERIOD};

/// Adds the watermark to frames of one size.
pub struct Embedder {
    width: usize,
    height: usize,
    strength: f32,
    /// The ±1 pattern for the current payload, ×1024, one per pixel.
    pattern: Vec<i16>,
    payload: Option<Payload>,
    layout: Layout,
    frame: u64,
}

impl Embedder {
    pub fn new(width: u32, height: u32, strength: f32) -> Embedder {
        Embedder {
            width: width as usize,
            height: height as usize,
            strength,
            pattern: vec![0; width as usize * height as usize],
            payload: None,
            layout: Layout::new(),
            frame: 0,
        }
    }

    /// Sets what the following frames carry (cheap when unchanged).
    pub fn set_payload(&mut self, p: Payload) {
        if self.payload == Some(p) {
            return;
        }
        self.payload = Some(p);
        let bits = p.bits();
        let cells: Vec<f32> = (0..GRID * GRID)
            .map(|c| {
                let b = if bits[self.layout.bit_of[c] as usize] { 1.0 } else { -1.0 };
                b * self.layout.key[c] as f32
            })
            .collect();
        let (ax, ay) = (axis(self.width), axis(self.height));
        for (y, &(r0, r1, fy)) in ay.iter().enumerate() {
            for (x, &(c0, c1, fx)) in ax.iter().enumerate() {
                let top = cells[r0 * GRID + c0] * (1.0 - fx) + cells[r0 * GRID + c1] * fx;
                let bottom = cells[r1 * GRID + c0] * (1.0 - fx) + cells[r1 * GRID + c1] * fx;
                self.pattern[y * self.width + x] = ((top * (1.0 - fy) + bottom * fy) * 1024.0).round() as i16;
            }
        }
    }

    /// Frames marked so far.
    pub fn frame(&self) -> u64 {
        self.frame
    }

    /// Marks one RGB24 frame in place (the next in the sequence).
    pub fn apply(&mut self, rgb: &mut [u8]) {
        let phase = (self.frame % PERIOD as u64) as f64 / PERIOD as f64;
        self.frame += 1;
        if self.payload.is_none() || rgb.len() != self.pattern.len() * 3 {
            return;
        }
        // delta = pattern/1024 × strength × sin, in 1/65536 grey levels.
        let gain = ((2.0 * PI * phase).sin() * self.strength as f64 * 64.0).round() as i32;
        if gain == 0 {
            return;
        }
        for (px, &p) in rgb.chunks_exact_mut(3).zip(&self.pattern) {
            let d = (p as i32 * gain + 32768) >> 16;
            if d != 0 {
                for v in px {
                    *v = (*v as i32 + d).clamp(0, 255) as u8;
                }
            }
        }
    }
}
