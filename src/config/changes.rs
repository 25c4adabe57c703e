//! What switching the running daemon from one config to another has to rebuild.

use super::schema::Config;

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

impl Config {
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
}
