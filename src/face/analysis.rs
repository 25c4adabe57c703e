//! What a portrait analysis finds: 468 landmarks with depth and the two irises, in the image's
//! pixels, and the landmark indices the crate uses.

use serde::{Deserialize, Serialize};

pub const LANDMARK_COUNT: usize = 468;

/// What the portrait analysis found, in the original image's pixel coordinates. Serialized as
/// the user-editable landmarks file (`speakface analyze --out FILE.json`) and as the rig cache.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FaceAnalysis {
    pub image_width: u32,
    pub image_height: u32,
    /// 468 points (x, y, z) in mediapipe's face-mesh order; z is depth in the same pixel scale as x,
    /// negative towards the camera.
    pub landmarks: Vec<[f32; 3]>,
    /// Iris of the subject's right eye (image left) and left eye: centre and radius in pixels.
    pub irises: [Iris; 2],
    /// Detector confidence, or 1.0 for landmarks supplied by the user.
    pub score: f32,
    /// "models" or the landmarks file it came from.
    pub source: String,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct Iris {
    pub center: [f32; 2],
    pub radius: f32,
}

/// Landmark indices of the mediapipe face mesh used across the crate.
pub mod idx {
    pub const UPPER_LIP_INNER: [usize; 11] = [78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308];
    pub const LOWER_LIP_INNER: [usize; 11] = [78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308];
    pub const UPPER_LIP_OUTER: [usize; 11] = [61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291];
    pub const LOWER_LIP_OUTER: [usize; 11] = [61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291];
    /// Subject's right eye (image left): corner 33 (outer) … 133 (inner).
    pub const RIGHT_EYE_UPPER: [usize; 9] = [33, 246, 161, 160, 159, 158, 157, 173, 133];
    pub const RIGHT_EYE_LOWER: [usize; 9] = [33, 7, 163, 144, 145, 153, 154, 155, 133];
    /// Subject's left eye (image right): corner 263 (outer) … 362 (inner).
    pub const LEFT_EYE_UPPER: [usize; 9] = [263, 466, 388, 387, 386, 385, 384, 398, 362];
    pub const LEFT_EYE_LOWER: [usize; 9] = [263, 249, 390, 373, 374, 380, 381, 382, 362];
    pub const RIGHT_BROW: [usize; 10] = [46, 53, 52, 65, 55, 70, 63, 105, 66, 107];
    pub const LEFT_BROW: [usize; 10] = [276, 283, 282, 295, 285, 300, 293, 334, 296, 336];
    pub const FACE_OVAL: [usize; 36] = [
        10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377, 152, 148, 176,
        149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109,
    ];
    pub const NOSE_TIP: usize = 1;
    pub const CHIN: usize = 152;
    pub const FOREHEAD: usize = 10;
    pub const MOUTH_RIGHT: usize = 61;
    pub const MOUTH_LEFT: usize = 291;
}
