//! Shared helpers for the integration tests: paths to the bundled assets, running the real
//! binary, and measuring regions of decoded frames.
#![allow(dead_code)]

pub mod live;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}
pub fn asset(rel: &str) -> PathBuf {
    root().join("assets").join(rel)
}

pub fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("speakface-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Runs `speakface ARGS` with a private analysis cache.
pub fn speakface(args: &[&str], cache: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_speakface"))
        .args(args)
        .env("SPEAKFACE_CACHE", cache)
        .output()
        .expect("run speakface")
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts a failure the way a user should see it: non-zero exit, exactly one line on stderr
/// that starts with "speakface: error:" and contains `needle`, and no panic.
pub fn assert_one_line_error(o: &Output, needle: &str) {
    let err = stderr(o);
    assert!(!o.status.success(), "expected failure, got success; stderr: {err}");
    assert!(!err.contains("panicked"), "panicked: {err}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one line, got: {err}");
    assert!(lines[0].starts_with("speakface: error:"), "{err}");
    assert!(lines[0].contains(needle), "expected {needle:?} in: {err}");
}

/// Mean absolute difference of two RGB frames inside a rectangle [x0, y0, x1, y1).
pub fn region_diff(a: &[u8], b: &[u8], width: u32, r: [u32; 4]) -> f64 {
    let mut sum = 0.0;
    let mut n = 0.0;
    for y in r[1]..r[3] {
        for x in r[0]..r[2] {
            let i = ((y * width + x) * 3) as usize;
            for c in 0..3 {
                sum += (a[i + c] as f64 - b[i + c] as f64).abs();
            }
            n += 3.0;
        }
    }
    sum / n
}

pub fn psnr(a: &[u8], b: &[u8]) -> f64 {
    let mse: f64 = a.iter().zip(b).map(|(&x, &y)| (x as f64 - y as f64).powi(2)).sum::<f64>() / a.len() as f64;
    10.0 * (255.0f64 * 255.0 / mse.max(1e-9)).log10()
}

/// Bounding box (in frame pixels, padded) of some rig vertices.
pub fn bbox(points: impl Iterator<Item = [f32; 2]>, pad: f32, w: u32, h: u32) -> [u32; 4] {
    let (mut x0, mut y0, mut x1, mut y1) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
    for p in points {
        x0 = x0.min(p[0]);
        y0 = y0.min(p[1]);
        x1 = x1.max(p[0]);
        y1 = y1.max(p[1]);
    }
    [
        (x0 - pad).max(0.0) as u32,
        (y0 - pad).max(0.0) as u32,
        ((x1 + pad) as u32).min(w),
        ((y1 + pad) as u32).min(h),
    ]
}
