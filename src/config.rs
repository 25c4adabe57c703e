//! The TOML configuration: schema, defaults (in one place: the `Default` impls), validation with
//! errors that name the file, line, key, what was expected and what was found. Unknown keys are
//! errors. The binary, not the library, decides which file to read.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::motion::{Emotion, Gaze, MotionSettings};
use crate::{Error, Result};

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub portrait: PortraitConfig,
    pub video: VideoConfig,
    pub motion: MotionConfig,
    pub models: ModelsConfig,
    pub cache: CacheConfig,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PortraitConfig {
    /// JPEG or PNG portrait; relative paths are relative to the config file.
    pub image: Option<PathBuf>,
    /// Landmarks file (`speakface analyze` output) used instead of the face models.
    pub landmarks: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct VideoConfig {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub bitrate_kbps: u32,
}

impl Default for VideoConfig {
    fn default() -> Self {
        VideoConfig { width: 512, height: 512, fps: 25, bitrate_kbps: 2000 }
    }
}

/// `emotion = "happy"` or a blend `emotion = { happy = 0.6, surprised = 0.2 }`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum EmotionSpec {
    Name(String),
    Blend(BTreeMap<String, f32>),
}

/// `gaze = "camera" | "free"` or fixed angles `gaze = { yaw = 10.0, pitch = -5.0 }`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum GazeSpec {
    Mode(String),
    Angles { yaw: f32, pitch: f32 },
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MotionConfig {
    pub emotion: EmotionSpec,
    pub gaze: GazeSpec,
    /// 1.0 = as in the portrait; > 1 further away.
    pub head_distance: f32,
    pub motion_intensity: f32,
    pub seed: u64,
    /// Where the mouth motion comes from: "heuristic" (hand-written rules over loudness and
    /// spectrum) or "model" (the trained audio-to-motion model). The default stays "heuristic"
    /// until the model beats it on real speech (models/README.md has both rows).
    pub lipsync: String,
}

