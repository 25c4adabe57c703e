//! speakface: one still portrait + speech → a talking-head video.
//!
//! Data flows one way: audio frames → feature frames → motion frames → video frames → sinks.
//! See `docs/ARCHITECTURE.md` for the stages and where each lives.

pub mod audio;
pub mod board;
pub mod config;
pub mod control;
pub mod daemon;
pub mod error;
pub mod face;
pub mod infer;
pub mod job;
pub mod lipsync;
pub mod logging;
pub mod motion;
pub mod motion_params;
pub mod output;
pub mod pipeline;
pub mod preview;
pub mod render;
pub mod rig;
pub mod tts;

pub use error::{Error, Result};
