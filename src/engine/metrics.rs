//! The engine's live figures: frames out and skipped, ticks without speech, output restarts and
//! errors, the audio-in to frame-out latency histogram, and the last few seconds' summary that
//! status, metrics and the stats log read.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

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
    pub(crate) fn record(&self, latency_ms: Option<f32>, render_ms: f32) {
        if let Some(f) = frame_log() {
            use std::io::Write;
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
            let lat = latency_ms.map_or("-".to_string(), |l| format!("{l:.2}"));
            let _ = writeln!(crate::util::lock(f), "{now} {lat} {render_ms:.3}");
        }
        if let Some(l) = latency_ms {
            let b = LATENCY_BUCKETS_MS.iter().position(|&ub| l as f64 <= ub).unwrap_or(LATENCY_BUCKETS_MS.len());
            self.latency_buckets[b].fetch_add(1, Ordering::Relaxed);
            self.latency_sum_us.fetch_add((l * 1000.0) as u64, Ordering::Relaxed);
        }
        let mut w = crate::util::lock(&self.window);
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
        let mut w = crate::util::lock(&self.window);
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
        *crate::util::lock(&self.last) = s.clone();
        s
    }
}
