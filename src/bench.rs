//! `speakface bench`: the whole live path, end to end, on the bundled portrait and speech.
//!
//! Starts `speakface run` as a child process (the playlist source looping the bundled speech,
//! RTSP on a free local port, nothing else), connects one RTSP viewer in this process
//! (rtspsrc ! avdec_h264: the viewer's CPU is not the daemon's), lets it settle, then measures
//! for `seconds`:
//! - frames the daemon sent per second (its per-frame log, `SPEAKFACE_FRAME_LOG`) and frames the
//!   viewer decoded per second (received, where GStreamer has no libav to decode with);
//! - the daemon's CPU time (/proc/PID/stat) as cores, and each core's busy share of the whole
//!   machine (/proc/stat);
//! - audio-in → frame-out latency per frame with speech (median, p99) and render time per frame;
//! - the daemon's peak resident memory (VmHWM).
//!
//! Each figure is shown beside its goal (issue 9) as a ratio; `--json` prints the same as JSON.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use serde::Serialize;

use crate::{Error, Result};

#[derive(Debug, Clone, Serialize)]
pub struct Figure {
    pub name: String,
    pub value: f64,
    pub unit: String,
    /// The goal, and whether lower is better.
    pub goal: Option<f64>,
    pub lower_is_better: bool,
}

impl Figure {
    fn ratio(&self) -> Option<f64> {
        self.goal.map(|g| self.value / g)
    }
    fn met(&self) -> Option<bool> {
        // Frame counts over a window are whole frames: 24.99 fps is 25.
        self.goal.map(|g| if self.lower_is_better { self.value <= g } else { self.value >= g * 0.99 })
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub seconds: f64,
    pub machine: String,
    pub cores: usize,
    pub figures: Vec<Figure>,
    /// Busy share of each core of the machine over the window (all processes), 0..1.
    pub per_core_busy: Vec<f64>,
    /// Where the daemon ran its models: its log line ("inference on cuda …", or the fallback).
    pub inference: String,
    /// The viewer's H.264 decoder, or "none" (frames received, not decoded).
    pub viewer_decoder: String,
}

impl Report {
    pub fn table(&self) -> String {
        let mut s = format!(
            "speakface bench: {:.0} s of the live path (512x512, 25 fps, x264, one RTSP viewer) on {} ({} cores)\n",
            self.seconds, self.machine, self.cores
        );
        s += &format!("{:<46} {:>15}  {:>8}  {:>6}\n", "figure", "measured", "goal", "ratio");
        for f in &self.figures {
            let goal = f.goal.map_or("-".into(), |g| format!("{}{g}", if f.lower_is_better { "<= " } else { ">= " }));
            let ratio = f.ratio().map_or("-".into(), |r| format!("{r:.2}"));
            let met = match f.met() {
                Some(true) => "met",
                Some(false) => "NOT MET",
                None => "",
            };
            s += &format!("{:<46} {:>9.2} {:<5}  {:>8}  {:>6}  {met}\n", f.name, f.value, f.unit, goal, ratio);
        }
        let cores: Vec<String> = self.per_core_busy.iter().enumerate().map(|(i, b)| format!("cpu{i} {:.0}%", b * 100.0)).collect();
        s += &format!("machine busy per core (all processes, viewer included): {}\n", cores.join(", "));
        s += &format!("daemon: {}; viewer decoder: {}\n", self.inference, self.viewer_decoder);
        s
    }
}

fn berr(m: impl std::fmt::Display) -> Error {
    Error::Other(format!("bench: {m}"))
}

fn cpu_ticks(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the ")" of the command name: state is field 3; utime 14, stime 15.
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// (busy, total) jiffies per core.
fn per_core() -> Vec<(u64, u64)> {
    std::fs::read_to_string("/proc/stat")
        .unwrap_or_default()
        .lines()
        .filter(|l| l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit))
        .map(|l| {
            let v: Vec<u64> = l.split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
            let total: u64 = v.iter().take(8).sum();
            let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
            (total - idle, total)
        })
        .collect()
}

fn vm_hwm_kb(pid: u32) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn quantile(v: &mut [f64], q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * q).round() as usize]
}

struct Daemon {
    child: Child,
    dir: PathBuf,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // SIGTERM, then wait; the folder goes with it.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let until = Instant::now() + Duration::from_secs(10);
        while Instant::now() < until {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(berr)?;
    Ok(l.local_addr().map_err(berr)?.port())
}

fn machine() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| c.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string()))
        .unwrap_or_else(|| std::env::consts::ARCH.to_string())
}

