//! The control plane of the live daemon: what the HTTP API, the reloader (SIGHUP, config file
//! changes, API writes) and the engine share — the running config, the portrait, figures for
//! status and metrics, speech queued by the API — plus the audit log and authentication.
//!
//! Threads: the engine (frame loop) owns every running part and takes changes only as whole,
//! already-built replacements through its message channel; the reloader builds them beside the
//! running ones (a new rig from a new portrait takes a second; the video goes on meanwhile) and is
//! the only writer of the config; the API runs on its own tokio runtime and only ever asks.

pub mod api;
pub mod audit;
pub mod auth;
pub mod guard;
pub mod metrics;
pub mod reload;
pub mod remote;

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicU64};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::audio::capture::CaptureStatus;
use crate::config::Config;
use crate::pipeline::Metrics;

/// The portrait on screen.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PortraitInfo {
    pub path: PathBuf,
    pub sha256: String,
    pub width: u32,
    pub height: u32,
}

/// Everything the engine, the reloader and the API share.
pub struct Shared {
    pub started: Instant,
    /// The config file the daemon was started with (None: built-in defaults / command line).
    pub config_path: Option<PathBuf>,
    /// The running config (paths resolved); replaced only by the reloader after a successful swap.
    pub config: Mutex<Config>,
    pub portrait: Mutex<PortraitInfo>,
    pub metrics: Metrics,
    pub capture: Arc<CaptureStatus>,
    /// Speech handed in through the API, played before anything else the engine has queued.
    pub speech: SpeechQueue,
    /// Outputs in use, as words, for status.
    pub outputs: Mutex<String>,
    pub rtsp_clients: AtomicU32,
    pub reloads_ok: AtomicU64,
    pub reloads_failed: AtomicU64,
    pub last_reload: Mutex<Option<ReloadRecord>>,
    pub auth_failures: AtomicU64,
    pub api_requests: AtomicU64,
    pub audit: audit::Audit,
    /// Where the models run (chosen once at start; `inference` changes need a restart).
    pub inference: crate::infer::DeviceChoice,
}

/// The outcome of the last reload attempt, for status.
#[derive(Debug, Clone, Serialize)]
pub struct ReloadRecord {
    pub time: String,
    pub source: String,
    pub ok: bool,
    pub message: String,
}

impl Shared {
    pub fn new(cfg: Config, config_path: Option<PathBuf>, portrait: PortraitInfo, audit: audit::Audit, inference: crate::infer::DeviceChoice) -> Shared {
        Shared {
            started: Instant::now(),
            config_path,
            config: Mutex::new(cfg),
            portrait: Mutex::new(portrait),
            metrics: Metrics::default(),
            capture: Arc::new(CaptureStatus::default()),
            speech: SpeechQueue::new(SPEECH_QUEUE_MAX_S),
            outputs: Mutex::new(String::new()),
            rtsp_clients: AtomicU32::new(0),
            reloads_ok: AtomicU64::new(0),
            reloads_failed: AtomicU64::new(0),
            last_reload: Mutex::new(None),
            auth_failures: AtomicU64::new(0),
            api_requests: AtomicU64::new(0),
            audit,
            inference,
        }
    }

    pub fn config(&self) -> Config {
        lock(&self.config).clone()
    }
}

/// Locks, carrying on with the data if another thread panicked while holding it.
pub fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Most speech (seconds) the API may queue ahead.
pub const SPEECH_QUEUE_MAX_S: f64 = 300.0;

/// Speech at 16 kHz mono waiting to be spoken; the engine takes one frame's worth per tick.
pub struct SpeechQueue {
    q: Mutex<VecDeque<f32>>,
    cap: usize,
}

impl SpeechQueue {
    pub fn new(max_s: f64) -> SpeechQueue {
        SpeechQueue { q: Mutex::new(VecDeque::new()), cap: (max_s * crate::audio::ANALYSIS_RATE as f64) as usize }
    }

    /// Queues `samples`; on a full queue nothing is queued and the seconds already waiting are
    /// returned as the error.
    pub fn push(&self, samples: &[f32]) -> Result<f64, f64> {
        let mut q = lock(&self.q);
        let waiting = q.len() as f64 / crate::audio::ANALYSIS_RATE as f64;
        if q.len() + samples.len() > self.cap {
            return Err(waiting);
        }
        q.extend(samples);
        Ok(waiting)
    }

    /// Adds up to `out.len()` queued samples onto `out`; returns how many there were.
    pub fn mix_into(&self, out: &mut [f32]) -> usize {
        let mut q = lock(&self.q);
        let n = out.len().min(q.len());
        for (o, s) in out.iter_mut().zip(q.drain(..n)) {
            *o += s;
        }
        n
    }

    pub fn seconds(&self) -> f64 {
        lock(&self.q).len() as f64 / crate::audio::ANALYSIS_RATE as f64
    }

    pub fn clear(&self) {
        lock(&self.q).clear();
    }
}

/// `2026-11-29T07:31:00Z` for a time (UTC; no time-zone database needed).
pub fn utc_text(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem / 60 % 60, rem % 60)
}

pub fn now_text() -> String {
    utc_text(SystemTime::now())
}

/// The writable state folder: the configured one, else systemd's `$STATE_DIRECTORY`, else
/// /var/lib/speakface for root, else `$XDG_STATE_HOME/speakface` or `~/.local/state/speakface`.
pub fn state_dir(cfg: &Config) -> PathBuf {
    if let Some(d) = &cfg.daemon.state_dir {
        return d.clone();
    }
    if let Some(d) = std::env::var_os("STATE_DIRECTORY") {
        // systemd may list several, colon-separated; the first is ours.
        let s = d.to_string_lossy().into_owned();
        return PathBuf::from(s.split(':').next().unwrap_or(&s));
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        return PathBuf::from("/var/lib/speakface");
    }
    if let Some(d) = std::env::var_os("XDG_STATE_HOME").filter(|d| !d.is_empty()) {
        return Path::new(&d).join("speakface");
    }
    std::env::var_os("HOME").map_or_else(|| PathBuf::from(".speakface"), |h| Path::new(&h).join(".local/state/speakface"))
}

/// CLOCK_MONOTONIC in microseconds, as systemd wants it with RELOADING=1.
pub fn monotonic_usec() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: ts is a valid, writable timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000 + ts.tv_nsec as u64 / 1000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_text_is_the_calendar_date() {
        assert_eq!(utc_text(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(utc_text(UNIX_EPOCH + std::time::Duration::from_secs(951_782_400)), "2000-02-29T00:00:00Z");
        assert_eq!(utc_text(UNIX_EPOCH + std::time::Duration::from_secs(1_795_771_845)), "2026-11-27T09:30:45Z");
    }

    #[test]
    fn speech_queue_is_bounded_and_mixes() {
        let q = SpeechQueue::new(1.0);
        assert_eq!(q.push(&[0.5; 8000]), Ok(0.0));
        assert_eq!(q.push(&[0.5; 9000]), Err(0.5));
        let mut out = [0.25f32; 10_000];
        assert_eq!(q.mix_into(&mut out), 8000);
        assert_eq!((out[0], out[7999], out[8000]), (0.75, 0.75, 0.25));
        assert_eq!(q.seconds(), 0.0);
    }
}
