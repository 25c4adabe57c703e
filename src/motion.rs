//! Speech features → one `MotionFrame` per video frame.
//!
//! The mouth comes from the speech: from the trained audio-to-motion model (`lipsync`, the
//! default), or with `motion.lipsync = "heuristic"` from an explicit, documented mapping from
//! per-frame speech features (level, spectral shape, voicing) to jaw and lip shapes (see
//! `mouth_from_features`). Blinks, gaze saccades, breathing and head motion come
//! from a seeded stochastic generator whose amplitude follows the speech's level and pitch, so
//! a still portrait never looks frozen and the same seed gives the same clip. A motion-track file
//! (CSV or JSON of named parameters per frame) can override any parameter.
//! Not for: drawing (see `render`) or audio I/O (see `audio`).

use std::path::Path;

use serde::Deserialize;

use crate::audio::{FrameAnalyzer, FrameFeatures, ANALYSIS_RATE};
use crate::motion_params::{MotionFrame, Param, PARAM_NAMES};
use crate::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Emotion {
    Neutral,
    Happy,
    Sad,
    Angry,
    Surprised,
}

impl Emotion {
    pub const ALL: [Emotion; 5] = [Emotion::Neutral, Emotion::Happy, Emotion::Sad, Emotion::Angry, Emotion::Surprised];
    pub fn name(self) -> &'static str {
        match self {
            Emotion::Neutral => "neutral",
            Emotion::Happy => "happy",
            Emotion::Sad => "sad",
            Emotion::Angry => "angry",
            Emotion::Surprised => "surprised",
        }
    }
    pub fn from_name(s: &str) -> Option<Emotion> {
        Emotion::ALL.into_iter().find(|e| e.name().eq_ignore_ascii_case(s))
    }
    /// The expression at full strength: blendshape weights and head pitch.
    fn shape(self) -> &'static [(Param, f32)] {
        use Param::*;
        match self {
            Emotion::Neutral => &[],
            Emotion::Happy => &[
                (MouthSmileLeft, 0.6),
                (MouthSmileRight, 0.6),
                (EyeSquintLeft, 0.25),
                (EyeSquintRight, 0.25),
                (BrowInnerUp, 0.05),
            ],
            Emotion::Sad => &[
                (BrowInnerUp, 0.7),
                (MouthFrownLeft, 0.5),
                (MouthFrownRight, 0.5),
                (EyeBlinkLeft, 0.15),
                (EyeBlinkRight, 0.15),
                (HeadPitch, 4.0),
            ],
            Emotion::Angry => &[
                (BrowDownLeft, 0.8),
                (BrowDownRight, 0.8),
                (MouthPressLeft, 0.4),
                (MouthPressRight, 0.4),
                (EyeSquintLeft, 0.3),
                (EyeSquintRight, 0.3),
                (MouthFrownLeft, 0.2),
                (MouthFrownRight, 0.2),
            ],
            Emotion::Surprised => &[
                (BrowInnerUp, 0.7),
                (BrowOuterUpLeft, 0.7),
                (BrowOuterUpRight, 0.7),
                (EyeWideLeft, 0.5),
                (EyeWideRight, 0.5),
                (HeadPitch, -2.0),
            ],
        }
    }
}

/// Where the eyes look.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Gaze {
    /// At the camera, with small natural saccades.
    Camera,
    /// Wandering around the scene.
    Free,
    /// Fixed angles in degrees (yaw positive to the image's right, pitch positive up).
    Fixed { yaw: f32, pitch: f32 },
}

#[derive(Debug, Clone, PartialEq)]
pub struct MotionSettings {
    pub fps: f32,
    /// A blend of emotions with strengths in 0..1.
    pub emotion: Vec<(Emotion, f32)>,
    pub gaze: Gaze,
    /// Scales head motion, gaze range and expressiveness (not the lip sync); 0 = still head.
    pub intensity: f32,
    pub seed: u64,
}

impl Default for MotionSettings {
    fn default() -> Self {
        MotionSettings { fps: 25.0, emotion: vec![], gaze: Gaze::Camera, intensity: 1.0, seed: 0 }
    }
}

