//! The speech → mouth rules (`motion.lipsync = "heuristic"`): an explicit, documented mapping
//! from per-frame speech features (level, spectral shape, voicing) to jaw and lip shapes, for a
//! whole clip (`mouth_from_features`) or streamed live (`MouthTracker`).

use crate::audio::{FrameAnalyzer, FrameFeatures, ANALYSIS_RATE};
use super::shape::MouthShape;

/// The level scale of a stretch of speech: noise floor and peak in dB, and the pitch range.
#[derive(Debug, Clone, Copy)]
pub struct LevelScale {
    floor: f32,
    peak: f32,
    f0_med: f32,
    f0_hi: f32,
}

fn percentile_sorted(sorted: &[f32], p: f32) -> f32 {
    if sorted.is_empty() {
        return -100.0;
    }
    sorted[((sorted.len() - 1) as f32 * p).round() as usize]
}

impl LevelScale {
    /// From the frames' levels and their voiced pitches (both are sorted in place). The peak is
    /// the 97th percentile, at least `min_peak_db`; the floor the 10th percentile, between 45 and
    /// 12 dB below the peak.
    pub fn measure(db: &mut [f32], voiced_f0: &mut [f32], min_peak_db: f32) -> LevelScale {
        db.sort_unstable_by(|a, b| a.total_cmp(b));
        voiced_f0.sort_unstable_by(|a, b| a.total_cmp(b));
        let peak = percentile_sorted(db, 0.97).max(min_peak_db);
        let floor = percentile_sorted(db, 0.10).max(peak - 45.0).min(peak - 12.0);
        let f0_med = percentile_sorted(voiced_f0, 0.5);
        let f0_hi = percentile_sorted(voiced_f0, 0.9).max(f0_med + 1.0);
        LevelScale { floor, peak, f0_med, f0_hi }
    }

    /// 0..1 loudness of a frame on this scale.
    pub fn level(&self, rms_db: f32) -> f32 {
        ((rms_db - (self.floor + 3.0)) / (self.peak - self.floor - 3.0).max(1.0)).clamp(0.0, 1.0)
    }
}

/// A frame's unsmoothed mouth: from this frame's level and the next frame's features (`lead`),
/// because the mouth anticipates the sound.
fn raw_mouth(f: &FrameFeatures, lead: &FrameFeatures, sc: &LevelScale) -> MouthShape {
    let e = 0.4 * sc.level(f.rms_db) + 0.6 * sc.level(lead.rms_db);
    let x = lead;
    let voiced = x.voicing.clamp(0.0, 1.0) * if x.f0_hz > 0.0 { 1.0 } else { 0.3 };
    let active = if e > 0.12 { 1.0 } else { 0.0 };
    let jaw = e.powf(0.7) * (0.3 + 0.7 * voiced) * 0.42;
    let round = ((1300.0 - x.centroid_hz) / 700.0).clamp(0.0, 1.0) * voiced * active;
    let spread = ((x.centroid_hz - 1800.0) / 1200.0).clamp(0.0, 1.0) * voiced * active;
    let hiss = (x.band_high * 1.6 - 0.6).clamp(0.0, 1.0) * (1.0 - voiced) * active;
    let emphasis = if x.f0_hz > 0.0 { ((x.f0_hz - sc.f0_med) / (sc.f0_hi - sc.f0_med)).clamp(0.0, 1.0) } else { 0.0 };
    MouthShape {
        jaw_open: jaw * active,
        close: 0.0,
        funnel: 0.3 * round,
        pucker: 0.2 * round,
        stretch: 0.35 * spread + 0.2 * hiss,
        press: 0.0,
        upper_up: 0.15 * hiss,
        activity: active * e.sqrt(),
        emphasis: emphasis * active,
        ..MouthShape::default()
    }
}

/// Per-channel smoothing with a fast attack and a slower release; the release is slower inside
/// speech and quicker once the sound has stopped (a mouth returns to rest in about 100 ms after
/// the last syllable).
#[derive(Debug, Clone, Default)]
struct MouthSmoother {
    y: [f32; 7],
}

