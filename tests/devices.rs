//! Real kernel devices that this build machine does not have: a V4L2 camera and a V4L2
//! virtual-camera output (v4l2loopback, the module kiosk operators load for video-call software)
//! and a DRM display without a desktop (QEMU's virtio GPU, driven by kmssink). They live in a
//! QEMU virtual machine running Debian's own kernel over this machine's root file system, shared
//! read-only (tests/vm/: prepare.sh builds it, init is its PID 1, guest.sh drives speakface
//! there), so the binary and GStreamer under test are the ones every other test uses.
//!
//! The guest leaves what happened in a shared folder; every check is here. The host takes the
//! screenshots itself, through QEMU's monitor: what a person in front of the screen would see.

mod common;
use common::*;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The whole run (boot, GStreamer's first registry scan, the daemon's start) under QEMU's
/// emulation (TCG) takes about 2 minutes here; this is the limit.
const VM_LIMIT: Duration = Duration::from_secs(900);

fn read(out: &Path, name: &str) -> String {
    std::fs::read_to_string(out.join(name)).unwrap_or_default()
}

fn rc(out: &Path, name: &str) -> i32 {
    read(out, &format!("{name}.rc")).trim().parse().unwrap_or(-1)
}

fn json(out: &Path, name: &str) -> (u16, serde_json::Value) {
    let code = read(out, &format!("{name}.code")).trim().parse().unwrap_or(0);
    let body = read(out, &format!("{name}.json"));
    (code, serde_json::from_str(&body).unwrap_or(serde_json::Value::Null))
}

fn png(path: &Path) -> image::RgbImage {
    image::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).to_rgb8()
}

/// Reads QEMU's screendump: binary PPM (P6, 8 bits).
fn ppm(path: &Path) -> image::RgbImage {
    let b = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut fields = vec![];
    let mut i = 0;
    while fields.len() < 4 {
        while b[i].is_ascii_whitespace() {
            i += 1;
        }
        let start = i;
        while !b[i].is_ascii_whitespace() {
            i += 1;
        }
        fields.push(String::from_utf8_lossy(&b[start..i]).into_owned());
    }
    assert_eq!((fields[0].as_str(), fields[3].as_str()), ("P6", "255"), "{}: not an 8-bit PPM", path.display());
    let (w, h): (u32, u32) = (fields[1].parse().unwrap(), fields[2].parse().unwrap());
    image::RgbImage::from_raw(w, h, b[i + 1..i + 1 + (w * h * 3) as usize].to_vec()).unwrap()
}

/// Asks QEMU's monitor for a screenshot of the VM's screen (PPM).
fn screendump(monitor: &Path, file: &Path) {
    let mut s = UnixStream::connect(monitor).expect("QEMU monitor");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 4096];
    let _ = s.read(&mut buf); // the banner
    writeln!(s, "screendump {}", file.display()).unwrap();
    let t = Instant::now();
    while !file.exists() && t.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(200));
    }
    let _ = s.read(&mut buf);
}

