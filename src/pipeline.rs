//! The live daemon's wiring (`speakface run`): capture thread → bounded audio ring → the engine
//! thread (features → mouth → face motion → render) → the GStreamer outputs, plus the RTSP
//! server's own loop. The engine ticks on the wall clock at the video rate and takes exactly one
//! frame's worth of speech per tick, so nothing queues: when capture stalls or vanishes the gap is
//! silence (the face idles: breathing, blinks, glances, mouth closed), when audio piles up beyond
//! 40 ms the oldest is dropped, and when rendering falls behind, frames are skipped (their audio
//! still goes out) instead of queueing.
//!
//! Sync: video frame *i* shows the speech at `i / fps`; its mouth is known once the audio up to
//! `i / fps` + the look-ahead has arrived, and that frame's own 40 ms of speech is sent out with
//! it, so the speech leaves delayed by exactly the look-ahead and lips and sound line up.
//! Latency (audio captured → frame handed to the outputs) is measured per frame.
//!
//! Changes arrive on the engine's channel as whole, already-built parts (a new rig, a new config)
//! from the reloader (`control::reload`); the engine swaps them in between two frames, rebuilding
//! outputs or capture itself when their settings changed and going back to the old ones if the
//! new ones do not start.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::audio::capture::{self, AudioRing, Capture, Source, Taken};
use crate::audio::ANALYSIS_RATE;
use crate::config::{Changes, Config};
use crate::control::{self, lock, PortraitInfo, Shared};
use crate::lipsync::{LipModel, ModelTracker};
use crate::motion::{Animator, MouthShape, MouthTracker};
use crate::output::live::{LiveOutput, RtspServer};
use crate::render::Renderer;
use crate::provenance::{self, Stamp};
use crate::rig::Rig;
use crate::{daemon, job, Error, Result};

/// Upper bounds (ms) of the audio-in → frame-out latency histogram exported in /metrics.
pub const LATENCY_BUCKETS_MS: [f64; 11] = [25.0, 50.0, 75.0, 100.0, 125.0, 150.0, 200.0, 300.0, 500.0, 1000.0, 2000.0];

/// Live figures, shared with the stats log, status and metrics.
#[derive(Debug, Default)]
pub struct Metrics {
    pub frames_out: AtomicU64,
    /// Frames not rendered because the engine was late.
    pub frames_skipped: AtomicU64,
    /// Ticks with no speech at all (device absent or silent source, nothing queued).
    pub ticks_without_audio: AtomicU64,
    /// Output pipeline restarts after an error.
    pub output_restarts: AtomicU64,
    /// Errors reported by the output pipeline.
    pub output_errors: AtomicU64,
    /// Latency histogram: counts per bucket of `LATENCY_BUCKETS_MS` (cumulated when exported),
    /// the last one for anything slower; sum in microseconds.
    pub latency_buckets: [AtomicU64; 12],
    pub latency_sum_us: AtomicU64,
    /// Frames per second over the last summary window, times 1000.
    pub fps_milli: AtomicU64,
    window: Mutex<StatsWindow>,
    /// The last window's summary.
    pub last: Mutex<Stats>,
}

#[derive(Debug, Default)]
struct StatsWindow {
    latency_ms: Vec<f32>,
    render_ms: Vec<f32>,
    frames: u64,
    since: Option<Instant>,
}

/// A summary of the last stats window.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    pub fps: f64,
    pub latency_median_ms: f32,
    pub latency_p95_ms: f32,
    pub render_median_ms: f32,
    pub latency_samples: usize,
}

fn quantile(v: &mut [f32], q: f32) -> f32 {
    if v.is_empty() {
        return f32::NAN;
    }
    v.sort_unstable_by(|a, b| a.total_cmp(b));
    v[((v.len() - 1) as f32 * q).round() as usize]
}

