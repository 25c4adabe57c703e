//! Speech features → one `MotionFrame` per video frame.
//!
//! The mouth comes from the speech: until the trained audio-to-motion model lands, an explicit,
//! documented mapping from per-frame speech features (level, spectral shape, voicing) to jaw and
//! lip shapes (see `mouth_from_features`). Blinks, gaze saccades, breathing and head motion come
//! from a seeded stochastic generator whose amplitude follows the speech's level and pitch, so
//! a still portrait never looks frozen and the same seed gives the same clip. A motion-track file
//! (CSV or JSON of named parameters per frame) can override any parameter.
//! Not for: drawing (see `render`) or audio I/O (see `audio`).

use std::path::Path;

use serde::Deserialize;

use crate::audio::FrameFeatures;
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

fn percentile(values: &mut [f32], p: f32) -> f32 {
    if values.is_empty() {
        return -100.0;
    }
    values.sort_by(|a, b| a.total_cmp(b));
    let i = ((values.len() - 1) as f32 * p).round() as usize;
    values[i]
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

/// The speech → mouth mapping used until the trained model lands. Per frame:
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
pub fn mouth_from_features(f: &[FrameFeatures]) -> Vec<MouthShape> {
    let n = f.len();
    let mut db: Vec<f32> = f.iter().map(|x| x.rms_db.max(-100.0)).collect();
    let peak = percentile(&mut db.clone(), 0.97);
    let floor = percentile(&mut db, 0.10).max(peak - 45.0).min(peak - 12.0);
    let level = |i: usize| ((f[i].rms_db - (floor + 3.0)) / (peak - floor - 3.0).max(1.0)).clamp(0.0, 1.0);
    let mut voiced_f0: Vec<f32> = f.iter().filter(|x| x.f0_hz > 0.0).map(|x| x.f0_hz).collect();
    let f0_med = percentile(&mut voiced_f0.clone(), 0.5);
    let f0_hi = percentile(&mut voiced_f0, 0.9).max(f0_med + 1.0);

    let mut raw = vec![MouthShape::default(); n];
    for i in 0..n {
        let lead = (i + 1).min(n - 1);
        // Blend this frame with the next: the mouth anticipates the sound.
        let e = 0.4 * level(i) + 0.6 * level(lead);
        let x = &f[lead];
        let voiced = x.voicing.clamp(0.0, 1.0) * if x.f0_hz > 0.0 { 1.0 } else { 0.3 };
        let active = if e > 0.12 { 1.0 } else { 0.0 };
        let jaw = e.powf(0.7) * (0.3 + 0.7 * voiced) * 0.42;
        let round = ((1300.0 - x.centroid_hz) / 700.0).clamp(0.0, 1.0) * voiced * active;
        let spread = ((x.centroid_hz - 1800.0) / 1200.0).clamp(0.0, 1.0) * voiced * active;
        let hiss = (x.band_high * 1.6 - 0.6).clamp(0.0, 1.0) * (1.0 - voiced) * active;
        let emphasis = if x.f0_hz > 0.0 { ((x.f0_hz - f0_med) / (f0_hi - f0_med)).clamp(0.0, 1.0) } else { 0.0 };
        raw[i] = MouthShape {
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
        };
    }
    // Smooth: fast attack, slower release, per channel.
    let mut out = raw.clone();
    let smooth = |get: fn(&MouthShape) -> f32, set: fn(&mut MouthShape, f32), out: &mut Vec<MouthShape>| {
        let mut y = 0.0;
        for s in out.iter_mut() {
            let x = get(s);
            // Fast attack; release slower inside speech, quicker once the sound has stopped
            // (a mouth returns to rest in about 100 ms after the last syllable).
            let k = if x > y { 0.7 } else if x <= 1e-4 { 0.6 } else { 0.45 };
            y += k * (x - y);
            set(s, y);
        }
    };
    smooth(|s| s.jaw_open, |s, v| s.jaw_open = v, &mut out);
    smooth(|s| s.funnel, |s, v| s.funnel = v, &mut out);
    smooth(|s| s.pucker, |s, v| s.pucker = v, &mut out);
    smooth(|s| s.stretch, |s, v| s.stretch = v, &mut out);
    smooth(|s| s.upper_up, |s, v| s.upper_up = v, &mut out);
    smooth(|s| s.activity, |s, v| s.activity = v, &mut out);
    smooth(|s| s.emphasis, |s, v| s.emphasis = v, &mut out);
    // Closures: short level dips inside speech.
    for i in 0..n {
        let here = f[i].rms_db;
        let lo = i.saturating_sub(3);
        let hi = (i + 3).min(n - 1);
        let before = (lo..i).map(|j| f[j].rms_db).fold(f32::MIN, f32::max);
        let after = (i + 1..=hi).map(|j| f[j].rms_db).fold(f32::MIN, f32::max);
        let in_speech = level(lo) > 0.12 && level(hi) > 0.12;
        if in_speech && before - here >= 6.0 && after - here >= 6.0 && f[i].band_high < 0.5 {
            let jaw = out[i].jaw_open.max(0.05);
            out[i].jaw_open = jaw;
            out[i].close = jaw;
            out[i].press = 0.35;
            out[i].funnel *= 0.3;
        }
    }
    out
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
    let n = mouth.len();
    let dt = 1.0 / s.fps.max(1.0);
    let mut rng = Rng::new(s.seed);
    let k = s.intensity.max(0.0);
    let mut frames = Vec::with_capacity(n);
    let (mut yaw, mut pitch, mut roll) = (Wander::new(), Wander::new(), Wander::new());
    let mut next_blink = rng.range(0.8, 1.8);
    let mut blink_start = f32::NEG_INFINITY;
    let mut double_blink = false;
    let mut gaze_from = [0.0f32; 2];
    let mut gaze_to = [0.0f32; 2];
    let mut gaze_t = 0.0;
    let mut next_saccade = rng.range(0.6, 2.0);
    let mut nod = 0.0f32;
    let mut prev_emph = 0.0f32;
    let breath_rate = rng.range(0.22, 0.3);
    let breath_phase = rng.range(0.0, std::f32::consts::TAU);
    let fixed = match s.gaze {
        Gaze::Fixed { yaw, pitch } => [yaw / 30.0, -pitch / 30.0],
        _ => [0.0, 0.0],
    };
    for (i, ms) in mouth.iter().enumerate() {
        let t = i as f32 * dt;
        // Everything stochastic eases in over the first 0.4 s, so frame 0 is the portrait itself.
        let ease = {
            let x = (t / 0.4).clamp(0.0, 1.0);
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
        let mut hy = yaw.step(&mut rng, dt, 2.0 * amp, (0.8, 2.2));
        let mut hp = pitch.step(&mut rng, dt, 1.3 * amp, (0.7, 1.8));
        let hr = roll.step(&mut rng, dt, 1.0 * amp, (1.0, 2.5));
        if ms.emphasis > 0.5 && prev_emph <= 0.5 {
            nod = 1.0;
        }
        prev_emph = ms.emphasis;
        hp += 2.5 * k * nod;
        nod *= (-dt / 0.18).exp();
        // Brows lift with pitch emphasis.
        m.set(Param::BrowInnerUp, 0.35 * k * ms.emphasis);
        m.set(Param::BrowOuterUpLeft, 0.2 * k * ms.emphasis);
        m.set(Param::BrowOuterUpRight, 0.2 * k * ms.emphasis);

        // Gaze: fixations with quick saccades; in "camera" mode mostly at the lens.
        if t >= next_saccade {
            gaze_from = gaze_now(gaze_from, gaze_to, gaze_t);
            let (range, away) = match s.gaze {
                Gaze::Camera => (0.08, if rng.f32() < 0.15 * act.max(0.3) { 0.35 } else { 0.0 }),
                Gaze::Free => (0.55, 0.0),
                Gaze::Fixed { .. } => (0.05, 0.0),
            };
            let r = (range + away) * k.min(1.5);
            gaze_to = [fixed[0] + rng.range(-1.0, 1.0) * r, fixed[1] + rng.range(-0.6, 0.6) * r];
            gaze_t = 0.0;
            next_saccade = t + if away > 0.0 { rng.range(0.5, 0.9) } else { rng.range(0.6, 2.6) };
        }
        gaze_t += dt;
        let g = gaze_now(gaze_from, gaze_to, gaze_t);
        let g = [g[0] * ease + fixed[0] * (1.0 - ease), g[1] * ease + fixed[1] * (1.0 - ease)];
        // The head follows the eyes a little.
        hy += 4.0 * g[0] * k;
        hp += 3.0 * g[1] * k;
        set_gaze(&mut m, g);

        // Blinks: about every 2–6 s, more often while speaking, sometimes double.
        if t >= next_blink {
            blink_start = t;
            next_blink = t + if !double_blink && rng.f32() < 0.12 {
                double_blink = true;
                0.35
            } else {
                double_blink = false;
                1.2 + rng.exp(if act > 0.1 { 2.0 } else { 3.2 })
            };
        }
        let b = blink_curve(t - blink_start);
        m.set(Param::EyeBlinkLeft, b);
        m.set(Param::EyeBlinkRight, b);

        // Breathing: a slow rise of the head and shoulders.
        let breath = (std::f32::consts::TAU * breath_rate * t + breath_phase).sin();
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
        frames.push(m);
    }
    frames
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
