//! A config that cannot be destroyed by accident: a change saved through the API that the daemon
//! does not survive is rolled back at the next start, and temporary files left by a killed
//! write are removed.
//!
//! - When the API saves a change, `STATE_DIR/config-pending` is written (unless already there).
//! - Once the running config has run `daemon.rollback_window_s` seconds (`Keeper::tick`), the
//!   config file is copied to `STATE_DIR/config.last-good.toml` and the marker removed; a clean
//!   stop removes the marker too.
//! - At start, a marker still there means the last run died within the window after a saved
//!   change: the last good config is put back (atomically), and this is logged and audited.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::config::{write_atomic, Config};

const MARKER: &str = "config-pending";
const LAST_GOOD: &str = "config.last-good.toml";

fn marker(state: &Path) -> PathBuf {
    state.join(MARKER)
}

/// The API saved `text` as the config file.
pub fn saved_change(running: &Config, text: &str) {
    let state = super::state_dir(running);
    let m = marker(&state);
    if m.exists() {
        return; // an earlier change in the same window: the last good config is older still
    }
    let body = format!("{} sha256 {}\n", crate::util::time::now_text(), crate::util::hash::sha256_hex(text.as_bytes()));
    if let Err(e) = write_atomic(&m, body.as_bytes()) {
        log::error!("{}: cannot write ({e}); a crash after this change would not be rolled back", m.display());
    }
}

/// At start: rolls the config file back to the last good one when the previous run died soon
/// after a saved change. Returns what was done, for the log and the audit log.
pub fn rollback_if_pending(config_path: &Path, state: &Path) -> Option<String> {
    let m = marker(state);
    if !m.exists() {
        return None;
    }
    let pending = std::fs::read_to_string(&m).unwrap_or_default();
    let last = state.join(LAST_GOOD);
    let msg = match std::fs::read(&last) {
        Ok(good) if std::fs::read(config_path).ok().as_deref() == Some(&good[..]) => None,
        Ok(good) => Some(match write_atomic(config_path, &good) {
            Ok(()) => format!(
                "the daemon stopped within the rollback window after a change saved through the API ({}); {} was put back from {}",
                pending.trim(),
                config_path.display(),
                last.display()
            ),
            Err(e) => format!("the daemon stopped soon after a saved change, but {} cannot be rolled back: {e}", config_path.display()),
        }),
        Err(_) => Some(format!(
            "the daemon stopped soon after a change saved through the API ({}), but no earlier config ran long enough to be kept; the saved one is used",
            pending.trim()
        )),
    };
    let _ = std::fs::remove_file(&m);
    msg
}

/// Promotes the running config file to "last good" once it has run long enough.
pub struct Keeper {
    config_path: Option<PathBuf>,
    state: PathBuf,
    window: Duration,
    started: Instant,
    next: Instant,
}

impl Keeper {
    pub fn new(config_path: Option<PathBuf>, cfg: &Config) -> Keeper {
        let now = Instant::now();
        Keeper {
            config_path,
            state: super::state_dir(cfg),
            window: Duration::from_secs(cfg.daemon.rollback_window_s as u64),
            started: now,
            next: now,
        }
    }

    /// Call often; does its work every second at most.
    pub fn tick(&mut self) {
        if Instant::now() < self.next {
            return;
        }
        self.next = Instant::now() + Duration::from_secs(1);
        let Some(path) = &self.config_path else { return };
        let m = marker(&self.state);
        let last = self.state.join(LAST_GOOD);
        let due = match std::fs::metadata(&m).and_then(|md| md.modified()) {
            Ok(t) => t.elapsed().unwrap_or_default() >= self.window && self.started.elapsed() >= self.window,
            Err(_) => !last.exists() && self.started.elapsed() >= self.window,
        };
        if !due {
            return;
        }
        match std::fs::read(path).and_then(|text| write_atomic(&last, &text)) {
            Ok(()) => {
                let _ = std::fs::remove_file(&m);
                log::info!("config {} has run {} s: kept as {}", path.display(), self.window.as_secs(), last.display());
            }
            Err(e) => log::error!("cannot keep {} as the last good config: {e}", path.display()),
        }
    }

    /// A clean stop: the saved change did not kill the daemon.
    pub fn stopped_cleanly(&self) {
        let _ = std::fs::remove_file(marker(&self.state));
    }
}

/// Removes `.NAME.tmp-PID` files (left by `write_atomic` in a process killed mid-write) whose
/// process is gone, in each of `dirs`. Returns how many were removed.
pub fn remove_stale_temps(dirs: &[PathBuf]) -> usize {
    let mut n = 0;
    for d in dirs {
        let Ok(entries) = std::fs::read_dir(d) else { continue };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(pid) = name.strip_prefix('.').and_then(|r| r.rsplit_once(".tmp-")).and_then(|(_, p)| p.parse::<i32>().ok()) else {
                continue;
            };
            // SAFETY: kill with signal 0 only checks whether the process exists.
            let alive = pid > 0 && (unsafe { libc::kill(pid, 0) } == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM));
            if !alive && e.file_type().is_ok_and(|t| t.is_file()) && std::fs::remove_file(e.path()).is_ok() {
                log::info!("removed {} (a write interrupted by a crash)", e.path().display());
                n += 1;
            }
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pending_change_is_rolled_back_and_stale_temps_removed() {
        let dir = std::env::temp_dir().join(format!("speakface-guard-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let cfg_path = dir.join("s.toml");
        std::fs::write(&cfg_path, "[motion]\nseed = 1\n").unwrap();
        std::fs::write(dir.join(LAST_GOOD), "[motion]\nseed = 1\n").unwrap();
        assert_eq!(rollback_if_pending(&cfg_path, &dir), None, "no marker: nothing to do");
        std::fs::write(&cfg_path, "[motion]\nseed = 2\n").unwrap();
        std::fs::write(marker(&dir), "t sha256 x\n").unwrap();
        let msg = rollback_if_pending(&cfg_path, &dir).unwrap();
        assert!(msg.contains("put back"), "{msg}");
        assert_eq!(std::fs::read_to_string(&cfg_path).unwrap(), "[motion]\nseed = 1\n");
        assert!(!marker(&dir).exists());

        // A dead process's temp file goes, a live one's (ours) stays.
        std::fs::write(dir.join(".s.toml.tmp-999999999"), "x").unwrap();
        std::fs::write(dir.join(format!(".s.toml.tmp-{}", std::process::id())), "x").unwrap();
        assert_eq!(remove_stale_temps(&[dir.clone()]), 1);
        assert!(dir.join(format!(".s.toml.tmp-{}", std::process::id())).exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
