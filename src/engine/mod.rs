//! The live engine: capture thread → bounded audio ring → the engine thread (features → mouth →
//! face motion → render) → the GStreamer outputs, plus the RTSP server's own loop. The engine ticks on the wall clock at the video rate and takes exactly one
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
//! Changes arrive on the engine's channel as whole, already-built parts (a new rig, a new config,
//! [`Prepared`]); the engine swaps them in between two frames, rebuilding outputs or capture itself
//! when their settings changed and going back to the old ones if the new ones do not start.
//!
//! The engine knows nothing of HTTP, audit logs or systemd: it exposes its messages
//! ([`EngineMsg`]), its shared figures ([`shared::Live`]) and [`Engine::turn`]; the control plane
//! and the daemon glue (`crate::daemon`) sit on top. The frame clock is `clock`, pure and
//! unit-tested; metrics are `metrics`; a portrait made ready to swap in is `face`.

pub mod clock;
pub mod face;
pub mod metrics;
pub mod shared;

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use crate::audio::capture::{self, AudioRing, Capture, Source, Taken};
use crate::audio::ANALYSIS_RATE;
use crate::config::{AudioSource, Changes, Config};
use crate::motion::Animator;
use crate::mouth::{self, LipModel, LipSync, MouthShape, Tracker};
use crate::output::live::{LiveOutput, RtspServer};
use crate::provenance::Stamp;
use crate::util::lock;
use crate::Result;
use clock::{FrameClock, Poll};
use face::Face;
use shared::Live;

