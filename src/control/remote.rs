//! What the remote API may change, and what it may not.
//!
//! The token lets an operator run the kiosk: portrait, speech, motion, outputs, label. It must
//! not let whoever holds it run a program, read or write files of their choosing, move the API
//! or its token, or make the daemon crash at every start. So:
//! - keys that name programs or places (`FILE_ONLY`) change only in the config file on the device
//!   (by someone with a shell there); a `PUT /v1/config` that changes one is refused with 403,
//!   naming the key, and the refusal is audited;
//! - the portrait, its landmarks and playlist files set remotely must be regular files inside the
//!   daemon's own folders (the state folder, where uploads are kept, and the bundled assets),
//!   checked after symlinks are resolved.
//!
//! Every source (the API, SIGHUP, the file watcher) also goes through `check_files`: a playlist
//! entry or portrait that is not a regular file, or a playlist entry that is not a WAV within the
//! live limits, is refused before anything is swapped in.

use std::path::{Path, PathBuf};

use crate::config::Config;

/// Keys (or whole sections) that only the config file on the device may change.
pub const FILE_ONLY: &[&str] = &[
    "tts.command",
    "api",
    "daemon",
    "models.dir",
    "cache.dir",
    "output.record.dir",
    "output.rtsp.auth_file",
    "consent.allowlist",
    "camera.device",
    "output.v4l2.device",
];

/// Every dotted key whose value differs between `a` and `b` (a key set in one only counts).
pub fn changed_keys(a: &Config, b: &Config) -> Vec<String> {
    changes(a, b).into_iter().map(|(k, _, _)| k).collect()
}

/// Every dotted key whose value differs between `a` and `b`, sorted, with its value in each
/// (None: not set).
pub fn changes(a: &Config, b: &Config) -> Vec<(String, Option<toml::Value>, Option<toml::Value>)> {
    fn flat(prefix: &str, v: &toml::Value, out: &mut std::collections::BTreeMap<String, toml::Value>) {
        match v {
            toml::Value::Table(t) if !prefix.ends_with("emotion") && !prefix.ends_with("gaze") => {
                for (k, v) in t {
                    let p = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                    flat(&p, v, out);
                }
            }
            _ => {
                out.insert(prefix.to_string(), v.clone());
            }
        }
    }
    let (mut fa, mut fb) = (Default::default(), Default::default());
    if let (Ok(va), Ok(vb)) = (toml::Value::try_from(a), toml::Value::try_from(b)) {
        flat("", &va, &mut fa);
        flat("", &vb, &mut fb);
    }
    let mut keys: Vec<&String> = fa.keys().chain(fb.keys()).filter(|k| fa.get(*k) != fb.get(*k)).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter().map(|k| (k.clone(), fa.get(k).cloned(), fb.get(k).cloned())).collect()
}

/// The file-only keys among `changed`.
pub fn file_only(changed: &[String]) -> Vec<String> {
    changed
        .iter()
        .filter(|k| FILE_ONLY.iter().any(|f| *k == f || k.starts_with(&format!("{f}."))))
        .cloned()
        .collect()
}

/// Folders a remotely set portrait or playlist file may be in.
pub fn allowed_roots(running: &Config) -> Vec<PathBuf> {
    let mut roots = vec![super::state_dir(running), crate::util::dirs::assets_dir(), PathBuf::from("/usr/share/speakface")];
    roots.retain(|r| r.exists());
    roots.iter().filter_map(|r| r.canonicalize().ok()).collect()
}

/// A path set remotely: a regular file inside one of `roots`, symlinks resolved.
fn inside(key: &str, path: &Path, roots: &[PathBuf]) -> Result<(), String> {
    let real = path.canonicalize().map_err(|e| format!("{key} \"{}\": {e}", crate::config::clip(&path.display().to_string())))?;
    if !real.is_file() {
        return Err(format!("{key} \"{}\": not a regular file", path.display()));
    }
    if !roots.iter().any(|r| real.starts_with(r)) {
        let names: Vec<String> = roots.iter().map(|r| r.display().to_string()).collect();
        return Err(format!(
            "{key} \"{}\" is outside the daemon's folders ({}); upload a portrait with PUT /v1/portrait, or set the path in the config file on the device",
            crate::config::clip(&path.display().to_string()),
            names.join(", ")
        ));
    }
    Ok(())
}

/// The portrait, landmarks and playlist paths that `new` sets differently from `running` must lie
/// in `roots`.
pub fn check_paths(running: &Config, new: &Config, roots: &[PathBuf]) -> Result<(), String> {
    for (key, old, now) in [
        ("portrait.image", &running.portrait.image, &new.portrait.image),
        ("portrait.landmarks", &running.portrait.landmarks, &new.portrait.landmarks),
    ] {
        if let Some(p) = now.as_ref().filter(|p| Some(*p) != old.as_ref()) {
            inside(key, p, roots)?;
        }
    }
    for f in &new.audio.files {
        if !running.audio.files.contains(f) {
            inside("audio.files", f, roots)?;
        }
    }
    Ok(())
}