impl MouthSmoother {
    fn apply(&mut self, s: &mut MouthShape) {
        let ch = [
            &mut s.jaw_open,
            &mut s.funnel,
            &mut s.pucker,
            &mut s.stretch,
            &mut s.upper_up,
            &mut s.activity,
            &mut s.emphasis,
        ];
        for (y, x) in self.y.iter_mut().zip(ch) {
            let k = if *x > *y { 0.7 } else if *x <= 1e-4 { 0.6 } else { 0.45 };
            *y += k * (*x - *y);
            *x = *y;
        }
    }
}

/// A lip closure (the hold of p, b, m) at frame `i` of `f`: inside speech, a level dip of at
/// least 6 dB below the loudest frame on each side within `f[lo..=hi]`, not hissing.
fn is_closure(f: &[FrameFeatures], i: usize, lo: usize, hi: usize, sc: &LevelScale) -> bool {
    let here = f[i].rms_db;
    let before = f[lo..i].iter().map(|x| x.rms_db).fold(f32::MIN, f32::max);
    let after = f[i + 1..=hi].iter().map(|x| x.rms_db).fold(f32::MIN, f32::max);
    let in_speech = sc.level(f[lo].rms_db) > 0.12 && sc.level(f[hi].rms_db) > 0.12;
    in_speech && before - here >= 6.0 && after - here >= 6.0 && f[i].band_high < 0.5
}

/// Closes the lips on a smoothed frame (applied after smoothing so closures stay crisp).
fn close_lips(s: &mut MouthShape) {
    let jaw = s.jaw_open.max(0.05);
    s.jaw_open = jaw;
    s.close = jaw;
    s.press = 0.35;
    s.funnel *= 0.3;
}

/// The speech → mouth rules (`motion.lipsync = "heuristic"`; `lipsync` has the trained model,
/// the default). Per frame:
/// - level: `rms_db` between the clip's noise floor (10th percentile, at least 45 dB below the
///   97th-percentile peak) and its peak, mapped to 0..1; below 0.12 the frame is silent;
/// - jaw: level^0.7, scaled by 1.0 for voiced frames and 0.3 for unvoiced ones (fricatives are
///   made with the teeth nearly closed), at most 0.42 (conversational speech, not a shout);
/// - rounding (o, u: low spectral centroid when voiced) → funnel and pucker; spreading (i, e:
///   high centroid when voiced) → stretch; hissing (unvoiced, energy mostly above 3 kHz) → a
///   little stretch and upper-lip raise;
/// - lip closures: a dip of ≥ 6 dB below both neighbours within ±3 frames inside speech (the
///   hold of p, b, m) closes the lips (mouthClose = jawOpen, plus mouthPress);
/// - motion leads the sound by one frame (lips move before the sound is heard) and is smoothed
///   with a fast attack and a slower release; closures are applied after smoothing so they stay crisp.
/// `MouthTracker` is the same rules on a live stream, with rolling statistics.
pub fn mouth_from_features(f: &[FrameFeatures]) -> Vec<MouthShape> {
    let n = f.len();
    let mut db: Vec<f32> = f.iter().map(|x| x.rms_db.max(-100.0)).collect();
    let mut voiced_f0: Vec<f32> = f.iter().filter(|x| x.f0_hz > 0.0).map(|x| x.f0_hz).collect();
    let sc = LevelScale::measure(&mut db, &mut voiced_f0, f32::MIN);
    let mut smoother = MouthSmoother::default();
    let mut out: Vec<MouthShape> = (0..n)
        .map(|i| {
            let mut s = raw_mouth(&f[i], &f[(i + 1).min(n - 1)], &sc);
            smoother.apply(&mut s);
            s
        })
        .collect();
    for i in 0..n {
        if is_closure(f, i, i.saturating_sub(3), (i + 3).min(n - 1), &sc) {
            close_lips(&mut out[i]);
        }
    }
    out
}

/// Frames of look-ahead `MouthTracker` waits for: one video frame (plus half an analysis window,
/// 20 ms), 60 ms at 25 fps.
pub const LIVE_LOOKAHEAD_FRAMES: usize = 1;
/// Seconds of speech the live level statistics look back over.
const LIVE_HISTORY_S: f32 = 10.0;
/// The quietest peak the live rules accept: a room with nobody speaking has no speech peak, and
/// without this floor its noise would be stretched to full scale and move the mouth.
const LIVE_MIN_PEAK_DB: f32 = -40.0;

