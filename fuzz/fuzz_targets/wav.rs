//! The WAV reader behind `POST /v1/speech` (and the TTS engine's output): never panics, and what
//! it accepts resamples to 16 kHz mono.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(w) = speakface::audio::wav::parse(data) {
        // Keep runs fast: a claimed rate or length is only trusted as far as the bytes go.
        let n = w.samples.len().min(1 << 16);
        let s = speakface::audio::speech_from_samples(w.samples[..n - n % w.channels.max(1) as usize].to_vec(), w.rate, w.channels);
        assert!(s.mono16k.iter().all(|x| x.is_finite()));
    }
});
