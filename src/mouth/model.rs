//! The trained audio-to-motion model (`audio2motion` in `models/manifest.toml`, made by
//! `models/train`) run through tract in streaming form: 16 kHz samples in, one row of mouth
//! parameters out per 40 ms video frame. Each hop runs the network once on 4 new log-mel frames
//! with the state of its dilated causal convolutions carried over from the previous hop, so
//! nothing of the past is recomputed.
//!
//! Timing: video frame k (instant k × 40 ms) reads mel frames 4k+2 ..= 4k+5, i.e. audio up to
//! 75 ms after its instant: the look-ahead that the live path delays the speech by
//! ([`LOOKAHEAD_S`]). Mel frames 0 and 1 are only context that no frame reads.
//! Not for: blinks, gaze or head motion (see `motion`), drawing (see `render`).

use std::path::Path;

use crate::audio::mel::{LogMel, HOP, LOG_FLOOR, N_MELS, WIN};
use crate::infer::{self, DeviceChoice, Model, Probe};
use crate::Result;

pub const MODEL_NAME: &str = "audio2motion";
/// Model outputs per frame, in order.
pub const OUTPUTS: [&str; 12] = [
    "jawOpen",
    "mouthClose",
    "mouthFunnel",
    "mouthPucker",
    "mouthStretch",
    "mouthPress",
    "mouthSmile",
    "mouthUpperUp",
    "mouthLowerDown",
    "speech",
    "emphasis",
    "tongueUp",
];
pub const N_OUT: usize = OUTPUTS.len();
/// The model's frame rate: one hop of 4 mel frames (10 ms each) per output.
pub const MODEL_FPS: f32 = 25.0;
pub const MEL_PER_HOP: usize = 4;
pub const LOOKAHEAD_MEL: usize = 2;
/// How far past a frame's instant the audio it depends on reaches (the last mel window's end).
/// Model frame k (instant k / MODEL_FPS) is out once mel frame 4k + 5 is, i.e. samples up to
/// 640k + 5 × 160 + 400: 75 ms.
pub const LOOKAHEAD_S: f32 = ((MEL_PER_HOP - 1 + LOOKAHEAD_MEL) * HOP + WIN) as f32 / 16_000.0;
const DILATIONS: [usize; 4] = [1, 2, 4, 8];
const CHANNELS: usize = 128;
const HOP_IN: usize = MEL_PER_HOP * N_MELS;
/// Hops of silence a stream starts from (longer than the convolutions' reach, 31 hops): the
/// state is that of a long silence, not zeros, whose flushing out would twitch the outputs.
const WARM_HOPS: usize = 32;

/// One output row.
pub type MouthRow = [f32; N_OUT];

fn state_shapes() -> impl Iterator<Item = Vec<usize>> {
    DILATIONS.iter().map(|d| vec![2 * d, CHANNELS])
}

/// The model's input shapes for `hops` hops at once: the mel rows, then each convolution's state.
pub fn input_shapes(hops: usize) -> Vec<Vec<usize>> {
    std::iter::once(vec![hops, HOP_IN]).chain(state_shapes()).collect()
}

/// Every convolution's history, all zeros.
fn zero_state() -> Vec<Vec<f32>> {
    state_shapes().map(|s| vec![0.0; s.iter().product()]).collect()
}

/// The log-mel value of digital silence.
fn silent_mel() -> f32 {
    LOG_FLOOR.ln()
}

crate::choice! {
    /// Where the mouth comes from (`motion.lipsync`).
    pub enum LipSync for "motion.lipsync" {
        /// The trained audio-to-motion model.
        Model = "model",
        /// The hand-written rules.
        Heuristic = "heuristic",
    }
}

/// Chooses where every model of the process runs (`infer::select_device`); on "cuda" the GPU is
/// trusted only after one hop of the float lip-sync model gives the CPU's numbers there.
pub fn select_device(device: infer::Device, models_dir: &Path) -> DeviceChoice {
    let shapes = input_shapes(1);
    infer::select_device(device, models_dir, &Probe { model: "audio2motion_float", shapes: &shapes })
}

/// The model, planned for streaming (one hop per run). Cloning shares the plan.
#[derive(Clone)]
pub struct LipModel {
    step: std::sync::Arc<Model>,
}

impl LipModel {
    /// The model when the config asks for it (`motion.lipsync = "model"`), loaded from
    /// `models_dir` and checked; None for the rules. Render, the daemon's start and its reloads
    /// all decide here.
    pub fn configured(lipsync: LipSync, models_dir: &Path) -> Result<Option<LipModel>> {
        if lipsync == LipSync::Model {
            Ok(Some(LipModel::load(models_dir)?))
        } else {
            Ok(None)
        }
    }