impl Default for MotionConfig {
    fn default() -> Self {
        MotionConfig {
            emotion: EmotionSpec::Name("neutral".into()),
            gaze: GazeSpec::Mode("camera".into()),
            head_distance: 1.0,
            motion_intensity: 1.0,
            seed: 0,
            lipsync: "heuristic".into(),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ModelsConfig {
    /// Directory holding `manifest.toml` and the models (default: the installed or source tree's).
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CacheConfig {
    pub enabled: bool,
    /// Default: `$SPEAKFACE_CACHE`, `$XDG_CACHE_HOME/speakface` or `~/.cache/speakface`.
    pub dir: Option<PathBuf>,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig { enabled: true, dir: None }
    }
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, col)
}

impl Config {
    /// Parses and validates a config file; relative paths in it become relative to its folder.
    pub fn load(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Config { path: path.to_path_buf(), message: format!("cannot read: {e}") })?;
        let mut cfg = Config::parse(&text, path)?;
        let base = path.parent().unwrap_or(Path::new("."));
        for p in [&mut cfg.portrait.image, &mut cfg.portrait.landmarks, &mut cfg.models.dir, &mut cfg.cache.dir]
            .into_iter()
            .flatten()
        {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
        Ok(cfg)
    }

    pub fn parse(text: &str, path: &Path) -> Result<Config> {
        let cfg: Config = toml::from_str(text).map_err(|e| {
            let place = e.span().map(|s| line_col(text, s.start));
            let msg = crate::error::one_line(e.message());
            Error::Config {
                path: path.to_path_buf(),
                message: match place {
                    Some((l, c)) => format!("line {l}, column {c}: {msg}"),
                    None => msg,
                },
            }
        })?;
        cfg.validate(path)?;
        Ok(cfg)
    }

    pub fn validate(&self, path: &Path) -> Result<()> {
        let bad = |key: &str, expected: &str, found: String| Error::Config {
            path: path.to_path_buf(),
            message: format!("{key}: expected {expected}, found {found}"),
        };
        let v = &self.video;
        for (key, val) in [("video.width", v.width), ("video.height", v.height)] {
            if !(64..=4096).contains(&val) || val % 2 != 0 {
                return Err(bad(key, "an even number of pixels from 64 to 4096", val.to_string()));
            }
        }
        if !(1..=120).contains(&v.fps) {
            return Err(bad("video.fps", "1 to 120", v.fps.to_string()));
        }
        if !(100..=50_000).contains(&v.bitrate_kbps) {
            return Err(bad("video.bitrate_kbps", "100 to 50000", v.bitrate_kbps.to_string()));
        }
        let m = &self.motion;
        if !(0.5..=3.0).contains(&m.head_distance) {
            return Err(bad("motion.head_distance", "0.5 to 3.0", m.head_distance.to_string()));
        }
        if !["model", "heuristic"].contains(&m.lipsync.as_str()) {
            return Err(bad("motion.lipsync", "\"model\" or \"heuristic\"", format!("\"{}\"", m.lipsync)));
        }
        if !(0.0..=3.0).contains(&m.motion_intensity) {
            return Err(bad("motion.motion_intensity", "0.0 to 3.0", m.motion_intensity.to_string()));
        }
        self.emotion().map_err(|found| bad("motion.emotion", "neutral, happy, sad, angry or surprised, strengths 0.0 to 1.0", found))?;
        self.gaze().map_err(|found| bad("motion.gaze", "\"camera\", \"free\" or { yaw = DEG, pitch = DEG } within ±30°", found))?;
        Ok(())
    }

    /// The emotion blend, or the offending text.
    pub fn emotion(&self) -> std::result::Result<Vec<(Emotion, f32)>, String> {
        match &self.motion.emotion {
            EmotionSpec::Name(n) => {
                let e = Emotion::from_name(n).ok_or_else(|| format!("\"{n}\""))?;
                Ok(if e == Emotion::Neutral { vec![] } else { vec![(e, 1.0)] })
            }
            EmotionSpec::Blend(map) => map
                .iter()
                .map(|(k, &v)| match Emotion::from_name(k) {
                    Some(e) if (0.0..=1.0).contains(&v) => Ok((e, v)),
                    _ => Err(format!("{k} = {v}")),
                })
                .collect(),
        }
    }

    pub fn gaze(&self) -> std::result::Result<Gaze, String> {
        match &self.motion.gaze {
            GazeSpec::Mode(s) if s.eq_ignore_ascii_case("camera") => Ok(Gaze::Camera),
            GazeSpec::Mode(s) if s.eq_ignore_ascii_case("free") => Ok(Gaze::Free),
            GazeSpec::Mode(s) => Err(format!("\"{s}\"")),
            GazeSpec::Angles { yaw, pitch } if yaw.abs() <= 30.0 && pitch.abs() <= 30.0 => {
                Ok(Gaze::Fixed { yaw: *yaw, pitch: *pitch })
            }
            GazeSpec::Angles { yaw, pitch } => Err(format!("{{ yaw = {yaw}, pitch = {pitch} }}")),
        }
    }

    /// Motion settings for the generator (call after `validate`).
    pub fn motion_settings(&self) -> MotionSettings {
        MotionSettings {
            fps: self.video.fps as f32,
            emotion: self.emotion().unwrap_or_default(),
            gaze: self.gaze().unwrap_or(Gaze::Camera),
            intensity: self.motion.motion_intensity,
            seed: self.motion.seed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_documented_ones() {
        let c = Config::parse("", Path::new("x.toml")).unwrap();
        assert_eq!((c.video.width, c.video.height, c.video.fps), (512, 512, 25));
        assert_eq!(c.motion.head_distance, 1.0);
    }

    #[test]
    fn errors_name_line_key_expected_and_found() {
        let e = Config::parse("[video]\nwidth = 7\n", Path::new("a.toml")).unwrap_err().to_string();
        assert!(e.contains("a.toml") && e.contains("video.width") && e.contains("found 7"), "{e}");
        let e = Config::parse("[video]\nwidht = 512\n", Path::new("a.toml")).unwrap_err().to_string();
        assert!(e.contains("line 2") && e.contains("widht"), "{e}");
        let e = Config::parse("[motion]\nemotion = \"grumpy\"\n", Path::new("a.toml")).unwrap_err().to_string();
        assert!(e.contains("motion.emotion") && e.contains("grumpy"), "{e}");
        let e = Config::parse("[video\n", Path::new("a.toml")).unwrap_err().to_string();
        assert!(e.contains("line 1") && !e.contains('\n'), "{e}");
    }

    #[test]
    fn emotion_blends_and_fixed_gaze_parse() {
        let c = Config::parse("[motion]\nemotion = { happy = 0.6, surprised = 0.2 }\ngaze = { yaw = 10.0, pitch = -5.0 }\n", Path::new("a.toml")).unwrap();
        assert_eq!(c.emotion().unwrap().len(), 2);
        assert_eq!(c.gaze().unwrap(), Gaze::Fixed { yaw: 10.0, pitch: -5.0 });
    }
}
