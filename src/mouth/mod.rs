//! The mouth: speech → one `MouthShape` per video frame, by the trained audio-to-motion model
//! (`model`, the default) or by hand-written rules (`rules`, `motion.lipsync = "heuristic"`).
//! Both stream behind one trait, [`Tracker`], so the live engine holds either the same way.
//! Not for: blinks, head or gaze (see `motion`), drawing (see `render`).

pub mod model;
pub mod rules;

use crate::motion_params::Param;
use crate::Result;

pub use model::{LipModel, ModelTracker};
pub use rules::MouthTracker;

crate::choice! {
    /// Where the mouth comes from (`motion.lipsync`).
    pub enum LipSync for "motion.lipsync" {
        /// The trained audio-to-motion model.
        Model = "model",
        /// The hand-written rules.
        Heuristic = "heuristic",
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

/// Speech → mouth frames on a live stream, one push at a time.
pub trait Tracker: Send {
    /// Takes the next speech samples (16 kHz mono) and appends the mouth frames they complete.
    fn push(&mut self, samples: &[f32], out: &mut Vec<MouthShape>) -> Result<()>;
}

impl Tracker for MouthTracker {
    fn push(&mut self, samples: &[f32], out: &mut Vec<MouthShape>) -> Result<()> {
        MouthTracker::push(self, samples, out);
        Ok(())
    }
}

impl Tracker for ModelTracker {
    fn push(&mut self, samples: &[f32], out: &mut Vec<MouthShape>) -> Result<()> {
        ModelTracker::push(self, samples, out)
    }
}

/// The live tracker for frames at `fps`: the model's when it is loaded, else the rules'.
pub fn tracker(lip: Option<&LipModel>, fps: f32) -> Box<dyn Tracker> {
    match lip {
        Some(m) => Box::new(ModelTracker::new(m, fps)),
        None => Box::new(MouthTracker::new(fps)),
    }
}
