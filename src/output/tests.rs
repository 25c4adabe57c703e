//! Round-trip tests on real GStreamer: write an MP4, decode it back.

use std::fs;
use std::path::{Path, PathBuf};

use super::*;
use gstreamer as gst;
use crate::Error;

const W: u32 = 128;
const H: u32 = 128;
const SQ: u32 = 16;

fn init() {
    gst::init().expect("GStreamer initialises");
}

/// A fresh, empty scratch directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("speakface-output-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn square_origin(n: u32) -> (u32, u32) {
    (8 + 2 * n, 16 + n)
}

/// Dark grey frame with a bright 16×16 square moving right and down.
fn frame(n: u32) -> Vec<u8> {
    let mut rgb = vec![40u8; (W * H * 3) as usize];
    let (x0, y0) = square_origin(n);
    for y in y0..(y0 + SQ).min(H) {
        for x in x0..(x0 + SQ).min(W) {
            let i = ((y * W + x) * 3) as usize;
            rgb[i..i + 3].copy_from_slice(&[250, 250, 250]);
        }
    }
    rgb
}

fn bright_centroid(rgb: &[u8], width: u32) -> (f64, f64) {
    let (mut sx, mut sy, mut n) = (0.0, 0.0, 0.0);
    for (i, px) in rgb.chunks_exact(3).enumerate() {
        let lum = (px[0] as u32 + px[1] as u32 + px[2] as u32) / 3;
        if lum > 145 {
            sx += (i as u32 % width) as f64;
            sy += (i as u32 / width) as f64;
            n += 1.0;
        }
    }
    assert!(n > 0.0, "no bright pixels found");
    (sx / n, sy / n)
}

fn sine(seconds: f64, rate: u32) -> Vec<f32> {
    let n = (seconds * rate as f64).round() as usize;
    (0..n).map(|i| 0.5 * (2.0 * std::f32::consts::PI * 440.0 * i as f32 / rate as f32).sin()).collect()
}

fn settings() -> Mp4Settings {
    Mp4Settings { width: W, height: H, fps: 25, video_bitrate_kbps: 2000, audio_bitrate_bps: 128_000 }
}

fn no_partials(dir: &Path) {
    let left: Vec<_> = fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(
        !left.iter().any(|n| n.to_string_lossy().ends_with(".partial")),
        "partial file left behind: {left:?}"
    );
}

