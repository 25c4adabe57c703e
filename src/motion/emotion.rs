//! The emotion and gaze controls (config keys, the API and the command line) and the settings the
//! animator runs with.

use serde::{Deserialize, Serialize};

use crate::motion_params::Param;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Emotion {
    Neutral,
    Happy,
    Sad,
    Angry,
    Surprised,
}

impl Emotion {
    pub const ALL: [Emotion; 5] = [Emotion::Neutral, Emotion::Happy, Emotion::Sad, Emotion::Angry, Emotion::Surprised];
    pub fn name(self) -> &'static str {
        match self {
            Emotion::Neutral => "neutral",
            Emotion::Happy => "happy",
            Emotion::Sad => "sad",
            Emotion::Angry => "angry",
            Emotion::Surprised => "surprised",
        }
    }
    pub fn from_name(s: &str) -> Option<Emotion> {
        Emotion::ALL.into_iter().find(|e| e.name().eq_ignore_ascii_case(s))
    }
    /// The expression at full strength: blendshape weights and head pitch.
    pub(crate) fn shape(self) -> &'static [(Param, f32)] {
        use Param::*;
        match self {
            Emotion::Neutral => &[],
            Emotion::Happy => &[
                (MouthSmileLeft, 0.6),
                (MouthSmileRight, 0.6),
                (EyeSquintLeft, 0.25),
                (EyeSquintRight, 0.25),
                (BrowInnerUp, 0.05),
            ],
            Emotion::Sad => &[
                (BrowInnerUp, 0.7),
                (MouthFrownLeft, 0.5),
                (MouthFrownRight, 0.5),
                (EyeBlinkLeft, 0.15),
                (EyeBlinkRight, 0.15),
                (HeadPitch, 4.0),
            ],
            Emotion::Angry => &[
                (BrowDownLeft, 0.8),
                (BrowDownRight, 0.8),
                (MouthPressLeft, 0.4),
                (MouthPressRight, 0.4),
                (EyeSquintLeft, 0.3),
                (EyeSquintRight, 0.3),
                (MouthFrownLeft, 0.2),
                (MouthFrownRight, 0.2),
            ],
            Emotion::Surprised => &[
                (BrowInnerUp, 0.7),
                (BrowOuterUpLeft, 0.7),
                (BrowOuterUpRight, 0.7),
                (EyeWideLeft, 0.5),
                (EyeWideRight, 0.5),
                (HeadPitch, -2.0),
            ],
        }
    }
}

/// Where the eyes look.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Gaze {
    /// At the camera, with small natural saccades.
    Camera,
    /// Wandering around the scene.
    Free,
    /// Fixed angles in degrees (yaw positive to the image's right, pitch positive up).
    Fixed { yaw: f32, pitch: f32 },
}

impl Gaze {
    /// What `motion.gaze` allows, for messages.
    pub const EXPECTED: &'static str = "\"camera\", \"free\" or { yaw = DEG, pitch = DEG } within ±30°";

    /// "camera" or "free" (any case).
    pub fn from_mode(s: &str) -> Option<Gaze> {
        if s.eq_ignore_ascii_case("camera") {
            Some(Gaze::Camera)
        } else if s.eq_ignore_ascii_case("free") {
            Some(Gaze::Free)
        } else {
            None
        }
    }

    /// Fixed angles, within ±30° each.
    pub fn fixed(yaw: f32, pitch: f32) -> Option<Gaze> {
        (yaw.abs() <= 30.0 && pitch.abs() <= 30.0).then_some(Gaze::Fixed { yaw, pitch })
    }
}

/// `motion.gaze` as written (config file or `--gaze`): a mode or a table of angles.
#[derive(Deserialize, Serialize)]
#[serde(untagged)]
pub enum GazeText {
    Mode(String),
    Angles { yaw: f32, pitch: f32 },
}

impl GazeText {
    /// The gaze it names; a wrong mode or an angle beyond ±30° is
    /// `motion.gaze: expected …, found …`.
    pub fn gaze(self) -> Result<Gaze, String> {
        let (gaze, found) = match self {
            GazeText::Mode(m) => (Gaze::from_mode(&m), format!("\"{m}\"")),
            GazeText::Angles { yaw, pitch } => (Gaze::fixed(yaw, pitch), format!("{{ yaw = {yaw}, pitch = {pitch} }}")),
        };
        gaze.ok_or_else(|| format!("motion.gaze: expected {}, found {}", Gaze::EXPECTED, crate::error::cut(&found, 200)))
    }
}

impl Serialize for Gaze {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match *self {
            Gaze::Camera => GazeText::Mode("camera".into()),
            Gaze::Free => GazeText::Mode("free".into()),
            Gaze::Fixed { yaw, pitch } => GazeText::Angles { yaw, pitch },
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Gaze {
    /// A wrong mode or an angle beyond ±30° is refused here, naming the key.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Gaze, D::Error> {
        GazeText::deserialize(d)?.gaze().map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct MotionSettings {
    pub fps: f32,
    /// A blend of emotions with strengths in 0..1.
    pub emotion: Vec<(Emotion, f32)>,
    pub gaze: Gaze,
    /// Scales head motion, gaze range and expressiveness (not the lip sync); 0 = still head.
    pub intensity: f32,
    /// Scales the mouth's speech movements (`motion.articulation`), 1 = as tracked.
    pub articulation: f32,
    pub seed: u64,
}

impl Default for MotionSettings {
    fn default() -> Self {
        MotionSettings { fps: 25.0, emotion: vec![], gaze: Gaze::Camera, intensity: 1.0, articulation: 1.0, seed: 0 }
    }
}
