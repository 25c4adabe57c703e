//! The reloader: the one thread that changes the running config. Sources: SIGHUP, the config
//! file changing on disk (checked every 2 s), and the API (`PUT /v1/config`, `PUT /v1/portrait`).
//!
//! Every change goes parse → validate → build the new parts beside the running ones (a new
//! portrait's rig) → hand them to the engine, which swaps them in between two frames (rebuilding
//! outputs or capture when their settings changed, and going back to the old ones when the new
//! ones do not start) → only then does the new config become the running one and, for API
//! writes, the file on disk (atomically). Any failure leaves the old config running and says why,
//! in the reply, the log, status, metrics and the audit log.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::{lock, PortraitInfo, ReloadRecord, Shared};
use crate::util::hash::{sha256, sha256_hex};
use crate::util::time::now_text;
use crate::config::{write_atomic, Config};
use crate::mouth::{LipModel, LipSync};
use crate::engine::face::build_face;
use crate::engine::{EngineMsg, Prepared};
use crate::{Error, Result};

/// A change asked for through the API; the answer comes back on `reply`.
pub enum Request {
    /// A whole new config file (TOML text).
    PutConfig { text: String, who: String, reply: tokio::sync::oneshot::Sender<Outcome> },
    /// A new portrait image (JPEG or PNG bytes).
    PutPortrait { bytes: Vec<u8>, who: String, reply: tokio::sync::oneshot::Sender<Outcome> },
    /// A still from the configured camera as the new portrait; `consent` is who agreed to it
    /// being animated (needed when `consent.required`).
    CameraPortrait { consent: CameraConsent, who: String, reply: tokio::sync::oneshot::Sender<Outcome> },
}

/// The consent given with a camera snapshot (the person in front of the camera, asked there).
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CameraConsent {
    pub consent_by: Option<String>,
    pub name: Option<String>,
    pub note: Option<String>,
}

pub type Outcome = std::result::Result<Applied, Rejected>;

/// A change that took.
#[derive(Debug, Clone, Serialize)]
pub struct Applied {
    /// What was rebuilt: "motion", "portrait, outputs", "nothing", ….
    pub changed: String,
    /// Whether the config file on disk now says the same.
    pub saved: bool,
    /// Sections changed that take effect only after a restart.
    pub restart_needed: Vec<String>,
    pub portrait: PortraitInfo,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A change that did not take; the old config is still running.
#[derive(Debug, Clone)]
pub struct Rejected {
    /// HTTP status: 400 (the request itself is wrong), 422 (valid but cannot be applied: no face,
    /// outputs do not start), 500 (our fault).
    pub status: u16,
    pub error: String,
}

fn rejected(status: u16, error: impl AsRef<str>) -> Rejected {
    Rejected { status, error: crate::error::one_line(error.as_ref()) }
}

/// The running reloader; dropping it stops the thread.
pub struct Reloader {
    tx: mpsc::Sender<Request>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Reloader {
    pub fn sender(&self) -> mpsc::Sender<Request> {
        self.tx.clone()
    }
}

impl Drop for Reloader {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

const WATCH_EVERY: Duration = Duration::from_secs(2);
const ENGINE_TIMEOUT: Duration = Duration::from_secs(60);

/// Starts the reloader thread. `reload` is set by SIGHUP.
pub fn start(shared: Arc<Shared>, engine: mpsc::Sender<EngineMsg>, reload: Arc<AtomicBool>) -> Result<Reloader> {
    let (tx, rx) = mpsc::channel();
    let stop = Arc::new(AtomicBool::new(false));
    let st = stop.clone();
    let mut r = Worker { known: shared.config_path.as_deref().and_then(file_hash), shared, engine };
    let thread = std::thread::Builder::new()
        .name("speakface-reload".into())
        .spawn(move || {
            let mut next_check = Instant::now() + WATCH_EVERY;
            while !st.load(Ordering::SeqCst) {
                match rx.recv_timeout(Duration::from_millis(200)) {
                    Ok(Request::PutConfig { text, who, reply }) => {
                        let _ = reply.send(r.put_config(&text, &who));
                    }
                    Ok(Request::PutPortrait { bytes, who, reply }) => {
                        let _ = reply.send(r.put_portrait(&bytes, &who));
                    }
                    Ok(Request::CameraPortrait { consent, who, reply }) => {
                        let _ = reply.send(r.camera_portrait(&consent, &who));
                    }
                    Err(_) => {}
                }
                if reload.swap(false, Ordering::SeqCst) {
                    r.reload_file("SIGHUP");
                }
                if Instant::now() >= next_check {
                    next_check = Instant::now() + WATCH_EVERY;
                    let watch = lock(&r.shared.config).daemon.watch_config;
                    if watch {
                        if let Some(path) = r.shared.config_path.clone() {
                            let now = file_hash(&path);
                            if now.is_some() && now != r.known {
                                r.reload_file("config file change");
                            }
                        }
                    }
                }
            }
        })
        .map_err(|e| Error::Other(format!("cannot start the reload thread: {e}")))?;
    Ok(Reloader { tx, stop, thread: Some(thread) })
}

fn file_hash(path: &Path) -> Option<[u8; 32]> {
    std::fs::read(path).ok().map(|b| sha256(&b))
}

struct Worker {
    shared: Arc<Shared>,
    engine: mpsc::Sender<EngineMsg>,
    /// The hash of the config file as last read or written by us.
    known: Option<[u8; 32]>,
}

impl Worker {
    fn note(&self, source: &str, ok: bool, message: &str) {
        if ok {
            self.shared.reloads_ok.fetch_add(1, Ordering::Relaxed);
            log::info!("reload ({source}): {message}");
        } else {
            self.shared.reloads_failed.fetch_add(1, Ordering::Relaxed);
            log::error!("reload ({source}) rejected, the running config is kept: {message}");
        }
        *lock(&self.shared.last_reload) =
            Some(ReloadRecord { time: now_text(), source: source.to_string(), ok, message: message.to_string() });
    }

