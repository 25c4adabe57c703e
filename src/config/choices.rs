//! The config's closed choices as types. Each reads and writes as its config word, and a wrong
//! word is refused while parsing with the key, the words allowed and the word found. (Choices
//! that belong to one stage live with it: `mouth::LipSync`, `infer::Device`, `motion::Gaze`.)

use serde::{Deserialize, Serialize};

use crate::motion::Emotion;

crate::choice! {
    /// Where live speech comes from (`audio.source`).
    pub enum AudioSource for "audio.source" {
        /// An ALSA capture device.
        Alsa = "alsa",
        /// A playlist of WAV files.
        File = "file",
    }
}

crate::choice! {
    /// The H.264 encoder (`output.encoder`).
    pub enum Encoder for "output.encoder" {
        /// The board's hardware encoder where GStreamer has one, else x264.
        Auto = "auto",
        X264 = "x264enc",
        /// Jetson.
        NvV4l2 = "nvv4l2h264enc",
        /// V4L2 memory-to-memory encoders (Raspberry Pi, i.MX, …).
        V4l2 = "v4l2h264enc",
        Vaapi = "vaapih264enc",
    }
}

crate::choice! {
    /// The display sink (`output.display.sink`).
    pub enum DisplaySink for "output.display.sink" {
        /// kmssink on a DRM device without a desktop, ximagesink under X.
        Auto = "auto",
        Kms = "kmssink",
        NvDrm = "nvdrmvideosink",
        XImage = "ximagesink",
        XvImage = "xvimagesink",
        Gl = "glimagesink",
        Wayland = "waylandsink",
        Fake = "fakesink",
    }
}

crate::choice! {
    /// Where the visible label sits (`provenance.label_position`).
    pub enum LabelPosition for "provenance.label_position" {
        TopLeft = "top-left",
        TopRight = "top-right",
        BottomLeft = "bottom-left",
        BottomRight = "bottom-right",
    }
}

/// `motion.emotion`: one emotion by name, or a blend of emotions with strengths in 0..1
/// (kept in name order, as written in a table).
#[derive(Debug, Clone, PartialEq)]
pub enum EmotionSpec {
    Name(Emotion),
    Blend(Vec<(Emotion, f32)>),
}

impl Default for EmotionSpec {
    fn default() -> Self {
        EmotionSpec::Name(Emotion::Neutral)
    }
}

impl EmotionSpec {
    const EXPECTED: &'static str = "neutral, happy, sad, angry or surprised, strengths 0.0 to 1.0";

    /// The blend the animator runs with (neutral: none).
    pub fn blend(&self) -> Vec<(Emotion, f32)> {
        match self {
            EmotionSpec::Name(Emotion::Neutral) => vec![],
            EmotionSpec::Name(e) => vec![(*e, 1.0)],
            EmotionSpec::Blend(v) => v.clone(),
        }
    }

    /// A name, or a blend of `(name, strength)`; the error is `motion.emotion: expected …, found …`.
    pub fn from_text(name: Option<&str>, blend: &[(String, f32)]) -> Result<EmotionSpec, String> {
        let bad = |found: String| format!("motion.emotion: expected {}, found {}", Self::EXPECTED, crate::error::cut(&found, 200));
        if let Some(n) = name {
            return Emotion::from_name(n).map(EmotionSpec::Name).ok_or_else(|| bad(format!("\"{n}\"")));
        }
        let mut v = Vec::with_capacity(blend.len());
        for (k, s) in blend {
            match Emotion::from_name(k) {
                Some(e) if (0.0..=1.0).contains(s) => v.push((e, *s)),
                _ => return Err(bad(format!("{k} = {s}"))),
            }
        }
        Ok(EmotionSpec::Blend(v))
    }
}

/// `motion.emotion` as written.
#[derive(Deserialize, Serialize)]
#[serde(untagged)]
enum EmotionText {
    Name(String),
    Blend(std::collections::BTreeMap<String, f32>),
}

impl Serialize for EmotionSpec {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            EmotionSpec::Name(e) => EmotionText::Name(e.name().into()),
            EmotionSpec::Blend(v) => EmotionText::Blend(v.iter().map(|(e, w)| (e.name().to_string(), *w)).collect()),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for EmotionSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<EmotionSpec, D::Error> {
        match EmotionText::deserialize(d)? {
            EmotionText::Name(n) => EmotionSpec::from_text(Some(&n), &[]),
            EmotionText::Blend(m) => EmotionSpec::from_text(None, &m.into_iter().collect::<Vec<_>>()),
        }
        .map_err(serde::de::Error::custom)
    }
}
