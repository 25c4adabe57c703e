//! The invisible watermark in every output frame: a device id and a time, readable back from an
//! H.264 file or stream, also after scaling to half size.
//!
//! **Payload**: 32-bit device id + 32-bit time (whole minutes since 1970, UTC) + CRC-16/CCITT =
//! 80 bits. The stamp updates the time only every `WINDOW` frames, so a file read from its first
//! frame never has a window that mixes two payloads.
//!
//! **Embedding**: the frame is divided into a 64×64 grid of cells (8×8 px at 512×512). Each cell
//! carries one payload bit (a fixed pseudo-random assignment, 51 cells per bit, each with its
//! own pseudo-random sign), as a smooth ±1 bump (cosine interpolation between cell centres, so
//! there are no block edges). The bump pattern is added to the luma (the same amount to R, G and
//! B) with amplitude `strength × sin(2π·n / 50)`, n = frame number: the pattern fades in and out
//! over two seconds at 25 fps. That slow temporal modulation is what makes it readable: a
//! portrait is nearly still, so the picture itself would hide a still pattern (its own texture
//! at the cell scale is 3–7 grey levels), but it cannot look like something that oscillates in
//! time; correlating with the sine cancels it. At the default strength (2 grey levels) the
//! frame's PSNR against the unmarked frame is about 47 dB.
//!
//! **Reading**: each frame's luma is averaged per cell (any frame size: the grid is relative),
//! each cell minus the mean of its 8 neighbours (removes shading), signed by the cell's key, and
//! correlated over a window of frames with sin and cos of the 50-frame period (the reader does
//! not know where the period starts: a stream may be joined at any frame), about the window's
//! mean. Each cell's vote is capped at 3× the median cell's: where the face moves (the mouth
//! opening is 100 grey levels against the mark's 2) a few cells would otherwise outvote the
//! rest. The in-phase axis is
//! the principal direction of the 80 per-bit sums; bits are read from it (both polarities are
//! tried, and the 4 least reliable bits flipped singly and in pairs), and a window counts only
//! if the CRC matches *and* the signal stands clearly above the quadrature noise (`MIN_SNR`).

use std::f64::consts::PI;

/// Cells per side of the grid.
pub const GRID: usize = 64;
/// Payload bits: 32 device + 32 minutes + 16 CRC.
pub const BITS: usize = 80;
/// Frames per period of the temporal modulation.
pub const PERIOD: usize = 50;
/// Default amplitude in grey levels.
pub const DEFAULT_STRENGTH: f32 = 2.0;
/// A window is read only when the in-phase signal is this many times the quadrature noise.
pub const MIN_SNR: f64 = 3.0;
/// Least reliable bits the reader tries flipping (singly and in pairs).
const CHASE: usize = 4;
/// Frames per reading window (4 s at 25 fps: two periods).
pub const WINDOW: usize = 2 * PERIOD;

/// What the watermark carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Payload {
    pub device: u32,
    /// Minutes since 1970-01-01 00:00 UTC.
    pub minute: u32,
}

impl Payload {
    pub fn now(device: u32) -> Payload {
        let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        Payload { device, minute: (secs / 60) as u32 }
    }

    /// The time as "YYYY-MM-DD HH:MM UTC".
    pub fn time_text(&self) -> String {
        let t = crate::control::utc_text(std::time::UNIX_EPOCH + std::time::Duration::from_secs(self.minute as u64 * 60));
        // utc_text gives "YYYY-MM-DDTHH:MM:SSZ".
        format!("{} {} UTC", &t[..10], &t[11..16])
    }

    fn bits(&self) -> [bool; BITS] {
        let mut data = [0u8; 8];
        data[..4].copy_from_slice(&self.device.to_be_bytes());
        data[4..].copy_from_slice(&self.minute.to_be_bytes());
        let crc = crc16(&data);
        let mut out = [false; BITS];
        for i in 0..64 {
            out[i] = data[i / 8] & (0x80 >> (i % 8)) != 0;
        }
        for i in 0..16 {
            out[64 + i] = crc & (0x8000 >> i) != 0;
        }
        out
    }

