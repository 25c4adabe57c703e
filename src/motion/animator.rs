//! The animator: blinks, gaze saccades, breathing and head motion from a seeded generator, the
//! emotion's expression, and the mouth frames laid on top, one `MotionFrame` per video frame.

use crate::audio::FrameFeatures;
use crate::motion::emotion::{Gaze, MotionSettings};
use crate::motion_params::{MotionFrame, Param};
use crate::mouth::rules::mouth_from_features;
use crate::mouth::MouthShape;

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
/// The mouth with its speech movements scaled by `gain` (`motion.articulation`): the jaw and the
/// lips' closing together (a sealed mouth stays sealed, a gap widens by the gain), rounding,
/// spreading and the lips' lift and drop. Pressing, smiling and speech activity are not scaled.
pub fn articulated(ms: &MouthShape, gain: f32) -> MouthShape {
    if gain == 1.0 {
        return *ms;
    }
    let g = gain.max(0.0);
    let mut m = *ms;
    m.jaw_open = (ms.jaw_open * g).min(1.0);
    m.close = (ms.close * g).min(m.jaw_open);
    m.funnel = (ms.funnel * g).min(1.0);
    m.pucker = (ms.pucker * g).min(1.0);
    m.stretch = (ms.stretch * g).min(1.0);
    m.upper_up = (ms.upper_up * g).min(1.0);
    m.lower_down = (ms.lower_down * g).min(1.0);
    m
}

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
        let ms = &articulated(ms, s.articulation);
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
        m.set(Param::TongueUp, ms.tongue_up);

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::motion::emotion::Emotion;

    /// motion.articulation scales the speech movements: a gap widens by the gain, a sealed
    /// mouth stays sealed, rounding and spreading grow, pressing and activity do not change.
    #[test]
    fn articulation_scales_the_mouth_and_keeps_a_seal() {
        let open = MouthShape { jaw_open: 0.3, close: 0.1, pucker: 0.2, stretch: 0.1, press: 0.3, activity: 1.0, ..Default::default() };
        let a = articulated(&open, 1.5);
        assert!(((a.jaw_open - a.close) - 1.5 * (open.jaw_open - open.close)).abs() < 1e-6, "{a:?}");
        assert!((a.pucker - 0.3).abs() < 1e-6 && (a.stretch - 0.15).abs() < 1e-6 && a.press == 0.3 && a.activity == 1.0, "{a:?}");
        let sealed = MouthShape { jaw_open: 0.06, close: 0.06, ..Default::default() };
        let b = articulated(&sealed, 2.0);
        assert_eq!(b.jaw_open, b.close, "{b:?}");
        assert_eq!(articulated(&open, 1.0), open);
        let c = articulated(&open, 0.5);
        assert!(c.jaw_open - c.close < open.jaw_open - open.close);
    }

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
}
