//! Face motion besides the mouth: one `MotionFrame` per video frame from the mouth frames
//! (`crate::mouth`) and a seeded generator of blinks, gaze saccades, breathing and head motion
//! whose amplitude follows the speech's level and pitch, so a still portrait never looks frozen
//! and the same seed gives the same clip (`animator`); the emotion and gaze controls
//! (`emotion`); a motion-track file (CSV or JSON of named parameters per frame) that overrides any
//! parameter, and its writer (`track`).
//! Not for: the mouth (see `mouth`), drawing (see `render`) or audio I/O (see `audio`).

pub mod animator;
pub mod emotion;
pub mod track;

pub use animator::{generate, generate_with_mouth, Animator, Rng};
pub use emotion::{Emotion, Gaze, MotionSettings};
pub use track::{write_csv, MotionTrack};