/// A small, seeded, dependency-free PRNG (SplitMix64): the same seed gives the same clip.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }
    pub fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.f32()
    }
    /// Exponential with the given mean.
    pub fn exp(&mut self, mean: f32) -> f32 {
        -mean * (1.0 - self.f32()).max(1e-6).ln()
    }
}

/// Mouth shape for one frame, from speech alone.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct MouthShape {
    pub jaw_open: f32,
    pub close: f32,
    pub funnel: f32,
    pub pucker: f32,
    pub stretch: f32,
    pub press: f32,
    pub upper_up: f32,
    pub lower_down: f32,
    pub smile: f32,
    /// 0..1 speech activity (level above the noise floor, smoothed).
    pub activity: f32,
    /// Pitch emphasis: how far the pitch rises above the speaker's median (0..1).
    pub emphasis: f32,
}

/// The mouth parameters that speech drives (the audio mapping, later the audio-to-motion model).
pub const SPEECH_MOUTH: [Param; 12] = [
    Param::JawOpen,
    Param::MouthClose,
    Param::MouthFunnel,
    Param::MouthPucker,
    Param::MouthStretchLeft,
    Param::MouthStretchRight,
    Param::MouthPressLeft,
    Param::MouthPressRight,
    Param::MouthUpperUpLeft,
    Param::MouthUpperUpRight,
    Param::MouthLowerDownLeft,
    Param::MouthLowerDownRight,
];

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

/// Smooth random curve: random targets every `hold` seconds, eased between (value noise).
struct Wander {
    from: f32,
    to: f32,
    t: f32,
    dur: f32,
}

impl Wander {
    fn new() -> Wander {
        Wander { from: 0.0, to: 0.0, t: 0.0, dur: 1.0 }
    }
    fn step(&mut self, rng: &mut Rng, dt: f32, amp: f32, hold: (f32, f32)) -> f32 {
        self.t += dt;
        if self.t >= self.dur {
            self.from = self.to;
            self.to = rng.range(-1.0, 1.0) * amp;
            self.t = 0.0;
            self.dur = rng.range(hold.0, hold.1);
        }
        let x = (self.t / self.dur).clamp(0.0, 1.0);
        let e = x * x * (3.0 - 2.0 * x);
        self.from + (self.to - self.from) * e
    }
}

/// Blink closure (0..1) `t` seconds after a blink starts: 80 ms closing, 40 ms closed, 170 ms opening.
fn blink_curve(t: f32) -> f32 {
    if t < 0.0 {
        0.0
    } else if t < 0.08 {
        let x = t / 0.08;
        x * x * (3.0 - 2.0 * x)
    } else if t < 0.12 {
        1.0
    } else if t < 0.29 {
        let x = 1.0 - (t - 0.12) / 0.17;
        x * x * (3.0 - 2.0 * x)
    } else {
        0.0
    }
}

/// Whole-clip motion from speech features (offline: the whole utterance is known).
/// Motion from speech features alone (the hand-written mouth rules).
pub fn generate(features: &[FrameFeatures], s: &MotionSettings) -> Vec<MotionFrame> {
    generate_with_mouth(&mouth_from_features(features), s)
}

/// The whole face, per frame, around a given mouth track (from the model or the rules): blinks,
/// gaze, breathing and head motion, livelier while `activity` is high, nods on `emphasis`.
pub fn generate_with_mouth(mouth: &[MouthShape], s: &MotionSettings) -> Vec<MotionFrame> {
    let mut a = Animator::new(s.clone());
    mouth.iter().map(|ms| a.step(ms)).collect()
}

/// The face's motion one frame at a time, for offline clips and the live daemon alike: given
/// this frame's mouth, it adds blinks, gaze, breathing and head motion. Clock, blink and saccade
/// times are kept in f64 and the breathing phase is wrapped, so hour 100 moves like the first
/// minute (f32 seconds would step in 30 ms units by then). Nothing is allocated per frame.
pub struct Animator {
    s: MotionSettings,
    rng: Rng,
    frame: u64,
    yaw: Wander,
    pitch: Wander,
    roll: Wander,
    next_blink: f64,
    blink_start: f64,
    double_blink: bool,
    gaze_from: [f32; 2],
    gaze_to: [f32; 2],
    gaze_t: f32,
    next_saccade: f64,
    nod: f32,
    prev_emph: f32,
    breath_rate: f32,
    /// Breathing phase in cycles, kept in 0..1.
    breath_cycle: f64,
}

