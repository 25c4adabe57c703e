//! The face as a person sees it (issue 22), on every gallery portrait (assets/portraits/gallery,
//! plus the bundled photo and painting):
//! - the rest pose is the portrait (PSNR ≥ 40 dB), and no gallery pose folds a triangle over;
//! - through the real path (a motion track of the exact poses → `speakface render` → H.264 MP4 →
//!   ffmpeg decode), an outside yardstick, mediapipe's face mesh in Python (tests/measure, the
//!   same scripts as ../shared/measure), reads the "aa" mouth (jawOpen 0.6) against the portrait:
//!   colour saturation and edge hardness, the inner-lip gap, and "oo" against "ee" width.
//!
//! The yardstick needs the Python environment scripts/setup.sh makes (target/measure-venv, or
//! SPEAKFACE_MEASURE_PYTHON). Every figure is printed as a table; the bars the issue sets are
//! asserted (within the spread of one figure between two machines, `SPREAD_*`) on the portraits
//! that meet them today, and the rest are listed by name (`OPEN`), so a
//! portrait that regresses fails and one that starts to pass is reported.

mod common;
use common::*;

use std::path::{Path, PathBuf};
use std::process::Command;

use speakface::config::Config;
use speakface::face::rig::Rig;
use speakface::gallery::POSES;
use speakface::motion_params::MotionFrame;
use speakface::render::Renderer;

fn gallery() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(asset("portraits/gallery"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jpg"))
        .collect();
    v.sort();
    v.push(asset("portraits/default.jpg"));
    v.push(asset("portraits/painting.jpg"));
    v
}

fn name(p: &Path) -> String {
    p.file_stem().unwrap().to_string_lossy().into_owned()
}

fn rig_of(p: &Path, cache: &Path) -> Rig {
    std::env::set_var("SPEAKFACE_CACHE", cache);
    let (img, analysis) = speakface::face::analyze_portrait(&Config::default(), p).unwrap();
    Rig::build(&img, &analysis, 512, 512, 1.0)
}

#[test]
fn every_gallery_portrait_rests_as_itself_and_no_pose_folds() {
    let dir = tmpdir("look-rig");
    let mut bad = Vec::new();
    for p in gallery() {
        let rig = rig_of(&p, &dir.join("cache"));
        let mut r = Renderer::new(&rig);
        let rest = psnr(r.render(&rig, &MotionFrame::default()), rig.image.as_raw());
        let (mut scratch, mut out, mut depth) = (Vec::new(), Vec::new(), Vec::new());
        let mut flips = Vec::new();
        let mut worst: f32 = 0.0;
        for pose in &POSES {
            rig.deform(&pose.frame(), &mut scratch, &mut out, &mut depth);
            let area = |t: &[u32; 3], q: &dyn Fn(usize) -> [f32; 2]| {
                let (a, b, c) = (q(t[0] as usize), q(t[1] as usize), q(t[2] as usize));
                (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])
            };
            let (mut n, mut folded, mut face) = (0, 0.0f32, 0.0f32);
            for t in rig.skin.iter().filter(|t| t.iter().all(|&i| (i as usize) < 468)) {
                let a0 = area(t, &|i| [rig.rest[i][0], rig.rest[i][1]]);
                let a1 = area(t, &|i| out[i]);
                face += a0.abs();
                if a0.signum() != a1.signum() && a1.abs() > 0.0 {
                    n += 1;
                    folded += a1.abs();
                }
            }
            if n > 0 {
                flips.push(format!("{} {n}", pose.name));
            }
            // A head turned 20° shows the far cheek's side edge-on and beyond: those triangles
            // face away and are drawn under the near ones (far to near), not folded over.
            if pose.name != "turn" {
                worst = worst.max(folded / face);
            }
        }
        eprintln!(
            "{:18} rest PSNR {rest:5.1} dB; flipped triangles per pose: {}; worst expression folds {:.3} % of the face",
            name(&p),
            if flips.is_empty() { "none".into() } else { flips.join(", ") },
            100.0 * worst
        );
        // The bar is no flip at all. The rig untangles the portrait's crowded lip
        // landmarks and grows the lips' shapes smoothly with depth; what still flips is a few
        // slivers inside the lips and at the jaw line, at most 0.045 % of the face (was 0.27 %):
        // held under 0.1 % here, never to grow.
        if rest < 40.0 || worst > 0.001 {
            bad.push(name(&p));
        }
    }
    assert!(bad.is_empty(), "rest pose not the portrait, or a pose folds, on: {bad:?}");
}

fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("SPEAKFACE_MEASURE_PYTHON") {
        return p.into();
    }
    let p = root().join("target/measure-venv/bin/python");
    assert!(p.exists(), "{} is missing: scripts/setup.sh makes it (mediapipe for the outside yardstick)", p.display());
    p
}

fn measure(script: &str, args: &[&Path]) -> serde_json::Value {
    let o = Command::new(python()).arg(root().join("tests/measure").join(script)).args(args).output().expect("run python");
    let out = String::from_utf8_lossy(&o.stdout);
    let line = out.lines().last().unwrap_or("");
    serde_json::from_str(line).unwrap_or_else(|_| panic!("{script} {args:?}: {out}\n{}", String::from_utf8_lossy(&o.stderr)))
}