    fn from_bits(bits: &[bool; BITS]) -> Option<Payload> {
        let mut data = [0u8; 8];
        for i in 0..64 {
            if bits[i] {
                data[i / 8] |= 0x80 >> (i % 8);
            }
        }
        let mut crc = 0u16;
        for i in 0..16 {
            if bits[64 + i] {
                crc |= 0x8000 >> i;
            }
        }
        (crc16(&data) == crc).then(|| Payload {
            device: u32::from_be_bytes([data[0], data[1], data[2], data[3]]),
            minute: u32::from_be_bytes([data[4], data[5], data[6], data[7]]),
        })
    }
}

/// CRC-16/CCITT-FALSE.
fn crc16(data: &[u8]) -> u16 {
    let mut crc = 0xFFFFu16;
    for &b in data {
        crc ^= (b as u16) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 { (crc << 1) ^ 0x1021 } else { crc << 1 };
        }
    }
    crc
}

/// The fixed cell → bit assignment and cell signs (the same on every device: the mark is for
/// anyone to check, not a secret).
struct Layout {
    bit_of: Vec<u8>,
    key: Vec<i8>,
}

impl Layout {
    fn new() -> Layout {
        let mut state = 0x5EA4_FACE_2026_u64;
        let mut next = move || {
            // splitmix64
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        let n = GRID * GRID;
        let mut order: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            let j = (next() % (i as u64 + 1)) as usize;
            order.swap(i, j);
        }
        let bit_of = order.iter().map(|&o| (o % BITS) as u8).collect();
        let key = (0..n).map(|_| if next() & 1 == 0 { 1 } else { -1 }).collect();
        Layout { bit_of, key }
    }
}

/// Interpolation weights from cell values to pixels along one axis: for pixel x, the two cells
/// around it and the weight of the second (cosine-shaped).
fn axis(size: usize) -> Vec<(usize, usize, f32)> {
    let cell = size as f64 / GRID as f64;
    (0..size)
        .map(|x| {
            let t = (x as f64 + 0.5) / cell - 0.5;
            let f0 = t.floor();
            let i0 = (f0.max(0.0) as usize).min(GRID - 1);
            let i1 = ((f0 + 1.0).max(0.0) as usize).min(GRID - 1);
            let f = t - f0;
            (i0, i1, (0.5 - 0.5 * (PI * f).cos()) as f32)
        })
        .collect()
}

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

/// One reading window's result.
#[derive(Debug, Clone)]
pub struct WindowRead {
    /// First frame of the window.
    pub start: usize,
    pub frames: usize,
    /// In-phase over quadrature amplitude (≈1 without a watermark).
    pub snr: f64,
    /// The payload, when the CRC matched and `snr >= MIN_SNR`.
    pub payload: Option<Payload>,
}

/// Reads the watermark from a sequence of frames of any size.
pub struct Detector {
    layout: Layout,
    i_acc: Vec<f64>,
    q_acc: Vec<f64>,
    /// Σ residual per cell, and Σ sin, Σ cos over the window: the correlations are taken about
    /// the window's mean, so a still picture cancels also in a window of no whole period.
    r_acc: Vec<f64>,
    sum_sin: f64,
    sum_cos: f64,
    /// The same sums over every frame so far (the whole-clip read).
    tot: (Vec<f64>, Vec<f64>, Vec<f64>, f64, f64),
    in_window: usize,
    start: usize,
    frames: usize,
    window: usize,
    cells: Vec<f64>,
    counts: Vec<u32>,
    /// Cell column of each pixel column, for the frame width last seen.
    col: Vec<usize>,
    pub windows: Vec<WindowRead>,
}

impl Default for Detector {
    fn default() -> Self {
        Detector::new(WINDOW)
    }
}

impl Detector {
    /// Reads in windows of `window` frames (at least one period).
    pub fn new(window: usize) -> Detector {
        let n = GRID * GRID;
        Detector {
            layout: Layout::new(),
            i_acc: vec![0.0; n],
            q_acc: vec![0.0; n],
            r_acc: vec![0.0; n],
            sum_sin: 0.0,
            sum_cos: 0.0,
            tot: (vec![0.0; n], vec![0.0; n], vec![0.0; n], 0.0, 0.0),
            in_window: 0,
            start: 0,
            frames: 0,
            window: window.max(PERIOD),
            cells: vec![0.0; n],
            counts: vec![0; n],
            col: Vec::new(),
            windows: Vec::new(),
        }
    }

