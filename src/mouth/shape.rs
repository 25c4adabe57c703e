//! A mouth frame: the jaw and lip shapes both mouths produce, and the parameters they drive.

use crate::motion_params::Param;

/// Mouth shape for one frame, from speech alone.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct MouthShape {
    pub jaw_open: f32,
    pub close: f32,
    pub funnel: f32,
    pub pucker: f32,
    pub stretch: f32,
    pub press: f32,
    pub upper_up: f32,
    pub lower_down: f32,
    pub smile: f32,
    /// The tongue's tip raised to the ridge behind the upper teeth (/t d n l/).
    pub tongue_up: f32,
    /// 0..1 speech activity (level above the noise floor, smoothed).
    pub activity: f32,
    /// Pitch emphasis: how far the pitch rises above the speaker's median (0..1).
    pub emphasis: f32,
}

/// The mouth parameters that speech drives (the audio mapping, later the audio-to-motion model).
pub const SPEECH_MOUTH: [Param; 13] = [
    Param::JawOpen,
    Param::MouthClose,
    Param::MouthFunnel,
    Param::MouthPucker,
    Param::MouthStretchLeft,
    Param::MouthStretchRight,
    Param::MouthPressLeft,
    Param::MouthPressRight,
    Param::MouthUpperUpLeft,
    Param::MouthUpperUpRight,
    Param::MouthLowerDownLeft,
    Param::MouthLowerDownRight,
    Param::TongueUp,
];
