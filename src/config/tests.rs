//! The config's tests: defaults, errors naming line and key, and the README's config blocks
//! against the defaults.

use std::path::Path;

use super::*;
use crate::motion::Gaze;

#[test]
fn defaults_are_the_documented_ones() {
    let c = Config::parse("", Path::new("x.toml")).unwrap();
    assert_eq!((c.video.width, c.video.height, c.video.fps), (512, 512, 25));
    assert_eq!(c.motion.head_distance, 1.0);
}

#[test]
fn errors_name_line_key_expected_and_found() {
    let e = Config::parse("[video]\nwidth = 7\n", Path::new("a.toml")).unwrap_err().to_string();
    assert!(e.contains("a.toml") && e.contains("line 2: video.width") && e.contains("found 7"), "{e}");
    let e = Config::parse("[output]\nrtsp = { listen = \"nowhere\" }\n", Path::new("a.toml")).unwrap_err().to_string();
    assert!(e.contains("line 2: output.rtsp.listen") && e.contains("\"nowhere\""), "{e}");
    let e = Config::parse("[video]\nwidht = 512\n", Path::new("a.toml")).unwrap_err().to_string();
    assert!(e.contains("line 2") && e.contains("widht"), "{e}");
    let e = Config::parse("[motion]\nemotion = \"grumpy\"\n", Path::new("a.toml")).unwrap_err().to_string();
    assert!(e.contains("motion.emotion") && e.contains("grumpy"), "{e}");
    let e = Config::parse("[motion]\narticulation = 2.5\n", Path::new("a.toml")).unwrap_err().to_string();
    assert!(e.contains("motion.articulation") && e.contains("0.5 to 2.0") && e.contains("2.5"), "{e}");
    let c = Config::parse("[motion]\narticulation = 1.5\n", Path::new("a.toml")).unwrap();
    assert_eq!(c.motion_settings().articulation, 1.5);
    let e = Config::parse("[video\n", Path::new("a.toml")).unwrap_err().to_string();
    assert!(e.contains("line 1") && !e.contains('\n'), "{e}");
}

/// Every key of the config, with its default, is in the README's config blocks (keys whose
/// default is "unset" are documented as comments there and not serialised here).
#[test]
fn every_key_is_documented_in_the_readme() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let mut documented = std::collections::BTreeSet::new();
    let (mut in_block, mut section) = (false, String::new());
    for line in readme.lines() {
        if line.starts_with("```") {
            in_block = line == "```toml";
            continue;
        }
        if !in_block {
            continue;
        }
        let l = line.trim_start_matches("# ").trim();
        if let Some(h) = l.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            section = h.to_string();
        } else if let Some((k, _)) = l.split_once(" = ") {
            documented.insert(format!("{section}.{}", k.trim()));
        }
    }
    fn leaves(prefix: &str, v: &toml::Value, out: &mut Vec<String>) {
        match v {
            toml::Value::Table(t) if !prefix.ends_with("emotion") => {
                for (k, v) in t {
                    let p = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                    leaves(&p, v, out);
                }
            }
            _ => out.push(prefix.to_string()),
        }
    }
    let mut keys = vec![];
    leaves("", &toml::Value::try_from(Config::default()).unwrap(), &mut keys);
    let missing: Vec<&String> = keys.iter().filter(|k| !documented.contains(*k)).collect();
    assert!(keys.len() > 30 && missing.is_empty(), "README lacks {missing:?} ({} keys)", keys.len());
}

#[test]
fn emotion_blends_and_fixed_gaze_parse() {
    let c = Config::parse("[motion]\nemotion = { happy = 0.6, surprised = 0.2 }\ngaze = { yaw = 10.0, pitch = -5.0 }\n", Path::new("a.toml")).unwrap();
    assert_eq!(c.motion.emotion.blend().len(), 2);
    assert_eq!(c.motion.gaze, Gaze::Fixed { yaw: 10.0, pitch: -5.0 });
}

/// The README's config blocks show each key at its default (the one home of defaults is the
/// `Default` impls): a value written there that differs from the default fails here, as does a
/// closed choice whose words the README's comment does not list.
#[test]
fn the_readme_shows_the_defaults_and_every_choice() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let defaults = toml::Value::try_from(Config::default()).unwrap();
    // Examples, not defaults: the portrait's default is "unset" (the bundled one).
    let examples = ["portrait.image"];
    let (mut in_block, mut section, mut checked) = (false, String::new(), 0);
    let mut wrong = vec![];
    let mut comments: std::collections::BTreeMap<String, String> = std::collections::BTreeMap::new();
    let mut last: Option<String> = None;
    for line in readme.lines() {
        if line.starts_with("```") {
            in_block = line == "```toml";
            continue;
        }
        let l = line.trim();
        if !in_block || l.is_empty() {
            continue;
        }
        if l.starts_with('#') {
            // A comment under a key's (aligned with it) continues that key's comment.
            if line.starts_with(' ') {
                if let Some(c) = last.as_ref().and_then(|k: &String| comments.get_mut(k)) {
                    c.push(' ');
                    c.push_str(l.trim_start_matches('#').trim());
                }
            }
            continue;
        }
        if let Some(h) = l.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            section = h.to_string();
            last = None;
            continue;
        }
        let Some((k, rest)) = l.split_once(" = ") else { continue };
        let key = format!("{section}.{}", k.trim());
        let (value, comment) = match rest.find(" #") {
            Some(i) => (&rest[..i], rest[i + 2..].trim()),
            None => (rest, ""),
        };
        comments.insert(key.clone(), comment.to_string());
        last = Some(key.clone());
        let Ok(written) = toml::from_str::<toml::Table>(&format!("v = {value}")) else { continue };
        let default = key.split('.').try_fold(&defaults, |v, part| v.get(part));
        if let (Some(default), false) = (default, examples.contains(&key.as_str())) {
            checked += 1;
            if written["v"] != *default {
                wrong.push(format!("{key}: README {} vs default {default}", written["v"]));
            }
        }
    }
    assert!(checked > 40 && wrong.is_empty(), "{checked} keys checked; README differs from the defaults: {wrong:?}");
    let choices: [(&str, Vec<&str>); 7] = [
        ("output.display.sink", DisplaySink::ALL.iter().map(|c| c.as_str()).collect()),
        ("motion.lipsync", crate::mouth::LipSync::ALL.iter().map(|c| c.as_str()).collect()),
        ("audio.source", AudioSource::ALL.iter().map(|c| c.as_str()).collect()),
        ("output.encoder", Encoder::ALL.iter().map(|c| c.as_str()).collect()),
        ("inference.device", crate::infer::Device::ALL.iter().map(|c| c.as_str()).collect()),
        ("provenance.label_position", LabelPosition::ALL.iter().map(|c| c.as_str()).collect()),
        ("motion.emotion", crate::motion::Emotion::ALL.iter().map(|e| e.name()).collect()),
    ];
    for (key, words) in choices {
        let comment = &comments[key];
        let missing: Vec<&&str> = words.iter().filter(|w| !comment.contains(**w)).collect();
        assert!(missing.is_empty(), "README's comment on {key} lacks {missing:?}: {comment}");
    }
}

#[test]
fn a_value_with_a_newline_still_gives_a_one_line_error() {
    // Found by fuzzing: the voice's "\n" used to reach the message as a real newline.
    let e = Config::from_text("[tts]\nvoice = \"\\n-us\"\n", Path::new("/etc/speakface/x.toml")).unwrap_err().to_string();
    assert!(!e.contains('\n'), "multi-line error: {e}");
    assert!(e.contains("tts.voice") && e.contains("\\n-us"), "{e}");
}