    /// Makes `new` the running config: builds what it needs, has the engine swap it in.
    fn switch(&mut self, new: Config, who: &str) -> Outcome {
        let old = self.shared.config();
        let ch = old.changes(&new);
        let portrait = lock(&self.shared.portrait).clone();
        // Name each restart-only key with its old and new value, for the reply and the audit log.
        let restart_needed: Vec<String> = if ch.restart_only.is_empty() {
            vec![]
        } else {
            let shown = |v: Option<toml::Value>| v.map_or_else(|| "unset".to_string(), |v| crate::config::clip(&v.to_string()));
            super::remote::changes(&old, &new)
                .into_iter()
                .filter(|(k, _, _)| ch.restart_only.iter().any(|s| k == s || k.starts_with(&format!("{s}."))))
                .map(|(k, was, now)| format!("{k} ({} -> {})", shown(was), shown(now)))
                .collect()
        };
        super::remote::check_files(&new).map_err(|e| rejected(422, e))?;
        if ch.none() {
            return Ok(Applied { changed: "nothing".into(), saved: false, restart_needed, portrait, note: None });
        }
        let lip = if new.motion.lipsync == LipSync::Model && (old.motion.lipsync != LipSync::Model || old.models != new.models) {
            LipModel::configured(new.motion.lipsync, &new.models_dir()).map_err(|e| rejected(422, e.to_string()))?
        } else {
            None
        };
        let face = if ch.face {
            match build_face(&new) {
                Ok(f) => Some(f),
                Err(e) => {
                    if let crate::Error::Consent { path, .. } = &e {
                        self.shared.audit.record(who, "portrait.refused", "refused", &format!("{}: {e}", path.display()));
                    }
                    return Err(rejected(422, e.to_string()));
                }
            }
        } else {
            None
        };
        let new_portrait = face.as_ref().map(|f| f.portrait.clone());
        let face_for_audit =
            face.as_ref().map(|f| format!("{} sha256 {}; {}", f.portrait.path.display(), f.portrait.sha256, f.consent.describe()));
        crate::util::systemd::notify(&format!("RELOADING=1\nMONOTONIC_USEC={}\nSTATUS=reloading", crate::util::time::monotonic_usec()));
        let (tx, rx) = mpsc::channel();
        let changed = ch.describe();
        let prepared = Box::new(Prepared { cfg: new.clone(), changes: ch, face, lip });
        let sent = self.engine.send(EngineMsg::Apply { prepared, reply: tx });
        let answer = match sent {
            Ok(()) => rx.recv_timeout(ENGINE_TIMEOUT).unwrap_or_else(|_| Err("the engine did not answer".into())),
            Err(_) => Err("the engine has stopped".into()),
        };
        crate::util::systemd::notify("READY=1\nSTATUS=animating");
        answer.map_err(|e| rejected(422, e))?;
        super::audit::provenance(&self.shared.audit, who, Some(&old), &new);
        if let Some(f) = &face_for_audit {
            self.shared.audit.record(who, "portrait.use", "ok", f);
        }
        *lock(&self.shared.config) = new;
        let portrait = match new_portrait {
            Some(p) => {
                *lock(&self.shared.portrait) = p.clone();
                p
            }
            None => portrait,
        };
        Ok(Applied { changed, saved: false, restart_needed, portrait, note: None })
    }

