//! The TOML configuration: schema, defaults (in one place: the `Default` impls), validation with
//! errors that name the file, line, key, what was expected and what was found. Unknown keys are
//! errors. The binary, not the library, decides which file to read.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::motion::{Emotion, Gaze, MotionSettings};
use crate::{Error, Result};

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub portrait: PortraitConfig,
    pub video: VideoConfig,
    pub motion: MotionConfig,
    pub models: ModelsConfig,
    pub cache: CacheConfig,
    pub audio: AudioConfig,
    pub output: OutputConfig,
    pub daemon: DaemonConfig,
    pub api: ApiConfig,
    pub tts: TtsConfig,
    pub board: BoardConfig,
    pub inference: InferenceConfig,
    pub provenance: ProvenanceConfig,
    pub consent: ConsentConfig,
    pub camera: CameraConfig,
    /// The board profile laid under this config, and why it was chosen (set by `parse`).
    #[serde(skip)]
    pub chosen_board: Option<crate::board::Choice>,
}

/// Which board profile supplies the defaults (see board/README.md).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct BoardConfig {
    /// "auto" (from /proc/device-tree/model and the CPU architecture) or a profile name.
    pub profile: String,
}

impl Default for BoardConfig {
    fn default() -> Self {
        BoardConfig { profile: "auto".into() }
    }
}

/// Where the models run.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct InferenceConfig {
    /// "cpu", or "cuda" (tract's CUDA backend; this build falls back to the CPU and says so).
    pub device: String,
}

impl Default for InferenceConfig {
    fn default() -> Self {
        InferenceConfig { device: "cpu".into() }
    }
}

/// The daemon's own state and housekeeping (`speakface run`).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DaemonConfig {
    /// Writable folder for uploaded portraits, the audit log and the API token. Default:
    /// systemd's `$STATE_DIRECTORY`, else /var/lib/speakface for root, else
    /// `~/.local/state/speakface`. Relative to the config file.
    pub state_dir: Option<PathBuf>,
    /// Reload when the config file changes on disk (checked every 2 s), as on SIGHUP.
    pub watch_config: bool,
    /// The audit log is rotated (to `audit.log.1`) when it grows past this many MiB.
    pub audit_max_mb: u32,
    /// A change saved through the API that the daemon does not survive for this many seconds is
    /// rolled back at the next start (to the last config that ran this long).
    pub rollback_window_s: u32,
}

impl Default for DaemonConfig {
    fn default() -> Self {
        DaemonConfig { state_dir: None, watch_config: true, audit_max_mb: 50, rollback_window_s: 60 }
    }
}

/// The remote control API (HTTP, bearer token).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    pub enabled: bool,
    /// Address and port; localhost by default (put a TLS reverse proxy in front for remote use).
    pub listen: String,
    /// File holding the bearer token; default `STATE_DIR/api-token`, created with a random token
    /// on first start when missing.
    pub token_file: Option<PathBuf>,
    /// Largest request body (portrait image, WAV) in MiB.
    pub max_upload_mb: u32,
    /// Failed authentications allowed per client address per minute; past it, further failures
    /// from that address get 429 (the right token still works).
    pub max_auth_failures_per_min: u32,
    /// Addresses of reverse proxies whose `X-Forwarded-For` names the client (others' is ignored).
    pub trusted_proxies: Vec<String>,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            enabled: true,
            listen: "127.0.0.1:8080".into(),
            token_file: None,
            max_upload_mb: 20,
            max_auth_failures_per_min: 5,
            trusted_proxies: vec![],
        }
    }
}

