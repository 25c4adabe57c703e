//! Reading a config: the operator's text checked alone first (syntax, unknown keys, types and
//! closed choices, with line numbers), the board profile laid under it, validation naming the
//! line of the offending key, relative paths made relative to the file; and atomic writes.

use std::path::Path;

use super::schema::Config;
use crate::{Error, Result};

/// The line where dotted `key` ("video.fps") is set in `text`, if it is.
fn key_line(text: &str, key: &str) -> Option<usize> {
    let doc = toml_edit::ImDocument::parse(text).ok()?;
    let mut item = doc.as_item();
    for part in key.split('.') {
        item = item.get(part)?;
    }
    item.span().map(|s| line_col(text, s.start).0)
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, col)
}

impl Config {
    /// Parses and validates a config file; relative paths in it become relative to its folder.
    pub fn load(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Config { path: path.to_path_buf(), message: format!("cannot read: {e}") })?;
        Config::from_text(&text, path)
    }

    /// Parses and validates the text of the config file at `path` (read or about to be written);
    /// relative paths in it become relative to that file's folder.
    pub fn from_text(text: &str, path: &Path) -> Result<Config> {
        // A file cut to nothing (an editor or a deploy tool caught mid-save) must not be taken
        // for "all defaults": that would move outputs and the portrait behind the operator's back.
        if text.trim().is_empty() {
            return Err(Error::Config {
                path: path.to_path_buf(),
                message: "the file is empty; a config needs at least one setting (the old config is kept)".into(),
            });
        }
        let mut cfg = Config::parse(text, path)?;
        let base = path.parent().unwrap_or(Path::new("."));
        let record_dir = Some(&mut cfg.output.record.dir);
        for p in [
            &mut cfg.portrait.image,
            &mut cfg.portrait.landmarks,
            &mut cfg.portrait.hair_mask,
            &mut cfg.models.dir,
            &mut cfg.cache.dir,
            &mut cfg.api.token_file,
            &mut cfg.daemon.state_dir,
            &mut cfg.output.rtsp.auth_file,
        ]
        .into_iter()
        .flatten()
        .chain(record_dir)
        .chain(Some(&mut cfg.consent.allowlist))
            .chain(cfg.audio.files.iter_mut())
        {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
        Ok(cfg)
    }

    /// Parses and validates config text, with the board profile laid under it.
    pub fn parse(text: &str, path: &Path) -> Result<Config> {
        if let Some(at) = text.find('\0') {
            let (l, c) = line_col(text, at);
            return Err(Error::Config { path: path.to_path_buf(), message: format!("line {l}, column {c}: a NUL byte (binary data is not TOML)") });
        }
        // The operator's text alone first: syntax, unknown keys and types, with line numbers.
        let own: Config = toml::from_str(text).map_err(|e| {
            let place = e.span().map(|s| line_col(text, s.start));
            let msg = crate::error::one_line(e.message());
            Error::Config {
                path: path.to_path_buf(),
                message: match place {
                    Some((l, c)) => format!("line {l}, column {c}: {msg}"),
                    None => msg,
                },
            }
        })?;
        let cfg = own.with_board_profile(text, path)?;
        cfg.validate(path).map_err(|e| match e {
            // Name the line of the offending key too.
            Error::Config { path, message } => {
                let key = message.split(':').next().unwrap_or_default();
                match key_line(text, key) {
                    Some(l) => Error::Config { path, message: format!("line {l}: {message}") },
                    None => Error::Config { path, message },
                }
            }
            other => other,
        })?;
        Ok(cfg)
    }

    /// This config with its board profile's defaults under it (`board.profile`: a name, or on
    /// "auto" the one for this machine). Without profiles on disk "auto" means none.
    fn with_board_profile(self, text: &str, path: &Path) -> Result<Config> {
        use crate::board;
        let err = |message: String| Error::Config { path: path.to_path_buf(), message };
        let profiles = match board::load_all(&board::profiles_dir()) {
            Ok(p) => p,
            Err(_) if self.board.profile == "auto" => return Ok(self),
            Err(e) => return Err(err(e)),
        };
        let model = board::device_tree_model();
        let (profile, reason) =
            board::choose(&profiles, &self.board.profile, model.as_deref(), std::env::consts::ARCH).map_err(|e| {
                let line = key_line(text, "board.profile").map(|l| format!("line {l}: ")).unwrap_or_default();
                err(format!("{line}{e}"))
            })?;
        let mut merged = profile.defaults.clone();
        let own: toml::Table = toml::from_str(text).map_err(|e| err(crate::error::one_line(e.message())))?;
        board::merge(&mut merged, own);
        let mut cfg: Config = toml::Value::Table(merged)
            .try_into()
            .map_err(|e: toml::de::Error| err(format!("board profile {}: {}", profile.board.name, crate::error::one_line(e.message()))))?;
        cfg.chosen_board = Some(board::Choice { name: profile.board.name.clone(), reason });
        Ok(cfg)
    }
}

/// Writes `bytes` to `path` so that a reader sees the old file or the new one, never a part:
/// a temporary file beside it, fsync, rename over, fsync the folder. The file's mode is kept.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).open(&tmp)?;
        if let Ok(meta) = std::fs::metadata(path) {
            f.set_permissions(meta.permissions())?;
        }
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
