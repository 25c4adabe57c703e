//! Portrait analysis: face detection, 468 dense landmarks with depth, and irises, through the
//! mediapipe-derived ONNX models in `models/` (see `models/README.md` for their conventions).
//! Here: the analysis's types, reading portraits and landmarks files, and the analysis as
//! configured; `detect`: the models; `cache`: the on-disk cache; `rig`: the animation rig built
//! from an analysis (`geometry` and `bases` hold its mesh helpers and blendshape bases).
//! Not for: anything per video frame.

pub mod analysis;
pub mod bases;
pub mod cache;
pub mod detect;
pub mod geometry;
pub mod rig;

pub use analysis::{idx, FaceAnalysis, Iris, LANDMARK_COUNT};
pub use cache::{analyze_cached, default_cache_dir};
pub use detect::{analyze, decode_detections, detect, sample_bilinear, Detection, FaceModels};

use std::path::Path;

use image::RgbImage;

use crate::config::Config;
use crate::{Error, Result};


/// Reads a portrait (JPEG or PNG, any size) into RGB, with one-line errors naming the file.
pub fn load_portrait(path: &Path) -> Result<(RgbImage, Vec<u8>)> {
    let bytes = std::fs::read(path).map_err(|e| Error::Image { path: path.to_path_buf(), message: format!("cannot read: {e}") })?;
    let img = decode_portrait(&bytes, path)?;
    Ok((img, bytes))
}

/// Largest portrait side accepted (pixels); the decoder also refuses to allocate more than 512 MiB.
pub const MAX_PORTRAIT_SIDE: u32 = 12_000;

/// Decodes portrait bytes (JPEG or PNG) into RGB; `path` only names it in errors. Bounded: a
/// file claiming huge dimensions is refused before its pixels are allocated.
pub fn decode_portrait(bytes: &[u8], path: &Path) -> Result<RgbImage> {
    let err = |message: String| Error::Image { path: path.to_path_buf(), message };
    let mut reader = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| err(format!("cannot read: {e}")))?;
    if !matches!(reader.format(), Some(image::ImageFormat::Jpeg | image::ImageFormat::Png)) {
        return Err(err("not a JPEG or PNG image".into()));
    }
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_PORTRAIT_SIDE);
    limits.max_image_height = Some(MAX_PORTRAIT_SIDE);
    limits.max_alloc = Some(512 * 1024 * 1024);
    reader.limits(limits);
    let img = reader.decode().map_err(|e| err(format!("not a readable JPEG or PNG image ({})", crate::error::one_line(&e.to_string()))))?;
    if img.width() < 64 || img.height() < 64 {
        return Err(err(format!("{}×{} is too small; a portrait needs at least 64×64 pixels", img.width(), img.height())));
    }
    Ok(img.to_rgb8())
}

/// Reads a landmarks file written by `speakface analyze` (and perhaps edited by hand).
pub fn load_landmarks(path: &Path, img: &RgbImage) -> Result<FaceAnalysis> {
    let err = |message: String| Error::Landmarks { path: path.to_path_buf(), message };
    let text = std::fs::read_to_string(path).map_err(|e| err(format!("cannot read: {e}")))?;
    let mut a: FaceAnalysis = serde_json::from_str(&text).map_err(|e| err(format!("not a landmarks file: {e}")))?;
    if a.landmarks.len() != LANDMARK_COUNT {
        return Err(err(format!("has {} landmarks, expected {LANDMARK_COUNT} in mediapipe face-mesh order", a.landmarks.len())));
    }
    if a.landmarks.iter().flatten().any(|v| !v.is_finite()) {
        return Err(err("contains a non-finite coordinate".into()));
    }
    if (a.image_width, a.image_height) != (img.width(), img.height()) {
        // Landmarks made for the same picture at another size: scale them.
        let sx = img.width() as f32 / a.image_width.max(1) as f32;
        let sy = img.height() as f32 / a.image_height.max(1) as f32;
        for p in a.landmarks.iter_mut() {
            p[0] *= sx;
            p[1] *= sy;
            p[2] *= sx;
        }
        for iris in a.irises.iter_mut() {
            iris.center[0] *= sx;
            iris.center[1] *= sy;
            iris.radius *= sx;
        }
        a.image_width = img.width();
        a.image_height = img.height();
    }
    a.source = path.display().to_string();
    Ok(a)
}

/// Reads a hair mask (`portrait.hair_mask`): a greyscale image the size of the portrait, white
/// where hair covers the face around the mouth.
pub fn load_hair_mask(path: &Path, img: &RgbImage) -> Result<image::GrayImage> {
    let err = |message: String| Error::Image { path: path.to_path_buf(), message: format!("hair mask: {message}") };
    let bytes = std::fs::read(path).map_err(|e| err(format!("cannot read: {e}")))?;
    let mask = image::load_from_memory(&bytes).map_err(|e| err(format!("not an image: {e}")))?.to_luma8();
    if mask.dimensions() != img.dimensions() {
        let ((mw, mh), (iw, ih)) = (mask.dimensions(), img.dimensions());
        return Err(err(format!("is {mw}x{mh}, the portrait is {iw}x{ih}")));
    }
    Ok(mask)
}

/// The rig for a portrait as configured: `Rig::build` at the video size and head distance, with
/// the hair mask when one is set.
pub fn rig_for(cfg: &Config, img: &RgbImage, analysis: &FaceAnalysis) -> Result<rig::Rig> {
    let mut rig = rig::Rig::build(img, analysis, cfg.video.width, cfg.video.height, cfg.motion.head_distance);
    if let Some(path) = &cfg.portrait.hair_mask {
        rig.set_hair_mask(&load_hair_mask(path, img)?);
    }
    Ok(rig)
}

/// Portrait analysis as configured: a landmarks file, or the models with the on-disk cache.
pub fn analyze_portrait(cfg: &Config, portrait: &Path) -> Result<(image::RgbImage, FaceAnalysis)> {
    let (_, bytes) = load_portrait(portrait)?;
    analyze_portrait_bytes(cfg, portrait, &bytes)
}

/// `analyze_portrait` of bytes already read (the daemon hashes them for the consent check first:
/// what is analysed is exactly what was checked, even if the file changes meanwhile).
pub fn analyze_portrait_bytes(cfg: &Config, portrait: &Path, bytes: &[u8]) -> Result<(image::RgbImage, FaceAnalysis)> {
    let img = decode_portrait(bytes, portrait)?;
    let analysis = match &cfg.portrait.landmarks {
        Some(file) => load_landmarks(file, &img)?,
        None => {
            let models = cfg.models_dir();
            let cache = if cfg.cache.enabled { cfg.cache.dir.clone().or_else(default_cache_dir) } else { None };
            analyze_cached(&models, cache.as_deref(), &img, bytes, portrait)?
        }
    };
    Ok((img, analysis))
}