/// Boots the VM with tests/vm/guest.sh; returns the shared folder with what it left.
fn run_vm(vm: &Path) -> PathBuf {
    let out = tmpdir("vm");
    std::fs::write(out.join("repo"), root().to_str().unwrap()).unwrap();
    std::fs::write(out.join("bin"), env!("CARGO_BIN_EXE_speakface")).unwrap();
    std::fs::copy(root().join("tests/vm/guest.sh"), out.join("guest.sh")).unwrap();
    let monitor = out.join("monitor.sock");
    // KVM would be faster, but nested virtualisation on CI machines is unreliable (it hangs
    // here): emulation is slower but the same everywhere. SPEAKFACE_VM_ACCEL=kvm overrides.
    let accel = std::env::var("SPEAKFACE_VM_ACCEL").unwrap_or_else(|_| "tcg".into());
    let mut qemu = Command::new("qemu-system-x86_64")
        .args(["-accel", &accel, "-smp", "2", "-m", "3072", "-nodefaults", "-no-reboot", "-display", "none"])
        .arg("-kernel")
        .arg(vm.join("vmlinuz"))
        .arg("-initrd")
        .arg(vm.join("initrd.gz"))
        .arg("-append")
        .arg(format!("console=ttyS0 panic=-1 quiet sf.script=/tmp/vm-out/guest.sh sf.repo={}", root().display()))
        .args(["-virtfs", "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap"])
        .arg("-virtfs")
        .arg(format!("local,path={},mount_tag=out,security_model=none", out.display()))
        .arg("-virtfs")
        .arg(format!("local,path={},mount_tag=repo,security_model=none,readonly=on,multidevs=remap", root().display()))
        .args(["-device", "virtio-gpu-pci"])
        .arg("-monitor")
        .arg(format!("unix:{},server,nowait", monitor.display()))
        .arg("-serial")
        .arg(format!("file:{}", out.join("serial.log").display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("qemu-system-x86_64 (scripts/setup.sh installs qemu-system-x86)");
    let started = Instant::now();
    let mut shots = 0;
    loop {
        if let Some(status) = qemu.try_wait().unwrap() {
            eprintln!("vm: powered off after {:.0} s ({status})", started.elapsed().as_secs_f64());
            break;
        }
        if shots == 0 && out.join("display-ready").exists() {
            // Two screenshots a second apart: the avatar moves between them.
            screendump(&monitor, &out.join("screen-0.ppm"));
            std::thread::sleep(Duration::from_secs(1));
            screendump(&monitor, &out.join("screen-1.ppm"));
            std::fs::write(out.join("display-done"), "").unwrap();
            shots = 2;
        }
        if started.elapsed() > VM_LIMIT {
            let _ = qemu.kill();
            let _ = qemu.wait();
            panic!("the VM did not finish in {VM_LIMIT:?}; its console:\n{}", tail(&read(&out, "serial.log"), 40));
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    out
}

fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Mean of each channel over a rectangle [x0, y0, x1, y1).
fn mean(img: &image::RgbImage, r: [u32; 4]) -> f64 {
    let mut sum = 0.0;
    let mut n = 0.0;
    for y in r[1]..r[3] {
        for x in r[0]..r[2] {
            sum += img.get_pixel(x, y).0.iter().map(|&v| v as f64).sum::<f64>() / 3.0;
            n += 1.0;
        }
    }
    sum / n
}

/// Mean absolute difference of two equal-size images over a rectangle.
fn diff(a: &image::RgbImage, b: &image::RgbImage, r: [u32; 4]) -> f64 {
    region_diff(a.as_raw(), b.as_raw(), a.width(), r)
}

/// Whether the "AI-GENERATED" label (white text on a darkened box) is in a 512x512 frame at
/// `ox, oy` inside `img`, scaled by `s`.
fn has_label(img: &image::RgbImage, ox: u32, oy: u32, s: f64) -> bool {
    let cfg = speakface::config::Config::default();
    let (x, y, w, h) = speakface::provenance::label_box(&cfg, 512, 512);
    let r = |v: u32| (v as f64 * s) as u32;
    let (x0, y0, x1, y1) = (ox + r(x), oy + r(y), ox + r(x + w), oy + r(y + h));
    let mut bright = 0;
    let mut dark = 0;
    for yy in y0..y1 {
        for xx in x0..x1 {
            let p = img.get_pixel(xx, yy).0;
            let l = (p[0] as u32 + p[1] as u32 + p[2] as u32) / 3;
            if l > 200 {
                bright += 1;
            } else if l < 60 {
                dark += 1;
            }
        }
    }
    let n = ((x1 - x0) * (y1 - y0)) as f64;
    bright as f64 > 0.05 * n && dark as f64 > 0.3 * n
}

/// The portrait at rest as the daemon frames it (512x512, no motion): what its frames look like
/// between blinks and words.
fn rest_frame(portrait: &Path, cache: &Path) -> image::RgbImage {
    std::env::set_var("SPEAKFACE_CACHE", cache);
    let cfg = speakface::config::Config::default();
    let (img, analysis) = speakface::face::analyze_portrait(&cfg, portrait).unwrap();
    let rig = speakface::face::rig::Rig::build(&img, &analysis, 512, 512, 1.0);
    let mut r = speakface::render::Renderer::new(&rig);
    let rgb = r.render(&rig, &speakface::motion_params::MotionFrame::default()).to_vec();
    image::RgbImage::from_raw(512, 512, rgb).unwrap()
}

/// Eyes and brows: away from the mouth, which moves with the speech.
const UPPER_FACE: [u32; 4] = [140, 60, 372, 200];

#[test]
fn camera_portrait_v4l2_output_and_kms_display_on_real_kernel_devices() {
    let vm = root().join("target/vm");
    if !vm.join("ready").exists() {
        let why = "target/vm is not prepared (tests/vm/prepare.sh: Debian amd64 with qemu-system-x86 and linux-headers-amd64)";
        assert!(std::env::var_os("CI").is_none(), "{why}");
        eprintln!("SKIPPED: {why}");
        return;
    }
    // SPEAKFACE_VM_OUT=DIR checks what an earlier run left in DIR again, without a new run.
    let out = match std::env::var_os("SPEAKFACE_VM_OUT") {
        Some(d) => PathBuf::from(d),
        None => run_vm(&vm),
    };
    let console = read(&out, "serial.log");
    assert!(out.join("finished").exists(), "the guest script did not finish; console:\n{}\nsteps:\n{}", tail(&console, 40), read(&out, "steps.log"));
    assert_eq!((rc(&out, "modprobe-v4l2"), rc(&out, "modprobe-gpu")), (0, 0), "drivers: {} {}", read(&out, "modprobe-v4l2.txt"), read(&out, "modprobe-gpu.txt"));
    let daemon_log = read(&out, "daemon.log");
    let ctx = format!("daemon log:\n{}", tail(&daemon_log, 30));

    // `speakface camera`: what the camera offers, a still with a face in it, clear errors.
    let list = read(&out, "camera-list.txt");
    assert!(list.contains("/dev/video10") && list.contains("YUYV") && list.contains("640x480"), "{list}");
    assert_eq!(rc(&out, "camera-still"), 0, "{}", read(&out, "camera-still.txt"));
    assert!(read(&out, "camera-still.txt").contains("YUYV 640x480 still"), "{}", read(&out, "camera-still.txt"));
    let still = png(&out.join("camera-still.png"));
    let painting = image::open(asset("portraits/painting.jpg")).unwrap().to_rgb8();
    assert_eq!(still.dimensions(), (640, 480));
    // The camera shows the painting (letterboxed to 4:3): same mean colour in the middle.
    let mid_still = mean(&still, [280, 200, 360, 280]);
    let (pw, ph) = painting.dimensions();
    let mid_painting = mean(&painting, [pw / 2 - pw / 16, ph / 2 - ph / 12, pw / 2 + pw / 16, ph / 2 + ph / 12]);
    assert!((mid_still - mid_painting).abs() < 25.0, "camera still {mid_still:.0} vs painting {mid_painting:.0}");
    for (name, needle) in [("camera-missing", "does not exist"), ("camera-output-only", "offers no video format")] {
        let text = read(&out, &format!("{name}.txt"));
        assert_eq!(rc(&out, name), 1, "{name}: {text}");
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines.len() == 1 && lines[0].starts_with("speakface: error: camera /dev/video") && lines[0].contains(needle), "{name}: {text}");
    }

    // The daemon came up on kmssink (chosen by "auto") and the V4L2 output, and they stayed up.
    let (code, status) = json(&out, "status-start");
    assert_eq!((code, status["state"].as_str()), (200, Some("animating")), "{status}\n{ctx}");
    let outputs = status["outputs"].as_str().unwrap_or_default();
    assert!(outputs.contains("kmssink") && outputs.contains("v4l2 (/dev/video11)"), "{outputs}");
    assert!(!daemon_log.contains("output pipeline failed") && !daemon_log.contains("panicked"), "{ctx}");

    // The virtual camera: what a video-call program reading /dev/video11 gets.
    assert_eq!(rc(&out, "v4l2-read"), 0, "{}", read(&out, "v4l2-read.txt"));
    let frames: Vec<image::RgbImage> = (0..40).map(|i| out.join(format!("v4l2-{i:02}.png"))).filter(|p| p.exists()).map(|p| png(&p)).collect();
    assert!(frames.len() >= 30, "only {} frames read from /dev/video11", frames.len());
    let cache = out.join("cache");
    let portrait = rest_frame(&asset("portraits/default.jpg"), &cache);
    let camera_portrait = rest_frame(&out.join("camera-still.png"), &cache);
    let apart = diff(&portrait, &camera_portrait, UPPER_FACE);
    for f in &frames {
        assert_eq!(f.dimensions(), (512, 512));
        assert!(has_label(f, 0, 0, 1.0), "no AI-GENERATED label in a V4L2 frame");
    }
    // The portrait, through YUY2 and back, moved a little by head motion (a blink or a turn
    // moves some frames further: the closest of them is compared).
    let nearest = |fs: &[image::RgbImage], to: &image::RgbImage| fs.iter().map(|f| diff(f, to, UPPER_FACE)).fold(f64::MAX, f64::min);
    let d = nearest(&frames, &portrait);
    assert!(d < 20.0 && d < apart / 3.0, "the V4L2 frames are not the portrait: {d:.1} (another portrait: {apart:.1})");
    let moved = frames.windows(2).map(|w| diff(&w[0], &w[1], [0, 0, 512, 512])).fold(0.0, f64::max);
    assert!(moved > 0.2, "the V4L2 frames never change (a frozen picture): {moved:.3}");

    // The screen: 1280x800 without a desktop, the avatar scaled to fill its height, letterboxed.
    let s0 = ppm(&out.join("screen-0.ppm"));
    let s1 = ppm(&out.join("screen-1.ppm"));
    let (w, h) = s0.dimensions();
    assert!(w > h && h >= 480, "screen {w}x{h}");
    let (ox, side) = ((w - h) / 2, h);
    assert!(mean(&s0, [0, 0, ox.saturating_sub(8), h]) < 8.0, "the letterbox bars are not black");
    let scale = side as f64 / 512.0;
    let shown: Vec<image::RgbImage> = [&s0, &s1]
        .iter()
        .map(|s| image::imageops::resize(&image::imageops::crop_imm(*s, ox, 0, side, side).to_image(), 512, 512, image::imageops::FilterType::Triangle))
        .collect();
    let d = nearest(&shown, &portrait);
    assert!(d < 20.0 && d < apart / 3.0, "the screen does not show the portrait where expected: {d:.1}");
    assert!(has_label(&s0, ox, 0, scale), "no AI-GENERATED label on the screen");
    assert!(diff(&s0, &s1, [ox, 0, ox + side, h]) > 0.05, "the screen did not change in a second");

    // A config change that rebuilds the outputs while a program reads the virtual camera.
    let (code, body) = json(&out, "config-put");
    assert_eq!((code, body["applied"].as_bool()), (200, Some(true)), "{body}\n{ctx}");
    assert!(body["changed"].as_str().is_some_and(|c| c.contains("outputs")), "{body}");
    let (_, rebuilt) = json(&out, "status-rebuilt");
    assert_eq!(rebuilt["state"].as_str(), Some("animating"), "{rebuilt}\n{ctx}");

    // Camera portrait through the API: consent first, then the painting is on air and saved.
    let (code, body) = json(&out, "camera-no-consent");
    assert_eq!(code, 400, "{body}");
    assert!(body["error"].as_str().is_some_and(|e| e.contains("consent_by")), "{body}");
    let (code, body) = json(&out, "camera-ok");
    assert_eq!((code, body["applied"].as_bool()), (200, Some(true)), "{body}\n{ctx}");
    let sha = body["portrait"]["sha256"].as_str().unwrap().to_string();
    assert_ne!(Some(sha.as_str()), status["portrait"]["sha256"].as_str());
    assert!(body["note"].as_str().is_some_and(|n| n.contains("camera /dev/video10")), "{body}");
    let (_, after) = json(&out, "status-camera");
    assert_eq!(after["portrait"]["sha256"].as_str(), Some(sha.as_str()));
    let consent = read(&out, "consent-after.toml");
    assert!(consent.contains(&sha) && consent.contains("the visitor in front of the kiosk") && consent.contains("public domain"), "{consent}");
    assert!(read(&out, "speakface-after.toml").contains(&format!("portraits/{sha}.png")), "the camera portrait was not saved in the config");
    // Read in rounds over about 30 s (guest.sh): the output may lag the reply by seconds.
    let cam_frames: Vec<image::RgbImage> =
        (0..8).flat_map(|r| (0..3).map(move |i| format!("v4l2-camera-{r}-{i:02}.png"))).map(|n| out.join(n)).filter(|p| p.exists()).map(|p| png(&p)).collect();
    assert!(cam_frames.len() >= 3, "only {} frames read from /dev/video11 after the camera portrait", cam_frames.len());
    let cam_frame = cam_frames.last().unwrap();
    let d = nearest(&cam_frames, &camera_portrait);
    assert!(d < 20.0 && d < apart / 3.0, "the output does not show the camera's portrait: {d:.1} (the old one: {apart:.1})");
    assert!(has_label(cam_frame, 0, 0, 1.0));

    // The camera gone: one-line refusal, allowlist untouched, the avatar goes on, clean exit.
    let (code, body) = json(&out, "camera-gone");
    assert_eq!(code, 422, "{body}");
    let err = body["error"].as_str().unwrap_or_default();
    assert!(err.contains("camera /dev/video10") && !err.contains('\n'), "{err}");
    assert_eq!(read(&out, "consent-gone.toml"), consent, "a refused snapshot changed the allowlist");
    let (_, end) = json(&out, "status-end");
    assert_eq!(end["portrait"]["sha256"].as_str(), Some(sha.as_str()));
    assert!(end["frames"].as_u64() > after["frames"].as_u64(), "no frames after the refused snapshot");
    assert_eq!(read(&out, "daemon.rc").trim(), "0", "{ctx}");
    let audit = read(&out, "audit.log");
    for needle in ["\"portrait.camera\"", "\"consent.add\""] {
        assert!(audit.contains(needle), "{needle} not in the audit log:\n{audit}");
    }
    assert!(audit.lines().any(|l| l.contains("portrait.camera") && l.contains("rejected")), "{audit}");
    let _ = std::fs::remove_dir_all(&out);
}
