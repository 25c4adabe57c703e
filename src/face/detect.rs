//! The analysis models: face detection (SSD anchors, weighted NMS) → rotated region → 468
//! landmarks with depth (three passes) → iris per eye, through tract.

use std::path::Path;

use image::RgbImage;

use super::analysis::{idx, FaceAnalysis, Iris, LANDMARK_COUNT};
use crate::infer::Model;
use crate::{Error, Result};

/// The three analysis models, loaded and verified once.
pub struct FaceModels {
    detector: Model,
    landmarks: Model,
    iris: Model,
}

impl FaceModels {
    pub fn load(models_dir: &Path) -> Result<Self> {
        Ok(FaceModels {
            detector: Model::load(models_dir, "face_detection")?,
            landmarks: Model::load(models_dir, "face_landmark")?,
            iris: Model::load(models_dir, "iris_landmark")?,
        })
    }
}

/// A face found by the detector: box and six keypoints (right eye, left eye, nose tip, mouth,
/// right ear, left ear) in image pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Detection {
    pub score: f32,
    pub center: [f32; 2],
    pub size: [f32; 2],
    pub keypoints: [[f32; 2]; 6],
}

/// A rotated square region of the image mapped onto a model's input.
#[derive(Debug, Clone, Copy)]
struct Roi {
    center: [f32; 2],
    size: f32,
    /// Radians; positive turns the crop's x axis clockwise in image coordinates (y down).
    angle: f32,
}

impl Roi {
    /// Image position of the crop's normalised coordinates (u, v) in [0, 1].
    fn to_image(&self, u: f32, v: f32) -> [f32; 2] {
        let (s, c) = self.angle.sin_cos();
        let dx = (u - 0.5) * self.size;
        let dy = (v - 0.5) * self.size;
        [self.center[0] + c * dx - s * dy, self.center[1] + s * dx + c * dy]
    }
}

/// Bilinear sample of an RGB image at (x, y) with edge clamping; returns 0..255 floats.
pub fn sample_bilinear(img: &RgbImage, x: f32, y: f32) -> [f32; 3] {
    let (w, h) = (img.width() as i64, img.height() as i64);
    let xf = x - 0.5;
    let yf = y - 0.5;
    let x0 = xf.floor();
    let y0 = yf.floor();
    let fx = xf - x0;
    let fy = yf - y0;
    let cx = |v: i64| v.clamp(0, w - 1) as u32;
    let cy = |v: i64| v.clamp(0, h - 1) as u32;
    let (x0, y0) = (x0 as i64, y0 as i64);
    let p00 = img.get_pixel(cx(x0), cy(y0)).0;
    let p10 = img.get_pixel(cx(x0 + 1), cy(y0)).0;
    let p01 = img.get_pixel(cx(x0), cy(y0 + 1)).0;
    let p11 = img.get_pixel(cx(x0 + 1), cy(y0 + 1)).0;
    let mut out = [0.0; 3];
    for c in 0..3 {
        let top = p00[c] as f32 * (1.0 - fx) + p10[c] as f32 * fx;
        let bot = p01[c] as f32 * (1.0 - fx) + p11[c] as f32 * fx;
        out[c] = top * (1.0 - fy) + bot * fy;
    }
    out
}

/// Crops `roi` to an n×n NHWC tensor, values mapped linearly from 0..255 to lo..hi; pixels outside
/// the image are black (as mediapipe pads). `flip` mirrors the crop horizontally.
fn crop_tensor(img: &RgbImage, roi: &Roi, n: usize, lo: f32, hi: f32, flip: bool) -> Vec<f32> {
    let mut out = Vec::with_capacity(n * n * 3);
    let (w, h) = (img.width() as f32, img.height() as f32);
    for j in 0..n {
        for i in 0..n {
            let ii = if flip { n - 1 - i } else { i };
            let u = (ii as f32 + 0.5) / n as f32;
            let v = (j as f32 + 0.5) / n as f32;
            let [x, y] = roi.to_image(u, v);
            let px = if x < 0.0 || y < 0.0 || x >= w || y >= h { [0.0; 3] } else { sample_bilinear(img, x, y) };
            for c in px {
                out.push(lo + (hi - lo) * c / 255.0);
            }
        }
    }
    out
}