    pub fn load(models_dir: &Path) -> Result<LipModel> {
        LipModel::load_named(models_dir, MODEL_NAME)
    }

    /// The model named `name` in the manifest (the int8 `MODEL_NAME`, or "audio2motion_float":
    /// the benchmarks compare the two).
    pub fn load_named(models_dir: &Path, name: &str) -> Result<LipModel> {
        Ok(LipModel { step: std::sync::Arc::new(Model::load_shaped(models_dir, name, Some(&input_shapes(1)))?) })
    }

    pub fn stream(&self) -> LipStream {
        let mut s = LipStream::new(self.clone());
        s.hop.resize(HOP_IN, silent_mel());
        for _ in 0..WARM_HOPS {
            // Only fails if the model is broken, which `load` would have shown.
            let _ = s.step();
        }
        s.hop.clear();
        s
    }

    /// Frames for a whole utterance of `n_frames` frames, streamed hop by hop (the audio is
    /// padded with silence at the end so that the last frames have their look-ahead).
    pub fn run(&self, samples: &[f32], n_frames: usize) -> Result<Vec<MouthRow>> {
        let mut s = self.stream();
        let mut out = Vec::with_capacity(n_frames);
        s.push(samples, &mut out)?;
        let silence = [0.0f32; 160];
        while out.len() < n_frames {
            s.push(&silence, &mut out)?;
        }
        out.truncate(n_frames);
        Ok(out)
    }
}

/// Runs model `name` (the int8 `MODEL_NAME` or its float original) on a whole utterance in one call (every hop at once, after the same silent warm-up as a stream): the reference that the
/// streaming form must reproduce. Plans the model for this length, so it is for tests and tools.
pub fn run_whole(models_dir: &Path, name: &str, samples: &[f32], n_frames: usize) -> Result<Vec<MouthRow>> {
    let mut x = vec![silent_mel(); WARM_HOPS * HOP_IN];
    x.extend(hops(samples, n_frames));
    let model = Model::load_shaped(models_dir, name, Some(&input_shapes(WARM_HOPS + n_frames)))?;
    let zeros = zero_state();
    let mut inputs: Vec<&[f32]> = vec![&x];
    inputs.extend(zeros.iter().map(Vec::as_slice));
    let out = model.run(&inputs)?;
    Ok(out[0].chunks_exact(N_OUT).skip(WARM_HOPS).map(|c| c.try_into().expect("N_OUT columns")).collect())
}

/// The model input for a whole utterance: `n_frames` rows of 4 mel frames (see the module doc).
pub fn hops(samples: &[f32], n_frames: usize) -> Vec<f32> {
    let need = HOP * (MEL_PER_HOP * n_frames.saturating_sub(1) + LOOKAHEAD_MEL + MEL_PER_HOP - 1) + WIN;
    let mut x = samples.to_vec();
    if x.len() < need {
        x.resize(need, 0.0);
    }
    let mel = LogMel::new().compute(&x);
    mel[LOOKAHEAD_MEL * N_MELS..(LOOKAHEAD_MEL + MEL_PER_HOP * n_frames) * N_MELS].to_vec()
}

/// Streaming state: unconsumed samples, the hop being filled, the convolutions' history.
pub struct LipStream {
    model: LipModel,
    mel: LogMel,
    /// Samples from absolute index `buf_start` on.
    buf: Vec<f32>,
    buf_start: usize,
    /// The next mel frame to compute.
    next_mel: usize,
    hop: Vec<f32>,
    state: Vec<Vec<f32>>,
    row: Vec<f32>,
}

impl LipStream {
    fn new(model: LipModel) -> Self {
        LipStream {
            model,
            mel: LogMel::new(),
            buf: Vec::with_capacity(4 * WIN),
            buf_start: 0,
            next_mel: 0,
            hop: Vec::with_capacity(HOP_IN),
            state: zero_state(),
            row: vec![0.0; N_MELS],
        }
    }

