//! The offline job behind `speakface render`: portrait + speech file → MP4, through the same
//! stages the live daemon will use (face → rig; audio → features → motion; render → output).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::config::Config;
use crate::face::FaceAnalysis;
use crate::mouth::model::{self as lipsync, LipModel};
use crate::motion::MotionTrack;
use crate::motion_params::MotionFrame;
use crate::output::{Mp4Settings, Mp4Writer};
use crate::preview::ContactSheet;
use crate::provenance::{self, Stamp};
use crate::render::Renderer;
use crate::{audio, face, motion, Error, Result};

#[derive(Debug, Clone)]
pub struct RenderJob {
    pub portrait: PathBuf,
    pub audio: PathBuf,
    pub out: PathBuf,
    pub config: Config,
    pub motion_track: Option<PathBuf>,
    /// Where to write the motion actually used, as a CSV track.
    pub motion_out: Option<PathBuf>,
    pub preview: Option<PathBuf>,
    /// Show a progress bar (only drawn when stderr is a terminal).
    pub progress: bool,
}

#[derive(Debug, Clone)]
pub struct RenderReport {
    pub frames: usize,
    pub duration_s: f64,
    pub elapsed_s: f64,
    pub analysis: FaceAnalysis,
}

/// Fails early, before any work, when the output cannot be written where asked.
fn check_output_path(out: &Path) -> Result<()> {
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !parent.is_dir() {
        return Err(Error::Output { path: out.to_path_buf(), message: format!("folder {} does not exist", parent.display()) });
    }
    if out.is_dir() {
        return Err(Error::Output { path: out.to_path_buf(), message: "is a folder; give a file name ending in .mp4".into() });
    }
    Ok(())
}

/// The face's motion for a speech clip: the mouth from the audio-to-motion model (or the
/// hand-written rules when `motion.lipsync = "heuristic"`), the rest from `motion`.
pub fn speech_motion(cfg: &Config, mono16k: &[f32]) -> Result<Vec<MotionFrame>> {
    let fps = cfg.video.fps as f32;
    let settings = cfg.motion_settings();
    let Some(model) = LipModel::configured(cfg.motion.lipsync, &cfg.models_dir())? else {
        return Ok(motion::generate(&audio::frame_features(mono16k, fps), &settings));
    };
    let n = audio::frame_count(mono16k.len(), fps);
    let n_model = audio::frame_count(mono16k.len(), lipsync::MODEL_FPS) + 1;
    let rows = model.run(mono16k, n_model)?;
    Ok(motion::generate_with_mouth(&lipsync::mouth_track(&rows, n, fps), &settings))
}

pub fn render(job: &RenderJob) -> Result<RenderReport> {
    let started = Instant::now();
    check_output_path(&job.out)?;
    let cfg = &job.config;
    let speech = audio::read_wav(&job.audio)?;
    let track = job.motion_track.as_deref().map(MotionTrack::load).transpose()?;
    let (img, analysis) = face::analyze_portrait(cfg, &job.portrait)?;

    let fps = cfg.video.fps;
    let mut frames = speech_motion(cfg, &speech.mono16k)?;
    if let Some(t) = &track {
        t.apply(&mut frames);
    }
    if let Some(path) = &job.motion_out {
        motion::write_csv(path, &frames)?;
    }
    let rig = face::rig_for(cfg, &img, &analysis)?;
    let mut renderer = Renderer::new(&rig);

    let mut settings = Mp4Settings::new(cfg.video.width, cfg.video.height, fps);
    settings.video_bitrate_kbps = cfg.video.bitrate_kbps;
    let mut writer = Mp4Writer::create(&job.out, &settings, speech.original_rate, speech.original_channels)?;
    writer.set_tags(&provenance::tags(cfg, &crate::util::hash::file_sha256(&job.portrait)?));
    let mut stamp = Stamp::new(cfg, cfg.video.width, cfg.video.height);
    for (name, on) in [("label", cfg.provenance.label), ("watermark", cfg.provenance.watermark)] {
        if !on {
            log::warn!("provenance.{name} = false: {} is written without the {name}", job.out.display());
        }
    }
    let mut frame = Vec::with_capacity((cfg.video.width * cfg.video.height * 3) as usize);
    writer.write_audio(&speech.original)?;
    let mut sheet = job.preview.as_ref().map(|_| {
        ContactSheet::new(frames.len(), fps as f32, 12, cfg.video.width, cfg.video.height, 256, 4)
    });
    let bar = if job.progress && std::io::stderr().is_terminal() {
        let b = indicatif::ProgressBar::new(frames.len() as u64);
        b.set_style(
            indicatif::ProgressStyle::with_template("{spinner} rendering [{bar:40}] {pos}/{len} frames, {per_sec}, eta {eta}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        b
    } else {
        indicatif::ProgressBar::hidden()
    };
    // `SPEAKFACE_FRAME_DIGEST=FILE`: the SHA-256 of every frame as handed to the encoder, one
    // line each (the encoded file is not bit-reproducible; these are). For refactors that must
    // not change a pixel: scripts/render-signature.sh compares two builds with it.
    let mut digest = std::env::var_os("SPEAKFACE_FRAME_DIGEST").map(|_| String::new());
    for (n, m) in frames.iter().enumerate() {
        frame.clear();
        frame.extend_from_slice(renderer.render(&rig, m));
        stamp.apply(&mut frame);
        let rgb = &frame[..];
        if let Some(d) = digest.as_mut() {
            d.push_str(&crate::util::hash::sha256_hex(rgb));
            d.push('\n');
        }
        if let Some(s) = sheet.as_mut() {
            if s.wants(n) {
                s.add(n, rgb);
            }
        }
        writer.write_frame(rgb)?;
        bar.inc(1);
    }
    writer.finish()?;
    bar.finish_and_clear();
    if let (Some(d), Some(path)) = (digest, std::env::var_os("SPEAKFACE_FRAME_DIGEST")) {
        std::fs::write(&path, d).map_err(|e| Error::Other(format!("SPEAKFACE_FRAME_DIGEST {}: {e}", path.to_string_lossy())))?;
    }
    if let (Some(s), Some(path)) = (sheet, &job.preview) {
        s.save(path)?;
    }
    Ok(RenderReport {
        frames: frames.len(),
        duration_s: speech.duration_s(),
        elapsed_s: started.elapsed().as_secs_f64(),
        analysis,
    })
}
