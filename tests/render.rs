//! `speakface render` end to end through the real parts: the bundled photo and real recorded
//! speech → the face models through tract → rig → renderer → a real GStreamer MP4, then the
//! MP4 decoded back (GStreamer) and checked the way a viewer would look at it.

mod common;
use common::*;

use speakface::config::Config;
use speakface::face::idx;
use speakface::output::decode_video;
use speakface::face::rig::Rig;

/// A still head (`--intensity 0`) so that only the mouth and the eyes move.
fn render_still(dir: &std::path::Path, extra: &[&str]) -> (std::path::PathBuf, speakface::output::DecodedVideo) {
    let out = dir.join("clip.mp4");
    let portrait = asset("portraits/default.jpg");
    let speech = asset("speech/short.wav");
    let mut args = vec![
        "render",
        "--portrait",
        portrait.to_str().unwrap(),
        "--audio",
        speech.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--intensity",
        "0",
        "--quiet",
    ];
    args.extend_from_slice(extra);
    let o = speakface(&args, &dir.join("cache"));
    assert!(o.status.success(), "render failed: {}", stderr(&o));
    let video = decode_video(&out, None).expect("decode the MP4");
    (out, video)
}

fn rig_for_default_portrait(dir: &std::path::Path) -> Rig {
    std::env::set_var("SPEAKFACE_CACHE", dir.join("cache"));
    let (img, analysis) = speakface::face::analyze_portrait(&Config::default(), &asset("portraits/default.jpg")).unwrap();
    Rig::build(&img, &analysis, 512, 512, 1.0)
}

