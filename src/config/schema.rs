//! The config's schema: every section and key with its default (the `Default` impls are the one
//! place defaults live), and the helpers the sections share.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::choices::{AudioSource, DisplaySink, Encoder, EmotionSpec, LabelPosition};
use crate::infer::Device;
use crate::motion::{Gaze, MotionSettings};
use crate::mouth::LipSync;

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
    pub device: Device,
}

impl Default for InferenceConfig {
    fn default() -> Self {
        InferenceConfig { device: Device::Cpu }
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
/// `src/provenance/`). Turning either off is logged and audited.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ProvenanceConfig {
    /// Draw the visible label on every frame.
    pub label: bool,
    /// The label's text (letters, digits and common punctuation; at most 40 characters).
    pub label_text: String,
    /// "top-left", "top-right", "bottom-left" or "bottom-right".
    pub label_position: LabelPosition,
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
            label_position: LabelPosition::BottomRight,
            label_scale: 2,
            watermark: true,
            watermark_strength: 2.0,
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
    pub source: AudioSource,
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
        AudioConfig { source: AudioSource::Alsa, device: "default".into(), files: vec![], gap_s: 1.0, looped: true }
    }
}

/// Where the live video goes (`speakface run`): any combination, fed from one render.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct OutputConfig {
    /// H.264 encoder: "auto" (the board's hardware encoder where GStreamer has one, else x264),
    /// or an element name (x264enc, nvv4l2h264enc, v4l2h264enc).
    pub encoder: Encoder,
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
            encoder: Encoder::Auto,
            encoder_threads: 1,
            display: DisplayConfig::default(),
            rtsp: RtspConfig::default(),
            record: RecordConfig::default(),
            v4l2: V4l2Config::default(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DisplayConfig {
    pub enabled: bool,
    /// "auto" (kmssink on a DRM device without a desktop, ximagesink under X) or an element name.
    pub sink: DisplaySink,
}

impl Default for DisplayConfig {
    fn default() -> Self {
        DisplayConfig { enabled: false, sink: DisplaySink::Auto }
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
    /// Greyscale image the size of the portrait, white where hair (a moustache or beard) covers
    /// the mouth: the hair rides on the upper lip and the opening is drawn under it.
    pub hair_mask: Option<PathBuf>,
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

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MotionConfig {
    /// `emotion = "happy"` or a blend `emotion = { happy = 0.6, surprised = 0.2 }`.
    pub emotion: EmotionSpec,
    /// `gaze = "camera" | "free"` or fixed angles `gaze = { yaw = 10.0, pitch = -5.0 }`.
    pub gaze: Gaze,
    /// 1.0 = as in the portrait; > 1 further away.
    pub head_distance: f32,
    pub motion_intensity: f32,
    pub seed: u64,
    /// Where the mouth motion comes from: "model" (the trained audio-to-motion model, the
    /// default: it closes the lips on p, b, m more often and far more precisely on real speech)
    /// or "heuristic" (hand-written rules over loudness and spectrum: 15 ms less look-ahead,
    /// closer to the loudness; models/README.md has both rows).
    pub lipsync: LipSync,
    /// Scales how far the mouth moves in speech (jaw, lip rounding and spreading), 0.5 to 2.0;
    /// 1.0 = the measured default. Above 1 for an audience that reads lips from a distance.
    pub articulation: f32,
}

impl Default for MotionConfig {
    fn default() -> Self {
        MotionConfig {
            emotion: EmotionSpec::default(),
            gaze: Gaze::Camera,
            head_distance: 1.0,
            motion_intensity: 1.0,
            seed: 0,
            lipsync: LipSync::Model,
            articulation: 1.0,
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

/// A value to quote back in an error, a log line or the audit log: at most 200 characters (a
/// request must not be able to make the daemon write megabytes about it).
pub fn clip(s: &str) -> String {
    crate::error::cut(s, 200)
}

/// A TTS voice name safe to hand to the engine's command line.
pub fn valid_voice(v: &str) -> bool {
    !v.is_empty() && !v.starts_with('-') && v.len() <= 64 && v.chars().all(|c| c.is_ascii_alphanumeric() || "-_+:".contains(c))
}

impl Config {
    /// The models folder: `models.dir`, or the installed or source tree's.
    pub fn models_dir(&self) -> PathBuf {
        self.models.dir.clone().unwrap_or_else(crate::util::dirs::default_models_dir)
    }

    /// Motion settings for the generator.
    pub fn motion_settings(&self) -> MotionSettings {
        MotionSettings {
            fps: self.video.fps as f32,
            emotion: self.motion.emotion.blend(),
            gaze: self.motion.gaze,
            intensity: self.motion.motion_intensity,
            articulation: self.motion.articulation,
            seed: self.motion.seed,
        }
    }
}