impl Animator {
    pub fn new(s: MotionSettings) -> Animator {
        let mut rng = Rng::new(s.seed);
        let next_blink = rng.range(0.8, 1.8) as f64;
        let next_saccade = rng.range(0.6, 2.0) as f64;
        let breath_rate = rng.range(0.22, 0.3);
        let breath_phase = rng.range(0.0, std::f32::consts::TAU);
        Animator {
            s,
            rng,
            frame: 0,
            yaw: Wander::new(),
            pitch: Wander::new(),
            roll: Wander::new(),
            next_blink,
            blink_start: f64::NEG_INFINITY,
            double_blink: false,
            gaze_from: [0.0; 2],
            gaze_to: [0.0; 2],
            gaze_t: 0.0,
            next_saccade,
            nod: 0.0,
            prev_emph: 0.0,
            breath_rate,
            breath_cycle: (breath_phase / std::f32::consts::TAU) as f64,
        }
    }

    /// Seconds since the first frame.
    pub fn time_s(&self) -> f64 {
        self.frame as f64 / self.s.fps.max(1.0) as f64
    }

    pub fn settings(&self) -> &MotionSettings {
        &self.s
    }

    /// New emotion, gaze or intensity from now on; the seeded motion carries on without a jump
    /// in time (a change of `fps` or `seed` needs a new animator).
    pub fn set_settings(&mut self, s: MotionSettings) {
        self.s = s;
    }

