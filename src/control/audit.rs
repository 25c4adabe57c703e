//! The audit log: one JSON object per line, appended (`O_APPEND`) and synced, never rewritten —
//! every config change (applied, rejected or refused), portrait change, speech request (queued or
//! failed) and failed authentication, with who, when and what. `journalctl` has the operational
//! log; this file is the record of decisions.
//!
//! Each record is one `write` of a whole line. When a write fails (a full disk) or is cut short,
//! the file is cut back to where the record began, so no half line is left for the next record
//! to be glued onto; the log then counts as failing: state-changing API requests are refused with
//! 507 (`Audit::ready`) until a record can be written again, and the first record after that is
//! an `audit.gap` saying how many records were lost and since when. The file is rotated to
//! `audit.log.1` past `daemon.audit_max_mb` (one old file is kept), and each detail is bounded.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::Serialize;

#[derive(Serialize)]
struct Entry<'a> {
    time: String,
    who: &'a str,
    what: &'a str,
    result: &'a str,
    detail: &'a str,
}

/// Records lost while the log could not be written.
struct Gap {
    since: String,
    lost: u64,
}

struct Inner {
    file: File,
    gap: Option<Gap>,
}

pub struct Audit {
    path: PathBuf,
    max_bytes: u64,
    inner: Mutex<Inner>,
}

/// Free space (bytes, for an unprivileged writer) under which the log counts as full.
const MIN_FREE: u64 = 16 * 1024;

fn free_bytes(path: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: c is a valid C string and st a writable statvfs.
    (unsafe { libc::statvfs(c.as_ptr(), &mut st) } == 0).then(|| st.f_bavail as u64 * st.f_frsize as u64)
}

/// Longest `detail` kept in one record (characters).
const MAX_DETAIL: usize = 600;

fn open_append(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new().append(true).create(true).mode(0o640).open(path)
}

impl Audit {
    /// Opens (creating, mode 0640) the log for appending; rotated past `max_mb` MiB.
    pub fn open(path: &Path) -> std::io::Result<Audit> {
        Audit::open_sized(path, 50)
    }