    pub fn frames(&self) -> usize {
        self.frames
    }

    /// Adds one RGB24 frame.
    pub fn push(&mut self, rgb: &[u8], width: u32, height: u32) {
        let (w, h) = (width as usize, height as usize);
        if w < GRID || h < GRID || rgb.len() < w * h * 3 {
            return;
        }
        self.cells.iter_mut().for_each(|c| *c = 0.0);
        self.counts.iter_mut().for_each(|c| *c = 0);
        if self.col.len() != w {
            self.col = (0..w).map(|x| x * GRID / w).collect();
        }
        for y in 0..h {
            let row = y * GRID / h * GRID;
            let line = &rgb[y * w * 3..(y + 1) * w * 3];
            for (x, px) in line.chunks_exact(3).enumerate() {
                let c = row + self.col[x];
                self.cells[c] += 0.299 * px[0] as f64 + 0.587 * px[1] as f64 + 0.114 * px[2] as f64;
                self.counts[c] += 1;
            }
        }
        for (c, &n) in self.cells.iter_mut().zip(&self.counts) {
            *c /= n.max(1) as f64;
        }
        let t = self.frames as f64 / PERIOD as f64 * 2.0 * PI;
        let (s, co) = t.sin_cos();
        let g = GRID as isize;
        for y in 0..g {
            for x in 0..g {
                let mut sum = 0.0;
                for (dy, dx) in [(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)] {
                    let (yy, xx) = ((y + dy).clamp(0, g - 1), (x + dx).clamp(0, g - 1));
                    sum += self.cells[(yy * g + xx) as usize];
                }
                let c = (y * g + x) as usize;
                let r = (self.cells[c] - sum / 8.0) * self.layout.key[c] as f64;
                self.i_acc[c] += r * s;
                self.q_acc[c] += r * co;
                self.r_acc[c] += r;
            }
        }
        self.sum_sin += s;
        self.sum_cos += co;
        self.frames += 1;
        self.in_window += 1;
        if self.in_window == self.window {
            self.close_window();
        }
    }

    fn close_window(&mut self) {
        if self.in_window == 0 {
            return;
        }
        for c in 0..GRID * GRID {
            self.tot.0[c] += self.i_acc[c];
            self.tot.1[c] += self.q_acc[c];
            self.tot.2[c] += self.r_acc[c];
        }
        self.tot.3 += self.sum_sin;
        self.tot.4 += self.sum_cos;
        let (snr, payload) = read(&self.layout, &self.i_acc, &self.q_acc, &self.r_acc, self.sum_sin, self.sum_cos, self.in_window);
        self.windows.push(WindowRead { start: self.start, frames: self.in_window, snr, payload });
        self.start += self.in_window;
        self.in_window = 0;
        self.i_acc.iter_mut().for_each(|v| *v = 0.0);
        self.q_acc.iter_mut().for_each(|v| *v = 0.0);
        self.r_acc.iter_mut().for_each(|v| *v = 0.0);
        (self.sum_sin, self.sum_cos) = (0.0, 0.0);
    }

    /// Reads the last, partial window when it holds at least one period; returns every window,
    /// and the whole clip read as one (more frames, more signal: what a short clip needs; a
    /// clip whose time changed midway reads only per window).
    pub fn finish(mut self) -> (Vec<WindowRead>, WindowRead) {
        if self.in_window >= PERIOD || (self.windows.is_empty() && self.in_window > 0) {
            self.close_window();
        }
        let (i, q, r, ss, sc) = &self.tot;
        let (snr, payload) = if self.frames > 0 { read(&self.layout, i, q, r, *ss, *sc, self.frames) } else { (0.0, None) };
        let whole = WindowRead { start: 0, frames: self.frames, snr, payload };
        (self.windows, whole)
    }
}