    /// SIGHUP or a change on disk: read the file and switch to it.
    fn reload_file(&mut self, source: &str) {
        let Some(path) = self.shared.config_path.clone() else {
            log::warn!("{source}: the daemon was started without a config file; nothing to reload");
            return;
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) => {
                let msg = format!("config {}: cannot read: {e}", path.display());
                self.note(source, false, &msg);
                self.shared.audit.record(source, "config.reload", "rejected", &msg);
                return;
            }
        };
        // Remember this version, so a broken file is reported once, not every 2 s.
        self.known = Some(sha256(text.as_bytes()));
        let outcome = Config::from_text(&text, &path).map_err(|e| rejected(400, e.to_string())).and_then(|cfg| self.switch(cfg, source));
        match outcome {
            Ok(a) => {
                let msg = applied_text(&a);
                self.note(source, true, &msg);
                self.shared.audit.record(source, "config.reload", "applied", &format!("{}; sha256 {}", msg, hex::encode(self.known.unwrap_or_default())));
            }
            Err(r) => {
                self.note(source, false, &r.error);
                self.shared.audit.record(source, "config.reload", "rejected", &r.error);
            }
        }
    }

    /// `PUT /v1/config`: validate, check what a remote client may change, apply, then save
    /// atomically.
    fn put_config(&mut self, text: &str, who: &str) -> Outcome {
        let path = self.shared.config_path.clone();
        let name = path.clone().unwrap_or_else(|| PathBuf::from("request body"));
        let outcome = Config::from_text(text, &name).map_err(|e| rejected(400, e.to_string())).and_then(|cfg| {
            let running = self.shared.config();
            let refused = super::remote::file_only(&super::remote::changed_keys(&running, &cfg));
            if !refused.is_empty() {
                return Err(rejected(
                    403,
                    format!(
                        "{} can only be changed in the config file on the device, not through the API (README: \"Control API\", remote keys)",
                        refused.join(", ")
                    ),
                ));
            }
            super::remote::check_paths(&running, &cfg, &super::remote::allowed_roots(&running)).map_err(|e| rejected(403, e))?;
            self.switch(cfg, who)
        });
        let outcome = outcome.map(|mut a| {
            self.save(&mut a, |p| write_atomic(p, text.as_bytes()).map(|_| text.to_string()).map_err(|e| e.to_string()));
            a
        });
        let sha = sha256_hex(text.as_bytes());
        self.finish(who, "config.put", &outcome, &format!("sha256 {sha}"));
        outcome
    }

    /// `PUT /v1/portrait`: keep the image in the state folder, build its rig, swap, and point the
    /// config file's `portrait.image` at it (comments and layout of the file kept).
    fn put_portrait(&mut self, bytes: &[u8], who: &str) -> Outcome {
        let sha = sha256_hex(bytes);
        let outcome = self.try_portrait(bytes, &sha, who);
        self.finish(who, "portrait.put", &outcome, &format!("image sha256 {sha}, {} bytes", bytes.len()));
        outcome
    }