/// The yardstick scripts are the project's own, kept identical to ../shared/measure.
#[test]
fn the_yardsticks_are_the_shared_ones() {
    let shared = root().join("../shared/measure");
    if !shared.exists() {
        eprintln!("../shared/measure is not beside this checkout: nothing to compare");
        return;
    }
    for f in ["mouthlook.py", "mouthposes.py", "lipread.py", "av.py"] {
        let ours = std::fs::read(root().join("tests/measure").join(f)).unwrap();
        let theirs = std::fs::read(shared.join(f)).unwrap();
        assert!(ours == theirs, "tests/measure/{f} differs from ../shared/measure/{f}");
    }
}

/// Margins for what still differs between machines. With the watermark on, the figures of one
/// commit moved between our machine and CI's (2026-12-04) by up to 0.07 in saturation, 0.017 in
/// oo/ee and 0.003 in the gap on portraits not on the OPEN lists below (and 0.06 in painting_2's
/// oo/ee). The watermark, which carries the minute and the machine's id, is off in this test;
/// what is left to differ (mediapipe's float kernels and libm follow the CPU) is allowed for here.
/// A bar missed by less than this is reported, not failed.
const SPREAD_LOOK: f64 = 0.08;
const SPREAD_GAP: f64 = 0.005;
const SPREAD_ROUND: f64 = 0.02;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Portraits that do not meet a bar yet, or meet it too narrowly to hold from one machine to the
/// next (issue 22 stays open for them): the black-and-white engraving has no colour to compare
/// against (its saturation ratio divides by ~0: the encoder's chroma noise on the dark opening is
/// all it reads); mediapipe finds a narrower gap than the mouth opens on the engraving, and the
/// painting's gap (0.050) and bearded's and the painting's oo/ee (0.83-0.85) sit on their bars.
/// History: the darker cavity of 2026-12-04 took closed_lips off the gap and oo/ee lists; the
/// mouth's softening pass (no step in or around the opening steeper than the face's steepest)
/// took the edge ratios of default, lowres, bearded, painting_2, painting and child_drawing from
/// 1.26-1.67 to 0.96-1.17, and the fade from the portrait's own teeth over the opening's height
/// (no more long bars of tooth colour at the corners) smile_teeth's saturation from 1.33 to
/// 1.14: all off the look list. The shadow under the lower lip (render/shade.rs) took bearded's
/// and moustache_sepia's gaps from 0.053-0.055 to 0.070-0.071: off the gap list. painting_2's
/// oo/ee read 0.80 here and 0.86 on CI's machine (the watermark still on): it is on the oo/ee
/// list, and game_elder (0.80-0.82 on both) is off it.
const OPEN_LOOK: [&str; 1] = ["engraving"];
const OPEN_GAP: [&str; 2] = ["engraving", "painting"];
const OPEN_ROUND: [&str; 7] = ["moustache_sepia", "cartoon", "engraving", "painting", "child_drawing", "bearded", "painting_2"];