    pub fn open_sized(path: &Path, max_mb: u32) -> std::io::Result<Audit> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let file = open_append(path)?;
        // A record cut short by a crash or an earlier full disk: end it, so the next one starts
        // on a line of its own.
        if let Ok(text) = std::fs::read(path) {
            if text.last().is_some_and(|&b| b != b'\n') {
                let mut f = &file;
                let _ = f.write_all(b"\n");
            }
        }
        Ok(Audit { path: path.to_path_buf(), max_bytes: max_mb as u64 * 1024 * 1024, inner: Mutex::new(Inner { file, gap: None }) })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one record: `who` (an API client's address, "SIGHUP", "config file"), `what`
    /// ("config.put", "portrait.put", "auth"), `result` ("applied", "rejected", "refused"), and a
    /// one-line detail. Returns whether it was written; a failure is logged, never fatal.
    pub fn record(&self, who: &str, what: &str, result: &str, detail: &str) -> bool {
        let mut inner = super::lock(&self.inner);
        if inner.gap.is_some() && !self.close_gap(&mut inner) {
            if let Some(g) = inner.gap.as_mut() {
                g.lost += 1;
            }
            return false;
        }
        if self.append(&mut inner, who, what, result, detail) {
            return true;
        }
        inner.gap = Some(Gap { since: crate::util::time::now_text(), lost: 1 });
        log::error!("audit log {}: cannot write; state-changing API requests are refused (507) until it can", self.path.display());
        false
    }

    /// Whether the log can take records: when the last write failed, tries to write the gap
    /// record now. State-changing requests go ahead only when this is true.
    pub fn ready(&self) -> bool {
        let mut inner = super::lock(&self.inner);
        if free_bytes(&self.path).is_some_and(|f| f < MIN_FREE) {
            // Nearly full: refuse the change now rather than make it and lose its record.
            if inner.gap.is_none() {
                inner.gap = Some(Gap { since: crate::util::time::now_text(), lost: 0 });
                log::error!("audit log {}: the disk is full; state-changing API requests are refused (507) until it is not", self.path.display());
            }
            return false;
        }
        inner.gap.is_none() || self.close_gap(&mut inner)
    }

    fn close_gap(&self, inner: &mut Inner) -> bool {
        let Some(g) = inner.gap.as_ref() else { return true };
        let detail = format!("{} record(s) could not be written between {} and {}", g.lost, g.since, crate::util::time::now_text());
        if self.append(inner, "speakface", "audit.gap", "recovered", &detail) {
            log::warn!("audit log {}: writable again; {detail}", self.path.display());
            inner.gap = None;
            true
        } else {
            false
        }
    }

    /// One record as one `write`; on failure or a short write the file is cut back to where the
    /// record began.
    fn append(&self, inner: &mut Inner, who: &str, what: &str, result: &str, detail: &str) -> bool {
        let detail = crate::error::cut(&crate::error::one_line(detail), MAX_DETAIL);
        let e = Entry { time: crate::util::time::now_text(), who: &crate::config::clip(who), what, result, detail: &detail };
        let mut line = serde_json::to_string(&e).unwrap_or_default();
        line.push('\n');
        self.rotate_if_needed(inner, line.len() as u64);
        let before = inner.file.metadata().map(|m| m.len()).ok();
        let written = inner.file.write(line.as_bytes());
        match written {
            Ok(n) if n == line.len() => inner.file.sync_data().is_ok(),
            other => {
                if let Some(len) = before {
                    let _ = inner.file.set_len(len);
                }
                if let Err(e) = other {
                    log::error!("audit log {}: {e}", self.path.display());
                }
                false
            }
        }
    }

    fn rotate_if_needed(&self, inner: &mut Inner, adding: u64) {
        let len = inner.file.metadata().map(|m| m.len()).unwrap_or(0);
        if len + adding <= self.max_bytes || len == 0 {
            return;
        }
        let mut old = self.path.clone().into_os_string();
        old.push(".1");
        match std::fs::rename(&self.path, &old).and_then(|_| open_append(&self.path)) {
            Ok(f) => {
                inner.file = f;
                log::info!("audit log {}: rotated ({} MiB) to {}", self.path.display(), len / (1024 * 1024), Path::new(&old).display());
            }
            Err(e) => log::error!("audit log {}: cannot rotate: {e}", self.path.display()),
        }
    }
}

/// Audit record of a portrait going on air, with why it may.
pub fn portrait_use(audit: &Audit, who: &str, face: &crate::engine::face::Face) {
    let consent = face.consent.describe();
    log::info!("portrait {} (sha256 {}): {consent}", face.portrait.path.display(), face.portrait.sha256);
    audit.record(who, "portrait.use", "ok", &format!("{} sha256 {}; {consent}", face.portrait.path.display(), face.portrait.sha256));
}

/// Audit records (and a warning) for the label or watermark being off, or switched by a reload.
pub fn provenance(audit: &Audit, who: &str, old: Option<&crate::config::Config>, new: &crate::config::Config) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_append_one_json_line_each() {
        let dir = std::env::temp_dir().join(format!("speakface-audit-{}", std::process::id()));
        let path = dir.join("audit.log");
        let _ = std::fs::remove_file(&path);
        let a = Audit::open(&path).unwrap();
        assert!(a.record("127.0.0.1", "config.put", "applied", "motion\nchanged"));
        drop(a);
        let a = Audit::open(&path).unwrap();
        a.record("SIGHUP", "config.reload", "rejected", &"x".repeat(20_000));
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["detail"], "motion changed");
        assert_eq!(lines[1]["who"], "SIGHUP");
        assert!(text.len() < 1000, "a long detail is bounded: {} bytes", text.len());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_log_is_rotated_past_its_size() {
        let dir = std::env::temp_dir().join(format!("speakface-audit-rot-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("audit.log");
        let a = Audit::open_sized(&path, 1).unwrap();
        for i in 0..4000 {
            assert!(a.record("127.0.0.1", "say", "queued", &format!("{i} {}", "y".repeat(400))));
        }
        let now = std::fs::metadata(&path).unwrap().len();
        let old = std::fs::metadata(dir.join("audit.log.1")).unwrap().len();
        assert!(now <= 1024 * 1024 && old <= 1024 * 1024 && old > 512 * 1024, "{now} {old}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// /dev/full answers every write with ENOSPC: the record is refused, the log is not ready,
    /// and nothing half-written remains.
    #[test]
    fn a_full_disk_makes_the_log_not_ready() {
        let a = Audit { path: "/dev/full".into(), max_bytes: u64::MAX, inner: Mutex::new(Inner { file: open_append(Path::new("/dev/full")).unwrap(), gap: None }) };
        assert!(!a.record("127.0.0.1", "say", "queued", "hello"));
        assert!(!a.ready());
        assert!(!a.record("127.0.0.1", "say", "queued", "again"));
        assert_eq!(super::super::lock(&a.inner).gap.as_ref().map(|g| g.lost), Some(2));
    }
}
