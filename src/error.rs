//! The crate's error type: one enum at module edges, each variant rendering as one line that names
//! the file or value at fault and, where there is one, the fix.

use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("config {path}: {message}")]
    Config { path: PathBuf, message: String },
    #[error("portrait {path}: {message}")]
    Image { path: PathBuf, message: String },
    /// A portrait the consent allowlist does not cover (daemon mode).
    #[error("portrait {path}: {message}")]
    Consent { path: PathBuf, message: String },
    #[error("portrait {path}: no face found ({message}); supply landmarks with --landmarks FILE")]
    NoFace { path: PathBuf, message: String },
    #[error("landmarks {path}: {message}")]
    Landmarks { path: PathBuf, message: String },
    #[error("speech {path}: {message}")]
    Audio { path: PathBuf, message: String },
    #[error("motion track {path}: {message}")]
    MotionTrack { path: PathBuf, message: String },
    #[error("model {name}: {message}")]
    Model { name: String, message: String },
    #[error("output {path}: {message}")]
    Output { path: PathBuf, message: String },
    #[error("GStreamer: {0}")]
    Gst(String),
    #[error("{0}")]
    Other(String),
}

/// Collapses any message (a library's multi-line error, say) to one line.
/// Bounded (1000 characters): a message that quotes a request's value must not carry megabytes
/// into a reply, the log or the audit log.
pub fn one_line(s: &str) -> String {
    cut(&s.split_whitespace().collect::<Vec<_>>().join(" "), 1000)
}

/// `s` cut to at most `max` characters, saying how many were left out.
pub fn cut(s: &str, max: usize) -> String {
    // One line whatever the value holds: control characters (a newline in a quoted string)
    // are written as their escapes.
    let s: String = s.chars().flat_map(|c| if c.is_control() { c.escape_default().collect::<Vec<_>>() } else { vec![c] }).collect();
    let n = s.chars().count();
    if n <= max {
        return s;
    }
    let head: String = s.chars().take(max).collect();
    format!("{head}… ({} more characters)", n - max)
}