/// `SPEAKFACE_FRAME_LOG=FILE`: one line per frame sent ("unix_ms latency_ms|- render_ms"), for
/// `speakface bench`; off (and free) otherwise.
fn frame_log() -> Option<&'static Mutex<std::fs::File>> {
    static LOG: std::sync::OnceLock<Option<Mutex<std::fs::File>>> = std::sync::OnceLock::new();
    LOG.get_or_init(|| {
        let path = std::env::var_os("SPEAKFACE_FRAME_LOG")?;
        std::fs::OpenOptions::new().create(true).append(true).open(path).ok().map(Mutex::new)
    })
    .as_ref()
}

impl Metrics {
    fn record(&self, latency_ms: Option<f32>, render_ms: f32) {
        if let Some(f) = frame_log() {
            use std::io::Write;
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
            let lat = latency_ms.map_or("-".to_string(), |l| format!("{l:.2}"));
            let _ = writeln!(lock(f), "{now} {lat} {render_ms:.3}");
        }
        if let Some(l) = latency_ms {
            let b = LATENCY_BUCKETS_MS.iter().position(|&ub| l as f64 <= ub).unwrap_or(LATENCY_BUCKETS_MS.len());
            self.latency_buckets[b].fetch_add(1, Ordering::Relaxed);
            self.latency_sum_us.fetch_add((l * 1000.0) as u64, Ordering::Relaxed);
        }
        let mut w = self.window.lock().unwrap_or_else(|p| p.into_inner());
        if w.since.is_none() {
            w.since = Some(Instant::now());
        }
        if let Some(l) = latency_ms {
            if w.latency_ms.len() < 100_000 {
                w.latency_ms.push(l);
            }
        }
        if w.render_ms.len() < 100_000 {
            w.render_ms.push(render_ms);
        }
        w.frames += 1;
    }

    /// Summarises and restarts the window.
    pub fn take_stats(&self) -> Stats {
        let mut w = self.window.lock().unwrap_or_else(|p| p.into_inner());
        let secs = w.since.map_or(0.0, |s| s.elapsed().as_secs_f64());
        let s = Stats {
            fps: if secs > 0.0 { w.frames as f64 / secs } else { 0.0 },
            latency_median_ms: quantile(&mut w.latency_ms, 0.5),
            latency_p95_ms: quantile(&mut w.latency_ms, 0.95),
            render_median_ms: quantile(&mut w.render_ms, 0.5),
            latency_samples: w.latency_ms.len(),
        };
        *w = StatsWindow { latency_ms: Vec::with_capacity(4096), render_ms: Vec::with_capacity(4096), frames: 0, since: Some(Instant::now()) };
        self.fps_milli.store((s.fps * 1000.0) as u64, Ordering::Relaxed);
        *lock(&self.last) = s.clone();
        s
    }
}


/// Audio the ring may hold beyond one tick before the oldest is dropped.
const MAX_BACKLOG_S: f64 = 0.04;
/// Further ticks the engine may be late before it skips frames.
const MAX_LATE_TICKS: u64 = 2;
/// How often the figures for status and metrics are summarised.
const SUMMARY_EVERY: Duration = Duration::from_secs(5);

/// The speech source from the config.
pub fn audio_source(cfg: &Config) -> Source {
    if cfg.audio.source == "file" {
        Source::Files { files: cfg.audio.files.clone(), gap_s: cfg.audio.gap_s, looped: cfg.audio.looped }
    } else {
        Source::Alsa { device: cfg.audio.device.clone() }
    }
}

/// Speech → mouth frames on the live stream: the rules or the trained model.
enum Mouth {
    Rules(MouthTracker),
    Model(ModelTracker),
}

impl Mouth {
    fn new(lip: Option<&LipModel>, fps: f32) -> Mouth {
        match lip {
            Some(m) => Mouth::Model(ModelTracker::new(m, fps)),
            None => Mouth::Rules(MouthTracker::new(fps)),
        }
    }

    fn push(&mut self, samples: &[f32], out: &mut Vec<MouthShape>) -> Result<()> {
        match self {
            Mouth::Rules(t) => {
                t.push(samples, out);
                Ok(())
            }
            Mouth::Model(t) => t.push(samples, out),
        }
    }
}

/// A portrait made ready to animate: its rig and a renderer for it.
pub struct Face {
    pub rig: Rig,
    pub renderer: Renderer,
    pub portrait: PortraitInfo,
    /// Why this portrait may be animated (the consent allowlist entry, or the check is off).
    pub consent: provenance::Consent,
}