#[test]
fn render_makes_a_512_square_25fps_mp4_with_the_speech_in_it() {
    let dir = tmpdir("basic");
    let (_, v) = render_still(&dir, &[]);
    let speech = speakface::audio::read_wav(&asset("speech/short.wav")).unwrap();
    let expected = (speech.duration_s() * 25.0).ceil() as i64;
    assert_eq!((v.width, v.height), (512, 512));
    assert!((v.frames.len() as i64 - expected).abs() <= 1, "{} frames, expected {expected}", v.frames.len());
    assert!((v.duration_s - speech.duration_s()).abs() <= 0.04 + 1e-6, "duration {} vs speech {}", v.duration_s, speech.duration_s());
    assert!((v.fps - 25.0).abs() < 0.01, "fps {}", v.fps);
    assert!(v.has_audio, "no audio stream");
    assert!((v.audio_duration_s - speech.duration_s()).abs() < 0.15, "audio {} s", v.audio_duration_s);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn the_mouth_moves_with_speech_stays_still_in_silence_and_the_eyes_blink() {
    let dir = tmpdir("mouth");
    let (_, v) = render_still(&dir, &[]);
    let rig = rig_for_default_portrait(&dir);
    let p = |i: usize| [rig.rest[i][0], rig.rest[i][1]];
    let mouth = bbox(idx::UPPER_LIP_OUTER.iter().chain(idx::LOWER_LIP_OUTER.iter()).map(|&i| p(i)), 12.0, 512, 512);
    let eyes = bbox(idx::RIGHT_EYE_UPPER.iter().chain(idx::LEFT_EYE_LOWER.iter()).map(|&i| p(i)), 6.0, 512, 512);

    // Which frames are speech and which silence, from the audio itself.
    let speech = speakface::audio::read_wav(&asset("speech/short.wav")).unwrap();
    let feats = speakface::audio::frame_features(&speech.mono16k, 25.0);
    let peak = feats.iter().map(|f| f.rms_db).fold(f32::MIN, f32::max);
    let first = &v.frames[0];
    let mut speech_diffs = vec![];
    let mut silence_diffs = vec![];
    for (n, f) in v.frames.iter().enumerate() {
        let Some(feat) = feats.get(n) else { break };
        // Look 3 frames either side so that onsets and releases do not count as either.
        let lo = n.saturating_sub(3);
        let hi = (n + 3).min(feats.len() - 1);
        let all_silent = feats[lo..=hi].iter().all(|f| f.rms_db < peak - 40.0);
        let d = region_diff(first, f, 512, mouth);
        if feat.rms_db > peak - 12.0 {
            speech_diffs.push(d);
        } else if all_silent && n > 0 {
            silence_diffs.push(d);
        }
    }
    assert!(speech_diffs.len() >= 10 && silence_diffs.len() >= 10, "speech {} / silence {} frames", speech_diffs.len(), silence_diffs.len());
    let speech_max = speech_diffs.iter().cloned().fold(0.0, f64::max);
    let speech_mean = speech_diffs.iter().sum::<f64>() / speech_diffs.len() as f64;
    let silence_max = silence_diffs.iter().cloned().fold(0.0, f64::max);
    assert!(speech_max > 8.0 && speech_mean > 3.0, "mouth barely moves in speech: max {speech_max:.2}, mean {speech_mean:.2}");
    // In silence the mouth is back at rest: only the codec's noise separates it from frame 0
    // (about 1.3 at the default bitrate), against 20+ for an open mouth.
    assert!(silence_max < 2.5, "mouth moves in silence: max diff {silence_max:.2}");
    assert!(speech_mean > 4.0 * silence_max, "speech {speech_mean:.2} vs silence {silence_max:.2}");

    let eye_diffs: Vec<f64> = v.frames.iter().map(|f| region_diff(first, f, 512, eyes)).collect();
    let blinks = eye_diffs.iter().filter(|&&d| d > 6.0).count();
    assert!(blinks >= 1, "no blink: eye-region diffs {eye_diffs:.1?}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn the_first_frame_is_the_portrait_itself() {
    let dir = tmpdir("identity");
    let (_, v) = render_still(&dir, &[]);
    let rig = rig_for_default_portrait(&dir);
    // With the default label drawn on it (frame 0 carries no watermark: its fade starts at 0).
    let mut expected = rig.image.as_raw().clone();
    speakface::provenance::draw_label(&mut expected, rig.width, rig.height, "AI-GENERATED", speakface::config::LabelPosition::BottomRight, 2);
    let psnr = psnr(&v.frames[0], &expected);
    assert!(psnr > 30.0, "first frame differs from the labelled, cropped portrait: PSNR {psnr:.1} dB");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_motion_track_drives_exact_shapes() {
    let dir = tmpdir("track");
    let track = dir.join("track.csv");
    // Every mouth channel is given (zero but the jaw), so the speech under the clip moves nothing
    // the track does not say: the trained mouth leads the sound and has begun to round and drop
    // the lips at frame 5, where the demo's speech is about to start.
    let mouth = "mouthClose,mouthFunnel,mouthPucker,mouthStretchLeft,mouthStretchRight,mouthPressLeft,mouthPressRight,\
                 mouthUpperUpLeft,mouthUpperUpRight,mouthLowerDownLeft,mouthLowerDownRight,mouthSmileLeft,mouthSmileRight";
    let mut csv = format!("frame,jawOpen,eyeBlinkLeft,eyeBlinkRight,{mouth}\n");
    for n in 0..30 {
        let jaw = if (10..20).contains(&n) { 1.0 } else { 0.0 };
        csv.push_str(&format!("{n},{jaw},0,0{}\n", ",0".repeat(13)));
    }
    std::fs::write(&track, csv).unwrap();
    let (_, v) = render_still(&dir, &["--motion-track", track.to_str().unwrap()]);
    let rig = rig_for_default_portrait(&dir);
    let p = |i: usize| [rig.rest[i][0], rig.rest[i][1]];
    let mouth = bbox(idx::UPPER_LIP_OUTER.iter().chain(idx::LOWER_LIP_OUTER.iter()).map(|&i| p(i)), 12.0, 512, 512);
    let open = region_diff(&v.frames[0], &v.frames[15], 512, mouth);
    let closed = region_diff(&v.frames[0], &v.frames[5], 512, mouth);
    assert!(open > 12.0, "jawOpen = 1 barely changes the mouth: {open:.2}");
    assert!(closed < 2.5, "jawOpen = 0 changed the mouth: {closed:.2}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn analyze_writes_landmarks_that_render_can_use_instead_of_the_models() {
    let dir = tmpdir("landmarks");
    let lm = dir.join("lm.json");
    let portrait = asset("portraits/default.jpg");
    let o = speakface(&["analyze", "--portrait", portrait.to_str().unwrap(), "--out", lm.to_str().unwrap()], &dir.join("cache"));
    assert!(o.status.success(), "{}", stderr(&o));
    let a: speakface::face::FaceAnalysis = serde_json::from_str(&std::fs::read_to_string(&lm).unwrap()).unwrap();
    assert_eq!(a.landmarks.len(), 468);
    assert!(a.irises.iter().all(|i| i.radius > 1.0));
    // The landmarks lie on the face: eyes above the nose above the mouth above the chin.
    let y = |i: usize| a.landmarks[i][1];
    assert!(y(159) < y(1) && y(1) < y(13) && y(13) < y(152), "landmarks out of order");
    let (_, v) = render_still(&dir, &["--landmarks", lm.to_str().unwrap()]);
    assert!(v.frames.len() > 10);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn stereo_44k_speech_is_resampled_for_analysis_and_muxed_as_it_is() {
    let dir = tmpdir("stereo");
    let out = dir.join("stereo.mp4");
    let speech = asset("speech/stereo44k.wav");
    let o = speakface(
        &["render", "--audio", speech.to_str().unwrap(), "--out", out.to_str().unwrap(), "--quiet"],
        &dir.join("cache"),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let v = decode_video(&out, None).unwrap();
    let s = speakface::audio::read_wav(&speech).unwrap();
    assert_eq!((s.original_rate, s.original_channels), (44100, 2));
    assert!((s.duration_s() - 1.1).abs() < 0.01, "{}", s.duration_s());
    assert!(v.has_audio && v.audio_channels == 2, "audio channels {}", v.audio_channels);
    assert!((v.frames.len() as i64 - 28).abs() <= 1, "{} frames", v.frames.len());
    std::fs::remove_dir_all(&dir).ok();
}
