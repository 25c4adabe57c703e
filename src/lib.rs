//! speakface: one still portrait + speech → a talking-head video.
//!
//! Data flows one way: audio frames → feature frames → motion frames → video frames → sinks.
//! See `docs/ARCHITECTURE.md` for the stages and where each lives.

pub mod audio;
pub mod bench;
pub mod camera;
pub mod board;
pub mod config;
pub mod control;
pub mod daemon;
pub mod engine;
pub mod error;
pub mod face;
pub mod gallery;
pub mod font;
pub mod infer;
pub mod job;
pub mod motion;
pub mod motion_params;
pub mod mouth;
pub mod output;
pub mod provenance;
pub mod preview;
pub mod render;
pub mod tts;
pub mod util;

pub use error::{Error, Result};