    /// Feeds 16 kHz mono samples; appends a row to `out` for every frame that became ready.
    pub fn push(&mut self, samples: &[f32], out: &mut Vec<MouthRow>) -> Result<()> {
        self.buf.extend_from_slice(samples);
        loop {
            let start = self.next_mel * HOP - self.buf_start;
            if start + WIN > self.buf.len() {
                break;
            }
            self.mel.frame(&self.buf[start..start + WIN], &mut self.row);
            let j = self.next_mel;
            self.next_mel += 1;
            if j >= LOOKAHEAD_MEL {
                self.hop.extend_from_slice(&self.row);
                if self.hop.len() == HOP_IN {
                    out.push(self.step()?);
                    self.hop.clear();
                }
            }
        }
        // Keep only what the next mel frame still needs.
        let keep_from = self.next_mel * HOP - self.buf_start;
        if keep_from > 0 {
            self.buf.drain(..keep_from.min(self.buf.len()));
            self.buf_start += keep_from;
        }
        Ok(())
    }

    fn step(&mut self) -> Result<MouthRow> {
        let mut inputs: Vec<&[f32]> = Vec::with_capacity(1 + DILATIONS.len());
        inputs.push(&self.hop);
        inputs.extend(self.state.iter().map(Vec::as_slice));
        let mut out = self.model.step.run(&inputs)?;
        let row: MouthRow = out[0].as_slice().try_into().map_err(|_| crate::Error::Model {
            name: MODEL_NAME.into(),
            message: format!("gives {} outputs per frame, expected {N_OUT}", out[0].len()),
        })?;
        for (s, new) in self.state.iter_mut().zip(out.drain(1..)) {
            *s = new;
        }
        Ok(row)
    }
}

/// A lip gap (jawOpen − mouthClose) at most this, with the jaw nearly shut, is a closure.
pub const CLOSED_GAP: f32 = 0.04;
/// The model's mouthPress at least this is a bilabial: the lips are sealed then even where its
/// lip gap has not come down to a closure. On voices it never heard the model marks a /p b m/
/// more surely with its press channel (median peak 0.21-0.31 in a bilabial against 0.05 in
/// speech) than with its gap, which closes only a quarter of them (eval_heldout.py; sealing on
/// press as well: 62 % of them, closure precision 0.52 against 0.50, 2.2× chance).
pub const PRESS_SEAL: f32 = 0.2;
/// How much wider the model's jaw and lip drop are drawn than it outputs. Trained with a squared
/// error, it answers an unfamiliar voice with the average of the mouths it might be: about half
/// the opening the rules give loud vowels on the held-out voices. Closures stay closed (the gap
/// is scaled, a sealed mouth has none).
pub const MODEL_JAW_GAIN: f32 = 1.45;
/// The same for rounding (funnel, pucker): an averaged "oo" hardly narrows the mouth.
pub const MODEL_ROUND_GAIN: f32 = 1.5;
/// The tongue output between these is drawn as the tip rising from the floor to the ridge. On
/// utterances the fit never saw (models/README.md) it averages 0.46 in /t d n l θ ð/ and 0.27 in
/// the rest of speech: below 0.3 the tongue stays down, from 0.6 it is fully up.
pub const TONGUE_FROM: f32 = 0.3;
pub const TONGUE_TO: f32 = 0.6;

/// The model's rows (25 fps) as the renderer's mouth track at `fps`, `n` frames: what
/// [`MouthTrack`] makes of them, the last row held past the end.
pub fn mouth_track(rows: &[MouthRow], n: usize, fps: f32) -> Vec<super::shape::MouthShape> {
    let Some(last) = rows.last() else {
        return vec![super::shape::MouthShape::default(); n];
    };
    let mut t = MouthTrack::new(fps);
    let mut out = Vec::with_capacity(n + 2);
    for r in rows {
        t.push(r, &mut out);
    }
    while out.len() < n {
        t.push(last, &mut out);
    }
    out.truncate(n);
    out
}

/// The model's rows (25 fps) to the renderer's mouth frames at `fps`, as the rows arrive:
/// resampled linearly, lightly smoothed (the network's output is already smooth; a one-pole
/// filter takes the last frame-to-frame jitter out), and then every frame whose nearest model
/// frame has the lips closed gets them sealed exactly (mouthClose = jawOpen): smoothing must not
/// blur a p, b or m into a half-open mouth. Video frame i (instant i / fps) comes out once the
/// model rows on both sides of its instant are in (at 25 fps, its own row). Causal: the whole
/// clip and a stream give the same frames.
pub struct MouthTrack {
    fps: f64,
    /// The last two rows; `have` rows pushed so far.
    prev: MouthRow,
    cur: MouthRow,
    have: u64,
    /// The next video frame to make.
    next: u64,
    y: MouthRow,
    k: f32,
}

impl MouthTrack {
    pub fn new(fps: f32) -> MouthTrack {
        MouthTrack { fps: fps as f64, prev: [0.0; N_OUT], cur: [0.0; N_OUT], have: 0, next: 0, y: [0.0; N_OUT], k: (0.7 * MODEL_FPS / fps).min(1.0) }
    }

