//! `cargo bench`: each stage of the pipeline beside a peer doing the same work, in one run, so
//! that BENCHMARKS.md can state ratios rather than bare times (see benches/README.md).
//!
//! | group | stage | peer |
//! | --- | --- | --- |
//! | features_1s | log-mel (80 bands, 25 ms / 10 ms) of 1 s of speech | the same frames' FFT power spectra alone (realfft), the floor under any log-mel |
//! | audio2motion_hop | one 40 ms hop (4 mel frames in, conv state carried) through the int8 model (tract) | the float model (tract); onnxruntime's CPU provider on both files, one thread |
//! | audio2motion_1s | 1 s of speech (25 frames after the stream's silent warm-up) through the int8 model (tract) | the float model (tract) |
//! | face_analysis | detector + 468 landmarks + irises on the bundled portrait | none (one-off per portrait) |
//! | render_512 | one 512×512 frame, mouth open, head turned | OpenCV's `cv::remap` (bilinear, float maps, one thread) of 512×512; the scalar remap that `speakface bench --stages` uses as its reference |
//! | stamp_512 | label + watermark on one 512×512 frame | copying the frame (the floor) |
//! | encode_x264 | 25 frames through x264 (GStreamer, the MP4 writer) | none here: see `speakface bench` for the whole live path |

use std::path::{Path, PathBuf};

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion};

use speakface::config::Config;
use speakface::motion_params::{MotionFrame, Param};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn speech_1s() -> Vec<f32> {
    let s = speakface::audio::read_wav(&root().join("assets/speech/demo.wav")).unwrap();
    s.mono16k[8000..24000].to_vec()
}

fn features(c: &mut Criterion) {
    let x = speech_1s();
    let mut g = c.benchmark_group("features_1s");
    let mut mel = speakface::audio::mel::LogMel::new();
    g.bench_function("speakface log-mel", |b| b.iter(|| black_box(mel.compute(black_box(&x)))));
    let mut planner = realfft::RealFftPlanner::<f32>::new();
    let fft = planner.plan_fft_forward(speakface::audio::mel::N_FFT);
    let mut inp = fft.make_input_vec();
    let mut out = fft.make_output_vec();
    let (win, hop) = (speakface::audio::mel::WIN, speakface::audio::mel::HOP);
    g.bench_function("peer: FFT power spectra (realfft)", |b| {
        b.iter(|| {
            let mut total = 0.0f32;
            let mut i = 0;
            while i + win <= x.len() {
                inp.iter_mut().for_each(|v| *v = 0.0);
                inp[..win].copy_from_slice(&x[i..i + win]);
                fft.process(&mut inp, &mut out).unwrap();
                total += out.iter().map(|c| c.norm_sqr()).sum::<f32>();
                i += hop;
            }
            black_box(total)
        })
    });
    g.finish();
}

fn audio2motion(c: &mut Criterion) {
    let x = speech_1s();
    let dir = speakface::util::dirs::default_models_dir();
    let mut g = c.benchmark_group("audio2motion_1s");
    g.sample_size(20);
    for name in ["audio2motion", "audio2motion_float"] {
        let m = speakface::mouth::model::LipModel::load_named(&dir, name).unwrap();
        let label = if name == "audio2motion" { "tract int8" } else { "peer: tract float" };
        g.bench_with_input(BenchmarkId::new(label, "25 frames"), &x, |b, x| b.iter(|| black_box(m.run(x, 25).unwrap())));
    }
    g.finish();
}

/// One streaming hop: the model's input is 4 mel frames and the carried state of its 4 dilated
/// convolutions; the figure the ≤ 1 ms per 40 ms hop goal is about.
fn audio2motion_hop(c: &mut Criterion) {
    let dir = speakface::util::dirs::default_models_dir();
    let speech = speech_1s();
    let hop = speakface::mouth::model::hops(&speech, 25)[10 * 320..11 * 320].to_vec();
    let shapes = speakface::mouth::model::input_shapes(1);
    let states: Vec<Vec<f32>> = shapes[1..].iter().map(|s| vec![0.1; s.iter().product()]).collect();
    let mut inputs: Vec<&[f32]> = vec![&hop];
    inputs.extend(states.iter().map(Vec::as_slice));
    let mut g = c.benchmark_group("audio2motion_hop");
    for (name, label) in [("audio2motion", "int8"), ("audio2motion_float", "float")] {
        let tract = speakface::infer::Model::load_shaped(&dir, name, Some(&shapes)).unwrap();
        let file = dir.join(speakface::infer::manifest_entry(&dir, name).unwrap().file);
        let mut ort = speakface_peers::OrtModel::load(&file).unwrap();
        // Same file, same input: the two runtimes must agree before their times mean anything.
        let shaped: Vec<(&[usize], &[f32])> = shapes.iter().map(Vec::as_slice).zip(inputs.iter().copied()).collect();
        let (a, b) = (tract.run(&inputs).unwrap(), ort.run(&shaped).unwrap());
        let diff = a[0].iter().zip(&b[0]).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
        assert!(diff < 0.05, "{name}: tract and onnxruntime differ by {diff}");
        let t = if label == "int8" { "tract int8" } else { "peer: tract float" };
        g.bench_function(t, |b| b.iter(|| black_box(tract.run(black_box(&inputs)).unwrap())));
        g.bench_function(format!("peer: onnxruntime {label} (1 thread)"), |b| b.iter(|| black_box(ort.run(black_box(&shaped)).unwrap())));
    }
    g.finish();
}

