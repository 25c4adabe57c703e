//! Portrait consent: in daemon mode a portrait is animated only when its sha256 is in the
//! operator's allowlist (`[consent] allowlist`, a TOML file with who agreed and when for each
//! entry), unless `consent.required = false`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::{Error, Result};

/// One allowlisted portrait.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ConsentEntry {
    /// sha256 of the image file, 64 hex digits.
    pub sha256: String,
    /// Who agreed (the person shown, their representative, or the rights holder).
    pub consent_by: String,
    /// When, as YYYY-MM-DD.
    pub consent_date: String,
    /// What the portrait is (a name, "public domain painting", …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl ConsentEntry {
    /// What is wrong with the entry, as "key: expected …, found …".
    pub fn check(&self) -> std::result::Result<(), String> {
        if self.sha256.len() != 64 || !self.sha256.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(format!("sha256: expected 64 hex digits, found \"{}\"", self.sha256));
        }
        if self.consent_by.trim().is_empty() {
            return Err("consent_by: expected who agreed, found nothing".into());
        }
        if !valid_date(&self.consent_date) {
            return Err(format!("consent_date: expected YYYY-MM-DD, found \"{}\"", self.consent_date));
        }
        Ok(())
    }
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct ConsentFile {
    #[serde(default)]
    portrait: Vec<ConsentEntry>,
}

/// The operator's consent allowlist.
#[derive(Debug, Default)]
pub struct Allowlist {
    pub path: PathBuf,
    /// Whether the file exists (an absent file is an empty list).
    pub present: bool,
    pub entries: Vec<ConsentEntry>,
}

fn consent_err(path: &Path, message: impl Into<String>) -> Error {
    Error::Other(format!("consent allowlist {}: {}", path.display(), message.into()))
}

fn valid_date(d: &str) -> bool {
    let b = d.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && d.chars().enumerate().all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
        && (1..=12).contains(&d[5..7].parse::<u32>().unwrap_or(0))
        && (1..=31).contains(&d[8..10].parse::<u32>().unwrap_or(0))
}

impl Allowlist {
    /// Reads the allowlist; a missing file is an empty list, a broken one an error naming it.
    pub fn load(path: &Path) -> Result<Allowlist> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Allowlist { path: path.to_path_buf(), present: false, entries: vec![] })
            }
            Err(e) => return Err(consent_err(path, format!("cannot read: {e}"))),
        };
        let file: ConsentFile =
            toml::from_str(&text).map_err(|e| consent_err(path, crate::error::one_line(e.message())))?;
        for (i, e) in file.portrait.iter().enumerate() {
            e.check().map_err(|m| consent_err(path, format!("portrait #{}: {m}", i + 1)))?;
        }
        Ok(Allowlist { path: path.to_path_buf(), present: true, entries: file.portrait })
    }

    pub fn find(&self, sha256: &str) -> Option<&ConsentEntry> {
        self.entries.iter().find(|e| e.sha256.eq_ignore_ascii_case(sha256))
    }

    /// Adds (or replaces) an entry and writes the file atomically, keeping the other entries and
    /// the file's comments.
    pub fn add(&mut self, entry: ConsentEntry) -> Result<()> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => "# Portraits speakface may animate in daemon mode, by sha256 of the image file, with who\n\
                 # agreed and when. `speakface consent add IMAGE --by WHO` adds one.\n"
                .to_string(),
            Err(e) => return Err(consent_err(&self.path, format!("cannot read: {e}"))),
        };
        let mut doc: toml_edit::DocumentMut = text.parse().map_err(|e: toml_edit::TomlError| consent_err(&self.path, crate::error::one_line(e.message())))?;
        let mut table = toml_edit::Table::new();
        table["sha256"] = toml_edit::value(entry.sha256.clone());
        table["consent_by"] = toml_edit::value(entry.consent_by.clone());
        table["consent_date"] = toml_edit::value(entry.consent_date.clone());
        if let Some(n) = &entry.name {
            table["name"] = toml_edit::value(n.clone());
        }
        if let Some(n) = &entry.note {
            table["note"] = toml_edit::value(n.clone());
        }
        let list = doc
            .entry("portrait")
            .or_insert_with(|| toml_edit::Item::ArrayOfTables(toml_edit::ArrayOfTables::new()))
            .as_array_of_tables_mut()
            .ok_or_else(|| consent_err(&self.path, "portrait: expected [[portrait]] tables"))?;
        list.retain(|t| !t.get("sha256").and_then(|v| v.as_str()).is_some_and(|s| s.eq_ignore_ascii_case(&entry.sha256)));
        list.push(table);
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| consent_err(&self.path, format!("cannot create folder: {e}")))?;
        }
        crate::config::write_atomic(&self.path, doc.to_string().as_bytes()).map_err(|e| consent_err(&self.path, format!("cannot write: {e}")))?;
        self.entries.retain(|e| !e.sha256.eq_ignore_ascii_case(&entry.sha256));
        self.entries.push(entry);
        self.present = true;
        Ok(())
    }
}

/// What the consent check decided for a portrait.
#[derive(Debug, Clone)]
pub enum Consent {
    /// In the allowlist.
    Listed(ConsentEntry),
    /// Not checked: `consent.required = false`.
    NotRequired,
}

impl Consent {
    /// For logs and the audit trail.
    pub fn describe(&self) -> String {
        match self {
            Consent::Listed(e) => format!(
                "consent by {} on {}{}",
                e.consent_by,
                e.consent_date,
                e.name.as_ref().map(|n| format!(" ({n})")).unwrap_or_default()
            ),
            Consent::NotRequired => "consent check off (consent.required = false)".into(),
        }
    }
}

