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
