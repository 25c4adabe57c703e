//! Speech read from a file: the original samples (muxed unchanged) and the 16 kHz mono version
//! every analysis stage works on.

use std::path::Path;

use super::resample::resample;
use super::wav;
use crate::{Error, Result};

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

/// Reads a WAV file (PCM 8/16/24/32-bit or float, any rate, any channel count) into a `Speech`.
/// More than two channels are mixed down to mono for muxing as well.
pub fn read_wav(path: &Path) -> Result<Speech> {
    read_wav_limited(path, wav::FILE_LIMITS)
}

/// `read_wav` within `limits` (the daemon's playlist uses `wav::LIVE_LIMITS`).
pub fn read_wav_limited(path: &Path, limits: wav::Limits) -> Result<Speech> {
    let w = wav::read_limited(path, limits)?;
    let speech = speech_from_samples(w.samples, w.rate, w.channels);
    if speech.mono16k.is_empty() {
        return Err(Error::Audio { path: path.to_path_buf(), message: "no audio samples".into() });
    }
    Ok(speech)
}

/// Builds a `Speech` from interleaved samples.
pub fn speech_from_samples(samples: Vec<f32>, rate: u32, channels: u16) -> Speech {
    let ch = channels.max(1) as usize;
    if ch == 1 {
        let mono16k = resample(&samples, rate, ANALYSIS_RATE);
        return Speech { original: samples, original_rate: rate, original_channels: 1, mono16k };
    }
    let mono: Vec<f32> = samples.chunks_exact(ch).map(|f| f.iter().sum::<f32>() / ch as f32).collect();
    let mono16k = resample(&mono, rate, ANALYSIS_RATE);
    let (original, original_channels) = if ch == 2 { (samples, 2) } else { (mono, 1) };
    Speech { original, original_rate: rate, original_channels, mono16k }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stereo_48k_becomes_mono_16k_and_keeps_original() {
        let n = 48000;
        let mut s = Vec::with_capacity(2 * n);
        for i in 0..n {
            let v = (2.0 * std::f32::consts::PI * 440.0 * i as f32 / 48000.0).sin() * 0.4;
            s.push(v);
            s.push(v);
        }
        let sp = speech_from_samples(s, 48000, 2);
        assert_eq!((sp.original_rate, sp.original_channels, sp.original.len()), (48000, 2, 2 * n));
        assert_eq!(sp.mono16k.len(), 16000);
        assert!((sp.duration_s() - 1.0).abs() < 1e-6);
        let peak = sp.mono16k[1000..15000].iter().fold(0f32, |a, v| a.max(v.abs()));
        assert!((peak - 0.4).abs() < 0.01, "{peak}");
    }

    #[test]
    fn many_channels_are_mixed_down() {
        let sp = speech_from_samples(vec![0.3; 6 * 1600], 16000, 6);
        assert_eq!((sp.original_channels, sp.original.len()), (1, 1600));
    }

    #[test]
    fn missing_file_is_named() {
        let e = read_wav(Path::new("/nonexistent/x.wav")).unwrap_err().to_string();
        assert_eq!(e, "speech /nonexistent/x.wav: file not found");
    }
}