/// Analyses the configured portrait and builds its rig at the configured size (a second or so;
/// run it beside the engine, never inside it).
/// Largest portrait file the daemon reads.
pub const MAX_PORTRAIT_BYTES: u64 = 64 << 20;

pub fn build_face(cfg: &Config) -> Result<Face> {
    let path = cfg.portrait.image.clone().unwrap_or_else(job::default_portrait);
    // Read once, bounded: these bytes are hashed for the consent check and then analysed, so a
    // file swapped in between cannot be animated unchecked.
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    if size > MAX_PORTRAIT_BYTES {
        return Err(Error::Image { path, message: format!("{} MB is larger than a portrait may be ({} MB)", size >> 20, MAX_PORTRAIT_BYTES >> 20) });
    }
    let bytes = std::fs::read(&path).map_err(|e| Error::Image { path: path.clone(), message: format!("cannot read: {e}") })?;
    let sha256 = hex::encode(Sha256::digest(&bytes));
    // Consent first: a portrait nobody agreed to is not even analysed.
    let consent = provenance::check_consent(cfg, &path, &sha256)?;
    let (img, analysis) = job::analyze_portrait_bytes(cfg, &path, &bytes)?;
    let rig = Rig::build(&img, &analysis, cfg.video.width, cfg.video.height, cfg.motion.head_distance);
    let renderer = Renderer::new(&rig);
    let portrait = PortraitInfo { path, sha256, width: img.width(), height: img.height() };
    Ok(Face { rig, renderer, portrait, consent })
}

/// A config change, its parts built, for the engine to swap in.
pub struct Prepared {
    pub cfg: Config,
    pub changes: Changes,
    /// The new portrait's rig when `changes.face`.
    pub face: Option<Face>,
    /// The lip-sync model, loaded anew when the change selects it or moves the models folder.
    pub lip: Option<LipModel>,
}

/// A rendered frame (RGB24).
pub struct Snapshot {
    pub width: u32,
    pub height: u32,
    pub rgb: Vec<u8>,
}

/// What the engine takes from the other threads.
pub enum EngineMsg {
    /// Swap in a change; the reply says whether it took, or why not (the old parts still run).
    Apply { prepared: Box<Prepared>, reply: mpsc::Sender<std::result::Result<(), String>> },
    /// A copy of the next frame.
    Snapshot { reply: tokio::sync::oneshot::Sender<Snapshot> },
}

/// The running parts and the frame clock.
struct Engine {
    cfg: Config,
    shared: Arc<Shared>,
    face: Face,
    ring: Arc<AudioRing>,
    capture: Option<Capture>,
    rtsp: Option<RtspServer>,
    output: Option<LiveOutput>,
    restart_at: Option<Instant>,
    restart_backoff: Duration,
    /// When the running output pipeline started.
    outputs_since: Option<Instant>,
    tracker: Mouth,
    /// The lip-sync model when `motion.lipsync = "model"`.
    lip: Option<LipModel>,
    animator: Animator,
    // The clock: `ticks` due since `t0` at `fps`; `frame` frames made.
    fps: f64,
    t0: Instant,
    ticks: u64,
    frame: u64,
    buf: Vec<f32>,
    taken: Taken,
    mouths: Vec<MouthShape>,
    /// Speech not yet sent out, from stream index `pending_start`.
    pending: VecDeque<f32>,
    pending_start: u64,
    /// Capture time of stream samples: (stream index one past the batch, when captured).
    marks: VecDeque<(u64, Instant)>,
    out_audio: Vec<i16>,
    snapshots: Vec<tokio::sync::oneshot::Sender<Snapshot>>,
    /// Label and watermark, applied to every frame before any output sees it.
    stamp: Stamp,
    /// The frame being sent: the render, stamped.
    frame_buf: Vec<u8>,
}

impl Engine {
    fn stream_at(&self, k: u64) -> u64 {
        (k as f64 * ANALYSIS_RATE as f64 / self.fps).round() as u64
    }

