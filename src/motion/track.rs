//! Motion tracks: per-frame overrides of named parameters read from CSV or JSON, and the CSV
//! writer for the motion a render used.

use std::path::Path;

use serde::Deserialize;

use crate::motion_params::{MotionFrame, Param, PARAM_NAMES};
use crate::mouth::SPEECH_MOUTH;
use crate::{Error, Result};

/// Per-frame overrides from a file: only the parameters it names, only for the frames it has.
#[derive(Debug, Clone, PartialEq)]
pub struct MotionTrack {
    pub params: Vec<Param>,
    /// rows[frame][k] is the value of params[k].
    pub rows: Vec<Vec<f32>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum JsonTrack {
    Frames(Vec<serde_json::Map<String, serde_json::Value>>),
    Wrapped { frames: Vec<serde_json::Map<String, serde_json::Value>> },
}

impl MotionTrack {
    /// Reads CSV (a header of parameter names, optionally a leading `frame` or `time` column,
    /// then one row per video frame) or JSON (`[{"jawOpen": 0.5, ...}, ...]` or
    /// `{"frames": [...]}`), chosen by the file's extension.
    pub fn load(path: &Path) -> Result<MotionTrack> {
        let err = |message: String| Error::MotionTrack { path: path.to_path_buf(), message };
        let text = std::fs::read_to_string(path).map_err(|e| err(format!("cannot read: {e}")))?;
        let unknown = |name: &str| {
            err(format!("unknown parameter \"{name}\"; known: {}", PARAM_NAMES.join(", ")))
        };
        let is_json = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("json"));
        if is_json {
            let t: JsonTrack = serde_json::from_str(&text).map_err(|e| err(format!("not a motion track: {e}")))?;
            let frames = match t {
                JsonTrack::Frames(f) | JsonTrack::Wrapped { frames: f } => f,
            };
            let mut params: Vec<Param> = Vec::new();
            for f in &frames {
                for k in f.keys() {
                    if k == "frame" || k == "time" {
                        continue;
                    }
                    let p = Param::from_name(k).ok_or_else(|| unknown(k))?;
                    if !params.contains(&p) {
                        params.push(p);
                    }
                }
            }
            let mut rows = Vec::with_capacity(frames.len());
            for (i, f) in frames.iter().enumerate() {
                let mut row = Vec::with_capacity(params.len());
                for p in &params {
                    let v = match f.get(p.name()).or_else(|| f.iter().find(|(k, _)| k.eq_ignore_ascii_case(p.name())).map(|(_, v)| v)) {
                        Some(v) => v.as_f64().ok_or_else(|| err(format!("frame {i}: {} is not a number", p.name())))? as f32,
                        None => f32::NAN,
                    };
                    row.push(v);
                }
                rows.push(row);
            }
            return Ok(MotionTrack { params, rows });
        }
        let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty() && !l.starts_with('#'));
        let (_, header) = lines.next().ok_or_else(|| err("is empty".into()))?;
        let cols: Vec<&str> = header.split(',').map(str::trim).collect();
        let mut params = Vec::new();
        let mut keep = Vec::new();
        for (c, name) in cols.iter().enumerate() {
            if c == 0 && (name.eq_ignore_ascii_case("frame") || name.eq_ignore_ascii_case("time")) {
                continue;
            }
            params.push(Param::from_name(name).ok_or_else(|| unknown(name))?);
            keep.push(c);
        }
        let mut rows = Vec::new();
        for (line_no, line) in lines {
            let cells: Vec<&str> = line.split(',').map(str::trim).collect();
            if cells.len() != cols.len() {
                return Err(err(format!("line {}: {} values, the header has {}", line_no + 1, cells.len(), cols.len())));
            }
            let mut row = Vec::with_capacity(keep.len());
            for &c in &keep {
                let v: f32 = if cells[c].is_empty() {
                    f32::NAN
                } else {
                    cells[c].parse().map_err(|_| err(format!("line {}: \"{}\" is not a number", line_no + 1, cells[c])))?
                };
                row.push(v);
            }
            rows.push(row);
        }
        if rows.is_empty() {
            return Err(err("has a header but no frames".into()));
        }
        Ok(MotionTrack { params, rows })
    }

    /// Overrides the named parameters frame by frame (empty cells keep the computed value).
    /// Overrides the named parameters frame by frame. A track that names any speech-driven mouth
    /// parameter takes over the whole speech-driven mouth: the ones it does not name are zero on
    /// its frames, so a track gives exactly the shape it asks for (emotion's smile/frown stay).
    pub fn apply(&self, frames: &mut [MotionFrame]) {
        let owns_mouth = self.params.iter().any(|p| SPEECH_MOUTH.contains(p));
        for (m, row) in frames.iter_mut().zip(&self.rows) {
            if owns_mouth {
                for p in SPEECH_MOUTH {
                    m.set(p, 0.0);
                }
            }
            for (p, &v) in self.params.iter().zip(row) {
                if v.is_finite() {
                    m.set(*p, v);
                }
            }
            m.clamp();
        }
    }
}

/// Writes frames as a CSV track (`frame` then every parameter by name), the format
/// `MotionTrack::load` reads.
pub fn write_csv(path: &Path, frames: &[MotionFrame]) -> Result<()> {
    let mut out = String::from("frame");
    for name in PARAM_NAMES {
        out.push(',');
        out.push_str(name);
    }
    out.push('\n');
    for (n, m) in frames.iter().enumerate() {
        out.push_str(&n.to_string());
        for v in m.values.iter() {
            out.push_str(&format!(",{v:.4}"));
        }
        out.push('\n');
    }
    std::fs::write(path, out).map_err(|e| Error::MotionTrack { path: path.to_path_buf(), message: format!("cannot write: {e}") })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::motion_params::Param;

    #[test]
    fn motion_track_csv_and_json_override_named_parameters() {
        let dir = std::env::temp_dir().join(format!("sf-track-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let csv = dir.join("t.csv");
        std::fs::write(&csv, "frame,jawOpen,eyeBlinkLeft\n0,0.5,\n1,0.8,1.0\n").unwrap();
        let t = MotionTrack::load(&csv).unwrap();
        let mut frames = vec![MotionFrame::default(); 3];
        frames[0].set(Param::EyeBlinkLeft, 0.3);
        t.apply(&mut frames);
        assert_eq!(frames[0].get(Param::JawOpen), 0.5);
        assert_eq!(frames[0].get(Param::EyeBlinkLeft), 0.3, "an empty cell keeps the computed value");
        assert_eq!(frames[1].get(Param::EyeBlinkLeft), 1.0);
        assert_eq!(frames[2].get(Param::JawOpen), 0.0, "frames past the track keep computed values");
        let json = dir.join("t.json");
        std::fs::write(&json, r#"{"frames":[{"jawOpen":0.25},{"mouthSmileLeft":1}]}"#).unwrap();
        let t = MotionTrack::load(&json).unwrap();
        let mut frames = vec![MotionFrame::default(); 2];
        t.apply(&mut frames);
        assert_eq!(frames[0].get(Param::JawOpen), 0.25);
        assert_eq!(frames[1].get(Param::MouthSmileLeft), 1.0);
        std::fs::write(&csv, "jawOpen,notAThing\n0.1,0.2\n").unwrap();
        let e = MotionTrack::load(&csv).unwrap_err().to_string();
        assert!(e.contains("notAThing") && e.contains("t.csv"), "{e}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
