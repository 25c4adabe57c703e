//! The GPU check of issue 28, run by hand through `scripts/gpu_check.sh` on a machine with an
//! NVIDIA GPU: the lip-sync and face models on the CPU and then on CUDA (tract-cuda, speakface's
//! `cuda` feature) in one process, their outputs compared against the bounds below, per-hop and
//! per-portrait inference timed on both.
//!
//! Its own small crate (like `fuzz/`), so that building it needs none of speakface's
//! dev-dependencies: `cd scripts/gpu_check && cargo build --release --features cuda`, then
//! `gpu_check [--runs N] [--json FILE]`.
//! Exit status: 0 every comparison within its bound, 1 one is not, 2 CUDA not usable here, 3 error.
//! Not a test: CI has no GPU and does not build it.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::{json, Value};
use speakface::face::{self, FaceAnalysis, FaceModels};
use speakface::infer::{self, Model};
use speakface::mouth::model::{LipModel, MouthRow};

/// Lip-sync rows (11 mouth weights per 40 ms frame, 0..1): largest difference, the self-test's bound.
const LIP_BOUND: f32 = 1e-3;
/// Each model's raw outputs on the same input: ‖gpu − cpu‖₂ / ‖cpu‖₂.
const RAW_REL_BOUND: f64 = 1e-3;
/// Face analysis of the bundled 512×512 portrait: landmarks and irises, largest difference in pixels.
const FACE_PX_BOUND: f32 = 0.5;
/// The detector's score.
const SCORE_BOUND: f32 = 1e-3;

const MODELS: [&str; 5] = ["face_detection", "face_landmark", "iris_landmark", "audio2motion", "audio2motion_float"];
const LIP_MODELS: [&str; 2] = ["audio2motion", "audio2motion_float"];
/// 40 ms of 16 kHz speech: one hop of the lip-sync model.
const HOP_SAMPLES: usize = 640;

type R<T> = Result<T, Box<dyn std::error::Error>>;

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

fn summary(mut v: Vec<f64>) -> Value {
    v.sort_by(f64::total_cmp);
    let q = |p: f64| v.get(((v.len().max(1) - 1) as f64 * p).round() as usize).copied().unwrap_or(f64::NAN);
    json!({ "n": v.len(), "median_ms": q(0.5), "p90_ms": q(0.9), "p99_ms": q(0.99), "max_ms": q(1.0) })
}

/// Deterministic inputs (a linear congruential sequence), the same on both devices.
fn inputs(model: &Model, image: bool) -> Vec<Vec<f32>> {
    let mut x: u32 = 12345;
    (0..)
        .map_while(|i| model.input_shape(i))
        .map(|s| {
            (0..s.iter().product::<usize>())
                .map(|_| {
                    x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                    let u = (x >> 8) as f32 / (1 << 24) as f32;
                    if image { u } else { 2.0 * u - 1.0 }
                })
                .collect()
        })
        .collect()
}

/// What one device gave: per model, per lip-sync model and for the face analysis, the result or
/// why it failed (an error or a panic, caught so that the other parts still run).
struct Run {
    /// Outputs on the fixed inputs, load ms, run times.
    raw: Vec<Result<(Vec<Vec<f32>>, f64, Vec<f64>), String>>,
    /// Rows over the speech, load ms, per-hop times.
    lip: Vec<Result<(Vec<MouthRow>, f64, Vec<f64>), String>>,
    /// The analysis, load ms, per-portrait times.
    face: Result<(FaceAnalysis, f64, Vec<f64>), String>,
}

fn guarded<T>(f: impl FnOnce() -> R<T>) -> Result<T, String> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(e.to_string()),
        Err(p) => Err(format!(
            "panicked: {}",
            p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_default()
        )),
    }
}

fn raw_model(dir: &Path, name: &str, runs: usize) -> R<(Vec<Vec<f32>>, f64, Vec<f64>)> {
    let t = Instant::now();
    let m = Model::load(dir, name)?;
    let load = ms(t);
    let x = inputs(&m, !name.starts_with("audio2motion"));
    let refs: Vec<&[f32]> = x.iter().map(Vec::as_slice).collect();
    let out = m.run(&refs)?;
    for _ in 0..3 {
        m.run(&refs)?;
    }
    let times = (0..runs * 5)
        .map(|_| {
            let t = Instant::now();
            m.run(&refs).map(|_| ms(t))
        })
        .collect::<Result<Vec<f64>, _>>()?;
    Ok((out, load, times))
}