    /// The next frame around this frame's mouth.
    pub fn step(&mut self, ms: &MouthShape) -> MotionFrame {
        let s = &self.s;
        let rng = &mut self.rng;
        let dt = 1.0 / s.fps.max(1.0);
        let k = s.intensity.max(0.0);
        let fixed = match s.gaze {
            Gaze::Fixed { yaw, pitch } => [yaw / 30.0, -pitch / 30.0],
            _ => [0.0, 0.0],
        };
        let t = self.frame as f64 * dt as f64;
        self.frame += 1;
        // Everything stochastic eases in over the first 0.4 s, so frame 0 is the portrait itself.
        let ease = {
            let x = (t as f32 / 0.4).clamp(0.0, 1.0);
            x * x * (3.0 - 2.0 * x)
        };
        let act = ms.activity;
        let mut m = MotionFrame::default();
        m.set(Param::JawOpen, ms.jaw_open);
        m.set(Param::MouthClose, ms.close);
        m.set(Param::MouthFunnel, ms.funnel);
        m.set(Param::MouthPucker, ms.pucker);
        m.set(Param::MouthStretchLeft, ms.stretch);
        m.set(Param::MouthStretchRight, ms.stretch);
        m.set(Param::MouthPressLeft, ms.press);
        m.set(Param::MouthPressRight, ms.press);
        m.set(Param::MouthUpperUpLeft, ms.upper_up);
        m.set(Param::MouthUpperUpRight, ms.upper_up);
        m.set(Param::MouthLowerDownLeft, ms.lower_down);
        m.set(Param::MouthLowerDownRight, ms.lower_down);
        m.set(Param::MouthSmileLeft, ms.smile);
        m.set(Param::MouthSmileRight, ms.smile);

        // Head: slow wander, livelier while speaking, a nod on pitch emphasis onsets.
        let amp = k * (1.0 + 1.5 * act);
        let mut hy = self.yaw.step(rng, dt, 2.0 * amp, (0.8, 2.2));
        let mut hp = self.pitch.step(rng, dt, 1.3 * amp, (0.7, 1.8));
        let hr = self.roll.step(rng, dt, 1.0 * amp, (1.0, 2.5));
        if ms.emphasis > 0.5 && self.prev_emph <= 0.5 {
            self.nod = 1.0;
        }
        self.prev_emph = ms.emphasis;
        hp += 2.5 * k * self.nod;
        self.nod *= (-dt / 0.18).exp();
        // Brows lift with pitch emphasis.
        m.set(Param::BrowInnerUp, 0.35 * k * ms.emphasis);
        m.set(Param::BrowOuterUpLeft, 0.2 * k * ms.emphasis);
        m.set(Param::BrowOuterUpRight, 0.2 * k * ms.emphasis);

        // Gaze: fixations with quick saccades; in "camera" mode mostly at the lens.
        if t >= self.next_saccade {
            self.gaze_from = gaze_now(self.gaze_from, self.gaze_to, self.gaze_t);
            let (range, away) = match s.gaze {
                Gaze::Camera => (0.08, if rng.f32() < 0.15 * act.max(0.3) { 0.35 } else { 0.0 }),
                Gaze::Free => (0.55, 0.0),
                Gaze::Fixed { .. } => (0.05, 0.0),
            };
            let r = (range + away) * k.min(1.5);
            self.gaze_to = [fixed[0] + rng.range(-1.0, 1.0) * r, fixed[1] + rng.range(-0.6, 0.6) * r];
            self.gaze_t = 0.0;
            self.next_saccade = t + if away > 0.0 { rng.range(0.5, 0.9) } else { rng.range(0.6, 2.6) } as f64;
        }
        self.gaze_t += dt;
        let g = gaze_now(self.gaze_from, self.gaze_to, self.gaze_t);
        let g = [g[0] * ease + fixed[0] * (1.0 - ease), g[1] * ease + fixed[1] * (1.0 - ease)];
        // The head follows the eyes a little.
        hy += 4.0 * g[0] * k;
        hp += 3.0 * g[1] * k;
        set_gaze(&mut m, g);

        // Blinks: about every 2–6 s, more often while speaking, sometimes double.
        if t >= self.next_blink {
            self.blink_start = t;
            self.next_blink = t + if !self.double_blink && rng.f32() < 0.12 {
                self.double_blink = true;
                0.35
            } else {
                self.double_blink = false;
                1.2 + rng.exp(if act > 0.1 { 2.0 } else { 3.2 })
            } as f64;
        }
        let b = blink_curve((t - self.blink_start) as f32);
        m.set(Param::EyeBlinkLeft, b);
        m.set(Param::EyeBlinkRight, b);

        // Breathing: a slow rise of the head and shoulders.
        let breath = (std::f64::consts::TAU * self.breath_cycle).sin() as f32;
        self.breath_cycle = (self.breath_cycle + self.breath_rate as f64 * dt as f64).fract();
        m.set(Param::HeadYaw, hy * ease);
        m.set(Param::HeadPitch, hp * ease);
        m.set(Param::HeadRoll, hr * ease);
        m.set(Param::HeadY, -0.0025 * breath * ease * k.min(1.5));
        m.set(Param::HeadScale, 1.0 + 0.004 * breath * ease * k.min(1.5));

        for &(emo, strength) in &s.emotion {
            for &(p, v) in emo.shape() {
                m.add(p, v * strength.clamp(0.0, 1.0) * ease);
            }
        }
        m.clamp();
        m
    }
}

fn gaze_now(from: [f32; 2], to: [f32; 2], t: f32) -> [f32; 2] {
    // Saccades take about 50 ms.
    let x = (t / 0.05).clamp(0.0, 1.0);
    [from[0] + (to[0] - from[0]) * x, from[1] + (to[1] - from[1]) * x]
}

/// Gaze (x right, y down, ±1 = about 30°) → ARKit eyeLook weights for both eyes.
fn set_gaze(m: &mut MotionFrame, g: [f32; 2]) {
    let (x, y) = (g[0].clamp(-1.0, 1.0), g[1].clamp(-1.0, 1.0));
    // Looking to the image's right: the subject's left eye looks out, the right eye in.
    m.set(Param::EyeLookOutLeft, x.max(0.0));
    m.set(Param::EyeLookInRight, x.max(0.0));
    m.set(Param::EyeLookInLeft, (-x).max(0.0));
    m.set(Param::EyeLookOutRight, (-x).max(0.0));
    m.set(Param::EyeLookDownLeft, y.max(0.0));
    m.set(Param::EyeLookDownRight, y.max(0.0));
    m.set(Param::EyeLookUpLeft, (-y).max(0.0));
    m.set(Param::EyeLookUpRight, (-y).max(0.0));
}

