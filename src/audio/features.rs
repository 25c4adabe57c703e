//! Per-video-frame speech features: level, spectral centroid, band energies, zero-crossing rate,
//! pitch and voicing. One 40 ms Hann window centred on each frame's time (frame n at n / fps), so a
//! feature describes what is heard while that frame is on screen.

use super::spectrum::WindowedFft;
use super::speech::ANALYSIS_RATE;

/// Speech features for one video frame (the analysis window is centred on the frame's time).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct FrameFeatures {
    /// RMS level in dBFS (−100 for digital silence).
    pub rms_db: f32,
    /// Spectral centroid in Hz (0 when silent).
    pub centroid_hz: f32,
    /// Zero-crossing rate, crossings per second.
    pub zcr_hz: f32,
    /// Fundamental frequency in Hz when voiced, 0 when unvoiced/silent.
    pub f0_hz: f32,
    /// Voicing confidence in [0, 1] (normalised autocorrelation peak).
    pub voicing: f32,
    /// Fraction of spectral energy below 1 kHz, 1–3 kHz and above 3 kHz (sum to 1 when not silent).
    pub band_low: f32,
    pub band_mid: f32,
    pub band_high: f32,
}

/// Analysis window length in samples (40 ms at 16 kHz).
pub const WINDOW: usize = 640;
const FFT: usize = 1024;
const F0_MIN: f32 = 60.0;
const F0_MAX: f32 = 450.0;
/// Below this level a window is treated as silence: no pitch, no spectral shape.
const SILENCE_DB: f32 = -60.0;

/// Number of video frames that cover `samples` at 16 kHz: every frame whose time is inside the
/// speech, i.e. ceil(duration × fps).
pub fn frame_count(samples: usize, fps: f32) -> usize {
    let secs = samples as f64 / ANALYSIS_RATE as f64;
    // The small epsilon keeps an exact multiple (2.0 s at 25 fps = 50) from becoming 51.
    (secs * fps as f64 - 1e-9).ceil().max(0.0) as usize
}

/// Computes the features of every video frame of a 16 kHz mono signal.
pub fn frame_features(mono16k: &[f32], fps: f32) -> Vec<FrameFeatures> {
    let mut an = FrameAnalyzer::new();
    (0..frame_count(mono16k.len(), fps))
        .map(|n| {
            let centre = (n as f64 * ANALYSIS_RATE as f64 / fps as f64).round() as i64;
            an.analyze(mono16k, centre)
        })
        .collect()
}

/// Reusable buffers and FFT plan for frame analysis (no allocation per frame).
pub struct FrameAnalyzer {
    fft: WindowedFft,
    window: Vec<f32>,
    /// Sum of the squared window, the energy normaliser.
    window_power: f32,
    raw: Vec<f32>,
}

impl Default for FrameAnalyzer {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameAnalyzer {
    pub fn new() -> Self {
        let window: Vec<f32> = (0..WINDOW)
            .map(|i| 0.5 - 0.5 * (2.0 * std::f32::consts::PI * (i as f32 + 0.5) / WINDOW as f32).cos())
            .collect();
        let window_power = window.iter().map(|w| w * w).sum();
        FrameAnalyzer { fft: WindowedFft::new(FFT), window, window_power, raw: vec![0.0; WINDOW] }
    }

