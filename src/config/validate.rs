//! Validation: ranges and cross-field rules, each error naming the key, what was expected and
//! what was found (`Config::parse` adds the line). Closed choices are checked earlier, by their
//! types (`choices`).

use std::path::Path;

use super::choices::AudioSource;
use super::schema::{clip, valid_voice, Config};
use crate::{Error, Result};

impl Config {
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
        if !(0.0..=3.0).contains(&m.motion_intensity) {
            return Err(bad("motion.motion_intensity", "0.0 to 3.0", m.motion_intensity.to_string()));
        }
        if !(0.5..=2.0).contains(&m.articulation) {
            return Err(bad("motion.articulation", "0.5 to 2.0", m.articulation.to_string()));
        }
        let a = &self.audio;
        if a.source == AudioSource::Alsa && a.device.trim().is_empty() {
            return Err(bad("audio.device", "an ALSA capture device name such as \"default\" or \"plughw:CARD=Device,DEV=0\"", "\"\"".into()));
        }
        if a.source == AudioSource::File && a.files.is_empty() {
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
        Ok(())
    }
}