/// The speech source from the config.
pub fn audio_source(cfg: &Config) -> Source {
    if cfg.audio.source == AudioSource::File {
        Source::Files { files: cfg.audio.files.clone(), gap_s: cfg.audio.gap_s, looped: cfg.audio.looped }
    } else {
        Source::Alsa { device: cfg.audio.device.clone() }
    }
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
pub struct Engine {
    cfg: Config,
    live: Arc<Live>,
    face: Face,
    ring: Arc<AudioRing>,
    capture: Option<Capture>,
    rtsp: Option<RtspServer>,
    output: Option<LiveOutput>,
    restart_at: Option<Instant>,
    restart_backoff: Duration,
    /// When the running output pipeline started.
    outputs_since: Option<Instant>,
    tracker: Box<dyn Tracker>,
    /// The lip-sync model when `motion.lipsync = "model"`.
    lip: Option<LipModel>,
    animator: Animator,
    /// Ticks and frames since `t0`.
    clock: FrameClock,
    t0: Instant,
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
    /// Starts the outputs (and the RTSP server) and the speech capture of `cfg` for `face`.
    /// Errors are start-up problems (a sink, a port, a capture thread); the daemon stops on them.
    pub fn start(cfg: &Config, face: Face, lip: Option<LipModel>, stamp: Stamp, live: Arc<Live>) -> Result<Engine> {
        let ring = Arc::new(AudioRing::new(ANALYSIS_RATE as usize * 2));
        let fps = cfg.video.fps as f64;
        let mut e = Engine {
            cfg: cfg.clone(),
            live: live.clone(),
            face,
            ring: ring.clone(),
            capture: None,
            rtsp: None,
            output: None,
            restart_at: None,
            restart_backoff: Duration::from_secs(1),
            outputs_since: None,
            tracker: mouth::tracker(lip.as_ref(), fps as f32),
            lip,
            animator: Animator::new(cfg.motion_settings()),
            clock: FrameClock::new(fps),
            t0: Instant::now(),
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
        e.start_outputs(cfg, true)?;
        let outputs = e.describe_outputs();
        log::info!("outputs: {outputs}");
        *lock(&live.outputs) = outputs;
        e.capture = Some(
            capture::start(audio_source(cfg), ring, live.capture.clone())
                .map_err(|err| crate::Error::Other(format!("cannot start capture: {err}")))?,
        );
        e.reset_clock();
        Ok(e)
    }

    /// One turn of the frame loop: the messages waiting, the frames due (or a sleep until the
    /// next), and a look at the output pipeline's health.
    pub fn turn(&mut self, messages: &mpsc::Receiver<EngineMsg>) {
        while let Ok(msg) = messages.try_recv() {
            self.handle(msg);
        }
        self.step();
        self.watch_outputs();
    }

    /// The running config (as last swapped in).
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// RTSP viewers now.
    pub fn viewers(&self) -> u32 {
        self.rtsp.as_ref().map_or(0, |r| r.sessions())
    }

    /// Starts the frame clock (again) at the config's rate: a new mouth tracker and animator.
    fn reset_clock(&mut self) {
        self.clock = FrameClock::new(self.cfg.video.fps as f64);
        self.t0 = Instant::now();
        self.buf = vec![0.0; self.clock.max_tick_samples()];
        self.pending.clear();
        self.pending_start = 0;
        self.marks.clear();
        self.tracker = mouth::tracker(self.lip.as_ref(), self.clock.fps() as f32);
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
            match capture::start(audio_source(&p.cfg), self.ring.clone(), self.live.capture.clone()) {
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
        if p.lip.is_some() || p.cfg.motion.lipsync != LipSync::Model {
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
        *lock(&self.live.outputs) = self.describe_outputs();
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
        let metrics = &self.live.metrics;
        let todo = match self.clock.poll(self.t0.elapsed()) {
            Poll::Wait(d) => {
                std::thread::sleep(d);
                return;
            }
            Poll::Due { skipped, ticks } => {
                metrics.frames_skipped.fetch_add(skipped, Ordering::Relaxed);
                ticks
            }
        };
        // --- audio for the due ticks ---------------------------------------------------------
        self.mouths.clear();
        for _ in 0..todo {
            let span = self.clock.tick_audio();
            let n = (span.end - span.start) as usize;
            if let Some(keep) = clock::trim_backlog(self.ring.len(), n) {
                self.ring.trim_to(keep);
            }
            let got = self.ring.take(&mut self.buf[..n], &mut self.taken);
            self.buf[got..n].iter_mut().for_each(|x| *x = 0.0);
            let queued = self.live.speech.mix_into(&mut self.buf[..n]);
            if got == 0 && queued == 0 {
                metrics.ticks_without_audio.fetch_add(1, Ordering::Relaxed);
            }
            for &(off, at) in &self.taken.marks {
                if self.marks.len() == self.marks.capacity() {
                    self.marks.pop_front();
                }
                self.marks.push_back((span.start + off as u64, at));
            }
            if let Err(e) = self.tracker.push(&self.buf[..n], &mut self.mouths) {
                // Not expected of a model that loaded and passed its checks; the rules go on.
                log::error!("lip-sync model: {}; the mouth follows the rules from now on", crate::error::one_line(&e.to_string()));
                self.lip = None;
                self.reset_clock();
                return;
            }
            self.pending.extend(&self.buf[..n]);
        }
        // --- motion, render, out -------------------------------------------------------------
        let last = clock::frame_to_render(self.mouths.len());
        self.out_audio.clear();
        for j in 0..self.mouths.len() {
            let motion = self.animator.step(&self.mouths[j]);
            let span = self.clock.frame_audio();
            let (a0, a1) = (span.start, span.end);
            let take = ((a1.max(self.pending_start) - self.pending_start) as usize).min(self.pending.len());
            self.out_audio.extend(self.pending.drain(..take).map(|x| (x.clamp(-1.0, 1.0) * 32767.0) as i16));
            self.pending_start += take as u64;
            if Some(j) != last {
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
                self.live.metrics.output_errors.fetch_add(1, Ordering::Relaxed);
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
                    self.live.metrics.output_restarts.fetch_add(1, Ordering::Relaxed);
                    self.restart_at = None;
                }
                Err(e) => {
                    self.restart_backoff = (self.restart_backoff * 2).min(Duration::from_secs(30));
                    log::error!("output pipeline restart failed: {e}; next try in {} s", self.restart_backoff.as_secs());
                    self.restart_at = Some(Instant::now() + self.restart_backoff);
                }
            }
            *lock(&self.live.outputs) = self.describe_outputs();
        }
    }
}

/// An output pipeline that has run this long counts as healthy: its next failure is retried after
/// 1 s again.
const HEALTHY_AFTER: Duration = Duration::from_secs(30);
