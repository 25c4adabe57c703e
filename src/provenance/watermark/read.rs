//! Reading: per-cell luma correlated with the period over a window of frames, bits from the
//! principal axis, the CRC and the signal-to-noise bound deciding whether a window counts.

use std::f64::consts::PI;

use super::payload::{Layout, Payload, BITS, CHASE, GRID, MIN_SNR, PERIOD, WINDOW};

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
pub(super) fn read(layout: &Layout, i_acc: &[f64], q_acc: &[f64], r_acc: &[f64], sum_sin: f64, sum_cos: f64, frames: usize) -> (f64, Option<Payload>) {
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
