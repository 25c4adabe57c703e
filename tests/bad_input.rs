//! Bad input gets one clear line naming the problem and a non-zero exit, never a panic, and
//! never a half-written file under the user's name.

mod common;
use common::*;

fn render_args<'a>(portrait: &'a str, audio: &'a str, out: &'a str) -> Vec<&'a str> {
    vec!["render", "--portrait", portrait, "--audio", audio, "--out", out, "--quiet"]
}

#[test]
fn a_missing_portrait_is_named() {
    let dir = tmpdir("missing-img");
    let out = dir.join("o.mp4");
    let speech = asset("speech/short.wav");
    let o = speakface(&render_args("/nonexistent/face.jpg", speech.to_str().unwrap(), out.to_str().unwrap()), &dir);
    assert_one_line_error(&o, "/nonexistent/face.jpg");
    assert!(!out.exists());
}

#[test]
fn a_corrupt_image_is_named() {
    let dir = tmpdir("corrupt-img");
    let img = dir.join("broken.jpg");
    std::fs::write(&img, b"\xff\xd8\xff\xe0 this is not really a jpeg").unwrap();
    let out = dir.join("o.mp4");
    let speech = asset("speech/short.wav");
    let o = speakface(&render_args(img.to_str().unwrap(), speech.to_str().unwrap(), out.to_str().unwrap()), &dir);
    assert_one_line_error(&o, "broken.jpg");
    assert!(!out.exists());
}

#[test]
fn an_image_without_a_face_is_refused() {
    let dir = tmpdir("no-face");
    let out = dir.join("o.mp4");
    let img = asset("portraits/no_face.jpg");
    let speech = asset("speech/short.wav");
    let o = speakface(&render_args(img.to_str().unwrap(), speech.to_str().unwrap(), out.to_str().unwrap()), &dir);
    assert_one_line_error(&o, "no face found");
    assert!(!out.exists());
}

#[test]
fn empty_and_corrupt_wavs_are_named() {
    let dir = tmpdir("bad-wav");
    let portrait = asset("portraits/default.jpg");
    let out = dir.join("o.mp4");
    let empty = dir.join("empty.wav");
    let spec = hound::WavSpec { channels: 1, sample_rate: 16000, bits_per_sample: 16, sample_format: hound::SampleFormat::Int };
    hound::WavWriter::create(&empty, spec).unwrap().finalize().unwrap();
    let o = speakface(&render_args(portrait.to_str().unwrap(), empty.to_str().unwrap(), out.to_str().unwrap()), &dir);
    assert_one_line_error(&o, "empty.wav");
    let junk = dir.join("junk.wav");
    std::fs::write(&junk, b"RIFF\x10\x00\x00\x00WAVEjunkjunkjunk").unwrap();
    let o = speakface(&render_args(portrait.to_str().unwrap(), junk.to_str().unwrap(), out.to_str().unwrap()), &dir);
    assert_one_line_error(&o, "junk.wav");
    assert!(!out.exists());
}

#[test]
fn an_unwritable_output_path_is_named_before_any_work() {
    let dir = tmpdir("unwritable");
    let portrait = asset("portraits/default.jpg");
    let speech = asset("speech/short.wav");
    let o = speakface(&render_args(portrait.to_str().unwrap(), speech.to_str().unwrap(), "/nonexistent-dir/out.mp4"), &dir);
    assert_one_line_error(&o, "/nonexistent-dir/out.mp4");
}

#[test]
fn an_existing_good_file_survives_a_failed_render() {
    let dir = tmpdir("keep-old");
    let out = dir.join("o.mp4");
    std::fs::write(&out, b"previous good video").unwrap();
    let img = asset("portraits/no_face.jpg");
    let speech = asset("speech/short.wav");
    let o = speakface(&render_args(img.to_str().unwrap(), speech.to_str().unwrap(), out.to_str().unwrap()), &dir);
    assert!(!o.status.success());
    assert_eq!(std::fs::read(&out).unwrap(), b"previous good video");
}

#[test]
fn a_tampered_or_truncated_model_is_refused() {
    let dir = tmpdir("tampered");
    let models = dir.join("models");
    std::fs::create_dir_all(&models).unwrap();
    for entry in std::fs::read_dir(root().join("models")).unwrap() {
        let p = entry.unwrap().path();
        if p.is_file() {
            std::fs::copy(&p, models.join(p.file_name().unwrap())).unwrap();
        }
    }
    let landmark = models.join("face_landmark.onnx");
    let mut bytes = std::fs::read(&landmark).unwrap();
    bytes.truncate(bytes.len() / 2);
    std::fs::write(&landmark, bytes).unwrap();
    let portrait = asset("portraits/default.jpg");
    let speech = asset("speech/short.wav");
    let out = dir.join("o.mp4");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_speakface"))
        .args(render_args(portrait.to_str().unwrap(), speech.to_str().unwrap(), out.to_str().unwrap()))
        .env("SPEAKFACE_MODELS", &models)
        .env("SPEAKFACE_CACHE", dir.join("cache"))
        .output()
        .unwrap();
    assert_one_line_error(&o, "sha256");
    assert!(stderr(&o).contains("face_landmark"), "{}", stderr(&o));
    assert!(!out.exists());
}

#[test]
fn a_broken_config_names_line_and_key() {
    let dir = tmpdir("bad-config");
    let cfg = dir.join("speakface.toml");
    std::fs::write(&cfg, "[video]\nwidth = 512\nfsp = 25\n").unwrap();
    let o = speakface(&["check-config", cfg.to_str().unwrap()], &dir);
    assert_one_line_error(&o, "line 3");
    assert!(stderr(&o).contains("fsp"));
    std::fs::write(&cfg, "[motion]\nhead_distance = 9.0\n").unwrap();
    let o = speakface(&["check-config", cfg.to_str().unwrap()], &dir);
    assert_one_line_error(&o, "motion.head_distance");
}

#[test]
fn a_hair_mask_of_the_wrong_size_or_not_an_image_is_named() {
    let dir = tmpdir("bad-hair-mask");
    let out = dir.join("o.mp4");
    let speech = asset("speech/short.wav");
    // The bundled default portrait is 512x512; the sepia photograph's mask is 410x512.
    let portrait = asset("portraits/default.jpg");
    let mask = asset("portraits/gallery/moustache_sepia.hair.png");
    let mut args = render_args(portrait.to_str().unwrap(), speech.to_str().unwrap(), out.to_str().unwrap());
    args.extend(["--hair-mask", mask.to_str().unwrap()]);
    let o = speakface(&args, &dir);
    assert_one_line_error(&o, "hair mask: is 410x512, the portrait is 512x512");
    assert!(!out.exists());
    let junk = dir.join("junk.png");
    std::fs::write(&junk, b"not a png").unwrap();
    let mut args = render_args(portrait.to_str().unwrap(), speech.to_str().unwrap(), out.to_str().unwrap());
    args.extend(["--hair-mask", junk.to_str().unwrap()]);
    let o = speakface(&args, &dir);
    assert_one_line_error(&o, "junk.png");
    assert!(!out.exists());
}