fn face_analysis(c: &mut Criterion) {
    let mut cfg = Config::default();
    cfg.cache.enabled = false;
    let portrait = speakface::util::dirs::default_portrait();
    let mut g = c.benchmark_group("face_analysis");
    g.sample_size(10);
    g.bench_function("speakface analyse default.jpg", |b| b.iter(|| black_box(speakface::face::analyze_portrait(&cfg, &portrait).unwrap())));
    g.finish();
}

fn rig(cfg: &Config, portrait: &Path) -> speakface::face::rig::Rig {
    let (img, analysis) = speakface::face::analyze_portrait(cfg, portrait).unwrap();
    speakface::face::rig::Rig::build(&img, &analysis, 512, 512, 1.0)
}

fn render(c: &mut Criterion) {
    let cfg = Config::default();
    let rig = rig(&cfg, &speakface::util::dirs::default_portrait());
    let mut r = speakface::render::Renderer::new(&rig);
    let mut m = MotionFrame::default();
    for (p, v) in [("jawOpen", 0.4), ("mouthSmileLeft", 0.3), ("headYaw", 8.0), ("headPitch", -3.0)] {
        if let Some(p) = Param::from_name(p) {
            m.set(p, v);
        }
    }
    let mut g = c.benchmark_group("render_512");
    g.bench_function("speakface render", |b| b.iter(|| black_box(r.render(&rig, black_box(&m)).len())));
    // Peer: bilinear remap with a precomputed map (a mild warp), as cv::remap(INTER_LINEAR); the
    // same computation `speakface bench --stages` uses as its reference.
    let mut peer = speakface::bench::Reference::new(rig.image.as_raw().clone());
    g.bench_function("peer: scalar bilinear remap 512x512", |b| b.iter(|| black_box(peer.run())));
    // OpenCV with the same map.
    let mut cv = speakface_peers::CvRemap::new(rig.image.as_raw().clone(), 512, 512, speakface::bench::Reference::map).unwrap();
    cv.run().unwrap();
    // The two remaps compute the same picture: OpenCV's 1/32-pixel weights against f32 ones.
    let worst = cv.output().iter().zip(peer.output()).map(|(a, b)| a.abs_diff(*b)).max().unwrap_or(0);
    assert!(worst <= 8, "OpenCV remap and the scalar remap differ by {worst} levels");
    g.bench_function("peer: OpenCV remap 512x512 (1 thread)", |b| b.iter(|| black_box(cv.run().unwrap())));
    g.finish();
}

fn stamp(c: &mut Criterion) {
    let cfg = Config::default();
    let frame = image::open(speakface::util::dirs::default_portrait()).unwrap().to_rgb8().into_raw();
    let mut s = speakface::provenance::Stamp::new(&cfg, 512, 512);
    let mut buf = frame.clone();
    let mut g = c.benchmark_group("stamp_512");
    g.bench_function("speakface label + watermark", |b| {
        b.iter(|| {
            buf.copy_from_slice(&frame);
            s.apply(&mut buf);
            black_box(buf[0])
        })
    });
    g.bench_function("peer: frame copy", |b| {
        b.iter(|| {
            buf.copy_from_slice(&frame);
            black_box(buf[0])
        })
    });
    g.finish();
}

fn encode(c: &mut Criterion) {
    let frame = image::open(speakface::util::dirs::default_portrait()).unwrap().to_rgb8().into_raw();
    let dir = std::env::temp_dir().join(format!("speakface-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut g = c.benchmark_group("encode_x264");
    g.sample_size(10);
    g.bench_function("25 frames 512x512 through x264 + mp4mux", |b| {
        b.iter(|| {
            let out = dir.join("bench.mp4");
            let _ = std::fs::remove_file(&out);
            let settings = speakface::output::Mp4Settings::new(512, 512, 25);
            let mut w = speakface::output::Mp4Writer::create(&out, &settings, 16000, 1).unwrap();
            for _ in 0..25 {
                w.write_frame(&frame).unwrap();
            }
            w.finish().unwrap();
        })
    });
    g.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, features, audio2motion_hop, audio2motion, face_analysis, render, stamp, encode);
criterion_main!(benches);
