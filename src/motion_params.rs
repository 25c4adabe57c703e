//! The named motion parameters, one set per video frame: ARKit-convention blendshape weights
//! (0..1) plus head pose. Shared by `motion` (which decides them) and `rig`/`render` (which show them).

/// Every parameter, in storage order. Names are ARKit's (Left/Right are the subject's sides).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(usize)]
pub enum Param {
    JawOpen,
    MouthClose,
    MouthFunnel,
    MouthPucker,
    MouthSmileLeft,
    MouthSmileRight,
    MouthFrownLeft,
    MouthFrownRight,
    MouthStretchLeft,
    MouthStretchRight,
    MouthPressLeft,
    MouthPressRight,
    MouthUpperUpLeft,
    MouthUpperUpRight,
    MouthLowerDownLeft,
    MouthLowerDownRight,
    BrowInnerUp,
    BrowDownLeft,
    BrowDownRight,
    BrowOuterUpLeft,
    BrowOuterUpRight,
    EyeBlinkLeft,
    EyeBlinkRight,
    EyeSquintLeft,
    EyeSquintRight,
    EyeWideLeft,
    EyeWideRight,
    EyeLookUpLeft,
    EyeLookUpRight,
    EyeLookDownLeft,
    EyeLookDownRight,
    EyeLookInLeft,
    EyeLookInRight,
    EyeLookOutLeft,
    EyeLookOutRight,
    /// The tongue's tip raised to the ridge behind the upper teeth (/t d n l/); 0 lies behind
    /// the lower teeth. Not an ARKit shape (ARKit has only tongueOut): it moves no skin, only
    /// the tongue the mouth shader draws in the opening.
    TongueUp,
    /// Degrees; positive turns the face towards the image's right (the subject's left).
    HeadYaw,
    /// Degrees; positive tips the chin down (a nod).
    HeadPitch,
    /// Degrees; positive tilts the head clockwise in the image.
    HeadRoll,
    /// Relative size, 1.0 = as in the portrait (small per-frame changes: leaning in or out).
    HeadScale,
    /// Translation as a fraction of the frame width / height.
    HeadX,
    HeadY,
}

pub const PARAM_COUNT: usize = Param::HeadY as usize + 1;

pub const PARAM_NAMES: [&str; PARAM_COUNT] = [
    "jawOpen",
    "mouthClose",
    "mouthFunnel",
    "mouthPucker",
    "mouthSmileLeft",
    "mouthSmileRight",
    "mouthFrownLeft",
    "mouthFrownRight",
    "mouthStretchLeft",
    "mouthStretchRight",
    "mouthPressLeft",
    "mouthPressRight",
    "mouthUpperUpLeft",
    "mouthUpperUpRight",
    "mouthLowerDownLeft",
    "mouthLowerDownRight",
    "browInnerUp",
    "browDownLeft",
    "browDownRight",
    "browOuterUpLeft",
    "browOuterUpRight",
    "eyeBlinkLeft",
    "eyeBlinkRight",
    "eyeSquintLeft",
    "eyeSquintRight",
    "eyeWideLeft",
    "eyeWideRight",
    "eyeLookUpLeft",
    "eyeLookUpRight",
    "eyeLookDownLeft",
    "eyeLookDownRight",
    "eyeLookInLeft",
    "eyeLookInRight",
    "eyeLookOutLeft",
    "eyeLookOutRight",
    "tongueUp",
    "headYaw",
    "headPitch",
    "headRoll",
    "headScale",
    "headX",
    "headY",
];

impl Param {
    pub const ALL: [Param; PARAM_COUNT] = {
        use Param::*;
        [
            JawOpen, MouthClose, MouthFunnel, MouthPucker, MouthSmileLeft, MouthSmileRight, MouthFrownLeft,
            MouthFrownRight, MouthStretchLeft, MouthStretchRight, MouthPressLeft, MouthPressRight, MouthUpperUpLeft,
            MouthUpperUpRight, MouthLowerDownLeft, MouthLowerDownRight, BrowInnerUp, BrowDownLeft, BrowDownRight,
            BrowOuterUpLeft, BrowOuterUpRight, EyeBlinkLeft, EyeBlinkRight, EyeSquintLeft, EyeSquintRight,
            EyeWideLeft, EyeWideRight, EyeLookUpLeft, EyeLookUpRight, EyeLookDownLeft, EyeLookDownRight,
            EyeLookInLeft, EyeLookInRight, EyeLookOutLeft, EyeLookOutRight, TongueUp, HeadYaw, HeadPitch, HeadRoll,
            HeadScale, HeadX, HeadY,
        ]
    };

    pub fn name(self) -> &'static str {
        PARAM_NAMES[self as usize]
    }

    pub fn from_name(name: &str) -> Option<Param> {
        PARAM_NAMES.iter().position(|n| n.eq_ignore_ascii_case(name)).map(|i| Param::ALL[i])
    }

    /// The value that means "no motion".
    pub fn neutral(self) -> f32 {
        if self == Param::HeadScale { 1.0 } else { 0.0 }
    }

    /// Blendshape weights live in 0..1; pose values are unbounded here (the rig limits them).
    pub fn is_blendshape(self) -> bool {
        (self as usize) < Param::HeadYaw as usize
    }
}

/// One video frame's motion.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MotionFrame {
    pub values: [f32; PARAM_COUNT],
}

impl Default for MotionFrame {
    fn default() -> Self {
        let mut values = [0.0; PARAM_COUNT];
        values[Param::HeadScale as usize] = 1.0;
        MotionFrame { values }
    }
}

impl MotionFrame {
    pub fn get(&self, p: Param) -> f32 {
        self.values[p as usize]
    }
    pub fn set(&mut self, p: Param, v: f32) {
        self.values[p as usize] = v;
    }
    pub fn add(&mut self, p: Param, v: f32) {
        self.values[p as usize] += v;
    }
    /// Clamps blendshapes to 0..1 and the pose to what the rig can show without tearing.
    pub fn clamp(&mut self) {
        for p in Param::ALL {
            let v = &mut self.values[p as usize];
            if !v.is_finite() {
                *v = p.neutral();
            }
            *v = match p {
                Param::HeadYaw => v.clamp(-25.0, 25.0),
                Param::HeadPitch => v.clamp(-20.0, 20.0),
                Param::HeadRoll => v.clamp(-15.0, 15.0),
                Param::HeadScale => v.clamp(0.8, 1.25),
                Param::HeadX | Param::HeadY => v.clamp(-0.1, 0.1),
                _ => v.clamp(0.0, 1.0),
            };
        }
    }
}