    /// `POST /v1/portrait/camera`: a still from the camera becomes the portrait, as an upload
    /// would. With `consent.required` the request names who agreed; the still's sha256 then goes
    /// into the allowlist (taken out again if the still cannot be used: no face, …).
    fn camera_portrait(&mut self, consent: &CameraConsent, who: &str) -> Outcome {
        let cfg = self.shared.config();
        let outcome = self.try_camera(&cfg, consent, who);
        let device = cfg.camera.device.as_ref().map(|d| d.display().to_string()).unwrap_or_else(|| "none".into());
        let detail = match &outcome {
            Ok(a) => format!("camera {device}; image sha256 {}", a.portrait.sha256),
            Err(_) => format!("camera {device}"),
        };
        self.finish(who, "portrait.camera", &outcome, &detail);
        outcome
    }

    fn try_camera(&mut self, cfg: &Config, consent: &CameraConsent, who: &str) -> Outcome {
        let device = crate::camera::configured(cfg).map_err(|e| rejected(422, e.to_string()))?;
        let by = consent.consent_by.as_deref().map(str::trim).filter(|s| !s.is_empty());
        if cfg.consent.required && by.is_none() {
            return Err(rejected(
                400,
                "consent.required is on: a camera portrait needs {\"consent_by\": \"WHO\"} in the request (the person photographed, who agreed to be animated)",
            ));
        }
        let c = &cfg.camera;
        let shot = crate::camera::snapshot(&device, c.width, c.height, c.skip_frames).map_err(|e| rejected(422, e.to_string()))?;
        let bytes = crate::camera::png(&shot.image).map_err(|e| rejected(500, e.to_string()))?;
        let sha = sha256_hex(&bytes);
        log::info!("camera {}: took a {} still from \"{}\" (sha256 {sha})", device.display(), shot.format, shot.card);
        // Consent first (the portrait check reads the allowlist), undone if the still is refused.
        let mut undo: Option<(PathBuf, Option<Vec<u8>>)> = None;
        if let (true, Some(by)) = (cfg.consent.required, by) {
            let path = cfg.consent.allowlist.clone();
            let before = std::fs::read(&path).ok();
            let mut list = crate::provenance::Allowlist::load(&path).map_err(|e| rejected(500, e.to_string()))?;
            let entry = crate::provenance::ConsentEntry {
                sha256: sha.clone(),
                consent_by: by.to_string(),
                consent_date: crate::provenance::today(),
                name: consent.name.clone(),
                note: Some(consent.note.clone().unwrap_or_else(|| format!("camera snapshot from {} ({}), taken through the API by {who}", device.display(), shot.card))),
            };
            entry.check().map_err(|e| rejected(400, e))?;
            list.add(entry).map_err(|e| rejected(500, e.to_string()))?;
            self.shared.audit.record(who, "consent.add", "ok", &format!("camera still sha256 {sha}, consent by {by}"));
            undo = Some((path, before));
        }
        let outcome = self.try_portrait(&bytes, &sha, who);
        if let (Err(_), Some((path, before))) = (&outcome, undo) {
            let restored = match before {
                Some(b) => write_atomic(&path, &b),
                None => std::fs::remove_file(&path),
            };
            match restored {
                Ok(()) => {
                    self.shared.audit.record(who, "consent.remove", "ok", &format!("camera still sha256 {sha} was not used"));
                }
                Err(e) => log::error!("consent allowlist {}: cannot take back the unused camera still's entry: {e}", path.display()),
            }
        }
        outcome.map(|mut a| {
            let n = format!("camera {}: {} still from \"{}\"", device.display(), shot.format, shot.card);
            a.note = Some(match a.note.take() {
                Some(old) => format!("{n}; {old}"),
                None => n,
            });
            a
        })
    }