/// Letterboxes the whole image into a square `n`×`n` crop (the detector sees the whole picture).
fn letterbox_roi(img: &RgbImage) -> Roi {
    let (w, h) = (img.width() as f32, img.height() as f32);
    Roi { center: [w / 2.0, h / 2.0], size: w.max(h), angle: 0.0 }
}

/// The short-range detector's 896 SSD anchor centres (normalised), in the model's output order:
/// a 16×16 grid with 2 anchors per cell (stride 8), then an 8×8 grid with 6 (strides 16, 16, 16).
fn detector_anchors() -> Vec<[f32; 2]> {
    let mut anchors = Vec::with_capacity(896);
    for (grid, per_cell) in [(16usize, 2usize), (8, 6)] {
        for y in 0..grid {
            for x in 0..grid {
                for _ in 0..per_cell {
                    anchors.push([(x as f32 + 0.5) / grid as f32, (y as f32 + 0.5) / grid as f32]);
                }
            }
        }
    }
    anchors
}

const DETECT_SIZE: usize = 128;
const LANDMARK_SIZE: usize = 192;
const IRIS_SIZE: usize = 64;
const MIN_DETECTION_SCORE: f32 = 0.5;
const MIN_FACE_PRESENCE: f32 = 0.5;

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x.clamp(-100.0, 100.0)).exp())
}

/// Decodes raw detector outputs (896×16 regressors, 896 logits) into detections in the
/// detector's normalised input coordinates, best first, after weighted non-maximum suppression.
pub fn decode_detections(regressors: &[f32], logits: &[f32]) -> Vec<Detection> {
    let anchors = detector_anchors();
    let scale = DETECT_SIZE as f32;
    let mut raw: Vec<Detection> = Vec::new();
    for (i, a) in anchors.iter().enumerate() {
        let Some(&logit) = logits.get(i) else { break };
        let score = sigmoid(logit);
        if score < MIN_DETECTION_SCORE {
            continue;
        }
        let r = &regressors[i * 16..i * 16 + 16];
        let mut keypoints = [[0.0; 2]; 6];
        for (k, kp) in keypoints.iter_mut().enumerate() {
            *kp = [r[4 + 2 * k] / scale + a[0], r[5 + 2 * k] / scale + a[1]];
        }
        raw.push(Detection {
            score,
            center: [r[0] / scale + a[0], r[1] / scale + a[1]],
            size: [r[2] / scale, r[3] / scale],
            keypoints,
        });
    }
    raw.sort_by(|a, b| b.score.total_cmp(&a.score));
    // Weighted NMS: average each cluster of overlapping boxes by score (as mediapipe does).
    let mut out = Vec::new();
    let mut used = vec![false; raw.len()];
    for i in 0..raw.len() {
        if used[i] {
            continue;
        }
        let mut total = 0.0;
        let mut acc = Detection { score: raw[i].score, center: [0.0; 2], size: [0.0; 2], keypoints: [[0.0; 2]; 6] };
        for j in i..raw.len() {
            if used[j] || iou(&raw[i], &raw[j]) < 0.3 {
                continue;
            }
            used[j] = true;
            let w = raw[j].score;
            total += w;
            for c in 0..2 {
                acc.center[c] += raw[j].center[c] * w;
                acc.size[c] += raw[j].size[c] * w;
            }
            for k in 0..6 {
                for c in 0..2 {
                    acc.keypoints[k][c] += raw[j].keypoints[k][c] * w;
                }
            }
        }
        for c in 0..2 {
            acc.center[c] /= total;
            acc.size[c] /= total;
        }
        for kp in acc.keypoints.iter_mut() {
            kp[0] /= total;
            kp[1] /= total;
        }
        out.push(acc);
    }
    out
}

