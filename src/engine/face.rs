//! A portrait made ready to animate, built beside the engine (a second or so) and swapped in
//! whole: the bytes are read once, hashed for the consent check, and those same bytes analysed.

use std::path::PathBuf;

use serde::Serialize;

use crate::config::Config;
use crate::provenance;
use crate::render::Renderer;
use crate::face::rig::Rig;
use crate::{Error, Result};

/// The portrait on screen.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PortraitInfo {
    pub path: PathBuf,
    pub sha256: String,
    pub width: u32,
    pub height: u32,
}

/// A portrait made ready to animate: its rig and a renderer for it.
pub struct Face {
    pub rig: Rig,
    pub renderer: Renderer,
    pub portrait: PortraitInfo,
    /// Why this portrait may be animated (the consent allowlist entry, or the check is off).
    pub consent: provenance::Consent,
}

/// Largest portrait file the daemon reads.
pub const MAX_PORTRAIT_BYTES: u64 = 64 << 20;

/// Analyses the configured portrait and builds its rig at the configured size (a second or so;
/// run it beside the engine, never inside it).
pub fn build_face(cfg: &Config) -> Result<Face> {
    let path = cfg.portrait.image.clone().unwrap_or_else(crate::util::dirs::default_portrait);
    // Read once, bounded: these bytes are hashed for the consent check and then analysed, so a
    // file swapped in between cannot be animated unchecked.
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    if size > MAX_PORTRAIT_BYTES {
        return Err(Error::Image { path, message: format!("{} MB is larger than a portrait may be ({} MB)", size >> 20, MAX_PORTRAIT_BYTES >> 20) });
    }
    let bytes = std::fs::read(&path).map_err(|e| Error::Image { path: path.clone(), message: format!("cannot read: {e}") })?;
    let sha256 = crate::util::hash::sha256_hex(&bytes);
    // Consent first: a portrait nobody agreed to is not even analysed.
    let consent = provenance::check_consent(cfg, &path, &sha256)?;
    let (img, analysis) = crate::face::analyze_portrait_bytes(cfg, &path, &bytes)?;
    let rig = crate::face::rig_for(cfg, &img, &analysis)?;
    let renderer = Renderer::new(&rig);
    let portrait = PortraitInfo { path, sha256, width: img.width(), height: img.height() };
    Ok(Face { rig, renderer, portrait, consent })
}
