//! Speech in: WAV reading (any common rate, bit depth and channel count), resampling to 16 kHz
//! mono, log-mel features, and per-video-frame speech features (energy, spectral shape, voicing)
//! that drive the rule-based mouth (`motion.lipsync = "heuristic"`) and the head's liveliness.
//! Not for: capture from ALSA (`audio::capture`) or motion decisions (see `motion`).

pub mod capture;
pub mod features;
pub mod mel;
pub mod resample;
pub mod speech;
mod spectrum;
pub mod wav;

pub use features::{frame_count, frame_features, FrameAnalyzer, FrameFeatures, WINDOW};
pub use mel::LogMel;
pub use resample::{resample, Resampler};
pub use speech::{read_wav, read_wav_limited, speech_from_samples, Speech, ANALYSIS_RATE};