/// The daemon's path: a stream (warmed up on 32 hops of silence), fed 40 ms at a time; a hop is
/// 4 log-mel frames and one model run.
fn lip_stream(dir: &Path, name: &str, speech: &[f32]) -> R<(Vec<MouthRow>, f64, Vec<f64>)> {
    let t = Instant::now();
    let m = LipModel::load_named(dir, name)?;
    let load = ms(t);
    let mut s = m.stream();
    let (mut rows, mut hop_ms) = (vec![], vec![]);
    for chunk in speech.chunks(HOP_SAMPLES) {
        let before = rows.len();
        let t = Instant::now();
        s.push(chunk, &mut rows)?;
        let dt = ms(t);
        if rows.len() == before + 1 {
            hop_ms.push(dt);
        }
    }
    Ok((rows, load, hop_ms))
}

fn face_analysis(dir: &Path, portrait: &Path, runs: usize) -> R<(FaceAnalysis, f64, Vec<f64>)> {
    let t = Instant::now();
    let models = FaceModels::load(dir)?;
    let load = ms(t);
    let (img, _) = face::load_portrait(portrait)?;
    let analysis = face::analyze(&models, &img, portrait)?;
    face::analyze(&models, &img, portrait)?;
    let times = (0..runs)
        .map(|_| {
            let t = Instant::now();
            face::analyze(&models, &img, portrait).map(|_| ms(t))
        })
        .collect::<Result<Vec<f64>, _>>()?;
    Ok((analysis, load, times))
}

fn run_all(dir: &Path, speech: &[f32], portrait: &Path, runs: usize) -> Run {
    let run = Run {
        raw: MODELS.iter().map(|n| guarded(|| raw_model(dir, n, runs))).collect(),
        lip: LIP_MODELS.iter().map(|n| guarded(|| lip_stream(dir, n, speech))).collect(),
        face: guarded(|| face_analysis(dir, portrait, runs)),
    };
    for (what, e) in MODELS.iter().zip(&run.raw).filter_map(|(n, r)| r.as_ref().err().map(|e| (n.to_string(), e)))
        .chain(LIP_MODELS.iter().zip(&run.lip).filter_map(|(n, r)| r.as_ref().err().map(|e| (format!("{n} stream"), e))))
        .chain(run.face.as_ref().err().map(|e| ("face analysis".to_string(), e)))
    {
        println!("gpu_check: {what} FAILED: {e}");
    }
    run
}

/// Ok when both devices gave a result, else why not.
fn both<T>(c: &Result<T, String>, g: &Result<T, String>) -> Result<(), String> {
    match (c, g) {
        (Ok(_), Ok(_)) => Ok(()),
        (Err(e), _) => Err(format!("failed on the CPU: {e}")),
        (_, Err(e)) => Err(format!("failed on CUDA: {e}")),
    }
}

fn max_abs(a: impl Iterator<Item = f32>, b: impl Iterator<Item = f32>) -> f32 {
    a.zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, |m, d| if d.is_nan() || m.is_nan() { f32::NAN } else { m.max(d) })
}

fn rel_l2(a: &[Vec<f32>], b: &[Vec<f32>]) -> f64 {
    let (mut num, mut den) = (0.0f64, 0.0f64);
    for (x, y) in a.iter().flatten().zip(b.iter().flatten()) {
        num += ((*x - *y) as f64).powi(2);
        den += (*x as f64).powi(2);
    }
    (num / den.max(f64::MIN_POSITIVE)).sqrt()
}

fn main() {
    match real_main() {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("gpu_check: {e}");
            std::process::exit(3);
        }
    }
}