    /// Starts the frame clock (again) at the config's rate: a new mouth tracker and animator.
    fn reset_clock(&mut self) {
        self.fps = self.cfg.video.fps as f64;
        self.t0 = Instant::now();
        self.ticks = 0;
        self.frame = 0;
        self.buf = vec![0.0; (self.stream_at(1) + 1) as usize];
        self.pending.clear();
        self.pending_start = 0;
        self.marks.clear();
        self.tracker = Mouth::new(self.lip.as_ref(), self.fps as f32);
        self.animator = Animator::new(self.cfg.motion_settings());
    }

    fn describe_outputs(&self) -> String {
        let mut v = vec![];
        if let Some(o) = &self.output {
            if let Some(s) = &o.display_sink {
                v.push(format!("display ({s})"));
            }
            if let Some(r) = &self.rtsp {
                v.push(format!("rtsp (port {}, {})", r.port, r.url_path));
            }
            if self.cfg.output.record.enabled {
                v.push(format!("record ({})", self.cfg.output.record.dir.display()));
            }
            if self.cfg.output.v4l2.enabled {
                v.push(format!("v4l2 ({})", self.cfg.output.v4l2.device.display()));
            }
            if let Some(e) = &o.encoder {
                v.push(format!("encoder {e}"));
            }
        }
        if v.is_empty() {
            "none".into()
        } else {
            v.join(", ")
        }
    }

    /// Starts the outputs of `cfg` (and the RTSP server when `new_rtsp`) in place of none.
    fn start_outputs(&mut self, cfg: &Config, new_rtsp: bool) -> Result<()> {
        if new_rtsp && cfg.output.rtsp.enabled {
            self.rtsp = Some(RtspServer::start(cfg)?);
        }
        self.output = Some(LiveOutput::start(cfg, self.rtsp.as_ref(), &self.face.portrait.sha256)?);
        self.outputs_since = Some(Instant::now());
        Ok(())
    }

    /// Swaps in a prepared change. Outputs go first, as the part that can still fail: if the new
    /// ones do not start, the old config's are started again and nothing else changes.
    fn apply(&mut self, p: Prepared) -> std::result::Result<(), String> {
        let ch = p.changes;
        if ch.outputs || ch.rtsp {
            // The old pipeline goes first: it holds the encoder, the MP4 segment, the v4l2 device.
            self.output = None;
            if ch.rtsp {
                self.rtsp = None;
            }
            if let Err(e) = self.start_outputs(&p.cfg, ch.rtsp) {
                let why = crate::error::one_line(&e.to_string());
                log::error!("reload: new outputs do not start ({why}); going back to the previous ones");
                self.output = None;
                if ch.rtsp {
                    self.rtsp = None;
                }
                let old = self.cfg.clone();
                if let Err(e2) = self.start_outputs(&old, ch.rtsp) {
                    log::error!("previous outputs do not start either ({e2}); retrying");
                    self.restart_at = Some(Instant::now() + self.restart_backoff);
                }
                return Err(format!("outputs: {why}"));
            }
        }
        if ch.audio {
            self.capture = None;
            match capture::start(audio_source(&p.cfg), self.ring.clone(), self.shared.capture.clone()) {
                Ok(c) => self.capture = Some(c),
                Err(e) => log::error!("cannot start capture: {e}; animating idle"),
            }
        }
        let restamp = p.face.is_some() || p.cfg.provenance != self.cfg.provenance;
        if let Some(face) = p.face {
            self.face = face;
        }
        let seed_changed = p.cfg.motion.seed != self.cfg.motion.seed;
        // A new mouth tracker restarts the clock: its look-ahead (the speech's delay) differs.
        let retrack = p.lip.is_some() || p.cfg.motion.lipsync != self.cfg.motion.lipsync;
        if p.lip.is_some() || p.cfg.motion.lipsync != "model" {
            self.lip = p.lip;
        }
        self.cfg = p.cfg;
        if restamp {
            self.stamp = Stamp::new(&self.cfg, self.face.rig.width, self.face.rig.height);
        }
        if ch.clock || retrack {
            self.reset_clock();
        } else if seed_changed {
            self.animator = Animator::new(self.cfg.motion_settings());
        } else if ch.motion {
            self.animator.set_settings(self.cfg.motion_settings());
        }
        *lock(&self.shared.outputs) = self.describe_outputs();
        Ok(())
    }