    /// Features of the window centred on sample `centre` (zero outside the signal).
    pub fn analyze(&mut self, x: &[f32], centre: i64) -> FrameFeatures {
        let start = centre - WINDOW as i64 / 2;
        for (i, r) in self.raw.iter_mut().enumerate() {
            let j = start + i as i64;
            *r = if j >= 0 && (j as usize) < x.len() { x[j as usize] } else { 0.0 };
        }
        // Remove DC so a recorder's offset is not read as energy or crossings.
        let mean = self.raw.iter().sum::<f32>() / WINDOW as f32;
        self.raw.iter_mut().for_each(|v| *v -= mean);

        let energy: f32 =
            self.raw.iter().zip(&self.window).map(|(v, w)| (v * w).powi(2)).sum::<f32>() / self.window_power;
        let rms_db = if energy > 1e-10 { 10.0 * energy.log10() } else { -100.0 };
        let mut f = FrameFeatures { rms_db, ..Default::default() };
        if rms_db < SILENCE_DB {
            return f;
        }

        // Zero crossings per second.
        let crossings = self.raw.windows(2).filter(|p| (p[0] >= 0.0) != (p[1] >= 0.0)).count();
        f.zcr_hz = crossings as f32 * ANALYSIS_RATE as f32 / WINDOW as f32;

        // Spectrum: centroid and band fractions over 60 Hz – 8 kHz.
        let spec = self.fft.process(&self.raw, &self.window);
        let hz_per_bin = ANALYSIS_RATE as f32 / FFT as f32;
        let (mut total, mut weighted, mut low, mut mid, mut high) = (0f32, 0f32, 0f32, 0f32, 0f32);
        for (k, c) in spec.iter().enumerate() {
            let hz = k as f32 * hz_per_bin;
            if hz < 60.0 {
                continue;
            }
            let p = c.norm_sqr();
            total += p;
            weighted += p * hz;
            if hz < 1000.0 {
                low += p;
            } else if hz < 3000.0 {
                mid += p;
            } else {
                high += p;
            }
        }
        if total > 0.0 {
            f.centroid_hz = weighted / total;
            f.band_low = low / total;
            f.band_mid = mid / total;
            f.band_high = high / total;
        }

        // Pitch: normalised autocorrelation, first peak within 90 % of the best (avoids octave errors).
        let min_lag = (ANALYSIS_RATE as f32 / F0_MAX) as usize;
        let max_lag = (ANALYSIS_RATE as f32 / F0_MIN) as usize;
        let r = |lag: usize| -> f32 {
            let (a, b) = (&self.raw[..WINDOW - lag], &self.raw[lag..]);
            let (mut ab, mut aa, mut bb) = (0f32, 0f32, 0f32);
            for (x, y) in a.iter().zip(b) {
                ab += x * y;
                aa += x * x;
                bb += y * y;
            }
            if aa <= 0.0 || bb <= 0.0 { 0.0 } else { ab / (aa * bb).sqrt() }
        };
        let mut best = (0usize, 0f32);
        let mut corr = [0f32; 300];
        for lag in min_lag..=max_lag.min(corr.len() - 2) {
            corr[lag] = r(lag);
            if corr[lag] > best.1 {
                best = (lag, corr[lag]);
            }
        }
        corr[max_lag + 1] = r(max_lag + 1);
        if best.0 > 0 {
            let mut lag = best.0;
            for l in min_lag + 1..best.0 {
                if corr[l] >= 0.9 * best.1 && corr[l] >= corr[l - 1] && corr[l] >= corr[l + 1] {
                    lag = l;
                    break;
                }
            }
            f.voicing = corr[lag].clamp(0.0, 1.0);
            if f.voicing > 0.5 && lag > min_lag && lag <= max_lag {
                // Parabolic interpolation around the peak.
                let (a, b, c) = (corr[lag - 1], corr[lag], corr[lag + 1]);
                let den = a - 2.0 * b + c;
                let shift = if den.abs() > 1e-9 { 0.5 * (a - c) / den } else { 0.0 };
                f.f0_hz = ANALYSIS_RATE as f32 / (lag as f32 + shift.clamp(-0.5, 0.5));
            }
        }
        f
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_count_covers_duration() {
        assert_eq!(frame_count(32000, 25.0), 50);
        assert_eq!(frame_count(32001, 25.0), 51);
        assert_eq!(frame_count(0, 25.0), 0);
        assert_eq!(frame_count(16000, 30.0), 30);
    }

    #[test]
    fn voiced_tone_noise_and_silence() {
        let sr = ANALYSIS_RATE as f32;
        // A buzzy 150 Hz voice-like signal, then white-ish noise, then silence.
        let mut x: Vec<f32> = (0..16000)
            .map(|i| {
                let t = i as f32 / sr;
                (1..8).map(|h| (2.0 * std::f32::consts::PI * 150.0 * h as f32 * t).sin() / h as f32).sum::<f32>() * 0.2
            })
            .collect();
        let mut seed = 1u32;
        x.extend((0..16000).map(|_| {
            seed = seed.wrapping_mul(1664525).wrapping_add(1013904223);
            (seed >> 8) as f32 / (1 << 24) as f32 - 0.5
        }) .map(|v| v * 0.2));
        x.extend(std::iter::repeat(0.0).take(16000));
        let f = frame_features(&x, 25.0);
        assert_eq!(f.len(), 75);
        let voiced = &f[12];
        assert!((voiced.f0_hz - 150.0).abs() < 3.0, "f0 {}", voiced.f0_hz);
        assert!(voiced.voicing > 0.9);
        assert!(voiced.band_low > 0.7);
        let noise = &f[37];
        assert_eq!(noise.f0_hz, 0.0, "noise has no pitch (voicing {})", noise.voicing);
        assert!(noise.centroid_hz > 3000.0 && noise.band_high > 0.5);
        assert!(noise.zcr_hz > 3000.0);
        let silent = &f[62];
        assert_eq!(silent.rms_db, -100.0);
        assert_eq!((silent.f0_hz, silent.voicing), (0.0, 0.0));
        assert!(voiced.rms_db > -20.0 && voiced.rms_db < -5.0, "{}", voiced.rms_db);
    }
}