fn real_main() -> R<i32> {
    // tract-cuda logs what it found (device, cudart, NVRTC, cuDNN) at info level.
    speakface::util::logging::init();
    let args: Vec<String> = std::env::args().collect();
    let arg = |k: &str| args.iter().position(|a| a == k).and_then(|i| args.get(i + 1)).cloned();
    let runs: usize = arg("--runs").map(|r| r.parse()).transpose()?.unwrap_or(20);
    let json_out = arg("--json").map(PathBuf::from);

    let dir = speakface::util::dirs::default_models_dir();
    let speech = speakface::audio::read_wav(&speakface::util::dirs::default_speech())?.mono16k;
    // The bundled speech twice (15 s, about 380 hops).
    let speech: Vec<f32> = speech.iter().chain(&speech).copied().collect();
    let portrait = speakface::util::dirs::default_portrait();

    println!("gpu_check: CUDA backend built in: {}", infer::CUDA_BUILT_IN);
    let cpu = run_all(&dir, &speech, &portrait, runs);
    println!("gpu_check: CPU pass done");
    // From here on every model loads on the device chosen here.
    let choice = guarded(|| Ok(speakface::mouth::model::select_device(infer::Device::Cuda, &dir)))?;
    println!("gpu_check: device choice {}", serde_json::to_string(&choice)?);
    if let Some(why) = &choice.fallback {
        println!("gpu_check: CUDA not usable: {why}");
        return Ok(2);
    }
    let gpu = run_all(&dir, &speech, &portrait, runs);
    println!("gpu_check: CUDA pass done");

    let mut ok = true;
    let mut rows = vec![];
    let mut check = |what: String, value: Result<f64, String>, bound: f64, unit: &str| {
        let pass = value.as_ref().is_ok_and(|v| *v <= bound); // NaN fails
        ok &= pass;
        match &value {
            Ok(v) => println!("{:<58} {:>10.3e} {:<3} bound {:>8.1e}  {}", what, v, unit, bound, if pass { "ok" } else { "EXCEEDED" }),
            Err(e) => println!("{:<58} not compared: {e}", what),
        }
        rows.push(json!({ "what": what, "value": value.as_ref().ok(), "error": value.as_ref().err(), "bound": bound, "unit": unit, "pass": pass }));
    };
    println!("\n== CUDA against CPU: outputs");
    for (i, name) in MODELS.iter().enumerate() {
        let d = both(&cpu.raw[i], &gpu.raw[i]).and_then(|_| {
            let (c, g) = (&cpu.raw[i].as_ref().unwrap().0, &gpu.raw[i].as_ref().unwrap().0);
            if !c.iter().map(Vec::len).eq(g.iter().map(Vec::len)) {
                return Err("outputs of different sizes".to_string());
            }
            Ok((rel_l2(c, g), max_abs(c.iter().flatten().copied(), g.iter().flatten().copied())))
        });
        check(format!("{name}: raw outputs, relative L2"), d.clone().map(|d| d.0), RAW_REL_BOUND, "");
        if let Ok((_, m)) = d {
            println!("{:<58} {:>10.3e}", format!("  ({name}: raw outputs, largest difference)"), m);
        }
    }
    for (i, name) in LIP_MODELS.iter().enumerate() {
        let d = both(&cpu.lip[i], &gpu.lip[i]).and_then(|_| {
            let (c, g) = (&cpu.lip[i].as_ref().unwrap().0, &gpu.lip[i].as_ref().unwrap().0);
            if c.len() != g.len() {
                return Err(format!("{} frames on the CPU, {} on CUDA", c.len(), g.len()));
            }
            Ok(max_abs(c.iter().flatten().copied(), g.iter().flatten().copied()) as f64)
        });
        let n = cpu.lip[i].as_ref().map_or(0, |l| l.0.len());
        check(format!("{name}: {n} streamed frames x 11, largest diff."), d, LIP_BOUND as f64, "");
    }
    let face = both(&cpu.face, &gpu.face).map(|_| (&cpu.face.as_ref().unwrap().0, &gpu.face.as_ref().unwrap().0));
    let fd = |f: &dyn Fn(&FaceAnalysis, &FaceAnalysis) -> f32| face.clone().map(|(c, g)| f(c, g) as f64);
    check(
        "face analysis: 468 landmarks x, y, largest diff.".into(),
        fd(&|c, g| max_abs(c.landmarks.iter().flat_map(|p| [p[0], p[1]]), g.landmarks.iter().flat_map(|p| [p[0], p[1]]))),
        FACE_PX_BOUND as f64,
        "px",
    );
    check(
        "face analysis: landmark depth z, largest diff.".into(),
        fd(&|c, g| max_abs(c.landmarks.iter().map(|p| p[2]), g.landmarks.iter().map(|p| p[2]))),
        FACE_PX_BOUND as f64,
        "px",
    );
    check(
        "face analysis: iris centres and radii, largest diff.".into(),
        fd(&|c, g| {
            max_abs(
                c.irises.iter().flat_map(|i| [i.center[0], i.center[1], i.radius]),
                g.irises.iter().flat_map(|i| [i.center[0], i.center[1], i.radius]),
            )
        }),
        FACE_PX_BOUND as f64,
        "px",
    );
    check("face analysis: detector score, difference".into(), fd(&|c, g| (c.score - g.score).abs()), SCORE_BOUND as f64, "");

    println!("\n== Times (ms, wall clock; CUDA runs include the copies to and from the device)");
    println!("{:<52} {:>10} {:>10} {:>10} {:>10}", "", "CPU med", "CPU p99", "CUDA med", "CUDA p99");
    let mut times = vec![];
    let mut line = |what: String, c: Option<Vec<f64>>, g: Option<Vec<f64>>| {
        let (c, g) = (c.map(summary).unwrap_or(Value::Null), g.map(summary).unwrap_or(Value::Null));
        let f = |v: &Value, k: &str| v[k].as_f64().unwrap_or(f64::NAN);
        println!("{:<52} {:>10.3} {:>10.3} {:>10.3} {:>10.3}", what, f(&c, "median_ms"), f(&c, "p99_ms"), f(&g, "median_ms"), f(&g, "p99_ms"));
        times.push(json!({ "what": what, "cpu": c, "cuda": g }));
    };
    for (i, name) in LIP_MODELS.iter().enumerate() {
        let t = |r: &Result<(Vec<MouthRow>, f64, Vec<f64>), String>| r.as_ref().ok().map(|r| r.2.clone());
        let n = t(&cpu.lip[i]).map_or(0, |v| v.len());
        line(format!("{name}: one 40 ms hop, streamed ({n} hops)"), t(&cpu.lip[i]), t(&gpu.lip[i]));
    }
    let t = |r: &Result<(FaceAnalysis, f64, Vec<f64>), String>| r.as_ref().ok().map(|r| r.2.clone());
    line(format!("face analysis, bundled portrait ({runs} runs)"), t(&cpu.face), t(&gpu.face));
    for (i, name) in MODELS.iter().enumerate() {
        let t = |r: &Result<(Vec<Vec<f32>>, f64, Vec<f64>), String>| r.as_ref().ok().map(|r| r.2.clone());
        line(format!("{name}: one run ({} runs)", runs * 5), t(&cpu.raw[i]), t(&gpu.raw[i]));
    }
    println!("\n== Loading (ms, once per process; CUDA: upload and plan)");
    println!("CUDA self-test (first CUDA use: context, NVRTC kernels, one float hop): {:.1}", choice.self_test_ms.unwrap_or(f64::NAN));
    let load = |r: &Result<(Vec<Vec<f32>>, f64, Vec<f64>), String>| r.as_ref().map_or(f64::NAN, |r| r.1);
    let mut loads = vec![];
    for (i, name) in MODELS.iter().enumerate() {
        println!("{name}: CPU {:.1}, CUDA {:.1}", load(&cpu.raw[i]), load(&gpu.raw[i]));
        loads.push(json!({ "model": name, "cpu_ms": load(&cpu.raw[i]), "cuda_ms": load(&gpu.raw[i]) }));
    }
    let fl = |r: &Result<(FaceAnalysis, f64, Vec<f64>), String>| r.as_ref().map_or(f64::NAN, |r| r.1);
    println!("face models (all three): CPU {:.1}, CUDA {:.1}", fl(&cpu.face), fl(&gpu.face));
    println!("\ngpu_check: {}", if ok { "every output within its bound" } else { "an output EXCEEDED its bound or was not compared" });
    if let Some(p) = json_out {
        let doc = json!({ "device_choice": choice, "checks": rows, "times": times, "loads": loads,
                          "face_load_ms": { "cpu": fl(&cpu.face), "cuda": fl(&gpu.face) }, "all_within_bounds": ok });
        std::fs::write(&p, serde_json::to_string_pretty(&doc)?)?;
    }
    Ok(if ok { 0 } else { 1 })
}