/// The daemon's check: is the portrait at `path` with this hash allowed?
pub fn check_consent(cfg: &Config, path: &Path, sha256: &str) -> Result<Consent> {
    if !cfg.consent.required {
        return Ok(Consent::NotRequired);
    }
    let mut list = Allowlist::load(&cfg.consent.allowlist)?;
    if !list.present && cfg.consent.allowlist == crate::config::ConsentConfig::default().allowlist {
        // No operator list at the default place (a run from the source tree): the shipped
        // list, which holds only the bundled demo portrait.
        let shipped = Allowlist::load(&shipped_allowlist())?;
        list.entries = shipped.entries;
    }
    match list.find(sha256) {
        Some(e) => Ok(Consent::Listed(e.clone())),
        None => Err(Error::Consent {
            path: path.to_path_buf(),
            message: format!(
                "refused: sha256 {sha256} is not in the consent allowlist {}{} (add it with `speakface consent add {} --by WHO`, or set consent.required = false)",
                list.path.display(),
                if list.present { "" } else { ", which does not exist" },
                path.display()
            ),
        }),
    }
}

/// The allowlist shipped with the program (only the bundled demo portrait): installed as
/// PREFIX/share/speakface/consent.toml, in the source tree as systemd/consent.toml.
pub fn shipped_allowlist() -> PathBuf {
    if let Some(prefix) = std::env::current_exe().ok().and_then(|e| e.parent().and_then(Path::parent).map(Path::to_path_buf)) {
        let installed = prefix.join("share/speakface/consent.toml");
        if installed.is_file() {
            return installed;
        }
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("systemd/consent.toml")
}

/// Today's date, YYYY-MM-DD (UTC).
pub fn today() -> String {
    crate::util::time::utc_text(std::time::SystemTime::now())[..10].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowlist_round_trip_and_errors_name_the_entry() {
        let dir = std::env::temp_dir().join(format!("speakface-consent-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("consent.toml");
        let mut list = Allowlist::load(&path).unwrap();
        assert!(!list.present && list.entries.is_empty());
        let sha = "ab".repeat(32);
        list.add(ConsentEntry { sha256: sha.clone(), consent_by: "Ada Lovelace".into(), consent_date: "2026-11-29".into(), name: Some("Ada".into()), note: None }).unwrap();
        let mut again = Allowlist::load(&path).unwrap();
        assert!(again.present);
        // A second entry keeps the first and the operator's comments.
        let text = std::fs::read_to_string(&path).unwrap().replace("[[portrait]]", "# the first sitter\n[[portrait]]");
        std::fs::write(&path, text).unwrap();
        again.add(ConsentEntry { sha256: "ef".repeat(32), consent_by: "B".into(), consent_date: "2026-11-30".into(), name: None, note: None }).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("# the first sitter") && text.contains("Ada Lovelace") && text.contains("2026-11-30"), "{text}");
        let again = Allowlist::load(&path).unwrap();
        assert_eq!(again.entries.len(), 2);
        assert_eq!(again.find(&sha.to_uppercase()).unwrap().consent_by, "Ada Lovelace");

        let mut cfg = Config::default();
        cfg.consent.allowlist = path.clone();
        assert!(matches!(check_consent(&cfg, Path::new("a.jpg"), &sha).unwrap(), Consent::Listed(_)));
        let other = "cd".repeat(32);
        let e = check_consent(&cfg, Path::new("b.jpg"), &other).unwrap_err().to_string();
        assert!(e.contains("b.jpg") && e.contains("not in the consent allowlist") && e.contains(&other), "{e}");
        cfg.consent.required = false;
        assert!(matches!(check_consent(&cfg, Path::new("b.jpg"), &other).unwrap(), Consent::NotRequired));

        std::fs::write(&path, "[[portrait]]\nsha256 = \"abc\"\nconsent_by = \"x\"\nconsent_date = \"2026-01-01\"\n").unwrap();
        let e = Allowlist::load(&path).unwrap_err().to_string();
        assert!(e.contains("portrait #1: sha256"), "{e}");
        std::fs::write(&path, format!("[[portrait]]\nsha256 = \"{sha}\"\nconsent_by = \"x\"\nconsent_date = \"29.11.2026\"\n")).unwrap();
        assert!(Allowlist::load(&path).unwrap_err().to_string().contains("consent_date"));
        std::fs::write(&path, "[[portrait]\n").unwrap();
        assert!(Allowlist::load(&path).unwrap_err().to_string().contains(&path.display().to_string()));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn without_an_operator_list_only_the_bundled_demo_portrait_is_allowed() {
        let cfg = Config::default();
        if cfg.consent.allowlist.exists() {
            return; // an installed machine: its operator's list decides
        }
        let demo = crate::util::hash::file_sha256(&crate::util::dirs::default_portrait()).unwrap();
        assert!(matches!(check_consent(&cfg, Path::new("default.jpg"), &demo).unwrap(), Consent::Listed(_)));
        let painting = crate::util::hash::file_sha256(&crate::util::dirs::assets_dir().join("portraits/painting.jpg")).unwrap();
        let e = check_consent(&cfg, Path::new("painting.jpg"), &painting).unwrap_err().to_string();
        assert!(e.contains("/etc/speakface/consent.toml, which does not exist"), "{e}");
    }
}