/// Runs the benchmark for `seconds` (after a 5 s settling time).
/// `lipsync` is the daemon's `motion.lipsync` ("model" or "heuristic").
pub fn run(seconds: f64, lipsync: &str) -> Result<Report> {
    gst::init().map_err(berr)?;
    let dir = std::env::temp_dir().join(format!("speakface-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(berr)?;
    let port = free_port()?;
    let speech = crate::util::dirs::default_speech();
    let cfg = dir.join("bench.toml");
    std::fs::write(
        &cfg,
        format!(
            "[audio]\nsource = \"file\"\nfiles = [\"{}\"]\n[output.rtsp]\nlisten = \"127.0.0.1:{port}\"\n\
             [api]\nenabled = false\n[daemon]\nstate_dir = \"state\"\nwatch_config = false\n\
             [consent]\nallowlist = \"{}\"\n[motion]\nlipsync = \"{lipsync}\"\n",
            speech.display(),
            crate::provenance::shipped_allowlist().display()
        ),
    )
    .map_err(berr)?;
    let frames_log = dir.join("frames.log");
    let log = dir.join("daemon.log");
    let exe = std::env::current_exe().map_err(berr)?;
    let child = Command::new(exe)
        .args(["run", "--config"])
        .arg(&cfg)
        .env("SPEAKFACE_FRAME_LOG", &frames_log)
        .env("SPEAKFACE_CACHE", dir.join("cache"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).map_err(berr)?)
        .spawn()
        .map_err(berr)?;
    let pid = child.id();
    let mut daemon = Daemon { child, dir: dir.clone() };
    let read_log = |p: &Path| {
        let mut s = String::new();
        let _ = std::fs::File::open(p).and_then(|mut f| f.read_to_string(&mut s));
        s
    };
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        let text = read_log(&log);
        if text.contains("live: running") {
            break;
        }
        if let Ok(Some(st)) = daemon.child.try_wait() {
            return Err(berr(format!("the daemon exited ({st}): {}", crate::error::one_line(&text))));
        }
        if Instant::now() > until {
            return Err(berr("the daemon did not start within 60 s"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }

    // The viewer, in this process.
    // Without gst-libav (a machine that only runs the daemon) the viewer counts the frames it
    // receives instead: one buffer per frame out of the depayloader.
    let decoder = if gst::ElementFactory::find("avdec_h264").is_some() { "avdec_h264" } else { "none" };
    let decode = if decoder == "none" { "" } else { "! avdec_h264 " };
    let viewer = gst::parse::launch(&format!(
        "rtspsrc location=rtsp://127.0.0.1:{port}/avatar protocols=tcp latency=100 ! rtph264depay {decode}! appsink name=v sync=false"
    ))
    .map_err(berr)?
    .downcast::<gst::Pipeline>()
    .map_err(|_| berr("viewer is not a pipeline"))?;
    let seen = Arc::new(AtomicU64::new(0));
    let sink = viewer.by_name("v").and_then(|e| e.downcast::<gst_app::AppSink>().ok()).ok_or_else(|| berr("no viewer sink"))?;
    let counter = seen.clone();
    sink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |s| {
                let _ = s.pull_sample();
                counter.fetch_add(1, Ordering::Relaxed);
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
    viewer.set_state(gst::State::Playing).map_err(|_| berr("the RTSP viewer does not start"))?;
    std::thread::sleep(Duration::from_secs(5));

    let ticks_per_s = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let (c0, k0, s0, t0) = (cpu_ticks(pid), per_core(), seen.load(Ordering::Relaxed), std::time::SystemTime::now());
    let w0 = Instant::now();
    std::thread::sleep(Duration::from_secs_f64(seconds));
    let (c1, k1, s1) = (cpu_ticks(pid), per_core(), seen.load(Ordering::Relaxed));
    let secs = w0.elapsed().as_secs_f64();
    let hwm = vm_hwm_kb(pid);
    let _ = viewer.set_state(gst::State::Null);
    let t0_ms = t0.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis()) as u64;
    let t1_ms = t0_ms + (secs * 1000.0) as u64;
    let (mut lat, mut render, mut sent) = (vec![], vec![], 0usize);
    for line in read_log(&frames_log).lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let Some(t) = f.first().and_then(|t| t.parse::<u64>().ok()) else { continue };
        if t < t0_ms || t >= t1_ms {
            continue;
        }
        sent += 1;
        if let Some(l) = f.get(1).and_then(|l| l.parse::<f64>().ok()) {
            lat.push(l);
        }
        if let Some(r) = f.get(2).and_then(|r| r.parse::<f64>().ok()) {
            render.push(r);
        }
    }
    if sent == 0 {
        return Err(berr(format!("the daemon logged no frames: {}", crate::error::one_line(&read_log(&log)))));
    }
    let cores = c0.zip(c1).map(|(a, b)| (b - a) as f64 / ticks_per_s / secs).ok_or_else(|| berr("cannot read the daemon's CPU time"))?;
    let per_core_busy = k0.iter().zip(&k1).map(|(a, b)| (b.0 - a.0) as f64 / ((b.1 - a.1).max(1)) as f64).collect();
    let fig = |name: &str, value: f64, unit: &str, goal: Option<f64>, lower: bool| Figure { name: name.into(), value, unit: unit.into(), goal, lower_is_better: lower };
    let figures = vec![
        fig("frames sent by the daemon per second", sent as f64 / secs, "fps", Some(25.0), false),
        fig(
            if decoder == "none" { "frames received by the RTSP viewer per second (not decoded)" } else { "frames decoded by the RTSP viewer per second" },
            (s1 - s0) as f64 / secs,
            "fps",
            Some(25.0),
            false,
        ),
        fig("daemon CPU", cores, "cores", Some(1.5), true),
        fig("audio-in -> frame-out latency, median", quantile(&mut lat, 0.5), "ms", Some(150.0), true),
        fig("audio-in -> frame-out latency, p99", quantile(&mut lat, 0.99), "ms", None, true),
        fig("render + label + watermark per frame, median", quantile(&mut render, 0.5), "ms", Some(40.0), true),
        fig("daemon peak RSS", hwm.map_or(f64::NAN, |k| k as f64 / 1024.0), "MB", Some(300.0), true),
    ];
    let text = read_log(&log);
    let inference = text
        .lines()
        .find(|l| l.contains("inference on ") || l.contains("inference.device ="))
        .map_or("no inference line in its log".into(), |l| l.trim_start_matches("speakface: ").trim().to_string());
    drop(daemon);
    Ok(Report { seconds: secs, machine: machine(), cores: k1.len(), figures, per_core_busy, inference, viewer_decoder: decoder.into() })
}

/// The fixed reference computation the stage ratios are taken against: a scalar bilinear
/// remap of a 512×512 RGB frame through a precomputed map (what OpenCV's `remap` does). It
/// depends on nothing in speakface, so a change that slows a stage moves the ratio, while a
/// slower or busier machine moves both.
pub struct Reference {
    src: Vec<u8>,
    map: Vec<(f32, f32)>,
    dst: Vec<u8>,
}

impl Reference {
    pub const SIZE: usize = 512;

    /// The source position of destination pixel (x, y): a mild warp (pixel centres at integers,
    /// as OpenCV's `remap` counts them).
    pub fn map(x: usize, y: usize) -> (f32, f32) {
        (x as f32 + 3.0 * (y as f32 / 40.0).sin(), y as f32 + 2.0 * (x as f32 / 50.0).cos())
    }

    pub fn new(src: Vec<u8>) -> Reference {
        let (w, h) = (Self::SIZE, Self::SIZE);
        let map = (0..h).flat_map(|y| (0..w).map(move |x| Self::map(x, y))).collect();
        Reference { src, map, dst: vec![0; w * h * 3] }
    }

    pub fn run(&mut self) -> u8 {
        let (w, h) = (Self::SIZE, Self::SIZE);
        let src = &self.src;
        for (i, &(sx, sy)) in self.map.iter().enumerate() {
            let (x0, y0) = (sx.floor().clamp(0.0, (w - 2) as f32), sy.floor().clamp(0.0, (h - 2) as f32));
            let (fx, fy) = ((sx - x0).clamp(0.0, 1.0), (sy - y0).clamp(0.0, 1.0));
            let (x0, y0) = (x0 as usize, y0 as usize);
            let p = (y0 * w + x0) * 3;
            for k in 0..3 {
                let a = src[p + k] as f32 * (1.0 - fx) + src[p + 3 + k] as f32 * fx;
                let b = src[p + w * 3 + k] as f32 * (1.0 - fx) + src[p + w * 3 + 3 + k] as f32 * fx;
                self.dst[i * 3 + k] = (a * (1.0 - fy) + b * fy + 0.5) as u8;
            }
        }
        self.dst[0]
    }

    /// The last remapped frame (RGB24, 512×512).
    pub fn output(&self) -> &[u8] {
        &self.dst
    }
}

/// One stage's time against the reference, from the same run.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct StageRatio {
    pub stage: String,
    pub median_ms: f64,
    pub reference_ms: f64,
    pub ratio: f64,
}

fn median(mut v: Vec<f64>) -> f64 {
    quantile(&mut v, 0.5)
}

/// Times each stage and the reference `iters` times, interleaved, and returns the medians and
/// their ratios (stage / reference).
pub fn stages(iters: usize) -> Result<Vec<StageRatio>> {
    use crate::motion_params::{MotionFrame, Param};
    let cfg = crate::config::Config::default();
    let portrait = crate::util::dirs::default_portrait();
    let (img, analysis) = crate::face::analyze_portrait(&cfg, &portrait)?;
    let rig = crate::face::rig::Rig::build(&img, &analysis, 512, 512, 1.0);
    let mut renderer = crate::render::Renderer::new(&rig);
    let mut m = MotionFrame::default();
    for (p, v) in [("jawOpen", 0.4), ("mouthSmileLeft", 0.3), ("headYaw", 8.0), ("headPitch", -3.0)] {
        if let Some(p) = Param::from_name(p) {
            m.set(p, v);
        }
    }
    let frame = rig.image.as_raw().clone();
    let mut reference = Reference::new(frame.clone());
    let mut stamp = crate::provenance::Stamp::new(&cfg, 512, 512);
    let mut buf = frame.clone();
    let speech = crate::audio::read_wav(&crate::util::dirs::default_speech())?;
    let second = speech.mono16k[8000..24000].to_vec();
    let mut mel = crate::audio::mel::LogMel::new();
    let lip = crate::mouth::LipModel::load(&crate::util::dirs::default_models_dir())?;
    let names = ["render_512", "label_watermark_512", "log_mel_1s", "audio2motion_int8_1s"];
    let mut times: Vec<Vec<f64>> = vec![vec![]; names.len()];
    let mut refs = vec![];
    let ms = |t: Instant| t.elapsed().as_secs_f64() * 1000.0;
    for _ in 0..iters.max(3) {
        let t = Instant::now();
        std::hint::black_box(reference.run());
        refs.push(ms(t));
        let t = Instant::now();
        std::hint::black_box(renderer.render(&rig, &m).len());
        times[0].push(ms(t));
        let t = Instant::now();
        buf.copy_from_slice(&frame);
        stamp.apply(&mut buf);
        times[1].push(ms(t));
        let t = Instant::now();
        std::hint::black_box(mel.compute(&second));
        times[2].push(ms(t));
        let t = Instant::now();
        std::hint::black_box(lip.run(&second, 25)?);
        times[3].push(ms(t));
    }
    let r = median(refs);
    Ok(names
        .iter()
        .zip(times)
        .map(|(n, t)| {
            let med = median(t);
            StageRatio { stage: n.to_string(), median_ms: med, reference_ms: r, ratio: med / r }
        })
        .collect())
}

/// Compares with a baseline written by `--write-baseline`: the stages whose ratio grew by more
/// than `tolerance` (0.25 = 25 %), as one line each.
pub fn regressions(now: &[StageRatio], baseline: &[StageRatio], tolerance: f64) -> Vec<String> {
    now.iter()
        .filter_map(|s| {
            let b = baseline.iter().find(|b| b.stage == s.stage)?;
            (s.ratio > b.ratio * (1.0 + tolerance)).then(|| {
                format!("{}: {:.3} × the reference, baseline {:.3} (+{:.0} %, limit +{:.0} %)", s.stage, s.ratio, b.ratio, (s.ratio / b.ratio - 1.0) * 100.0, tolerance * 100.0)
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regressions_are_ratios_beyond_the_tolerance() {
        let s = |n: &str, r: f64| StageRatio { stage: n.into(), median_ms: r, reference_ms: 1.0, ratio: r };
        let base = vec![s("a", 1.0), s("b", 2.0)];
        assert!(regressions(&[s("a", 1.2), s("b", 2.4)], &base, 0.25).is_empty());
        let r = regressions(&[s("a", 1.3), s("b", 1.0), s("c", 9.0)], &base, 0.25);
        assert_eq!(r.len(), 1, "{r:?}");
        assert!(r[0].starts_with("a: 1.300"), "{r:?}");
    }
}