/// What would make the daemon fail once swapped in: portrait and landmarks that are not regular
/// files, playlist entries that are not regular files or not WAVs within the live limits. The
/// playlist is only checked when it is the speech source.
pub fn check_files(cfg: &Config) -> Result<(), String> {
    for (key, p) in [("portrait.image", &cfg.portrait.image), ("portrait.landmarks", &cfg.portrait.landmarks)] {
        if let Some(p) = p {
            match std::fs::metadata(p) {
                Ok(m) if !m.is_file() => return Err(format!("{key} \"{}\": not a regular file", p.display())),
                _ => {} // missing or unreadable: the portrait check says so, naming the file
            }
        }
    }
    if cfg.audio.source == crate::config::AudioSource::File {
        for f in &cfg.audio.files {
            check_wav_header(f)?;
        }
    }
    Ok(())
}

/// A playlist entry: a regular file whose WAV header is within `wav::LIVE_LIMITS` (only the
/// first 64 KiB are read).
fn check_wav_header(f: &Path) -> Result<(), String> {
    use std::io::Read;
    let m = match std::fs::metadata(f) {
        Ok(m) => m,
        // Not there (yet): the playlist skips it and tries again, as it does for a file that
        // goes away while playing.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(format!("audio.files \"{}\": {e}", f.display())),
    };
    if !m.is_file() {
        return Err(format!("audio.files \"{}\": not a regular file (a device, FIFO or folder cannot be speech)", f.display()));
    }
    let mut head = Vec::with_capacity(65_536);
    std::fs::File::open(f)
        .and_then(|file| file.take(65_536).read_to_end(&mut head))
        .map_err(|e| format!("audio.files \"{}\": cannot read: {e}", f.display()))?;
    crate::audio::wav::check_header(&head, m.len(), crate::audio::wav::LIVE_LIMITS)
        .map_err(|e| format!("audio.files \"{}\": {e}", f.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_only_keys_are_found_among_the_changes() {
        let a = Config::default();
        let mut b = a.clone();
        b.tts.command = "/bin/sh".into();
        b.api.listen = "0.0.0.0:8080".into();
        b.daemon.state_dir = Some("/tmp/x".into());
        b.motion.seed = 7;
        b.output.v4l2.device = "/dev/video3".into();
        let changed = changed_keys(&a, &b);
        assert_eq!(file_only(&changed), vec!["api.listen", "daemon.state_dir", "output.v4l2.device", "tts.command"]);
        assert!(changed.contains(&"motion.seed".to_string()));
        assert!(file_only(&changed_keys(&a, &a)).is_empty());
    }

    #[test]
    fn remote_paths_must_be_regular_files_inside_the_roots() {
        let dir = std::env::temp_dir().join(format!("speakface-remote-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("state")).unwrap();
        std::fs::write(dir.join("state/ok.wav"), b"x").unwrap();
        std::fs::write(dir.join("outside.wav"), b"x").unwrap();
        std::os::unix::fs::symlink(dir.join("outside.wav"), dir.join("state/link.wav")).unwrap();
        let roots = vec![dir.join("state").canonicalize().unwrap()];
        let a = Config::default();
        let with = |p: PathBuf| {
            let mut c = a.clone();
            c.audio.files = vec![p];
            c
        };
        assert!(check_paths(&a, &with(dir.join("state/ok.wav")), &roots).is_ok());
        assert!(check_paths(&a, &with(dir.join("outside.wav")), &roots).unwrap_err().contains("outside the daemon's folders"));
        assert!(check_paths(&a, &with(dir.join("state/link.wav")), &roots).unwrap_err().contains("outside"), "symlinks are resolved");
        assert!(check_paths(&a, &with("/dev/zero".into()), &roots).unwrap_err().contains("not a regular file"));
        let mut p = a.clone();
        p.portrait.image = Some("/etc/passwd".into());
        assert!(check_paths(&a, &p, &roots).unwrap_err().contains("portrait.image"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn devices_and_non_wavs_are_refused_for_every_source() {
        let mut c = Config::default();
        c.audio.source = crate::config::AudioSource::File;
        c.audio.files = vec!["/dev/zero".into()];
        assert!(check_files(&c).unwrap_err().contains("not a regular file"));
        c.audio.files = vec![PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml")];
        assert!(check_files(&c).unwrap_err().contains("not a WAV"));
        c.audio.files = vec![PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("assets/speech/demo.wav")];
        assert!(check_files(&c).is_ok());
        c.portrait.image = Some("/dev/zero".into());
        assert!(check_files(&c).unwrap_err().contains("portrait.image"));
    }
}