/// What every output frame carries: a visible label and an invisible watermark (see
/// `src/provenance.rs` and `src/watermark.rs`). Turning either off is logged and audited.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ProvenanceConfig {
    /// Draw the visible label on every frame.
    pub label: bool,
    /// The label's text (letters, digits and common punctuation; at most 40 characters).
    pub label_text: String,
    /// "top-left", "top-right", "bottom-left" or "bottom-right".
    pub label_position: String,
    /// Size: pixels per dot of the 5×7 font (1 to 8; 2 makes 14-pixel-high letters).
    pub label_scale: u32,
    /// Embed the invisible watermark (device id + time) in every frame.
    pub watermark: bool,
    /// Watermark amplitude in grey levels (1.0 to 8.0; higher survives lower bitrates, more visible).
    pub watermark_strength: f32,
    /// Device id carried by the watermark: 8 hex digits, or "" for one derived from /etc/machine-id.
    pub device_id: String,
}

impl Default for ProvenanceConfig {
    fn default() -> Self {
        ProvenanceConfig {
            label: true,
            label_text: "AI-GENERATED".into(),
            label_position: "bottom-right".into(),
            label_scale: 2,
            watermark: true,
            watermark_strength: crate::watermark::DEFAULT_STRENGTH,
            device_id: String::new(),
        }
    }
}

/// Portrait consent for the daemon (`speakface run`): only allowlisted portraits are animated.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ConsentConfig {
    /// Refuse portraits whose sha256 is not in the allowlist. false turns the check off (audited).
    pub required: bool,
    /// The allowlist (`speakface consent add` writes it); relative to the config file.
    pub allowlist: PathBuf,
}

impl Default for ConsentConfig {
    fn default() -> Self {
        ConsentConfig { required: true, allowlist: PathBuf::from("/etc/speakface/consent.toml") }
    }
}

/// A V4L2 camera as a portrait source: `POST /v1/portrait/camera` takes a still from it.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CameraConfig {
    /// The capture device, e.g. "/dev/video0"; none (the default) turns camera snapshots off.
    pub device: Option<PathBuf>,
    /// The frame size to ask for (the nearest the camera offers is used).
    pub width: u32,
    pub height: u32,
    /// Frames thrown away after the stream starts, while the camera settles its exposure.
    pub skip_frames: u32,
}

impl Default for CameraConfig {
    fn default() -> Self {
        CameraConfig { device: None, width: 1280, height: 720, skip_frames: 15 }
    }
}

/// Text to speech for `POST /v1/say`: an offline engine run as a command.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TtsConfig {
    /// The espeak-ng compatible command (reads text on stdin, writes WAV with --stdout).
    pub command: String,
    /// Default voice (`espeak-ng --voices` lists them: en-us, fr, es, de, cmn, …).
    pub voice: String,
    /// Words per minute.
    pub rate_wpm: u32,
}

impl Default for TtsConfig {
    fn default() -> Self {
        TtsConfig { command: "espeak-ng".into(), voice: "en-us".into(), rate_wpm: 160 }
    }
}

/// Live speech in (`speakface run`).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AudioConfig {
    /// "alsa" (a capture device) or "file" (a playlist of WAV files).
    pub source: String,
    /// ALSA capture PCM; it must deliver 16 kHz mono S16 (use a `plughw:` name to have ALSA convert).
    pub device: String,
    /// WAV files for `source = "file"`, played in turn; relative to the config file.
    pub files: Vec<PathBuf>,
    /// Seconds of silence between playlist entries.
    pub gap_s: f32,
    /// Start again from the first file after the last.
    #[serde(rename = "loop")]
    pub looped: bool,
}

impl Default for AudioConfig {
    fn default() -> Self {
        AudioConfig { source: "alsa".into(), device: "default".into(), files: vec![], gap_s: 1.0, looped: true }
    }
}

/// Where the live video goes (`speakface run`): any combination, fed from one render.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct OutputConfig {
    /// H.264 encoder: "auto" (the board's hardware encoder where GStreamer has one, else x264),
    /// or an element name (x264enc, nvv4l2h264enc, v4l2h264enc).
    pub encoder: EncoderName,
    /// Encoder threads (x264); 1 keeps latency lowest, 2 on slow cores without a hardware encoder.
    pub encoder_threads: u32,
    pub display: DisplayConfig,
    pub rtsp: RtspConfig,
    pub record: RecordConfig,
    pub v4l2: V4l2Config,
}

