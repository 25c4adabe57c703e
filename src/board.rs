//! Board profiles: per-board defaults (H.264 encoder, display sink, microphone, inference
//! device, encoder threads) kept as partial configs in `board/*.toml`. The profile is chosen by
//! `board.profile` in the config, or on "auto" from the device-tree model string
//! (`/proc/device-tree/model`: "NVIDIA Jetson Orin Nano Developer Kit", "Raspberry Pi 5 …") and
//! the CPU architecture. The operator's config overrides every key a profile sets.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// A profile as written in `board/NAME.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub board: BoardInfo,
    /// A partial `speakface.toml` laid under the operator's config.
    #[serde(default)]
    pub defaults: toml::Table,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BoardInfo {
    pub name: String,
    pub description: String,
    /// Substrings of the device-tree model string that select this profile.
    #[serde(default, rename = "match")]
    pub matches: Vec<String>,
    /// CPU architecture (`std::env::consts::ARCH`) this is the fallback for, when no model matches.
    #[serde(default)]
    pub fallback_for_arch: Option<String>,
    /// Power modes, clocks, what the board lacks: for operators, shown by `speakface boards`.
    #[serde(default)]
    pub notes: String,
}

/// Where the profiles are: `$SPEAKFACE_BOARDS`, the installed share folder, or the source tree's.
pub fn profiles_dir() -> PathBuf {
    crate::util::dirs::data_dir("SPEAKFACE_BOARDS", "board", Path::is_dir)
}

/// Every profile in `dir`, by name; errors name the file.
pub fn load_all(dir: &Path) -> Result<Vec<Profile>, String> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("board profiles {}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|f| {
            let text = std::fs::read_to_string(f).map_err(|e| format!("board profile {}: {e}", f.display()))?;
            toml::from_str::<Profile>(&text).map_err(|e| format!("board profile {}: {}", f.display(), crate::error::one_line(e.message())))
        })
        .collect()
}

/// The device-tree model string, where there is one (ARM boards).
pub fn device_tree_model() -> Option<String> {
    let raw = std::fs::read("/proc/device-tree/model").ok()?;
    let s = String::from_utf8_lossy(&raw).trim_end_matches('\0').trim().to_string();
    (!s.is_empty()).then_some(s)
}

/// Why a profile was chosen, for the log and status.
#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    pub name: String,
    pub reason: String,
}

/// Picks a profile: by `wanted` name, or on "auto" the first whose `match` is in `model`, else
/// the fallback for `arch`.
pub fn choose<'a>(profiles: &'a [Profile], wanted: &str, model: Option<&str>, arch: &str) -> Result<(&'a Profile, String), String> {
    if wanted != "auto" {
        let names: Vec<&str> = profiles.iter().map(|p| p.board.name.as_str()).collect();
        return profiles
            .iter()
            .find(|p| p.board.name == wanted)
            .map(|p| (p, "named in the config".to_string()))
            .ok_or_else(|| format!("board.profile: expected \"auto\" or one of {names:?}, found \"{wanted}\""));
    }
    if let Some(m) = model {
        if let Some(p) = profiles.iter().find(|p| p.board.matches.iter().any(|s| m.contains(s.as_str()))) {
            return Ok((p, format!("device-tree model \"{m}\"")));
        }
    }
    profiles
        .iter()
        .find(|p| p.board.fallback_for_arch.as_deref() == Some(arch))
        .map(|p| {
            let why = match model {
                Some(m) => format!("no profile matches model \"{m}\"; the {arch} fallback"),
                None => format!("no device tree; the {arch} fallback"),
            };
            (p, why)
        })
        .ok_or_else(|| format!("no board profile for this machine ({arch}, model {model:?}); set board.profile"))
}

/// `over` laid on `base`, tables merged key by key.
pub fn merge(base: &mut toml::Table, over: toml::Table) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

/// A USB microphone by ALSA card name: `"usb"` takes the first USB audio card, `"usb:TEXT"` the
/// first whose id or name contains TEXT (case-insensitive). Read from `/proc/asound/cards` at each
/// (re)open, so a microphone plugged into another port is still found. Other names pass through.
pub fn resolve_alsa_device(device: &str) -> Result<String, String> {
    let Some(rest) = device.strip_prefix("usb") else {
        return Ok(device.to_string());
    };
    let want = rest.strip_prefix(':').unwrap_or(rest);
    let cards = std::fs::read_to_string("/proc/asound/cards").unwrap_or_default();
    usb_card(&cards, want)
        .map(|id| format!("plughw:CARD={id},DEV=0"))
        .ok_or_else(|| format!("no USB sound card{} in /proc/asound/cards", if want.is_empty() { String::new() } else { format!(" matching \"{want}\"") }))
}

