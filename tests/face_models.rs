//! The face models through tract: the converted ONNX files give the numbers onnxruntime gave
//! (models/testdata/face_landmark_reference.json, written by models/convert/verify.py), and the whole
//! analysis (detector → landmarks → irises) lands where mediapipe's own Python pipeline puts the
//! landmarks on the bundled portrait (tests/data/default_mediapipe.json, written by
//! models/convert/reference_landmarks.py).

mod common;
use common::*;

use speakface::face::{self, FaceModels};
use speakface::infer::Model;

#[test]
fn tract_matches_onnxruntime_on_every_face_model() {
    let dir = root().join("models");
    let refs: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("testdata/face_landmark_reference.json")).unwrap()).unwrap();
    for (name, order) in [
        ("face_detection", ["regressors", "classificators"]),
        ("face_landmark", ["landmarks", "face_flag"]),
        ("iris_landmark", ["eye_contours", "iris"]),
    ] {
        let r = &refs[name];
        let shape: Vec<usize> = serde_json::from_value(r["input_shape"].clone()).unwrap();
        let (lo, hi) = (r["input_range"][0].as_f64().unwrap() as f32, r["input_range"][1].as_f64().unwrap() as f32);
        let (h, w, c) = (shape[1], shape[2], shape[3]);
        let mut input = Vec::with_capacity(h * w * c);
        for y in 0..h {
            for x in 0..w {
                for ch in 0..c {
                    let v = ((7 * x + 13 * y + 29 * ch) % 256) as f32 / 255.0;
                    input.push(lo + (hi - lo) * v);
                }
            }
        }
        let model = Model::load(&dir, name).unwrap();
        let outs = model.run(&[&input]).unwrap();
        let expected = r["outputs"].as_object().unwrap();
        assert_eq!(outs.len(), expected.len(), "{name}: output count");
        for (out, oname) in outs.iter().zip(order) {
            let e = &expected[oname];
            let n: usize = serde_json::from_value::<Vec<usize>>(e["shape"].clone()).unwrap().iter().product();
            assert_eq!(out.len(), n, "{name}/{oname}: size");
            let scale = e["abs_max"].as_f64().unwrap().max(1e-6) as f32;
            for (k, (a, b)) in out.iter().zip(e["first"].as_array().unwrap()).enumerate() {
                let b = b.as_f64().unwrap() as f32;
                assert!((a - b).abs() <= 1e-4 * scale, "{name}/{oname}[{k}]: tract {a} vs onnxruntime {b}");
            }
            let sum: f64 = out.iter().map(|&v| v as f64).sum();
            let esum = e["sum"].as_f64().unwrap();
            assert!((sum - esum).abs() <= 1e-4 * scale as f64 * n as f64, "{name}/{oname}: sum {sum} vs {esum}");
        }
    }
}

#[test]
fn analysis_matches_mediapipe_on_the_bundled_portrait() {
    let (img, _) = face::load_portrait(&asset("portraits/default.jpg")).unwrap();
    let models = FaceModels::load(&root().join("models")).unwrap();
    let ours = face::analyze(&models, &img, &asset("portraits/default.jpg")).unwrap();
    let reference = face::load_landmarks(&root().join("tests/data/default_mediapipe.json"), &img).unwrap();
    let dist = |a: [f32; 2], b: [f32; 2]| ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt();
    let errs: Vec<f32> = ours.landmarks.iter().zip(&reference.landmarks).map(|(a, b)| dist([a[0], a[1]], [b[0], b[1]])).collect();
    let mean = errs.iter().sum::<f32>() / errs.len() as f32;
    let max = errs.iter().cloned().fold(0.0, f32::max);
    // Inter-ocular distance for scale (about 45 px on this portrait).
    let iod = dist(reference.irises[0].center, reference.irises[1].center);
    assert!(mean < 0.05 * iod, "mean landmark error {mean:.2} px (iod {iod:.1} px)");
    assert!(max < 0.15 * iod, "worst landmark error {max:.2} px (iod {iod:.1} px)");
    for (a, b) in ours.irises.iter().zip(&reference.irises) {
        assert!(dist(a.center, b.center) < 0.03 * iod, "iris centre {:?} vs mediapipe {:?}", a.center, b.center);
    }
    assert!(ours.score > 0.7, "detector score {}", ours.score);
}

#[test]
fn a_painterly_portrait_is_analysed_like_the_photo_it_was_painted_from() {
    // oil_paint_filter.jpg is default.jpg through an oil-paint filter: brush-stroke patches, no
    // skin texture. The face must still be found, with landmarks close to the photo's.
    let models = FaceModels::load(&root().join("models")).unwrap();
    let (photo, _) = face::load_portrait(&asset("portraits/default.jpg")).unwrap();
    let (paint, _) = face::load_portrait(&asset("portraits/oil_paint_filter.jpg")).unwrap();
    let a = face::analyze(&models, &photo, &asset("portraits/default.jpg")).unwrap();
    let b = face::analyze(&models, &paint, &asset("portraits/oil_paint_filter.jpg")).unwrap();
    let dist = |a: [f32; 2], b: [f32; 2]| ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt();
    let iod = dist(a.irises[0].center, a.irises[1].center);
    let mean = a.landmarks.iter().zip(&b.landmarks).map(|(p, q)| dist([p[0], p[1]], [q[0], q[1]])).sum::<f32>() / 468.0;
    assert!(mean < 0.1 * iod, "painted vs photo landmarks differ by {mean:.1} px on average (iod {iod:.1})");
}

#[test]
fn the_mona_lisa_is_found_and_its_features_are_in_order() {
    let models = FaceModels::load(&root().join("models")).unwrap();
    let path = asset("portraits/painting.jpg");
    let (img, _) = face::load_portrait(&path).unwrap();
    let a = face::analyze(&models, &img, &path).unwrap();
    let y = |i: usize| a.landmarks[i][1];
    assert!(y(10) < y(159) && y(159) < y(1) && y(1) < y(13) && y(13) < y(152), "landmarks out of order");
    assert!(a.irises[0].center[0] < a.irises[1].center[0] && a.irises.iter().all(|i| i.radius > 1.0));
}