impl Default for OutputConfig {
    fn default() -> Self {
        OutputConfig {
            encoder: EncoderName::default(),
            encoder_threads: 1,
            display: DisplayConfig::default(),
            rtsp: RtspConfig::default(),
            record: RecordConfig::default(),
            v4l2: V4l2Config::default(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(transparent)]
pub struct EncoderName(pub String);

impl Default for EncoderName {
    fn default() -> Self {
        EncoderName("auto".into())
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DisplayConfig {
    pub enabled: bool,
    /// "auto" (kmssink on a DRM device without a desktop, ximagesink under X) or an element name.
    pub sink: String,
}

impl Default for DisplayConfig {
    fn default() -> Self {
        DisplayConfig { enabled: false, sink: "auto".into() }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RtspConfig {
    pub enabled: bool,
    /// Address and port to listen on.
    pub listen: String,
    /// Mount path: the stream is rtsp://HOST:PORT/PATH.
    pub path: String,
    /// Viewers at once; more are refused.
    pub max_sessions: u32,
    /// Seconds after which a viewer that stopped talking to the server is dropped.
    pub session_timeout_s: u32,
    /// A file of `user:password` lines: viewers must log in (RTSP basic authentication). Unset:
    /// anyone who reaches `listen` may watch.
    pub auth_file: Option<PathBuf>,
}

impl Default for RtspConfig {
    fn default() -> Self {
        RtspConfig {
            enabled: true,
            listen: "127.0.0.1:8554".into(),
            path: "/avatar".into(),
            max_sessions: 16,
            session_timeout_s: 10,
            auth_file: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RecordConfig {
    pub enabled: bool,
    /// Folder for `speakface-NNNNN.mp4` segments; relative to the config file.
    pub dir: PathBuf,
    /// Seconds per segment.
    pub segment_s: u32,
    /// Oldest segments are deleted to keep this much space free; recording pauses below it.
    pub min_free_mb: u64,
}

impl Default for RecordConfig {
    fn default() -> Self {
        RecordConfig { enabled: false, dir: PathBuf::from("/var/lib/speakface/recordings"), segment_s: 300, min_free_mb: 1024 }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct V4l2Config {
    pub enabled: bool,
    /// A v4l2loopback device (a virtual camera for video-call software).
    pub device: PathBuf,
}

impl Default for V4l2Config {
    fn default() -> Self {
        V4l2Config { enabled: false, device: PathBuf::from("/dev/video10") }
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PortraitConfig {
    /// JPEG or PNG portrait; relative paths are relative to the config file.
    pub image: Option<PathBuf>,
    /// Landmarks file (`speakface analyze` output) used instead of the face models.
    pub landmarks: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct VideoConfig {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub bitrate_kbps: u32,
}

impl Default for VideoConfig {
    fn default() -> Self {
        VideoConfig { width: 512, height: 512, fps: 25, bitrate_kbps: 2000 }
    }
}

/// `emotion = "happy"` or a blend `emotion = { happy = 0.6, surprised = 0.2 }`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(untagged)]
pub enum EmotionSpec {
    Name(String),
    Blend(BTreeMap<String, f32>),
}

/// `gaze = "camera" | "free"` or fixed angles `gaze = { yaw = 10.0, pitch = -5.0 }`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(untagged)]
pub enum GazeSpec {
    Mode(String),
    Angles { yaw: f32, pitch: f32 },
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MotionConfig {
    pub emotion: EmotionSpec,
    pub gaze: GazeSpec,
    /// 1.0 = as in the portrait; > 1 further away.
    pub head_distance: f32,
    pub motion_intensity: f32,
    pub seed: u64,
    /// Where the mouth motion comes from: "model" (the trained audio-to-motion model, the
    /// default: it closes the lips on p, b, m more often and far more precisely on real speech)
    /// or "heuristic" (hand-written rules over loudness and spectrum: 15 ms less look-ahead,
    /// closer to the loudness; models/README.md has both rows).
    pub lipsync: String,
}

impl Default for MotionConfig {
    fn default() -> Self {
        MotionConfig {
            emotion: EmotionSpec::Name("neutral".into()),
            gaze: GazeSpec::Mode("camera".into()),
            head_distance: 1.0,
            motion_intensity: 1.0,
            seed: 0,
            lipsync: "model".into(),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ModelsConfig {
    /// Directory holding `manifest.toml` and the models (default: the installed or source tree's).
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CacheConfig {
    pub enabled: bool,
    /// Default: `$SPEAKFACE_CACHE`, `$XDG_CACHE_HOME/speakface` or `~/.cache/speakface`.
    pub dir: Option<PathBuf>,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig { enabled: true, dir: None }
    }
}

/// A TTS voice name safe to hand to the engine's command line.
pub fn valid_voice(v: &str) -> bool {
    !v.is_empty() && !v.starts_with('-') && v.len() <= 64 && v.chars().all(|c| c.is_ascii_alphanumeric() || "-_+:".contains(c))
}

/// A value to quote back in an error, a log line or the audit log: at most 200 characters (a
/// request must not be able to make the daemon write megabytes about it).
pub fn clip(s: &str) -> String {
    crate::error::cut(s, 200)
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

/// The parts of the running daemon a config change touches (see `Config::changes`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Changes {
    /// Emotion, gaze, intensity, seed: applied to the running animator, the video goes on.
    pub motion: bool,
    /// Portrait, landmarks, models, head distance, frame size or consent settings: a new rig, built
    /// beside the old (the portrait's consent is checked again).
    pub face: bool,
    /// The speech source: capture restarted.
    pub audio: bool,
    /// Any output or video setting: the output pipeline rebuilt.
    pub outputs: bool,
    /// The RTSP server rebuilt (its viewers reconnect).
    pub rtsp: bool,
    /// Frame rate or size: the engine's clock starts again.
    pub clock: bool,
    /// Settings read where they are used (TTS, config watching, label and watermark): nothing to rebuild.
    pub other: bool,
    /// Sections that take effect only after a restart.
    pub restart_only: Vec<&'static str>,
}

impl Changes {
    pub fn none(&self) -> bool {
        !(self.motion || self.face || self.audio || self.outputs || self.rtsp || self.clock || self.other) && self.restart_only.is_empty()
    }

    /// "motion, outputs" — for replies and the audit log.
    pub fn describe(&self) -> String {
        let mut v: Vec<&str> = vec![];
        for (on, name) in [
            (self.motion, "motion"),
            (self.face, "portrait"),
            (self.audio, "audio"),
            (self.outputs, "outputs"),
            (self.rtsp, "rtsp"),
            (self.other, "settings"),
        ] {
            if on {
                v.push(name);
            }
        }
        if v.is_empty() {
            "nothing".into()
        } else {
            v.join(", ")
        }
    }
}

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

    pub fn validate(&self, path: &Path) -> Result<()> {
        let bad = |key: &str, expected: &str, found: String| Error::Config {
            path: path.to_path_buf(),
            message: format!("{key}: expected {expected}, found {}", clip(&found)),
        };
        let v = &self.video;
        for (key, val) in [("video.width", v.width), ("video.height", v.height)] {
            if !(64..=4096).contains(&val) || val % 2 != 0 {
                return Err(bad(key, "an even number of pixels from 64 to 4096", val.to_string()));
            }
        }
        if !(1..=120).contains(&v.fps) {
            return Err(bad("video.fps", "1 to 120", v.fps.to_string()));
        }
        let c = &self.camera;
        for (key, val) in [("camera.width", c.width), ("camera.height", c.height)] {
            if !(64..=8192).contains(&val) {
                return Err(bad(key, "64 to 8192 pixels", val.to_string()));
            }
        }
        if c.skip_frames > 120 {
            return Err(bad("camera.skip_frames", "0 to 120", c.skip_frames.to_string()));
        }
        if let Some(d) = &c.device {
            if !d.is_absolute() {
                return Err(bad("camera.device", "an absolute device path such as \"/dev/video0\"", format!("\"{}\"", d.display())));
            }
        }
        if !(100..=50_000).contains(&v.bitrate_kbps) {
            return Err(bad("video.bitrate_kbps", "100 to 50000", v.bitrate_kbps.to_string()));
        }
        let pv = &self.provenance;
        if pv.label_text.trim().is_empty() || pv.label_text.chars().count() > 40 || !pv.label_text.chars().all(crate::font::has_glyph) {
            return Err(bad(
                "provenance.label_text",
                "1 to 40 letters, digits, spaces or . , : - _ / ( ) ! ? ' & + # % @",
                format!("\"{}\"", pv.label_text),
            ));
        }
        if !["top-left", "top-right", "bottom-left", "bottom-right"].contains(&pv.label_position.as_str()) {
            return Err(bad("provenance.label_position", "\"top-left\", \"top-right\", \"bottom-left\" or \"bottom-right\"", format!("\"{}\"", pv.label_position)));
        }
        if !(1..=8).contains(&pv.label_scale) {
            return Err(bad("provenance.label_scale", "1 to 8", pv.label_scale.to_string()));
        }
        if !(1.0..=8.0).contains(&pv.watermark_strength) {
            return Err(bad("provenance.watermark_strength", "1.0 to 8.0", pv.watermark_strength.to_string()));
        }
        if !(pv.device_id.is_empty() || (pv.device_id.len() == 8 && pv.device_id.chars().all(|c| c.is_ascii_hexdigit()))) {
            return Err(bad("provenance.device_id", "8 hex digits or \"\"", format!("\"{}\"", pv.device_id)));
        }
        let m = &self.motion;
        if !(0.5..=3.0).contains(&m.head_distance) {
            return Err(bad("motion.head_distance", "0.5 to 3.0", m.head_distance.to_string()));
        }
        if !["model", "heuristic"].contains(&m.lipsync.as_str()) {
            return Err(bad("motion.lipsync", "\"model\" or \"heuristic\"", format!("\"{}\"", m.lipsync)));
        }
        if !(0.0..=3.0).contains(&m.motion_intensity) {
            return Err(bad("motion.motion_intensity", "0.0 to 3.0", m.motion_intensity.to_string()));
        }
        self.emotion().map_err(|found| bad("motion.emotion", "neutral, happy, sad, angry or surprised, strengths 0.0 to 1.0", found))?;
        self.gaze().map_err(|found| bad("motion.gaze", "\"camera\", \"free\" or { yaw = DEG, pitch = DEG } within ±30°", found))?;
        let a = &self.audio;
        if !["alsa", "file"].contains(&a.source.as_str()) {
            return Err(bad("audio.source", "\"alsa\" or \"file\"", format!("\"{}\"", a.source)));
        }
        if a.source == "alsa" && a.device.trim().is_empty() {
            return Err(bad("audio.device", "an ALSA capture device name such as \"default\" or \"plughw:CARD=Device,DEV=0\"", "\"\"".into()));
        }
        if a.source == "file" && a.files.is_empty() {
            return Err(bad("audio.files", "at least one WAV file when audio.source = \"file\"", "[]".into()));
        }
        if !(0.0..=600.0).contains(&a.gap_s) {
            return Err(bad("audio.gap_s", "0 to 600 seconds", a.gap_s.to_string()));
        }
        let r = &self.output.rtsp;
        if r.listen.parse::<std::net::SocketAddr>().is_err() {
            return Err(bad("output.rtsp.listen", "ADDRESS:PORT such as \"0.0.0.0:8554\"", format!("\"{}\"", r.listen)));
        }
        if !r.path.starts_with('/') || r.path.len() < 2 || r.path.contains(char::is_whitespace) {
            return Err(bad("output.rtsp.path", "a mount path such as \"/avatar\"", format!("\"{}\"", r.path)));
        }
        if !(1..=256).contains(&r.max_sessions) {
            return Err(bad("output.rtsp.max_sessions", "1 to 256", r.max_sessions.to_string()));
        }
        if !(5..=3600).contains(&r.session_timeout_s) {
            return Err(bad("output.rtsp.session_timeout_s", "5 to 3600", r.session_timeout_s.to_string()));
        }
        if !(10..=86_400).contains(&self.output.record.segment_s) {
            return Err(bad("output.record.segment_s", "10 to 86400", self.output.record.segment_s.to_string()));
        }
        let enc = self.output.encoder.0.as_str();
        if !["auto", "x264enc", "nvv4l2h264enc", "v4l2h264enc", "vaapih264enc"].contains(&enc) {
            return Err(bad("output.encoder", "\"auto\", \"x264enc\", \"nvv4l2h264enc\", \"v4l2h264enc\" or \"vaapih264enc\"", format!("\"{enc}\"")));
        }
        let api = &self.api;
        if api.listen.parse::<std::net::SocketAddr>().is_err() {
            return Err(bad("api.listen", "ADDRESS:PORT such as \"127.0.0.1:8080\"", format!("\"{}\"", api.listen)));
        }
        if !(1..=1024).contains(&api.max_upload_mb) {
            return Err(bad("api.max_upload_mb", "1 to 1024", api.max_upload_mb.to_string()));
        }
        if !(1..=1000).contains(&api.max_auth_failures_per_min) {
            return Err(bad("api.max_auth_failures_per_min", "1 to 1000", api.max_auth_failures_per_min.to_string()));
        }
        if let Some(p) = api.trusted_proxies.iter().find(|p| p.parse::<std::net::IpAddr>().is_err()) {
            return Err(bad("api.trusted_proxies", "IP addresses such as \"127.0.0.1\"", format!("\"{p}\"")));
        }
        let d = &self.daemon;
        if !(1..=10_000).contains(&d.audit_max_mb) {
            return Err(bad("daemon.audit_max_mb", "1 to 10000", d.audit_max_mb.to_string()));
        }
        if !(5..=3600).contains(&d.rollback_window_s) {
            return Err(bad("daemon.rollback_window_s", "5 to 3600", d.rollback_window_s.to_string()));
        }
        if !(1..=16).contains(&self.output.encoder_threads) {
            return Err(bad("output.encoder_threads", "1 to 16", self.output.encoder_threads.to_string()));
        }
        if !["cpu", "cuda"].contains(&self.inference.device.as_str()) {
            return Err(bad("inference.device", "\"cpu\" or \"cuda\"", format!("\"{}\"", self.inference.device)));
        }
        let t = &self.tts;
        if t.command.trim().is_empty() {
            return Err(bad("tts.command", "a command such as \"espeak-ng\"", "\"\"".into()));
        }
        if !valid_voice(&t.voice) {
            return Err(bad("tts.voice", "a voice name of letters, digits and - _ + : (not starting with -)", format!("\"{}\"", t.voice)));
        }
        if !(60..=500).contains(&t.rate_wpm) {
            return Err(bad("tts.rate_wpm", "60 to 500", t.rate_wpm.to_string()));
        }
        let sink = self.output.display.sink.as_str();
        if !["auto", "kmssink", "nvdrmvideosink", "ximagesink", "xvimagesink", "glimagesink", "waylandsink", "fakesink"].contains(&sink) {
            return Err(bad(
                "output.display.sink",
                "\"auto\", \"kmssink\", \"nvdrmvideosink\", \"ximagesink\", \"xvimagesink\", \"glimagesink\", \"waylandsink\" or \"fakesink\"",
                format!("\"{sink}\""),
            ));
        }
        Ok(())
    }

    /// The emotion blend, or the offending text.
    pub fn emotion(&self) -> std::result::Result<Vec<(Emotion, f32)>, String> {
        match &self.motion.emotion {
            EmotionSpec::Name(n) => {
                let e = Emotion::from_name(n).ok_or_else(|| format!("\"{n}\""))?;
                Ok(if e == Emotion::Neutral { vec![] } else { vec![(e, 1.0)] })
            }
            EmotionSpec::Blend(map) => map
                .iter()
                .map(|(k, &v)| match Emotion::from_name(k) {
                    Some(e) if (0.0..=1.0).contains(&v) => Ok((e, v)),
                    _ => Err(format!("{k} = {v}")),
                })
                .collect(),
        }
    }

    pub fn gaze(&self) -> std::result::Result<Gaze, String> {
        match &self.motion.gaze {
            GazeSpec::Mode(s) if s.eq_ignore_ascii_case("camera") => Ok(Gaze::Camera),
            GazeSpec::Mode(s) if s.eq_ignore_ascii_case("free") => Ok(Gaze::Free),
            GazeSpec::Mode(s) => Err(format!("\"{s}\"")),
            GazeSpec::Angles { yaw, pitch } if yaw.abs() <= 30.0 && pitch.abs() <= 30.0 => {
                Ok(Gaze::Fixed { yaw: *yaw, pitch: *pitch })
            }
            GazeSpec::Angles { yaw, pitch } => Err(format!("{{ yaw = {yaw}, pitch = {pitch} }}")),
        }
    }

    /// What switching the running daemon from `self` to `new` has to rebuild.
    pub fn changes(&self, new: &Config) -> Changes {
        let (a, b) = (self, new);
        let size = (a.video.width, a.video.height) != (b.video.width, b.video.height);
        let clock = size || a.video.fps != b.video.fps;
        let mut restart_only = vec![];
        if a.api != b.api {
            restart_only.push("api");
        }
        if a.daemon.state_dir != b.daemon.state_dir {
            restart_only.push("daemon.state_dir");
        }
        if a.inference != b.inference {
            restart_only.push("inference");
        }
        Changes {
            motion: a.motion != b.motion || clock,
            face: a.portrait != b.portrait
                || a.models != b.models
                || a.cache != b.cache
                || a.motion.head_distance != b.motion.head_distance
                || a.consent != b.consent
                || size,
            audio: a.audio != b.audio,
            outputs: a.output != b.output || a.video != b.video,
            rtsp: a.output.rtsp != b.output.rtsp,
            clock,
            other: a.tts != b.tts
                || a.daemon.watch_config != b.daemon.watch_config
                || a.chosen_board != b.chosen_board
                || a.provenance != b.provenance
                || a.camera != b.camera,
            restart_only,
        }
    }

    /// The models folder: `models.dir`, or the installed or source tree's.
    pub fn models_dir(&self) -> PathBuf {
        self.models.dir.clone().unwrap_or_else(crate::infer::default_models_dir)
    }

    /// Motion settings for the generator (call after `validate`).
    pub fn motion_settings(&self) -> MotionSettings {
        MotionSettings {
            fps: self.video.fps as f32,
            emotion: self.emotion().unwrap_or_default(),
            gaze: self.gaze().unwrap_or(Gaze::Camera),
            intensity: self.motion.motion_intensity,
            seed: self.motion.seed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(c.emotion().unwrap().len(), 2);
        assert_eq!(c.gaze().unwrap(), Gaze::Fixed { yaw: 10.0, pitch: -5.0 });
    }
}