/// The speech → mouth rules of `mouth_from_features` on a live 16 kHz stream: features per video
/// frame as their windows complete, the level scale from the last 10 s, closures judged on three
/// frames before and one after. Mouth frame `i` comes out once the audio up to
/// `(i + LIVE_LOOKAHEAD_FRAMES) / fps` plus 20 ms has been pushed. No allocation once warm.
pub struct MouthTracker {
    fps: f64,
    analyzer: FrameAnalyzer,
    /// Recent samples; `buf[0]` is absolute sample `buf_start`.
    buf: Vec<f32>,
    buf_start: u64,
    /// Absolute index of the next feature frame to compute.
    next_feature: u64,
    /// Recent feature frames, oldest first; the last is frame `next_feature - 1`.
    feats: std::collections::VecDeque<FrameFeatures>,
    history: usize,
    smoother: MouthSmoother,
    scratch_db: Vec<f32>,
    scratch_f0: Vec<f32>,
    window: Vec<FrameFeatures>,
}

impl MouthTracker {
    pub fn new(fps: f32) -> MouthTracker {
        let history = (LIVE_HISTORY_S * fps).ceil() as usize + 8;
        MouthTracker {
            fps: fps as f64,
            analyzer: FrameAnalyzer::new(),
            buf: Vec::with_capacity(4 * crate::audio::WINDOW + 16_000),
            buf_start: 0,
            next_feature: 0,
            feats: std::collections::VecDeque::with_capacity(history + 1),
            history,
            smoother: MouthSmoother::default(),
            scratch_db: Vec::with_capacity(history),
            scratch_f0: Vec::with_capacity(history),
            window: Vec::with_capacity(8),
        }
    }

    /// Seconds of audio a mouth frame waits for beyond its own time.
    pub fn lookahead_s(&self) -> f64 {
        LIVE_LOOKAHEAD_FRAMES as f64 / self.fps + (crate::audio::WINDOW / 2) as f64 / ANALYSIS_RATE as f64
    }

    fn centre(&self, n: u64) -> u64 {
        (n as f64 * ANALYSIS_RATE as f64 / self.fps).round() as u64
    }

    /// Adds 16 kHz mono samples; appends every mouth frame that became complete to `out`.
    pub fn push(&mut self, samples: &[f32], out: &mut Vec<MouthShape>) {
        self.buf.extend_from_slice(samples);
        let half = (crate::audio::WINDOW / 2) as u64;
        let end = self.buf_start + self.buf.len() as u64;
        while self.centre(self.next_feature) + half <= end {
            let c = self.centre(self.next_feature) as i64 - self.buf_start as i64;
            let f = self.analyzer.analyze(&self.buf, c);
            if self.feats.len() == self.history {
                self.feats.pop_front();
            }
            self.feats.push_back(f);
            self.next_feature += 1;
            if self.next_feature as usize > LIVE_LOOKAHEAD_FRAMES {
                out.push(self.emit());
            }
        }
        // Keep what the next window needs (it may start before the last centre).
        let keep_from = self.centre(self.next_feature).saturating_sub(half + 1);
        if keep_from > self.buf_start {
            let drop = ((keep_from - self.buf_start) as usize).min(self.buf.len());
            self.buf.drain(..drop);
            self.buf_start += drop as u64;
        }
    }

    /// The mouth of the frame `LIVE_LOOKAHEAD_FRAMES` before the newest feature frame.
    fn emit(&mut self) -> MouthShape {
        self.scratch_db.clear();
        self.scratch_f0.clear();
        for x in &self.feats {
            self.scratch_db.push(x.rms_db.max(-100.0));
            if x.f0_hz > 0.0 {
                self.scratch_f0.push(x.f0_hz);
            }
        }
        let sc = LevelScale::measure(&mut self.scratch_db, &mut self.scratch_f0, LIVE_MIN_PEAK_DB);
        let n = self.feats.len();
        let i = n - 1 - LIVE_LOOKAHEAD_FRAMES;
        let mut s = raw_mouth(&self.feats[i], &self.feats[i + 1], &sc);
        self.smoother.apply(&mut s);
        let lo = i.saturating_sub(3);
        self.window.clear();
        self.window.extend(self.feats.range(lo..n));
        if is_closure(&self.window, i - lo, 0, self.window.len() - 1, &sc) {
            close_lips(&mut s);
        }
        s
    }
}