fn iou(a: &Detection, b: &Detection) -> f32 {
    let (ax0, ax1) = (a.center[0] - a.size[0] / 2.0, a.center[0] + a.size[0] / 2.0);
    let (ay0, ay1) = (a.center[1] - a.size[1] / 2.0, a.center[1] + a.size[1] / 2.0);
    let (bx0, bx1) = (b.center[0] - b.size[0] / 2.0, b.center[0] + b.size[0] / 2.0);
    let (by0, by1) = (b.center[1] - b.size[1] / 2.0, b.center[1] + b.size[1] / 2.0);
    let iw = (ax1.min(bx1) - ax0.max(bx0)).max(0.0);
    let ih = (ay1.min(by1) - ay0.max(by0)).max(0.0);
    let inter = iw * ih;
    let union = a.size[0] * a.size[1] + b.size[0] * b.size[1] - inter;
    if union <= 0.0 { 0.0 } else { inter / union }
}

/// Runs the detector on the whole image; detections in image pixels, best first.
pub fn detect(models: &FaceModels, img: &RgbImage) -> Result<Vec<Detection>> {
    let roi = letterbox_roi(img);
    let input = crop_tensor(img, &roi, DETECT_SIZE, -1.0, 1.0, false);
    let out = models.detector.run(&[&input])?;
    let (regressors, logits) = match out.as_slice() {
        [a, b, ..] if a.len() == 896 * 16 => (a, b),
        [a, b, ..] => (b, a),
        _ => return Err(Error::Model { name: "face_detection".into(), message: "expected two outputs".into() }),
    };
    Ok(decode_detections(regressors, logits)
        .into_iter()
        .map(|d| {
            let map = |p: [f32; 2]| roi.to_image(p[0], p[1]);
            let mut keypoints = d.keypoints;
            for kp in keypoints.iter_mut() {
                *kp = map(*kp);
            }
            Detection { score: d.score, center: map(d.center), size: [d.size[0] * roi.size, d.size[1] * roi.size], keypoints }
        })
        .collect())
}

/// Angle that brings the line from `a` (subject's right eye) to `b` (left eye) horizontal.
fn eye_line_angle(a: [f32; 2], b: [f32; 2]) -> f32 {
    (b[1] - a[1]).atan2(b[0] - a[0])
}

/// One pass of the landmark model over `roi`; returns 468 points in image pixels and the face
/// presence probability.
fn landmarks_in(models: &FaceModels, img: &RgbImage, roi: &Roi) -> Result<(Vec<[f32; 3]>, f32)> {
    let input = crop_tensor(img, roi, LANDMARK_SIZE, 0.0, 1.0, false);
    let out = models.landmarks.run(&[&input])?;
    let (points, flag) = match out.as_slice() {
        [a, b, ..] if a.len() == LANDMARK_COUNT * 3 => (a, b),
        [a, b, ..] if b.len() == LANDMARK_COUNT * 3 => (b, a),
        _ => return Err(Error::Model { name: "face_landmark".into(), message: "unexpected outputs".into() }),
    };
    let n = LANDMARK_SIZE as f32;
    let scale = roi.size / n;
    let pts = points
        .chunks_exact(3)
        .map(|p| {
            let [x, y] = roi.to_image(p[0] / n, p[1] / n);
            [x, y, p[2] * scale]
        })
        .collect();
    Ok((pts, sigmoid(flag[0])))
}

/// The landmark model's region from a set of landmarks: their bounding box, rotated to the eye
/// line, enlarged 1.5× (mediapipe's face-landmark ROI recipe).
fn roi_from_landmarks(pts: &[[f32; 3]]) -> Roi {
    let angle = eye_line_angle(
        [pts[idx::RIGHT_EYE_UPPER[0]][0], pts[idx::RIGHT_EYE_UPPER[0]][1]],
        [pts[idx::LEFT_EYE_UPPER[0]][0], pts[idx::LEFT_EYE_UPPER[0]][1]],
    );
    // Bounding box in the rotated frame.
    let (s, c) = angle.sin_cos();
    let (mut x0, mut x1, mut y0, mut y1) = (f32::MAX, f32::MIN, f32::MAX, f32::MIN);
    for p in pts {
        let u = c * p[0] + s * p[1];
        let v = -s * p[0] + c * p[1];
        x0 = x0.min(u);
        x1 = x1.max(u);
        y0 = y0.min(v);
        y1 = y1.max(v);
    }
    let (cu, cv) = ((x0 + x1) / 2.0, (y0 + y1) / 2.0);
    Roi { center: [c * cu - s * cv, s * cu + c * cv], size: (x1 - x0).max(y1 - y0) * 1.5, angle }
}

