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

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::audio::capture::{self, AudioRing, Source, Taken};
use crate::audio::ANALYSIS_RATE;
use crate::config::Config;
use crate::motion::{Animator, MouthShape, MouthTracker};
use crate::output::live::{LiveOutput, RtspServer};
use crate::render::Renderer;
use crate::rig::Rig;
use crate::{daemon, job, Error, Result};

/// Live figures, shared with the stats log and (later) the control API.
#[derive(Debug, Default)]
pub struct Metrics {
    pub frames_out: AtomicU64,
    /// Frames not rendered because the engine was late.
    pub frames_skipped: AtomicU64,
    /// Ticks with no captured speech at all (device absent or silent source).
    pub ticks_without_audio: AtomicU64,
    /// Output pipeline restarts after an error.
    pub output_restarts: AtomicU64,
    window: Mutex<StatsWindow>,
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

impl Metrics {
    fn record(&self, latency_ms: Option<f32>, render_ms: f32) {
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
        s
    }
}

/// Audio the ring may hold beyond one tick before the oldest is dropped.
const MAX_BACKLOG_S: f64 = 0.04;
/// Further ticks the engine may be late before it skips frames.
const MAX_LATE_TICKS: u64 = 2;

/// The speech source from the config.
pub fn audio_source(cfg: &Config) -> Source {
    if cfg.audio.source == "file" {
        Source::Files { files: cfg.audio.files.clone(), gap_s: cfg.audio.gap_s, looped: cfg.audio.looped }
    } else {
        Source::Alsa { device: cfg.audio.device.clone() }
    }
}

/// Runs the live daemon until `stop` is set. Start-up problems (portrait, models, outputs, port)
/// are returned as errors; faults while running are logged and recovered.
pub fn run(cfg: &Config, stop: &AtomicBool) -> Result<()> {
    if cfg.motion.lipsync != "heuristic" {
        return Err(Error::Other(
            "motion.lipsync = \"model\" is not supported by `speakface run` yet (its mouth smoothing needs the whole clip); use \"heuristic\"".into(),
        ));
    }
    let portrait = cfg.portrait.image.clone().unwrap_or_else(job::default_portrait);
    let (img, analysis) = job::analyze_portrait(cfg, &portrait)?;
    let rig = Rig::build(&img, &analysis, cfg.video.width, cfg.video.height, cfg.motion.head_distance);
    let mut renderer = Renderer::new(&rig);
    log::info!("portrait {} ready ({} x {} px)", portrait.display(), img.width(), img.height());

    let rtsp = if cfg.output.rtsp.enabled { Some(RtspServer::start(cfg)?) } else { None };
    let mut output = Some(LiveOutput::start(cfg, rtsp.as_ref())?);
    if let Some(o) = &output {
        log::info!(
            "outputs: {}{}{}{}",
            o.display_sink.as_deref().map(|s| format!("display ({s}) ")).unwrap_or_default(),
            if rtsp.is_some() { "rtsp " } else { "" },
            if cfg.output.record.enabled { format!("record ({}) ", cfg.output.record.dir.display()) } else { String::new() },
            o.encoder.as_deref().map(|e| format!("encoder {e}")).unwrap_or_default(),
        );
    }

    let fps = cfg.video.fps as f64;
    let ring = Arc::new(AudioRing::new(ANALYSIS_RATE as usize * 2));
    let capture = capture::start(audio_source(cfg), ring.clone()).map_err(|e| Error::Other(format!("cannot start capture: {e}")))?;

    let metrics = Arc::new(Metrics::default());
    let t0 = Instant::now();
    let watchdog = daemon::watchdog_interval();
    let stats_every = Duration::from_secs(
        std::env::var("SPEAKFACE_STATS_S").ok().and_then(|v| v.parse().ok()).filter(|&s: &u64| s > 0).unwrap_or(60),
    );

    let mut tracker = MouthTracker::new(fps as f32);
    let mut animator = Animator::new(cfg.motion_settings());
    let stream_at = |k: u64| (k as f64 * ANALYSIS_RATE as f64 / fps).round() as u64;
    let max_tick = (stream_at(1) + 1) as usize;
    let max_backlog = (MAX_BACKLOG_S * ANALYSIS_RATE as f64) as usize;
    let mut buf = vec![0.0f32; max_tick];
    let mut taken = Taken::default();
    let mut mouths: Vec<MouthShape> = Vec::with_capacity(8);
    // Speech not yet sent out, from stream index `pending_start`.
    let mut pending: VecDeque<f32> = VecDeque::with_capacity(ANALYSIS_RATE as usize);
    let mut pending_start: u64 = 0;
    // Capture time of stream samples: (stream index one past the batch, when captured).
    let mut marks: VecDeque<(u64, Instant)> = VecDeque::with_capacity(512);
    let mut out_audio: Vec<i16> = Vec::with_capacity(ANALYSIS_RATE as usize);
    let mut ticks: u64 = 0;
    let mut frame: u64 = 0;
    let mut next_stats = Instant::now() + stats_every;
    let mut last_ping = Instant::now();
    let mut restart_at: Option<Instant> = None;
    let mut restart_backoff = Duration::from_secs(1);
    let mut ready = false;
    let tick = Duration::from_secs_f64(1.0 / fps);

    while !stop.load(Ordering::SeqCst) {
        // --- how many ticks are due -----------------------------------------------------
        let now = Instant::now();
        let due = (now.duration_since(t0).as_secs_f64() * fps) as u64 + 1;
        if due <= ticks {
            let next = t0 + Duration::from_secs_f64(ticks as f64 / fps);
            std::thread::sleep(next.saturating_duration_since(Instant::now()).min(tick));
            continue;
        }
        let mut todo = due - ticks;
        if todo > MAX_LATE_TICKS + 1 {
            // Far behind (a stall): keep the audio of the last few ticks only.
            let skip = todo - (MAX_LATE_TICKS + 1);
            metrics.frames_skipped.fetch_add(skip, Ordering::Relaxed);
            ticks += skip;
            todo -= skip;
        }
        // --- audio for the due ticks -----------------------------------------------------
        mouths.clear();
        for _ in 0..todo {
            let (s0, s1) = (stream_at(ticks), stream_at(ticks + 1));
            let n = (s1 - s0) as usize;
            let waiting = ring.len();
            if waiting > n + max_backlog {
                ring.trim_to(n + max_backlog / 2);
            }
            let got = ring.take(&mut buf[..n], &mut taken);
            buf[got..n].iter_mut().for_each(|x| *x = 0.0);
            if got == 0 {
                metrics.ticks_without_audio.fetch_add(1, Ordering::Relaxed);
            }
            for &(off, at) in &taken.marks {
                if marks.len() == marks.capacity() {
                    marks.pop_front();
                }
                marks.push_back((s0 + off as u64, at));
            }
            tracker.push(&buf[..n], &mut mouths);
            pending.extend(&buf[..n]);
            ticks += 1;
        }
        // --- motion, render, out ---------------------------------------------------------
        let last = mouths.len().saturating_sub(1);
        out_audio.clear();
        for (j, m) in mouths.iter().enumerate() {
            let motion = animator.step(m);
            let (a0, a1) = (stream_at(frame), stream_at(frame + 1));
            let take = ((a1.max(pending_start) - pending_start) as usize).min(pending.len());
            out_audio.extend(pending.drain(..take).map(|x| (x.clamp(-1.0, 1.0) * 32767.0) as i16));
            pending_start += take as u64;
            frame += 1;
            if j < last {
                metrics.frames_skipped.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            let r0 = Instant::now();
            let rgb = renderer.render(&rig, &motion);
            let render_ms = r0.elapsed().as_secs_f32() * 1000.0;
            if let Some(o) = &output {
                if let Err(e) = o.push(rgb, &out_audio) {
                    log::warn!("output: {e}");
                }
            }
            let done = Instant::now();
            // Latency: from the capture of the speech this frame shows (at a0) to now.
            while marks.front().is_some_and(|&(end, _)| end <= a0) {
                marks.pop_front();
            }
            // Only when that speech was captured (not silence padded in for a missing device).
            let latency = marks
                .front()
                .filter(|&&(end, _)| end <= a0 + capture::PERIOD_FRAMES as u64)
                .map(|&(_, at)| done.duration_since(at).as_secs_f32() * 1000.0);
            metrics.record(latency, render_ms);
            metrics.frames_out.fetch_add(1, Ordering::Relaxed);
        }
        // --- housekeeping ----------------------------------------------------------------
        if !ready && metrics.frames_out.load(Ordering::Relaxed) > 0 {
            ready = true;
            daemon::notify("READY=1\nSTATUS=animating");
            log::info!("live: running at {} fps, {}x{}", cfg.video.fps, cfg.video.width, cfg.video.height);
        }
        if let Some(every) = watchdog {
            if last_ping.elapsed() >= every {
                daemon::notify("WATCHDOG=1");
                last_ping = Instant::now();
            }
        }
        if let Some(o) = &output {
            if let Some(e) = o.poll_error() {
                log::error!("output pipeline failed: {e}; restarting it in {} s", restart_backoff.as_secs());
                output = None;
                restart_at = Some(Instant::now() + restart_backoff);
            }
        } else if restart_at.is_some_and(|t| Instant::now() >= t) {
            match LiveOutput::start(cfg, rtsp.as_ref()) {
                Ok(o) => {
                    log::info!("output pipeline restarted");
                    metrics.output_restarts.fetch_add(1, Ordering::Relaxed);
                    output = Some(o);
                    restart_backoff = Duration::from_secs(1);
                    restart_at = None;
                }
                Err(e) => {
                    restart_backoff = (restart_backoff * 2).min(Duration::from_secs(30));
                    log::error!("output pipeline restart failed: {e}; next try in {} s", restart_backoff.as_secs());
                    restart_at = Some(Instant::now() + restart_backoff);
                }
            }
        }
        if Instant::now() >= next_stats {
            next_stats = Instant::now() + stats_every;
            let s = metrics.take_stats();
            let audio = if capture.status.running.load(Ordering::Relaxed) { "capturing" } else { "no speech source" };
            let line = format!(
                "stats: {:.1} fps, audio-in to frame-out median {:.0} ms, p95 {:.0} ms ({} frames with speech), render median {:.1} ms, skipped {} frames, viewers {}, audio {}",
                s.fps,
                s.latency_median_ms,
                s.latency_p95_ms,
                s.latency_samples,
                s.render_median_ms,
                metrics.frames_skipped.load(Ordering::Relaxed),
                rtsp.as_ref().map_or(0, |r| r.sessions()),
                audio,
            );
            log::info!("{line}");
            daemon::notify(&format!("STATUS={line}"));
        }
    }
    daemon::notify("STOPPING=1");
    log::info!("stopping");
    drop(capture);
    drop(output);
    drop(rtsp);
    Ok(())
}
