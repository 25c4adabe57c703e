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
mod listen;
pub mod metrics;
pub mod reload;
pub mod remote;

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::Serialize;

use crate::config::Config;
pub use crate::engine::face::PortraitInfo;
use crate::engine::shared::Live;

/// Everything the reloader and the API share (the engine sees only `live`).
pub struct Shared {
    pub started: Instant,
    /// The config file the daemon was started with (None: built-in defaults / command line).
    pub config_path: Option<PathBuf>,
    /// The running config (paths resolved); replaced only by the reloader after a successful swap.
    pub config: Mutex<Config>,
    pub portrait: Mutex<PortraitInfo>,
    /// The engine's figures, capture status, speech queue and outputs.
    pub live: Arc<Live>,
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
            live: Arc::new(Live::default()),
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

pub use crate::util::lock;

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