    /// Seconds a video frame waits for audio beyond its instant: the model's look-ahead, plus up
    /// to one model frame to interpolate towards (none at 25 fps).
    pub fn lookahead_s(fps: f32) -> f64 {
        let interp = if (fps - MODEL_FPS).abs() < 1e-3 { 0.0 } else { 1.0 / MODEL_FPS as f64 };
        LOOKAHEAD_S as f64 + interp
    }

    /// Adds the next model row; appends every video frame that became ready.
    pub fn push(&mut self, row: &MouthRow, out: &mut Vec<super::shape::MouthShape>) {
        self.prev = self.cur;
        self.cur = *row;
        self.have += 1;
        loop {
            // Model position of frame `next` (exact for integer ratios: 25 / 25, 25 / 50, …).
            let num = self.next as f64 * MODEL_FPS as f64;
            let a = (num / self.fps + 1e-9).floor() as u64;
            let w = (num / self.fps - a as f64).max(0.0) as f32;
            let exact = w < 1e-6;
            // Rows a and a + 1 (only a when the instant falls on it).
            let need = if exact { a + 1 } else { a + 2 };
            if self.have < need {
                break;
            }
            let (ra, rb) = if self.have == a + 1 { (self.cur, self.cur) } else { (self.prev, self.cur) };
            let shape = self.frame(&ra, &rb, if exact { 0.0 } else { w });
            out.push(shape);
            self.next += 1;
        }
    }

    fn frame(&mut self, ra: &MouthRow, rb: &MouthRow, w: f32) -> super::shape::MouthShape {
        use super::shape::MouthShape;
        let mut r = [0.0; N_OUT];
        for c in 0..N_OUT {
            r[c] = ra[c] * (1.0 - w) + rb[c] * w;
        }
        let nearest = if w < 0.5 { ra } else { rb };
        for c in 0..N_OUT {
            self.y[c] = if self.next == 0 { r[c] } else { self.y[c] + self.k * (r[c] - self.y[c]) };
        }
        let y = &self.y;
        let mut m = MouthShape {
            jaw_open: (y[0] * MODEL_JAW_GAIN).clamp(0.0, 0.6),
            close: (y[1] * MODEL_JAW_GAIN).clamp(0.0, 1.0),
            funnel: (y[2] * MODEL_ROUND_GAIN).min(1.0),
            pucker: (y[3] * MODEL_ROUND_GAIN).min(1.0),
            stretch: y[4],
            press: y[5],
            smile: y[6],
            upper_up: y[7],
            lower_down: (y[8] * MODEL_JAW_GAIN).min(1.0),
            activity: y[9],
            emphasis: y[10],
            tongue_up: {
                let t = ((y[11] - TONGUE_FROM) / (TONGUE_TO - TONGUE_FROM)).clamp(0.0, 1.0);
                t * t * (3.0 - 2.0 * t)
            },
        };
        m.close = m.close.min(m.jaw_open);
        let by_gap = nearest[0] - nearest[1] <= CLOSED_GAP && nearest[0] <= 0.15;
        if by_gap || nearest[5] >= PRESS_SEAL {
            // A seal by press alone keeps the jaw no wider than a bilabial's (0.08).
            let jaw = if by_gap { nearest[0] } else { nearest[0].min(0.08) };
            m.jaw_open = m.jaw_open.min(jaw.max(0.02));
            m.close = m.jaw_open;
            m.press = m.press.max(nearest[5]);
        }
        m
    }
}

/// The model on a live 16 kHz stream, as the daemon's mouth: samples in, mouth frames at `fps`
/// out in order, each once its look-ahead ([`MouthTrack::lookahead_s`]) has arrived. No
/// allocation once warm.
pub struct ModelTracker {
    stream: LipStream,
    track: MouthTrack,
    rows: Vec<MouthRow>,
}

impl ModelTracker {
    pub fn new(model: &LipModel, fps: f32) -> ModelTracker {
        ModelTracker { stream: model.stream(), track: MouthTrack::new(fps), rows: Vec::with_capacity(8) }
    }

    /// Adds 16 kHz mono samples; appends every mouth frame that became ready to `out`.
    pub fn push(&mut self, samples: &[f32], out: &mut Vec<super::shape::MouthShape>) -> Result<()> {
        self.rows.clear();
        self.stream.push(samples, &mut self.rows)?;
        for r in &self.rows {
            self.track.push(r, out);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
