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

/// A config with only the outputs a live test turns on (no display, no RTSP server).
fn live_config(w: u32, h: u32) -> crate::config::Config {
    let mut cfg = crate::config::Config::default();
    cfg.video.width = w;
    cfg.video.height = h;
    cfg.output.rtsp.enabled = false;
    cfg.output.encoder = crate::config::Encoder::X264;
    cfg
}

/// A recording folder named with a space and double quotes gets its segments, under exactly
/// that name: the path is a property value, not part of a launch line.
#[test]
fn live_record_dir_with_space_and_quotes_gets_playable_segments() {
    init();
    let dir = scratch("live-record-quotes");
    let rec = dir.join("rec \"a\" b");
    let mut cfg = live_config(W, H);
    cfg.output.record.enabled = true;
    cfg.output.record.dir = rec.clone();
    cfg.output.record.segment_s = 1;
    cfg.output.record.min_free_mb = 1;
    let out = live::LiveOutput::start(&cfg, None, "0".repeat(64).as_str()).unwrap();
    assert_eq!(out.encoder, Some(crate::config::Encoder::X264));
    // Timestamps come from the clock at push: push at the frame rate.
    for n in 0..75 {
        out.push(&frame(n % 40), &[0i16; 640]).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(40));
        assert_eq!(out.poll_error(), None);
    }
    drop(out);
    let made: Vec<String> = fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(made, vec!["rec \"a\" b".to_string()], "folders made beside the recording folder");
    let mut segs: Vec<PathBuf> = fs::read_dir(&rec).unwrap().map(|e| e.unwrap().path()).collect();
    segs.sort();
    assert!(segs.len() >= 2, "1 s segments over 3 s: {segs:?}");
    assert_eq!(segs[0].file_name().unwrap(), "speakface-00000.mp4");
    let mut frames = 0;
    for seg in &segs {
        let v = decode_video(seg, Some(25)).unwrap_or_else(|e| panic!("{}: {e}", seg.display()));
        assert_eq!((v.width, v.height), (W, H));
        assert!(v.has_audio, "{} has no audio", seg.display());
        frames += v.frames.len();
    }
    assert!(frames >= 50, "{frames} frames in {segs:?}");
    let _ = fs::remove_dir_all(&dir);
}

/// `output.v4l2.device` with a space, quotes or a launch-line `!` is one path: a missing one, a
/// file that is no device, or a device that is not V4L2 is a one-line error naming the key, and
/// no element is added.
#[test]
fn live_v4l2_device_is_a_path_never_part_of_the_pipeline() {
    init();
    let dir = scratch("live-v4l2-quotes");
    let not_device = dir.join("video \"9\" ! fakesink");
    fs::write(&not_device, b"").unwrap();
    let not_v4l2 = dir.join("null \"x\" ! fakesink name=x");
    std::os::unix::fs::symlink("/dev/null", &not_v4l2).unwrap();
    for (device, needle) in [
        (PathBuf::from("/dev/video9 ! fakesink"), "does not exist"),
        (dir.join("missing \"video\" 9"), "does not exist"),
        (not_device, "not a V4L2 output device"),
        (not_v4l2, "GStreamer"),
    ] {
        let mut cfg = live_config(W, H);
        cfg.output.v4l2.enabled = true;
        cfg.output.v4l2.device = device.clone();
        let err = match live::LiveOutput::start(&cfg, None, "") {
            Ok(_) => panic!("{} accepted as a V4L2 device", device.display()),
            Err(e) => e.to_string(),
        };
        eprintln!("{} -> {err}", device.display());
        assert!(!err.contains('\n'), "not one line: {err}");
        assert!(err.contains("output.v4l2.device") && err.contains(needle), "{}: {err}", device.display());
        assert!(err.contains(&*device.to_string_lossy()), "the path is not named as given: {err}");
    }
    let _ = fs::remove_dir_all(&dir);
}