/// Reads one set of sums: (in-phase/quadrature ratio, payload when the CRC matches and the
/// ratio reaches `MIN_SNR`).
fn read(layout: &Layout, i_acc: &[f64], q_acc: &[f64], r_acc: &[f64], sum_sin: f64, sum_cos: f64, frames: usize) -> (f64, Option<Payload>) {
    let mut zi = [0.0f64; BITS];
    let mut zq = [0.0f64; BITS];
    let n = frames as f64;
    let (ms, mc) = (sum_sin / n, sum_cos / n);
    // Per cell, about the window's mean; then each cell's vote is limited to 3× the median
    // cell's, so the few cells where the face moves (a mouth opening is 100 grey levels
    // against the mark's 2) cannot outvote the thousands where it does not.
    let cells: Vec<(f64, f64)> = (0..GRID * GRID).map(|c| (i_acc[c] - r_acc[c] * ms, q_acc[c] - r_acc[c] * mc)).collect();
    let mut mags: Vec<f64> = cells.iter().map(|(i, q)| i.hypot(*q)).collect();
    let mid = mags.len() / 2;
    let median = *mags.select_nth_unstable_by(mid, f64::total_cmp).1;
    let limit = 3.0 * median.max(1e-12);
    for (c, &(i, q)) in cells.iter().enumerate() {
        let m = i.hypot(q);
        let k = if m > limit { limit / m } else { 1.0 };
        let b = layout.bit_of[c] as usize;
        zi[b] += i * k;
        zq[b] += q * k;
    }
    // Principal axis of the 80 points (zi, zq): half the angle of Σ z².
    let (mut re, mut im) = (0.0, 0.0);
    for b in 0..BITS {
        re += zi[b] * zi[b] - zq[b] * zq[b];
        im += 2.0 * zi[b] * zq[b];
    }
    let phi = 0.5 * im.atan2(re);
    let (sp, cp) = phi.sin_cos();
    let mut bits = [false; BITS];
    let mut soft = [0.0f64; BITS];
    let (mut e_in, mut e_quad) = (0.0, 0.0);
    for b in 0..BITS {
        let a = zi[b] * cp + zq[b] * sp;
        let q = -zi[b] * sp + zq[b] * cp;
        bits[b] = a > 0.0;
        soft[b] = a.abs();
        e_in += a * a;
        e_quad += q * q;
    }
    let snr = (e_in / e_quad.max(1e-12)).sqrt();
    if snr < MIN_SNR {
        return (snr, None);
    }
    // The bits as read, then with one or two of the CHASE least reliable bits flipped (a
    // Chase decoder): 1 + 4 + 6 = 11 candidates, each in both polarities, so an unmarked
    // window that got past MIN_SNR passes the CRC with odds 22 / 65536.
    let mut order: Vec<usize> = (0..BITS).collect();
    order.sort_by(|&a, &b| soft[a].total_cmp(&soft[b]));
    let weak = &order[..CHASE];
    let mut flips: Vec<Vec<usize>> = vec![vec![]];
    for i in 0..CHASE {
        flips.push(vec![weak[i]]);
    }
    for i in 0..CHASE {
        for j in i + 1..CHASE {
            flips.push(vec![weak[i], weak[j]]);
        }
    }
    for f in flips {
        let mut cand = bits;
        for &b in &f {
            cand[b] = !cand[b];
        }
        if let Some(p) = Payload::from_bits(&cand).or_else(|| Payload::from_bits(&cand.map(|b| !b))) {
            return (snr, Some(p));
        }
    }
    (snr, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A still, textured "portrait" (strong structure at the cell scale) with a moving blob.
    fn frame(w: usize, h: usize, n: usize) -> Vec<u8> {
        let mut v = vec![0u8; w * h * 3];
        for y in 0..h {
            for x in 0..w {
                let tex = ((x * 7 + y * 13) % 23) as f32 * 3.0 + ((x / 5 + y / 3) % 4) as f32 * 10.0;
                let (cx, cy) = (w as f32 / 2.0 + (n as f32 * 0.3).sin() * 20.0, h as f32 / 2.0);
                let d = ((x as f32 - cx).powi(2) + (y as f32 - cy).powi(2)).sqrt();
                let val = (60.0 + tex + if d < 40.0 { 60.0 } else { 0.0 }).min(250.0) as u8;
                v[(y * w + x) * 3..(y * w + x) * 3 + 3].copy_from_slice(&[val, val.saturating_sub(10), val / 2]);
            }
        }
        v
    }

    #[test]
    fn payload_bits_round_trip_and_crc_catches_flips() {
        let p = Payload { device: 0xA1B2_C3D4, minute: 29_413_000 };
        let bits = p.bits();
        assert_eq!(Payload::from_bits(&bits), Some(p));
        for i in [0, 17, 63, 64, 79] {
            let mut b = bits;
            b[i] = !b[i];
            assert_eq!(Payload::from_bits(&b), None, "flip of bit {i} not caught");
        }
        assert_eq!(crc16(b"123456789"), 0x29B1);
    }

    #[test]
    fn layout_spreads_every_bit_over_many_cells() {
        let l = Layout::new();
        let mut count = [0usize; BITS];
        l.bit_of.iter().for_each(|&b| count[b as usize] += 1);
        assert!(count.iter().all(|&c| c == 51 || c == 52), "{count:?}");
        let plus = l.key.iter().filter(|&&k| k > 0).count();
        assert!((1900..2200).contains(&plus), "{plus}");
    }

    #[test]
    fn reads_back_raw_frames_from_any_start_and_at_half_size() {
        let (w, h) = (256usize, 256usize);
        let p = Payload { device: 0x0BAD_CAFE, minute: 29_000_123 };
        let mut e = Embedder::new(w as u32, h as u32, DEFAULT_STRENGTH);
        e.set_payload(p);
        let mut whole = Detector::default();
        let mut late = Detector::default();
        let mut half = Detector::default();
        let mut clean = Detector::default();
        for n in 0..230 {
            let mut f = frame(w, h, n);
            clean.push(&f, w as u32, h as u32);
            e.apply(&mut f);
            whole.push(&f, w as u32, h as u32);
            if n >= 17 {
                late.push(&f, w as u32, h as u32);
            }
            let small: Vec<u8> = (0..h / 2)
                .flat_map(|y| (0..w / 2).map(move |x| (x, y)))
                .flat_map(|(x, y)| {
                    let f = &f;
                    (0..3).map(move |k| {
                        let s: u32 = [(0, 0), (1, 0), (0, 1), (1, 1)].iter().map(|(dx, dy)| f[((2 * y + dy) * w + 2 * x + dx) * 3 + k] as u32).sum();
                        ((s + 2) / 4) as u8
                    })
                })
                .collect();
            half.push(&small, w as u32 / 2, h as u32 / 2);
        }
        for (name, d) in [("whole", whole), ("late start", late), ("half size", half)] {
            let (reads, whole) = d.finish();
            assert_eq!(whole.payload, Some(p), "{name}: whole clip");
            assert!(reads.len() >= 2, "{name}: {} windows", reads.len());
            for r in &reads {
                assert_eq!(r.payload, Some(p), "{name}: window at {} snr {:.1}", r.start, r.snr);
            }
        }
        // The moving blob alone can look like signal (snr ≈ 4 here); the CRC is what keeps it out.
        let (reads, whole) = clean.finish();
        assert_eq!(whole.payload, None);
        for r in reads {
            assert_eq!(r.payload, None, "clean window at {} (snr {:.2})", r.start, r.snr);
        }
    }

    #[test]
    fn the_mark_is_faint() {
        let (w, h) = (128usize, 128usize);
        let mut e = Embedder::new(w as u32, h as u32, DEFAULT_STRENGTH);
        e.set_payload(Payload { device: 1, minute: 2 });
        let mut max = 0i32;
        for n in 0..PERIOD {
            let f0 = frame(w, h, n);
            let mut f = f0.clone();
            e.apply(&mut f);
            for (a, b) in f.iter().zip(&f0) {
                max = max.max((*a as i32 - *b as i32).abs());
            }
        }
        assert!(max <= 2, "largest change {max} grey levels");
        assert!(max >= 1);
    }
}

