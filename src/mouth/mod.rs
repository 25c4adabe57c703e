//! The mouth: speech → one `MouthShape` per video frame, by the trained audio-to-motion model
//! (`model`, the default) or by hand-written rules (`rules`, `motion.lipsync = "heuristic"`).
//! Both stream behind one trait, [`Tracker`], so the live engine holds either the same way.
//! Not for: blinks, head or gaze (see `motion`), drawing (see `render`).

pub mod model;
pub mod rules;
pub mod shape;

use crate::Result;

pub use model::{LipModel, LipSync, ModelTracker};
pub use rules::MouthTracker;
pub use shape::{MouthShape, SPEECH_MOUTH};


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
