//! Speech in: WAV reading (any common rate, bit depth and channel count), resampling to 16 kHz
//! mono, log-mel features, and per-video-frame speech features (energy, spectral shape, voicing)
//! that drive the mouth until the trained audio-to-motion model lands.
//! Not for: capture from ALSA (the live daemon's job, later) or motion decisions (see `motion`).

/// The sample rate every analysis stage works at.
pub const ANALYSIS_RATE: u32 = 16_000;

/// Speech as read from a file: the original samples (for muxing into the video unchanged) and the
/// 16 kHz mono version for analysis.
#[derive(Debug, Clone)]
pub struct Speech {
    /// Original interleaved samples as f32 in [-1, 1].
    pub original: Vec<f32>,
    pub original_rate: u32,
    pub original_channels: u16,
    /// Mono, resampled to `ANALYSIS_RATE`.
    pub mono16k: Vec<f32>,
}

impl Speech {
    /// Duration in seconds.
    pub fn duration_s(&self) -> f64 {
        self.mono16k.len() as f64 / ANALYSIS_RATE as f64
    }
}

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