/// Runs the iris model on one eye; returns the iris centre and radius in image pixels.
fn iris_in(models: &FaceModels, img: &RgbImage, outer: [f32; 2], inner: [f32; 2], flip: bool) -> Result<Iris> {
    let center = [(outer[0] + inner[0]) / 2.0, (outer[1] + inner[1]) / 2.0];
    let width = ((outer[0] - inner[0]).powi(2) + (outer[1] - inner[1]).powi(2)).sqrt();
    // Keep the crop upright relative to the eye line whichever way round the corners are.
    let (a, b) = if outer[0] < inner[0] { (outer, inner) } else { (inner, outer) };
    let roi = Roi { center, size: width * 2.3, angle: eye_line_angle(a, b) };
    let input = crop_tensor(img, &roi, IRIS_SIZE, 0.0, 1.0, flip);
    let out = models.iris.run(&[&input])?;
    let iris = out
        .iter()
        .find(|o| o.len() == 15)
        .ok_or_else(|| Error::Model { name: "iris_landmark".into(), message: "no 5-point iris output".into() })?;
    let n = IRIS_SIZE as f32;
    let to_img = |x: f32, y: f32| {
        let u = if flip { 1.0 - x / n } else { x / n };
        roi.to_image(u, y / n)
    };
    let c = to_img(iris[0], iris[1]);
    let mut r = 0.0;
    for k in 1..5 {
        let p = to_img(iris[3 * k], iris[3 * k + 1]);
        r += ((p[0] - c[0]).powi(2) + (p[1] - c[1]).powi(2)).sqrt() / 4.0;
    }
    Ok(Iris { center: c, radius: r })
}

/// Full analysis of a portrait: the most confident face, refined landmarks, irises.
pub fn analyze(models: &FaceModels, img: &RgbImage, path: &Path) -> Result<FaceAnalysis> {
    let detections = detect(models, img)?;
    let det = detections.first().ok_or_else(|| Error::NoFace {
        path: path.to_path_buf(),
        message: "the face detector found nothing above its confidence threshold".into(),
    })?;
    let angle = eye_line_angle(det.keypoints[0], det.keypoints[1]);
    let mut roi = Roi { center: det.center, size: det.size[0].max(det.size[1]) * 1.5, angle };
    let mut result = landmarks_in(models, img, &roi)?;
    // Second pass on the region the first pass found: the crop then matches what the landmark
    // model was trained on (mediapipe's tracking loop does the same from frame to frame).
    for _ in 0..2 {
        roi = roi_from_landmarks(&result.0);
        result = landmarks_in(models, img, &roi)?;
    }
    let (landmarks, presence) = result;
    if presence < MIN_FACE_PRESENCE {
        return Err(Error::NoFace {
            path: path.to_path_buf(),
            message: format!("the landmark model's face presence is only {presence:.2}"),
        });
    }
    let p2 = |i: usize| [landmarks[i][0], landmarks[i][1]];
    // The iris model was trained on the eye with mesh corners 33/133 (the subject's right eye,
    // image left) as it is; the other eye is mirrored in and out (mediapipe's iris graph).
    let right = iris_in(models, img, p2(33), p2(133), false)?;
    let left = iris_in(models, img, p2(263), p2(362), true)?;
    Ok(FaceAnalysis {
        image_width: img.width(),
        image_height: img.height(),
        landmarks,
        irises: [right, left],
        score: det.score,
        source: "models".into(),
    })
}
