//! The on-disk cache of portrait analyses, keyed by the image bytes' SHA-256, so the same portrait
//! is analysed once.

use std::path::{Path, PathBuf};

use image::RgbImage;

use super::detect::{analyze, FaceModels};
use super::analysis::{FaceAnalysis, LANDMARK_COUNT};
use crate::Result;

/// Where analyses are cached: `$SPEAKFACE_CACHE`, `$XDG_CACHE_HOME/speakface`, `~/.cache/speakface`.
pub fn default_cache_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("SPEAKFACE_CACHE") {
        return Some(PathBuf::from(d));
    }
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME") {
        return Some(PathBuf::from(d).join("speakface"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/speakface"))
}

/// Bump when the analysis changes, so old cache entries are not reused.
const CACHE_VERSION: u32 = 1;

/// Analysis with an on-disk cache keyed by the image bytes' sha256.
pub fn analyze_cached(models_dir: &Path, cache_dir: Option<&Path>, img: &RgbImage, bytes: &[u8], path: &Path) -> Result<FaceAnalysis> {
    let key = format!("face-v{CACHE_VERSION}-{}.json", crate::util::hash::sha256_hex(bytes));
    if let Some(dir) = cache_dir {
        if let Ok(text) = std::fs::read_to_string(dir.join(&key)) {
            if let Ok(a) = serde_json::from_str::<FaceAnalysis>(&text) {
                if a.landmarks.len() == LANDMARK_COUNT && (a.image_width, a.image_height) == (img.width(), img.height()) {
                    return Ok(a);
                }
            }
        }
    }
    let models = FaceModels::load(models_dir)?;
    let a = analyze(&models, img, path)?;
    if let Some(dir) = cache_dir {
        // A cache that cannot be written only costs time on the next run.
        if std::fs::create_dir_all(dir).is_ok() {
            let tmp = dir.join(format!(".{key}.{}", std::process::id()));
            if let Ok(json) = serde_json::to_string(&a) {
                if std::fs::write(&tmp, json).is_ok() {
                    let _ = std::fs::rename(&tmp, dir.join(&key));
                }
            }
        }
    }
    Ok(a)
}
