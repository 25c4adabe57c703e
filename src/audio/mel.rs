//! Log-mel spectrogram, the input of the audio-to-motion model: 80 HTK-mel bands from 20 Hz to
//! 8 kHz over a 512-point FFT of 25 ms Hann windows every 10 ms, natural log of power (floor 1e-10).
//! Frame t covers samples [160 t, 160 t + 400): no centring or padding, so a stream can compute
//! each frame as soon as its samples have arrived. `models/train` reproduces this exactly.

use super::spectrum::WindowedFft;
use super::speech::ANALYSIS_RATE;

pub const N_MELS: usize = 80;
pub const WIN: usize = 400;
pub const HOP: usize = 160;
pub const N_FFT: usize = 512;
pub const F_MIN: f32 = 20.0;
pub const F_MAX: f32 = 8000.0;
pub const LOG_FLOOR: f32 = 1e-10;

fn hz_to_mel(hz: f32) -> f32 {
    2595.0 * (1.0 + hz / 700.0).log10()
}
fn mel_to_hz(mel: f32) -> f32 {
    700.0 * (10f32.powf(mel / 2595.0) - 1.0)
}

/// A reusable log-mel analyser.
pub struct LogMel {
    fft: WindowedFft,
    window: Vec<f32>,
    /// Per band: first FFT bin and its weights.
    filters: Vec<(usize, Vec<f32>)>,
    power: Vec<f32>,
}

impl Default for LogMel {
    fn default() -> Self {
        Self::new()
    }
}

impl LogMel {
    pub fn new() -> Self {
        // Periodic Hann, as torch.hann_window(400).
        let window = (0..WIN).map(|i| 0.5 - 0.5 * (2.0 * std::f32::consts::PI * i as f32 / WIN as f32).cos()).collect();
        let bins = N_FFT / 2 + 1;
        let (m0, m1) = (hz_to_mel(F_MIN), hz_to_mel(F_MAX));
        let edges: Vec<f32> = (0..N_MELS + 2).map(|i| mel_to_hz(m0 + (m1 - m0) * i as f32 / (N_MELS + 1) as f32)).collect();
        let hz_per_bin = ANALYSIS_RATE as f32 / N_FFT as f32;
        let filters = (0..N_MELS)
            .map(|b| {
                let (lo, c, hi) = (edges[b], edges[b + 1], edges[b + 2]);
                let weights: Vec<(usize, f32)> = (0..bins)
                    .filter_map(|k| {
                        let hz = k as f32 * hz_per_bin;
                        let w = if hz > lo && hz <= c { (hz - lo) / (c - lo) } else if hz > c && hz < hi { (hi - hz) / (hi - c) } else { 0.0 };
                        (w > 0.0).then_some((k, w))
                    })
                    .collect();
                let first = weights.first().map_or(0, |w| w.0);
                (first, weights.into_iter().map(|w| w.1).collect())
            })
            .collect();
        LogMel { fft: WindowedFft::new(N_FFT), window, filters, power: vec![0.0; bins] }
    }

    /// Number of frames for `samples` samples.
    pub fn frames(samples: usize) -> usize {
        if samples < WIN { 0 } else { (samples - WIN) / HOP + 1 }
    }

    /// One frame from exactly `WIN` samples into `out` (`N_MELS` values).
    pub fn frame(&mut self, samples: &[f32], out: &mut [f32]) {
        assert_eq!(samples.len(), WIN);
        assert_eq!(out.len(), N_MELS);
        for (p, c) in self.power.iter_mut().zip(self.fft.process(samples, &self.window)) {
            *p = c.norm_sqr();
        }
        for (o, (first, w)) in out.iter_mut().zip(&self.filters) {
            let e: f32 = w.iter().zip(&self.power[*first..]).map(|(a, b)| a * b).sum();
            *o = e.max(LOG_FLOOR).ln();
        }
    }

    /// The whole spectrogram, row-major `[frames][N_MELS]`.
    pub fn compute(&mut self, x: &[f32]) -> Vec<f32> {
        let n = Self::frames(x.len());
        let mut out = vec![0f32; n * N_MELS];
        for t in 0..n {
            self.frame(&x[t * HOP..t * HOP + WIN], &mut out[t * N_MELS..(t + 1) * N_MELS]);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tone_lights_its_band() {
        let x: Vec<f32> = (0..16000).map(|i| (2.0 * std::f32::consts::PI * 1000.0 * i as f32 / 16000.0).sin()).collect();
        let mut m = LogMel::new();
        let s = m.compute(&x);
        assert_eq!(s.len() / N_MELS, LogMel::frames(16000));
        assert_eq!(LogMel::frames(16000), 98);
        let row = &s[10 * N_MELS..11 * N_MELS];
        let best = (0..N_MELS).max_by(|&a, &b| row[a].total_cmp(&row[b])).unwrap();
        let (m0, m1) = (hz_to_mel(F_MIN), hz_to_mel(F_MAX));
        let centre = mel_to_hz(m0 + (m1 - m0) * (best + 1) as f32 / (N_MELS + 1) as f32);
        assert!((centre - 1000.0).abs() < 80.0, "band {best} centre {centre}");
        assert!(row[best] - row[N_MELS - 1] > 10.0);
        let silent = m.compute(&vec![0.0; 400]);
        assert!(silent.iter().all(|&v| (v - LOG_FLOOR.ln()).abs() < 1e-3));
    }
}