/// The id of the first USB-Audio card in `/proc/asound/cards` text whose id or names contain `want`.
pub fn usb_card(cards: &str, want: &str) -> Option<String> {
    let want = want.to_lowercase();
    let lines: Vec<&str> = cards.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        // " 1 [Device         ]: USB-Audio - USB PnP Sound Device"
        let Some((head, names)) = line.split_once("]: ") else { continue };
        let Some((_, id)) = head.split_once('[') else { continue };
        let (driver, name) = names.split_once(" - ").unwrap_or((names, ""));
        if driver.trim() != "USB-Audio" {
            continue;
        }
        let long = lines.get(i + 1).map_or("", |l| l.trim());
        let id = id.trim();
        let hay = format!("{id} {name} {long}").to_lowercase();
        if want.is_empty() || hay.contains(&want) {
            return Some(id.to_string());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const CARDS: &str = " 0 [PCH            ]: HDA-Intel - HDA Intel PCH
                      HDA Intel PCH at 0xf7f10000 irq 32
 1 [Device         ]: USB-Audio - USB PnP Sound Device
                      C-Media Electronics Inc. USB PnP Sound Device at usb-0000:00:14.0-2, full speed
 2 [Yeti           ]: USB-Audio - Yeti Stereo Microphone
                      Blue Microphones Yeti Stereo Microphone at usb-0000:00:14.0-3, full speed
";

    #[test]
    fn usb_microphones_are_found_by_card_name() {
        assert_eq!(usb_card(CARDS, "").as_deref(), Some("Device"));
        assert_eq!(usb_card(CARDS, "yeti").as_deref(), Some("Yeti"));
        assert_eq!(usb_card(CARDS, "blue microphones").as_deref(), Some("Yeti"));
        assert_eq!(usb_card(CARDS, "c-media").as_deref(), Some("Device"));
        assert_eq!(usb_card(CARDS, "hda"), None, "not a USB card");
        assert_eq!(resolve_alsa_device("plughw:CARD=PCH,DEV=0").unwrap(), "plughw:CARD=PCH,DEV=0");
    }

    #[test]
    fn every_shipped_profile_loads_and_each_board_gets_its_own() {
        let all = load_all(&profiles_dir()).unwrap();
        let pick = |model: Option<&str>, arch: &str| choose(&all, "auto", model, arch).unwrap().0.board.name.clone();
        assert_eq!(pick(Some("NVIDIA Jetson Orin Nano Developer Kit"), "aarch64"), "jetson-orin-nano");
        assert_eq!(pick(Some("NVIDIA Jetson Orin NX Engineering Reference Developer Kit"), "aarch64"), "jetson-orin-nx");
        assert_eq!(pick(Some("NVIDIA Jetson AGX Orin Developer Kit"), "aarch64"), "jetson-agx-orin");
        assert_eq!(pick(Some("Raspberry Pi 5 Model B Rev 1.0"), "aarch64"), "generic-arm64");
        assert_eq!(pick(None, "x86_64"), "x86-dev");
        assert!(choose(&all, "jetson-tx9", None, "x86_64").unwrap_err().contains("jetson-orin-nano"));
        // Every profile's defaults are a valid partial config.
        for p in &all {
            let text = toml::to_string(&p.defaults).unwrap();
            crate::config::Config::parse(&format!("[board]\nprofile = \"{}\"\n{text}", p.board.name), Path::new("p.toml"))
                .unwrap_or_else(|e| panic!("{}: {e}", p.board.name));
        }
    }

    #[test]
    fn the_operator_overrides_the_profile() {
        let mut base: toml::Table = toml::from_str("[output]\nencoder = \"x264enc\"\n[output.display]\nsink = \"kmssink\"\n").unwrap();
        merge(&mut base, toml::from_str("[output.display]\nsink = \"ximagesink\"\n").unwrap());
        assert_eq!(base["output"]["encoder"].as_str(), Some("x264enc"));
        assert_eq!(base["output"]["display"]["sink"].as_str(), Some("ximagesink"));
    }
}