/// Per-frame overrides from a file: only the parameters it names, only for the frames it has.
#[derive(Debug, Clone, PartialEq)]
pub struct MotionTrack {
    pub params: Vec<Param>,
    /// rows[frame][k] is the value of params[k].
    pub rows: Vec<Vec<f32>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum JsonTrack {
    Frames(Vec<serde_json::Map<String, serde_json::Value>>),
    Wrapped { frames: Vec<serde_json::Map<String, serde_json::Value>> },
}

impl MotionTrack {
    /// Reads CSV (a header of parameter names, optionally a leading `frame` or `time` column,
    /// then one row per video frame) or JSON (`[{"jawOpen": 0.5, ...}, ...]` or
    /// `{"frames": [...]}`), chosen by the file's extension.
    pub fn load(path: &Path) -> Result<MotionTrack> {
        let err = |message: String| Error::MotionTrack { path: path.to_path_buf(), message };
        let text = std::fs::read_to_string(path).map_err(|e| err(format!("cannot read: {e}")))?;
        let unknown = |name: &str| {
            err(format!("unknown parameter \"{name}\"; known: {}", PARAM_NAMES.join(", ")))
        };
        let is_json = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("json"));
        if is_json {
            let t: JsonTrack = serde_json::from_str(&text).map_err(|e| err(format!("not a motion track: {e}")))?;
            let frames = match t {
                JsonTrack::Frames(f) | JsonTrack::Wrapped { frames: f } => f,
            };
            let mut params: Vec<Param> = Vec::new();
            for f in &frames {
                for k in f.keys() {
                    if k == "frame" || k == "time" {
                        continue;
                    }
                    let p = Param::from_name(k).ok_or_else(|| unknown(k))?;
                    if !params.contains(&p) {
                        params.push(p);
                    }
                }
            }
            let mut rows = Vec::with_capacity(frames.len());
            for (i, f) in frames.iter().enumerate() {
                let mut row = Vec::with_capacity(params.len());
                for p in &params {
                    let v = match f.get(p.name()).or_else(|| f.iter().find(|(k, _)| k.eq_ignore_ascii_case(p.name())).map(|(_, v)| v)) {
                        Some(v) => v.as_f64().ok_or_else(|| err(format!("frame {i}: {} is not a number", p.name())))? as f32,
                        None => f32::NAN,
                    };
                    row.push(v);
                }
                rows.push(row);
            }
            return Ok(MotionTrack { params, rows });
        }
        let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty() && !l.starts_with('#'));
        let (_, header) = lines.next().ok_or_else(|| err("is empty".into()))?;
        let cols: Vec<&str> = header.split(',').map(str::trim).collect();
        let mut params = Vec::new();
        let mut keep = Vec::new();
        for (c, name) in cols.iter().enumerate() {
            if c == 0 && (name.eq_ignore_ascii_case("frame") || name.eq_ignore_ascii_case("time")) {
                continue;
            }
            params.push(Param::from_name(name).ok_or_else(|| unknown(name))?);
            keep.push(c);
        }
        let mut rows = Vec::new();
        for (line_no, line) in lines {
            let cells: Vec<&str> = line.split(',').map(str::trim).collect();
            if cells.len() != cols.len() {
                return Err(err(format!("line {}: {} values, the header has {}", line_no + 1, cells.len(), cols.len())));
            }
            let mut row = Vec::with_capacity(keep.len());
            for &c in &keep {
                let v: f32 = if cells[c].is_empty() {
                    f32::NAN
                } else {
                    cells[c].parse().map_err(|_| err(format!("line {}: \"{}\" is not a number", line_no + 1, cells[c])))?
                };
                row.push(v);
            }
            rows.push(row);
        }
        if rows.is_empty() {
            return Err(err("has a header but no frames".into()));
        }
        Ok(MotionTrack { params, rows })
    }

    /// Overrides the named parameters frame by frame (empty cells keep the computed value).
    /// Overrides the named parameters frame by frame. A track that names any speech-driven mouth
    /// parameter takes over the whole speech-driven mouth: the ones it does not name are zero on
    /// its frames, so a track gives exactly the shape it asks for (emotion's smile/frown stay).
    pub fn apply(&self, frames: &mut [MotionFrame]) {
        let owns_mouth = self.params.iter().any(|p| SPEECH_MOUTH.contains(p));
        for (m, row) in frames.iter_mut().zip(&self.rows) {
            if owns_mouth {
                for p in SPEECH_MOUTH {
                    m.set(p, 0.0);
                }
            }
            for (p, &v) in self.params.iter().zip(row) {
                if v.is_finite() {
                    m.set(*p, v);
                }
            }
            m.clamp();
        }
    }
}