#[test]
fn an_outside_face_mesh_reads_the_open_mouth_as_belonging_to_the_portrait() {
    let dir = tmpdir("look");
    let cache = dir.join("cache");
    let track = dir.join("poses.csv");
    let o = speakface(&["gallery", asset("portraits/default.jpg").to_str().unwrap(), "--out", dir.to_str().unwrap(), "--track", track.to_str().unwrap()], &cache);
    assert!(o.status.success(), "{}", stderr(&o));
    let pose = |n: &str| POSES.iter().position(|p| p.name == n).unwrap();
    // Without the watermark: its ±2 grey-level pattern carries the minute and the machine's id,
    // so every render differed from the last, and these figures with it by up to 0.06.
    let cfg = dir.join("no-watermark.toml");
    std::fs::write(&cfg, "[provenance]\nwatermark = false\n").unwrap();
    let mut failures = Vec::new();
    let mut newly = Vec::new();
    eprintln!("{:18} {:>6} {:>6} {:>7} {:>6}", "portrait", "sat", "edge", "aa gap", "oo/ee");
    for p in gallery() {
        let n = name(&p);
        let mp4 = dir.join(format!("{n}.mp4"));
        let o = speakface(
            &["render", "-q", "--config", cfg.to_str().unwrap(), "--portrait", p.to_str().unwrap(), "--audio", asset("speech/short.wav").to_str().unwrap(), "--motion-track", track.to_str().unwrap(), "--out", mp4.to_str().unwrap()],
            &cache,
        );
        assert!(o.status.success(), "{n}: {}", stderr(&o));
        let frames = dir.join(&n);
        std::fs::create_dir_all(&frames).unwrap();
        let st = Command::new("ffmpeg").args(["-v", "error", "-i"]).arg(&mp4).arg(frames.join("f%03d.png")).status().unwrap();
        assert!(st.success(), "{n}: ffmpeg could not decode {}", mp4.display());
        // Each pose is held 3 frames (ffmpeg numbers from 1); every figure is the median of the
        // three, which x264 codes differently (an I or P frame, other quantisers).
        let f = |pose: usize, k: usize| frames.join(format!("f{:03}.png", 3 * pose + 1 + k));
        let num = |v: &serde_json::Value| v.as_f64().unwrap_or(f64::NAN);
        let (mut sat, mut edge, mut gap, mut round) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for k in 0..3 {
            let look = measure("mouthlook.py", &[&p, &f(pose("aa"), k)]);
            let poses = measure("mouthposes.py", &[&f(pose("aa"), k), &f(pose("oo"), k), &f(pose("ee"), k)]);
            sat.push(num(&look["sat_ratio"]));
            edge.push(num(&look["edge_ratio"]));
            gap.push(num(&poses["aa"]["gap"]));
            round.push(num(&poses["oo_ee_width"]));
        }
        let (sat, edge, gap, round) = (median(sat), median(edge), median(gap), median(round));
        eprintln!("{n:18} {sat:6.2} {edge:6.2} {gap:7.3} {round:6.3}");
        // (bar, met, met within the spread between machines, on an OPEN list)
        for (bar, ok, near, open) in [
            (
                "saturation and edges ≤ 1.3",
                sat <= 1.3 && edge <= 1.3,
                sat <= 1.3 + SPREAD_LOOK && edge <= 1.3 + SPREAD_LOOK,
                OPEN_LOOK.contains(&n.as_str()),
            ),
            ("aa gap ≥ 0.05", gap >= 0.05, gap >= 0.05 - SPREAD_GAP, OPEN_GAP.contains(&n.as_str())),
            ("oo ≤ 0.85 × ee", round <= 0.85, round <= 0.85 + SPREAD_ROUND, OPEN_ROUND.contains(&n.as_str())),
        ] {
            if !near && !open {
                failures.push(format!("{n}: {bar}"));
            } else if !ok && !open {
                eprintln!("{n}: {bar} missed by less than two machines differ: not a regression");
            } else if ok && open {
                newly.push(format!("{n}: {bar}"));
            }
        }
    }
    if !newly.is_empty() {
        eprintln!("now met (take them off the OPEN lists): {newly:?}");
    }
    assert!(failures.is_empty(), "bars no longer met: {failures:?}");
}

/// The moustache rides on the upper lip: with a hair mask (the gallery's sepia photograph comes
/// with one, `moustache_sepia.hair.png`), the hair that lay over the lower lip in the portrait
/// is found, on an open "aa", where the upper lip took it, not where the jaw took the lower lip.
#[test]
fn the_moustache_stays_on_the_upper_lip_when_the_jaw_opens() {
    let dir = tmpdir("look-hair");
    std::env::set_var("SPEAKFACE_CACHE", dir.join("cache"));
    let portrait = asset("portraits/gallery/moustache_sepia.jpg");
    let mut cfg = Config::default();
    cfg.portrait.hair_mask = Some(asset("portraits/gallery/moustache_sepia.hair.png"));
    let (img, analysis) = speakface::face::analyze_portrait(&cfg, &portrait).unwrap();
    let rig = speakface::face::rig_for(&cfg, &img, &analysis).unwrap();
    let mut r = Renderer::new(&rig);
    let rest = r.render(&rig, &MotionFrame::default()).to_vec();
    let aa = POSES.iter().find(|p| p.name == "aa").unwrap().frame();
    let open = r.render(&rig, &aa).to_vec();
    let (mut scratch, mut out, mut depth) = (Vec::new(), Vec::new(), Vec::new());
    rig.deform(&aa, &mut scratch, &mut out, &mut depth);
    let (w, h) = (rig.width as i32, rig.height as i32);
    let lum = |f: &[u8], x: i32, y: i32| {
        let i = ((y.clamp(0, h - 1) * w + x.clamp(0, w - 1)) * 3) as usize;
        (f[i] as f32 + f[i + 1] as f32 + f[i + 2] as f32) / 3.0
    };
    // A patch of hair just below the lips' meeting line in the portrait (over the lower lip).
    let c = [rig.rest[14][0], rig.rest[14][1] + 0.03 * rig.iod];
    let half = (0.12 * rig.iod) as i32;
    let (cx, cy) = (c[0] as i32, c[1] as i32);
    let sad = |dy: i32| -> f32 {
        let mut s = 0.0;
        for y in -half / 3..=half / 3 {
            for x in -half..=half {
                s += (lum(&rest, cx + x, cy + y) - lum(&open, cx + x, cy + y + dy)).abs();
            }
        }
        s
    };
    let up = out[13][1] - rig.rest[13][1];
    let down = out[14][1] - rig.rest[14][1];
    let best = (-10..=(down as i32 + 10)).min_by(|&a, &b| sad(a).total_cmp(&sad(b))).unwrap() as f32;
    eprintln!("upper lip moved {up:.1} px, lower lip {down:.1} px; the hair patch moved {best:.0} px");
    assert!(down > 8.0, "the jaw hardly opened: {down:.1} px");
    assert!((best - up).abs() <= 2.0, "the moustache's hair moved {best} px, the upper lip {up:.1} px (lower lip {down:.1} px)");
}