#[test]
fn mp4_round_trip() {
    init();
    let dir = scratch("roundtrip");
    let out = dir.join("clip.mp4");
    let mut writer = Mp4Writer::create(&out, &settings(), 22050, 1).unwrap();
    writer.write_audio(&sine(2.0, 22050)).unwrap();
    for n in 0..50 {
        writer.write_frame(&frame(n)).unwrap();
    }
    assert!(!out.exists(), "destination must not exist before finish");
    writer.finish().unwrap();
    assert!(out.is_file());
    no_partials(&dir);

    let v = decode_video(&out, None).unwrap();
    assert_eq!((v.width, v.height), (W, H));
    assert_eq!(v.frames.len(), 50);
    assert!(v.frames.iter().all(|f| f.len() == (W * H * 3) as usize));
    assert!((v.fps - 25.0).abs() < 1e-6, "fps {}", v.fps);
    assert!((v.duration_s - 2.0).abs() <= 0.04, "duration {}", v.duration_s);
    assert!(v.has_audio);
    assert!((v.audio_duration_s - 2.0).abs() <= 0.1, "audio duration {}", v.audio_duration_s);
    assert_eq!(v.audio_rate, 48_000);
    assert_eq!(v.audio_channels, 1);

    for n in [10u32, 40] {
        let (cx, cy) = bright_centroid(&v.frames[n as usize], W);
        let (x0, y0) = square_origin(n);
        let (ex, ey) = (x0 as f64 + (SQ as f64 - 1.0) / 2.0, y0 as f64 + (SQ as f64 - 1.0) / 2.0);
        assert!((cx - ex).abs() <= 2.0 && (cy - ey).abs() <= 2.0, "frame {n}: centroid ({cx},{cy}) vs ({ex},{ey})");
    }
    let (a, b) = (bright_centroid(&v.frames[10], W), bright_centroid(&v.frames[40], W));
    assert!(((b.0 - a.0) - 60.0).abs() <= 2.0 && ((b.1 - a.1) - 30.0).abs() <= 2.0, "motion {a:?} -> {b:?}");

    // max_frames stops early but still reports the clip's duration and audio.
    let head = decode_video(&out, Some(5)).unwrap();
    assert_eq!(head.frames.len(), 5);
    assert!((head.duration_s - 2.0).abs() <= 0.05, "duration {}", head.duration_s);
    assert!(head.has_audio);

    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn odd_row_stride_round_trips() {
    // 130*3 = 390 bytes per row: GStreamer pads RGB rows to 392, the writer and reader must repack.
    init();
    let dir = scratch("stride");
    let out = dir.join("odd.mp4");
    let s = Mp4Settings { width: 130, height: 66, fps: 10, ..settings() };
    let mut writer = Mp4Writer::create(&out, &s, 16000, 2).unwrap();
    writer.write_audio(&vec![0.0; 16000 * 2]).unwrap();
    // Saturated background: a matrix mismatch between writer and reader would shift it.
    let mut rgb: Vec<u8> = [200u8, 90, 40].iter().copied().cycle().take(130 * 66 * 3).collect();
    for y in 20..40 {
        for x in 100..120 {
            let i = (y * 130 + x) * 3;
            rgb[i..i + 3].copy_from_slice(&[255, 255, 255]);
        }
    }
    for _ in 0..10 {
        writer.write_frame(&rgb).unwrap();
    }
    writer.finish().unwrap();
    let v = decode_video(&out, None).unwrap();
    assert_eq!((v.width, v.height, v.frames.len()), (130, 66, 10));
    assert_eq!(v.audio_channels, 2);
    let (cx, cy) = bright_centroid(&v.frames[5], 130);
    assert!((cx - 109.5).abs() <= 2.0 && (cy - 29.5).abs() <= 2.0, "centroid ({cx},{cy})");
    let px = &v.frames[5][(5 * 130 + 5) * 3..][..3];
    for (got, want) in px.iter().zip([200u8, 90, 40]) {
        assert!((*got as i32 - want as i32).abs() <= 8, "background {px:?}");
    }
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn unwritable_destination_fails_up_front() {
    init();
    // Parent directory does not exist.
    let missing = Path::new("/proc/nope/x.mp4");
    let err = Mp4Writer::create(missing, &settings(), 22050, 1).unwrap_err();
    assert!(matches!(err, Error::Output { .. }));
    assert!(err.to_string().contains("/proc/nope/x.mp4"), "{err}");

    // Parent is a regular file (tests run as root, so permissions would not stop us).
    let dir = scratch("unwritable");
    let file = dir.join("plain-file");
    fs::write(&file, b"x").unwrap();
    let target = file.join("x.mp4");
    let err = Mp4Writer::create(&target, &settings(), 22050, 1).unwrap_err();
    assert!(err.to_string().contains(&*target.to_string_lossy()), "{err}");
    assert!(!err.to_string().contains('\n'), "one line: {err}");
    no_partials(&dir);
    assert!(!file.join(".x.mp4.partial").exists());
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn failed_or_abandoned_render_keeps_existing_file() {
    init();
    let dir = scratch("abandon");
    let out = dir.join("keep.mp4");
    fs::write(&out, b"previous good file").unwrap();

    // Dropped mid-way.
    let mut writer = Mp4Writer::create(&out, &settings(), 22050, 1).unwrap();
    writer.write_audio(&sine(0.5, 22050)).unwrap();
    for n in 0..5 {
        writer.write_frame(&frame(n)).unwrap();
    }
    drop(writer);
    assert_eq!(fs::read(&out).unwrap(), b"previous good file");
    no_partials(&dir);

    // Misuse errors, then a finish that fails.
    let mut writer = Mp4Writer::create(&out, &settings(), 22050, 1).unwrap();
    assert!(writer.write_frame(&[0u8; 10]).is_err());
    writer.write_frame(&frame(0)).unwrap();
    let err = writer.write_audio(&sine(0.1, 22050)).unwrap_err();
    assert!(err.to_string().contains("before the first video frame"), "{err}");
    drop(writer);

    let writer = Mp4Writer::create(&out, &settings(), 22050, 1).unwrap();
    assert!(writer.finish().is_err(), "no frames must be an error");
    assert_eq!(fs::read(&out).unwrap(), b"previous good file");
    no_partials(&dir);
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn video_without_audio() {
    init();
    let dir = scratch("noaudio");
    let out = dir.join("silent.mp4");
    let mut writer = Mp4Writer::create(&out, &settings(), 22050, 1).unwrap();
    for n in 0..10 {
        writer.write_frame(&frame(n)).unwrap();
    }
    writer.finish().unwrap();
    let v = decode_video(&out, None).unwrap();
    assert_eq!(v.frames.len(), 10);
    assert!(!v.has_audio);
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn decode_missing_file_is_one_line_error() {
    init();
    let err = decode_video(Path::new("/definitely/not/here.mp4"), None).unwrap_err();
    assert!(err.to_string().contains("/definitely/not/here.mp4"));
    let dir = scratch("garbage");
    let junk = dir.join("junk.mp4");
    fs::write(&junk, vec![7u8; 4096]).unwrap();
    let err = decode_video(&junk, None).unwrap_err();
    assert!(err.to_string().contains("junk.mp4") && !err.to_string().contains('\n'), "{err}");
    let _ = fs::remove_dir_all(&dir);
}
