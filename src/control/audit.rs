//! The audit log: one JSON object per line, appended (`O_APPEND`) and synced, never rewritten —
//! every config change, portrait change, speech request and failed authentication, with who,
//! when and what. `journalctl` has the operational log; this file is the record of decisions.

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

pub struct Audit {
    path: PathBuf,
    file: Mutex<File>,
}

impl Audit {
    /// Opens (creating, mode 0640) the log for appending.
    pub fn open(path: &Path) -> std::io::Result<Audit> {
        use std::os::unix::fs::OpenOptionsExt;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new().append(true).create(true).mode(0o640).open(path)?;
        Ok(Audit { path: path.to_path_buf(), file: Mutex::new(file) })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one record: `who` (an API client's address, "SIGHUP", "config file"), `what`
    /// ("config.put", "portrait.put", "auth"), `result` ("applied", "rejected", "refused"), and a
    /// one-line detail. A failure to write is logged, never fatal.
    pub fn record(&self, who: &str, what: &str, result: &str, detail: &str) {
        let detail = crate::error::one_line(detail);
        let e = Entry { time: super::now_text(), who, what, result, detail: &detail };
        let mut line = serde_json::to_string(&e).unwrap_or_default();
        line.push('\n');
        let mut f = super::lock(&self.file);
        // One write call per record: with O_APPEND records never interleave.
        if let Err(err) = f.write_all(line.as_bytes()).and_then(|_| f.sync_data()) {
            log::error!("audit log {}: cannot write: {err}", self.path.display());
        }
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
        a.record("127.0.0.1", "config.put", "applied", "motion\nchanged");
        drop(a);
        let a = Audit::open(&path).unwrap();
        a.record("SIGHUP", "config.reload", "rejected", "line 2");
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["detail"], "motion changed");
        assert_eq!(lines[1]["who"], "SIGHUP");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
