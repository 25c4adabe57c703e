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
pub mod error;
pub mod face;
pub mod font;
pub mod infer;
pub mod job;
pub mod lipsync;
pub mod logging;
pub mod motion;
pub mod motion_params;
pub mod output;
pub mod pipeline;
pub mod provenance;
pub mod preview;
pub mod render;
pub mod rig;
pub mod tts;
pub mod verify;
pub mod watermark;

pub use error::{Error, Result};

use std::path::{Path, PathBuf};

/// Where a folder of shipped data (`models`, `assets`, `board`) is: `$ENV_VAR`, else the
/// installed `PREFIX/share/speakface/NAME` next to the binary when `present` says it is there,
/// else the source tree's `NAME`.
pub fn data_dir(env_var: &str, name: &str, present: fn(&Path) -> bool) -> PathBuf {
    if let Some(d) = std::env::var_os(env_var) {
        return PathBuf::from(d);
    }
    if let Ok(exe) = std::env::current_exe() {
        if let Some(prefix) = exe.parent().and_then(Path::parent) {
            let installed = prefix.join("share/speakface").join(name);
            if present(&installed) {
                return installed;
            }
        }
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(name)
}