/// Writes frames as a CSV track (`frame` then every parameter by name), the format
/// `MotionTrack::load` reads.
pub fn write_csv(path: &Path, frames: &[MotionFrame]) -> Result<()> {
    let mut out = String::from("frame");
    for name in PARAM_NAMES {
        out.push(',');
        out.push_str(name);
    }
    out.push('\n');
    for (n, m) in frames.iter().enumerate() {
        out.push_str(&n.to_string());
        for v in m.values.iter() {
            out.push_str(&format!(",{v:.4}"));
        }
        out.push('\n');
    }
    std::fs::write(path, out).map_err(|e| Error::MotionTrack { path: path.to_path_buf(), message: format!("cannot write: {e}") })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Blinks, head-yaw spread and the largest frame-to-frame breathing step over 2 minutes.
    fn idle_character(a: &mut Animator) -> (usize, f32, f32) {
        let still = MouthShape::default();
        let (mut blinks, mut was_closed) = (0, false);
        let (mut yaw, mut step) = (Vec::new(), 0.0f32);
        let mut prev_y = None;
        for _ in 0..(120 * 25) {
            let m = a.step(&still);
            let closed = m.get(Param::EyeBlinkLeft) > 0.5;
            blinks += (closed && !was_closed) as usize;
            was_closed = closed;
            yaw.push(m.get(Param::HeadYaw));
            let y = m.get(Param::HeadY);
            if let Some(p) = prev_y {
                step = step.max((y - p as f32).abs());
            }
            prev_y = Some(y);
            assert_eq!(m.get(Param::JawOpen), 0.0, "mouth opens with no speech");
        }
        let mean = yaw.iter().sum::<f32>() / yaw.len() as f32;
        let sd = (yaw.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / yaw.len() as f32).sqrt();
        (blinks, sd, step)
    }

    #[test]
    fn the_hundredth_hour_idles_like_the_first() {
        let s = MotionSettings::default();
        let mut first = Animator::new(s.clone());
        let mut late = Animator::new(s);
        late.frame = 100 * 3600 * 25;
        late.next_blink += late.time_s();
        late.next_saccade += late.time_s();
        let (b0, sd0, step0) = idle_character(&mut first);
        let (b1, sd1, step1) = idle_character(&mut late);
        // Same kind of motion: blinks every few seconds, the head wandering by about the same
        // amount, breathing as smooth (f32 seconds would step the breathing in 30 ms jumps).
        assert!((20..=70).contains(&b0) && (20..=70).contains(&b1), "blinks in 2 min: {b0} vs {b1}");
        assert!(sd1 > 0.5 * sd0 && sd1 < 2.0 * sd0, "head yaw spread {sd0} vs {sd1}");
        assert!(step1 < 2.0 * step0 + 1e-6, "breathing step {step0} vs {step1}");
    }

    fn speech_like(n: usize) -> Vec<FrameFeatures> {
        // 1 s silence, then alternating vowel-ish and closure frames, then silence.
        (0..n)
            .map(|i| {
                let speaking = (25..75).contains(&i);
                let dip = speaking && i % 8 == 0;
                FrameFeatures {
                    rms_db: if !speaking { -70.0 } else if dip { -40.0 } else { -18.0 },
                    centroid_hz: 900.0,
                    zcr_hz: 300.0,
                    f0_hz: if speaking && !dip { 140.0 } else { 0.0 },
                    voicing: if speaking && !dip { 0.9 } else { 0.0 },
                    band_low: 0.7,
                    band_mid: 0.2,
                    band_high: 0.1,
                }
            })
            .collect()
    }

    #[test]
    fn silence_keeps_the_mouth_closed_and_speech_opens_it() {
        let f = speech_like(100);
        let m = mouth_from_features(&f);
        assert!(m[..20].iter().all(|s| s.jaw_open < 0.02), "mouth moves in the leading silence");
        assert!(m[90..].iter().all(|s| s.jaw_open < 0.02), "mouth moves in the trailing silence");
        let open = m[30..70].iter().filter(|s| s.jaw_open > 0.3).count();
        assert!(open > 20, "speech opened the jaw in only {open} frames");
        let closed = m[30..75].iter().filter(|s| s.close > 0.0 && s.close >= s.jaw_open - 1e-6).count();
        assert!(closed >= 3, "expected lip closures at the level dips, got {closed}");
    }

    #[test]
    fn the_same_seed_gives_the_same_motion_and_blinks_happen() {
        let f = speech_like(150);
        let s = MotionSettings { seed: 7, ..Default::default() };
        let a = generate(&f, &s);
        let b = generate(&f, &s);
        assert_eq!(a, b);
        let c = generate(&f, &MotionSettings { seed: 8, ..Default::default() });
        assert_ne!(a, c);
        assert_eq!(a[0], {
            let mut m = MotionFrame::default();
            m.set(Param::HeadScale, 1.0);
            m
        }, "frame 0 must be the neutral portrait in silence");
        assert!(a.iter().any(|m| m.get(Param::EyeBlinkLeft) > 0.9), "no blink in 6 s");
        let yaw: Vec<f32> = a.iter().map(|m| m.get(Param::HeadYaw)).collect();
        assert!(yaw.iter().any(|&y| y.abs() > 0.3), "the head never moves");
    }

    #[test]
    fn intensity_zero_still_head_and_emotion_applies() {
        let f = speech_like(60);
        let s = MotionSettings { intensity: 0.0, emotion: vec![(Emotion::Happy, 1.0)], ..Default::default() };
        let a = generate(&f, &s);
        assert!(a.iter().all(|m| m.get(Param::HeadYaw).abs() < 1e-6));
        assert!(a[50].get(Param::MouthSmileLeft) > 0.5);
    }

    #[test]
    fn motion_track_csv_and_json_override_named_parameters() {
        let dir = std::env::temp_dir().join(format!("sf-track-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let csv = dir.join("t.csv");
        std::fs::write(&csv, "frame,jawOpen,eyeBlinkLeft\n0,0.5,\n1,0.8,1.0\n").unwrap();
        let t = MotionTrack::load(&csv).unwrap();
        let mut frames = vec![MotionFrame::default(); 3];
        frames[0].set(Param::EyeBlinkLeft, 0.3);
        t.apply(&mut frames);
        assert_eq!(frames[0].get(Param::JawOpen), 0.5);
        assert_eq!(frames[0].get(Param::EyeBlinkLeft), 0.3, "an empty cell keeps the computed value");
        assert_eq!(frames[1].get(Param::EyeBlinkLeft), 1.0);
        assert_eq!(frames[2].get(Param::JawOpen), 0.0, "frames past the track keep computed values");
        let json = dir.join("t.json");
        std::fs::write(&json, r#"{"frames":[{"jawOpen":0.25},{"mouthSmileLeft":1}]}"#).unwrap();
        let t = MotionTrack::load(&json).unwrap();
        let mut frames = vec![MotionFrame::default(); 2];
        t.apply(&mut frames);
        assert_eq!(frames[0].get(Param::JawOpen), 0.25);
        assert_eq!(frames[1].get(Param::MouthSmileLeft), 1.0);
        std::fs::write(&csv, "jawOpen,notAThing\n0.1,0.2\n").unwrap();
        let e = MotionTrack::load(&csv).unwrap_err().to_string();
        assert!(e.contains("notAThing") && e.contains("t.csv"), "{e}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
