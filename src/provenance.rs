//! Responsible use: what every output carries and which portraits may be animated.
//!
//! - [`Stamp`]: the visible label ("AI-GENERATED" by default, `[provenance]` in the config) and
//!   the invisible watermark ([`crate::watermark`]: device id + time) applied to every frame the
//!   daemon and `speakface render` make, before any output sees it.
//! - [`device_id`]: the 32-bit id the watermark carries.
//! - [`Allowlist`]: portrait consent. In daemon mode a portrait is animated only when its sha256
//!   is in the operator's allowlist (`[consent] allowlist`, a TOML file with who agreed and when
//!   for each entry), unless `consent.required = false`.
//! - [`tags`]: the provenance text written into recorded MP4 files.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::font;
use crate::watermark::{Embedder, Payload};
use crate::{Error, Result};

/// The device id the watermark carries: `provenance.device_id` when set, else the first 32 bits
/// of sha256("speakface-device:" + /etc/machine-id), else of the host name.
pub fn device_id(cfg: &Config) -> u32 {
    if let Ok(v) = u32::from_str_radix(&cfg.provenance.device_id, 16) {
        return v;
    }
    let seed = std::fs::read_to_string("/etc/machine-id")
        .ok()
        .filter(|s| !s.trim().is_empty())
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .unwrap_or_default();
    let h = Sha256::digest(format!("speakface-device:{}", seed.trim()).as_bytes());
    u32::from_be_bytes([h[0], h[1], h[2], h[3]])
}

/// Label and watermark for frames of one size.
pub struct Stamp {
    width: u32,
    height: u32,
    label: Option<(String, String, u32)>,
    embedder: Option<Embedder>,
    device: u32,
}

impl Stamp {
    pub fn new(cfg: &Config, width: u32, height: u32) -> Stamp {
        let p = &cfg.provenance;
        Stamp {
            width,
            height,
            label: p.label.then(|| (p.label_text.clone(), p.label_position.clone(), p.label_scale)),
            embedder: p.watermark.then(|| Embedder::new(width, height, p.watermark_strength)),
            device: device_id(cfg),
        }
    }

    pub fn device(&self) -> u32 {
        self.device
    }

    /// Labels and marks one RGB24 frame in place (frames are counted: call once per frame shown).
    pub fn apply(&mut self, rgb: &mut [u8]) {
        if let Some((text, pos, scale)) = &self.label {
            draw_label(rgb, self.width, self.height, text, pos, *scale);
        }
        if let Some(e) = self.embedder.as_mut() {
            // The time changes only every WINDOW frames: a file read from its start then never
            // has a reading window that straddles two payloads.
            if e.frame() % crate::watermark::WINDOW as u64 == 0 {
                e.set_payload(Payload::now(self.device));
            }
            e.apply(rgb);
        }
    }
}

/// Where the label goes: its box (x, y, w, h), `2 × scale` pixels from the edges of the frame.
fn place(width: u32, height: u32, text: &str, position: &str, scale: u32) -> (u32, u32, u32, u32) {
    let (tw, th) = font::text_size(text, scale);
    let pad = 2 * scale;
    let (bw, bh) = (tw + 2 * pad, th + 2 * pad);
    let margin = 2 * scale;
    let x = if position.ends_with("left") { margin } else { width.saturating_sub(bw + margin) };
    let y = if position.starts_with("top") { margin } else { height.saturating_sub(bh + margin) };
    (x, y, bw, bh)
}

/// White text on a darkened box in a corner, `2 × scale` pixels from the edges.
pub fn draw_label(rgb: &mut [u8], width: u32, height: u32, text: &str, position: &str, scale: u32) {
    let (x, y, bw, bh) = place(width, height, text, position, scale);
    let pad = 2 * scale;
    font::shade(rgb, width, x, y, bw, bh, [0, 0, 0], 0.55);
    font::draw_text(rgb, width, x + pad, y + pad, text, scale, [255, 255, 255]);
}

/// The label's box (x, y, w, h) for a frame, as [`draw_label`] places it.
pub fn label_box(cfg: &Config, width: u32, height: u32) -> (u32, u32, u32, u32) {
    let p = &cfg.provenance;
    place(width, height, &p.label_text, &p.label_position, p.label_scale)
}

/// What gets written about a recording: the MP4's encoder and comment tags.
pub struct Tags {
    pub encoder: String,
    pub comment: String,
}

/// Provenance of a clip made now from the portrait with this sha256.
pub fn tags(cfg: &Config, portrait_sha256: &str) -> Tags {
    let now = crate::control::utc_text(std::time::SystemTime::now());
    Tags {
        encoder: format!("speakface {}", env!("CARGO_PKG_VERSION")),
        comment: format!(
            "AI-generated talking head; tool speakface {}; portrait sha256 {}; device {:08x}; made {}",
            env!("CARGO_PKG_VERSION"),
            portrait_sha256,
            device_id(cfg),
            now
        ),
    }
}

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

/// The sha256 of a file, hex.
pub fn file_sha256(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| Error::Image { path: path.to_path_buf(), message: format!("cannot read: {e}") })?;
    Ok(hex::encode(Sha256::digest(&bytes)))
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
    crate::control::utc_text(std::time::SystemTime::now())[..10].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_is_drawn_in_its_corner_and_nowhere_else() {
        let cfg = Config::default();
        let (w, h) = (400u32, 128u32);
        let mut rgb = vec![128u8; (w * h * 3) as usize];
        let mut stamp = Stamp { width: w, height: h, label: Some(("AI-GENERATED".into(), "bottom-right".into(), 2)), embedder: None, device: 0 };
        stamp.apply(&mut rgb);
        let (bx, by, bw, bh) = label_box(&cfg, w, h);
        assert!(bx + bw <= w && by + bh <= h && bx > w / 2 && by > h / 2);
        let mut white = 0;
        for y in 0..h {
            for x in 0..w {
                let i = ((y * w + x) * 3) as usize;
                let inside = x >= bx && x < bx + bw && y >= by && y < by + bh;
                if !inside {
                    assert_eq!(&rgb[i..i + 3], &[128, 128, 128], "changed at {x},{y}");
                } else if rgb[i] == 255 {
                    white += 1;
                }
            }
        }
        assert!(white > 200, "{white} white pixels");
    }

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
        let demo = file_sha256(&crate::job::default_portrait()).unwrap();
        assert!(matches!(check_consent(&cfg, Path::new("default.jpg"), &demo).unwrap(), Consent::Listed(_)));
        let painting = file_sha256(&crate::job::assets_dir().join("portraits/painting.jpg")).unwrap();
        let e = check_consent(&cfg, Path::new("painting.jpg"), &painting).unwrap_err().to_string();
        assert!(e.contains("/etc/speakface/consent.toml, which does not exist"), "{e}");
    }

    #[test]
    fn device_id_from_config_or_machine() {
        let mut cfg = Config::default();
        cfg.provenance.device_id = "00c0ffee".into();
        assert_eq!(device_id(&cfg), 0x00c0_ffee);
        cfg.provenance.device_id.clear();
        assert_eq!(device_id(&cfg), device_id(&cfg));
    }
}