    fn handle(&mut self, msg: EngineMsg) {
        match msg {
            EngineMsg::Apply { prepared, reply } => {
                let r = self.apply(*prepared);
                let _ = reply.send(r);
            }
            EngineMsg::Snapshot { reply } => self.snapshots.push(reply),
        }
    }

    /// One pass: the due ticks' audio in, the last due frame rendered and out.
    fn step(&mut self) {
        let now = Instant::now();
        let due = (now.duration_since(self.t0).as_secs_f64() * self.fps) as u64 + 1;
        if due <= self.ticks {
            let tick = Duration::from_secs_f64(1.0 / self.fps);
            let next = self.t0 + Duration::from_secs_f64(self.ticks as f64 / self.fps);
            std::thread::sleep(next.saturating_duration_since(Instant::now()).min(tick));
            return;
        }
        let metrics = &self.shared.metrics;
        let mut todo = due - self.ticks;
        if todo > MAX_LATE_TICKS + 1 {
            // Far behind (a stall): keep the audio of the last few ticks only.
            let skip = todo - (MAX_LATE_TICKS + 1);
            metrics.frames_skipped.fetch_add(skip, Ordering::Relaxed);
            self.ticks += skip;
            todo -= skip;
        }
        // --- audio for the due ticks ---------------------------------------------------------
        let max_backlog = (MAX_BACKLOG_S * ANALYSIS_RATE as f64) as usize;
        self.mouths.clear();
        for _ in 0..todo {
            let (s0, s1) = (self.stream_at(self.ticks), self.stream_at(self.ticks + 1));
            let n = (s1 - s0) as usize;
            if self.ring.len() > n + max_backlog {
                self.ring.trim_to(n + max_backlog / 2);
            }
            let got = self.ring.take(&mut self.buf[..n], &mut self.taken);
            self.buf[got..n].iter_mut().for_each(|x| *x = 0.0);
            let queued = self.shared.speech.mix_into(&mut self.buf[..n]);
            if got == 0 && queued == 0 {
                metrics.ticks_without_audio.fetch_add(1, Ordering::Relaxed);
            }
            for &(off, at) in &self.taken.marks {
                if self.marks.len() == self.marks.capacity() {
                    self.marks.pop_front();
                }
                self.marks.push_back((s0 + off as u64, at));
            }
            if let Err(e) = self.tracker.push(&self.buf[..n], &mut self.mouths) {
                // Not expected of a model that loaded and passed its checks; the rules go on.
                log::error!("lip-sync model: {}; the mouth follows the rules from now on", crate::error::one_line(&e.to_string()));
                self.lip = None;
                self.reset_clock();
                return;
            }
            self.pending.extend(&self.buf[..n]);
            self.ticks += 1;
        }
        // --- motion, render, out -------------------------------------------------------------
        let last = self.mouths.len().saturating_sub(1);
        self.out_audio.clear();
        for j in 0..self.mouths.len() {
            let motion = self.animator.step(&self.mouths[j]);
            let (a0, a1) = (self.stream_at(self.frame), self.stream_at(self.frame + 1));
            let take = ((a1.max(self.pending_start) - self.pending_start) as usize).min(self.pending.len());
            self.out_audio.extend(self.pending.drain(..take).map(|x| (x.clamp(-1.0, 1.0) * 32767.0) as i16));
            self.pending_start += take as u64;
            self.frame += 1;
            if j < last {
                metrics.frames_skipped.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            let r0 = Instant::now();
            let rgb = self.face.renderer.render(&self.face.rig, &motion);
            self.frame_buf.clear();
            self.frame_buf.extend_from_slice(rgb);
            self.stamp.apply(&mut self.frame_buf);
            let rgb = &self.frame_buf[..];
            let render_ms = r0.elapsed().as_secs_f32() * 1000.0;
            if let Some(o) = &self.output {
                if let Err(e) = o.push(rgb, &self.out_audio) {
                    log::warn!("output: {e}");
                }
            }
            for reply in self.snapshots.drain(..) {
                let _ = reply.send(Snapshot { width: self.face.rig.width, height: self.face.rig.height, rgb: rgb.to_vec() });
            }
            let done = Instant::now();
            // Latency: from the capture of the speech this frame shows (at a0) to now.
            while self.marks.front().is_some_and(|&(end, _)| end <= a0) {
                self.marks.pop_front();
            }
            // Only when that speech was captured (not silence padded in for a missing device).
            let latency = self
                .marks
                .front()
                .filter(|&&(end, _)| end <= a0 + capture::PERIOD_FRAMES as u64)
                .map(|&(_, at)| done.duration_since(at).as_secs_f32() * 1000.0);
            metrics.record(latency, render_ms);
            metrics.frames_out.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Output pipeline failures: drop it, rebuild with backoff.
    fn watch_outputs(&mut self) {
        if let Some(o) = &self.output {
            if let Some(e) = o.poll_error() {
                self.shared.metrics.output_errors.fetch_add(1, Ordering::Relaxed);
                // A pipeline that fails again soon after a restart (a sink that starts but cannot
                // show a frame) is retried less and less often, not every second forever.
                if self.outputs_since.is_some_and(|t| t.elapsed() < HEALTHY_AFTER) {
                    self.restart_backoff = (self.restart_backoff * 2).min(Duration::from_secs(30));
                } else {
                    self.restart_backoff = Duration::from_secs(1);
                }
                log::error!("output pipeline failed: {e}; restarting it in {} s", self.restart_backoff.as_secs());
                self.output = None;
                self.restart_at = Some(Instant::now() + self.restart_backoff);
            }
        } else if self.restart_at.is_some_and(|t| Instant::now() >= t) {
            let rtsp_missing = self.cfg.output.rtsp.enabled && self.rtsp.is_none();
            let cfg = self.cfg.clone();
            match self.start_outputs(&cfg, rtsp_missing) {
                Ok(()) => {
                    log::info!("output pipeline restarted");
                    self.shared.metrics.output_restarts.fetch_add(1, Ordering::Relaxed);
                    self.restart_at = None;
                }
                Err(e) => {
                    self.restart_backoff = (self.restart_backoff * 2).min(Duration::from_secs(30));
                    log::error!("output pipeline restart failed: {e}; next try in {} s", self.restart_backoff.as_secs());
                    self.restart_at = Some(Instant::now() + self.restart_backoff);
                }
            }
            *lock(&self.shared.outputs) = self.describe_outputs();
        }
    }
}

/// An output pipeline that has run this long counts as healthy: its next failure is retried after
/// 1 s again.
const HEALTHY_AFTER: Duration = Duration::from_secs(30);

/// Audit record of a portrait going on air, with why it may.
pub fn audit_portrait_use(audit: &control::audit::Audit, who: &str, face: &Face) {
    let consent = face.consent.describe();
    log::info!("portrait {} (sha256 {}): {consent}", face.portrait.path.display(), face.portrait.sha256);
    audit.record(who, "portrait.use", "ok", &format!("{} sha256 {}; {consent}", face.portrait.path.display(), face.portrait.sha256));
}

/// Audit records (and a warning) for the label or watermark being off, or switched by a reload.
pub fn audit_provenance(audit: &control::audit::Audit, who: &str, old: Option<&Config>, new: &Config) {
    let items = [("label", old.map(|c| c.provenance.label), new.provenance.label), ("watermark", old.map(|c| c.provenance.watermark), new.provenance.watermark)];
    for (name, before, now) in items {
        if before == Some(now) || (before.is_none() && now) {
            continue;
        }
        if now {
            audit.record(who, &format!("provenance.{name}"), "on", &format!("provenance.{name} = true"));
        } else {
            log::warn!("provenance.{name} = false: frames go out without the {name}");
            audit.record(who, &format!("provenance.{name}"), "off", &format!("provenance.{name} = false in the config"));
        }
    }
    if !new.consent.required && old.is_none_or(|o| o.consent.required) {
        log::warn!("consent.required = false: portraits are animated without a consent check");
        audit.record(who, "consent.check", "off", "consent.required = false in the config");
    } else if new.consent.required && old.is_some_and(|o| !o.consent.required) {
        audit.record(who, "consent.check", "on", "consent.required = true");
    }
}

/// For tests of the watchdog: stall the frame loop on purpose after this many frames.
fn stall_after() -> Option<u64> {
    std::env::var("SPEAKFACE_TEST_STALL_AFTER_FRAMES").ok()?.parse().ok()
}

/// Runs the live daemon until `stop` is set; `reload` (set by SIGHUP) asks for the config file to
/// be read again. Start-up problems (portrait, models, outputs, ports) are returned as errors;
/// faults while running are logged and recovered.
pub fn run(cfg: Config, config_path: Option<PathBuf>, stop: &AtomicBool, reload: Arc<AtomicBool>) -> Result<()> {
    let state = control::state_dir(&cfg);
    std::fs::create_dir_all(&state)
        .map_err(|e| Error::Other(format!("daemon.state_dir {}: cannot create: {e}", state.display())))?;
    let audit_path = state.join("audit.log");
    let audit = control::audit::Audit::open_sized(&audit_path, cfg.daemon.audit_max_mb)
        .map_err(|e| Error::Other(format!("audit log {}: cannot open: {e}", audit_path.display())))?;
    if let Some(b) = &cfg.chosen_board {
        log::info!("board profile: {} ({})", b.name, b.reason);
    }
    // Before any model loads: every model of the process runs where this decides.
    let inference = crate::infer::select_device(&cfg.inference.device, &crate::infer::default_models_dir());
    match &inference.fallback {
        Some(why) => log::warn!("inference.device = \"{}\" not used, the models run on the CPU: {why}", inference.configured),
        None => log::info!("inference on {} (configured \"{}\")", inference.device, inference.configured),
    }
    // A portrait or playlist entry that is a device, or a playlist entry that is no WAV, would
    // hang or exhaust the daemon: refused before anything starts.
    control::remote::check_files(&cfg).map_err(|e| Error::Config { path: config_path.clone().unwrap_or_default(), message: e })?;
    let lip = LipModel::configured(&cfg)?;
    log::info!("lip sync: {}", if lip.is_some() { "the trained model (audio2motion)" } else { "the rules" });
    let face = match build_face(&cfg) {
        Ok(f) => f,
        Err(e) => {
            if let Error::Consent { path, .. } = &e {
                audit.record("daemon", "portrait.refused", "refused", &format!("{}: {e}", path.display()));
            }
            return Err(e);
        }
    };
    log::info!("portrait {} ready ({} x {} px)", face.portrait.path.display(), face.portrait.width, face.portrait.height);
    let mut keeper = control::guard::Keeper::new(config_path.clone(), &cfg);
    let shared = Arc::new(Shared::new(cfg.clone(), config_path, face.portrait.clone(), audit, inference));
    shared.audit.record("daemon", "start", "ok", &format!("portrait {} sha256 {}", face.portrait.path.display(), face.portrait.sha256));
    audit_portrait_use(&shared.audit, "daemon", &face);
    audit_provenance(&shared.audit, "daemon", None, &cfg);
    let stamp = Stamp::new(&cfg, face.rig.width, face.rig.height);
    if cfg.provenance.watermark {
        log::info!("watermark: device id {:08x}", stamp.device());
    }

    let (engine_tx, engine_rx) = mpsc::channel::<EngineMsg>();
    let reloader = control::reload::start(shared.clone(), engine_tx.clone(), reload)?;
    let api = if cfg.api.enabled {
        Some(control::api::start(&cfg, shared.clone(), engine_tx.clone(), reloader.sender())?)
    } else {
        None
    };
    drop(engine_tx);

    let ring = Arc::new(AudioRing::new(ANALYSIS_RATE as usize * 2));
    let mut e = Engine {
        cfg: cfg.clone(),
        shared: shared.clone(),
        face,
        ring: ring.clone(),
        capture: None,
        rtsp: None,
        output: None,
        restart_at: None,
        restart_backoff: Duration::from_secs(1),
        outputs_since: None,
        tracker: Mouth::new(lip.as_ref(), cfg.video.fps as f32),
        lip,
        animator: Animator::new(cfg.motion_settings()),
        fps: cfg.video.fps as f64,
        t0: Instant::now(),
        ticks: 0,
        frame: 0,
        buf: vec![],
        taken: Taken::default(),
        mouths: Vec::with_capacity(8),
        pending: VecDeque::with_capacity(ANALYSIS_RATE as usize),
        pending_start: 0,
        marks: VecDeque::with_capacity(512),
        out_audio: Vec::with_capacity(ANALYSIS_RATE as usize),
        snapshots: vec![],
        stamp,
        frame_buf: Vec::new(),
    };
    e.start_outputs(&cfg, true)?;
    let outputs = e.describe_outputs();
    log::info!("outputs: {outputs}");
    *lock(&shared.outputs) = outputs;
    e.capture = Some(
        capture::start(audio_source(&cfg), ring, shared.capture.clone())
            .map_err(|err| Error::Other(format!("cannot start capture: {err}")))?,
    );

    let watchdog = daemon::watchdog_interval();
    let stats_every = Duration::from_secs(
        std::env::var("SPEAKFACE_STATS_S").ok().and_then(|v| v.parse().ok()).filter(|&s: &u64| s > 0).unwrap_or(60),
    );
    let summary_every = SUMMARY_EVERY.min(stats_every);
    let stall_at = stall_after();
    let mut next_summary = Instant::now() + summary_every;
    let mut next_stats = Instant::now() + stats_every;
    let mut last_ping = Instant::now();
    let mut ready = false;
    e.reset_clock();

    while !stop.load(Ordering::SeqCst) {
        while let Ok(msg) = engine_rx.try_recv() {
            e.handle(msg);
        }
        e.step();
        let metrics = &shared.metrics;
        if stall_at.is_some_and(|n| metrics.frames_out.load(Ordering::Relaxed) >= n) {
            log::warn!("frame loop stalled on purpose (SPEAKFACE_TEST_STALL_AFTER_FRAMES)");
            while !stop.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(50));
            }
            break;
        }
        // --- housekeeping --------------------------------------------------------------------
        if !ready && metrics.frames_out.load(Ordering::Relaxed) > 0 {
            ready = true;
            daemon::notify("READY=1\nSTATUS=animating");
            log::info!("live: running at {} fps, {}x{}", e.cfg.video.fps, e.cfg.video.width, e.cfg.video.height);
        }
        if let Some(every) = watchdog {
            if last_ping.elapsed() >= every {
                daemon::notify("WATCHDOG=1");
                last_ping = Instant::now();
            }
        }
        e.watch_outputs();
        keeper.tick();
        if Instant::now() >= next_summary {
            next_summary = Instant::now() + summary_every;
            metrics.take_stats();
            shared.rtsp_clients.store(e.rtsp.as_ref().map_or(0, |r| r.sessions()), Ordering::Relaxed);
        }
        if Instant::now() >= next_stats {
            next_stats = Instant::now() + stats_every;
            let s = lock(&metrics.last).clone();
            let audio = if shared.capture.running.load(Ordering::Relaxed) { "capturing" } else { "no speech source" };
            let line = format!(
                "stats: {:.1} fps, audio-in to frame-out median {:.0} ms, p95 {:.0} ms ({} frames with speech), render median {:.1} ms, skipped {} frames, viewers {}, audio {}",
                s.fps,
                s.latency_median_ms,
                s.latency_p95_ms,
                s.latency_samples,
                s.render_median_ms,
                metrics.frames_skipped.load(Ordering::Relaxed),
                e.rtsp.as_ref().map_or(0, |r| r.sessions()),
                audio,
            );
            log::info!("{line}");
            daemon::notify(&format!("STATUS={line}"));
        }
    }
    daemon::notify("STOPPING=1");
    log::info!("stopping");
    shared.audit.record("daemon", "stop", "ok", "");
    keeper.stopped_cleanly();
    drop(api);
    drop(reloader);
    drop(e);
    Ok(())
}