    fn try_portrait(&mut self, bytes: &[u8], sha: &str, who: &str) -> Outcome {
        let ext = match image::guess_format(bytes) {
            Ok(image::ImageFormat::Jpeg) => "jpg",
            Ok(image::ImageFormat::Png) => "png",
            _ => return Err(rejected(400, "the uploaded file is not a JPEG or PNG image")),
        };
        let old = self.shared.config();
        let dir = super::state_dir(&old).join("portraits");
        let dir = std::path::absolute(&dir).unwrap_or(dir);
        let file = dir.join(format!("{sha}.{ext}"));
        let fresh = !file.exists();
        if fresh {
            std::fs::create_dir_all(&dir)
                .and_then(|_| write_atomic(&file, bytes))
                .map_err(|e| rejected(500, format!("cannot keep the portrait in {}: {e}", dir.display())))?;
        }
        let mut new = old.clone();
        new.portrait.image = Some(file.clone());
        new.portrait.landmarks = None;
        let outcome = self.switch(new, who).map_err(|mut r| {
            // Name the upload, not the file we kept it in.
            r.error = r.error.replace(&file.display().to_string(), "uploaded image").replace("; supply landmarks with --landmarks FILE", "");
            r
        });
        let mut applied = match outcome {
            Ok(a) => a,
            Err(r) => {
                if fresh {
                    let _ = std::fs::remove_file(&file);
                }
                return Err(r);
            }
        };
        self.save(&mut applied, |p| save_portrait_path(p, &file));
        Ok(applied)
    }

    /// After an applied API change: `write` puts it into the config file (returning the file's
    /// new text, remembered so the watcher does not reload it); says in `a` whether it was saved.
    fn save(&mut self, a: &mut Applied, write: impl FnOnce(&Path) -> std::result::Result<String, String>) {
        let Some(p) = self.shared.config_path.clone() else {
            a.note = Some("the daemon runs without a config file: applied until the next restart".into());
            return;
        };
        match write(&p) {
            Ok(text) => {
                self.known = Some(sha256(text.as_bytes()));
                a.saved = true;
                super::guard::saved_change(&self.shared.config(), &text);
            }
            Err(e) => {
                log::error!("config {}: applied but cannot be saved: {e}", p.display());
                a.note = Some(format!("applied, but {} cannot be written ({e}); it runs until the next restart", p.display()));
            }
        }
    }

    /// Figures, log and audit for an API change.
    fn finish(&self, who: &str, what: &str, outcome: &Outcome, detail: &str) {
        match outcome {
            Ok(a) => {
                let msg = applied_text(a);
                self.note(&format!("api {who}"), true, &msg);
                self.shared.audit.record(who, what, "applied", &format!("{msg}; {detail}"));
            }
            Err(r) => {
                self.note(&format!("api {who}"), false, &r.error);
                let result = if r.status == 403 { "refused" } else { "rejected" };
                self.shared.audit.record(who, what, result, &format!("{}; {detail}", r.error));
            }
        }
    }
}

fn applied_text(a: &Applied) -> String {
    let mut s = format!("applied (changed: {})", a.changed);
    if !a.restart_needed.is_empty() {
        s += &format!("; {} take effect after a restart", a.restart_needed.join(", "));
    }
    s
}

/// Sets `[portrait] image = FILE` (and removes `landmarks`) in the config file at `path`, keeping
/// everything else as written; returns the new text.
fn save_portrait_path(path: &Path, file: &Path) -> std::result::Result<String, String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let mut doc: toml_edit::DocumentMut = text.parse().map_err(|e: toml_edit::TomlError| crate::error::one_line(&e.to_string()))?;
    let table = doc
        .entry("portrait")
        .or_insert(toml_edit::Item::Table(toml_edit::Table::new()))
        .as_table_like_mut()
        .ok_or("[portrait] is not a table")?;
    table.insert("image", toml_edit::value(file.display().to_string()));
    table.remove("landmarks");
    let out = doc.to_string();
    write_atomic(path, out.as_bytes()).map_err(|e| e.to_string())?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saving_a_portrait_path_keeps_the_rest_of_the_file() {
        let dir = std::env::temp_dir().join(format!("speakface-reload-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("s.toml");
        std::fs::write(&p, "# the kiosk in hall 2\n[portrait]\nimage = \"old.jpg\" # by the door\nlandmarks = \"lm.json\"\n\n[video]\nfps = 25\n").unwrap();
        let text = save_portrait_path(&p, Path::new("/var/lib/speakface/portraits/ab.png")).unwrap();
        assert!(text.contains("# the kiosk in hall 2") && text.contains("fps = 25"), "{text}");
        assert!(text.contains("image = \"/var/lib/speakface/portraits/ab.png\"") && !text.contains("landmarks"), "{text}");
        let cfg = Config::load(&p).unwrap();
        assert_eq!(cfg.portrait.image.unwrap(), Path::new("/var/lib/speakface/portraits/ab.png"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
