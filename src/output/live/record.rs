//! The recording output: the shared encoder's H.264 and the speech (as AAC) in MP4 segments of
//! `output.record.segment_s` seconds, `speakface-NNNNN.mp4` in `output.record.dir`, numbered on
//! from the last one there, each carrying the provenance tags; the oldest are deleted to keep
//! `output.record.min_free_mb` free.

use std::path::{Path, PathBuf};

use gstreamer as gst;
use gstreamer::prelude::*;

use super::branch::{built, chain, ghost, gst_err, leaky_queue, make, Branch, Input};
use crate::config::Config;
use crate::{Error, Result};

/// The record branch: `queue ─ h264parse ─ splitmuxsink name=rec` and
/// `queue ─ audioconvert ─ audioresample ─ avenc_aac ─ aacparse ─ rec.audio_0`.
pub(super) struct Record {
    dir: PathBuf,
    min_free_mb: u64,
    /// splitmuxsink's `location`: the folder (its `%` doubled) and `speakface-%05d.mp4`.
    location: String,
    /// The number of the first segment this run writes.
    start: u32,
    segment_ns: u64,
    /// For the provenance tags.
    cfg: Config,
    portrait_sha256: String,
}

impl Record {
    /// Creates the folder and checks that it is writable; frees space now.
    pub(super) fn new(cfg: &Config, portrait_sha256: &str) -> Result<Record> {
        let r = &cfg.output.record;
        let dir = &r.dir;
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::Output { path: dir.clone(), message: format!("cannot create the recording folder: {e}") })?;
        let probe = dir.join(".speakface-write-test");
        std::fs::write(&probe, b"")
            .map_err(|e| Error::Output { path: dir.clone(), message: format!("recording folder is not writable: {e}") })?;
        let _ = std::fs::remove_file(probe);
        let start = segments(dir).last().map_or(0, |(n, _)| n + 1);
        // splitmuxsink formats `location` with the segment number (printf): a `%` of the folder's
        // own must not be read as a conversion.
        let folder = dir
            .to_str()
            .ok_or_else(|| Error::Output { path: dir.clone(), message: "output.record.dir is not valid UTF-8".into() })?;
        let location = Path::new(&folder.replace('%', "%%")).join("speakface-%05d.mp4").to_string_lossy().into_owned();
        let record = Record {
            dir: dir.clone(),
            min_free_mb: r.min_free_mb,
            location,
            start: u32::try_from(start).unwrap_or(u32::MAX),
            segment_ns: r.segment_s as u64 * 1_000_000_000,
            cfg: cfg.clone(),
            portrait_sha256: portrait_sha256.to_string(),
        };
        record.enforce_free_space();
        Ok(record)
    }

    /// Deletes the oldest segments until `output.record.min_free_mb` is free.
    pub(super) fn enforce_free_space(&self) {
        enforce_free_space(&self.dir, self.min_free_mb);
    }
}

impl Branch for Record {
    fn name(&self) -> &'static str {
        "record"
    }
    fn key(&self) -> &'static str {
        "output.record"
    }
    fn inputs(&self) -> &'static [Input] {
        &[Input::H264, Input::Audio]
    }
    fn build(&self) -> Result<gst::Bin> {
        let bin = gst::Bin::with_name(self.name());
        // muxer-factory and muxer-properties are applied by splitmuxsink only with
        // async-finalize=true; with false it makes a default mp4mux, as it always has here.
        let rec = built(
            "splitmuxsink",
            gst::ElementFactory::make("splitmuxsink")
                .name("rec")
                .property("location", self.location.as_str())
                .property("start-index", i32::try_from(self.start).unwrap_or(i32::MAX))
                .property("max-size-time", self.segment_ns)
                .property("muxer-factory", "mp4mux")
                .property("muxer-properties", gst::Structure::builder("properties").field("fragment-duration", 2000i32).build())
                .property("async-finalize", false)
                .build(),
        )?;
        let vqueue = leaky_queue(60)?;
        let parse = make("h264parse")?;
        chain(&bin, &[&vqueue, &parse])?;
        let aqueue = leaky_queue(100)?;
        let aac = make("aacparse")?;
        chain(&bin, &[&aqueue, &make("audioconvert")?, &make("audioresample")?, &make("avenc_aac")?, &aac])?;
        bin.add(&rec).map_err(|e| gst_err(format!("cannot build the output pipeline: {e}")))?;
        for (from, pad) in [(&parse, "video"), (&aac, "audio_0")] {
            let sink = rec.request_pad_simple(pad).ok_or_else(|| gst_err(format!("splitmuxsink gives no {pad} pad")))?;
            let src = from.static_pad("src").ok_or_else(|| gst_err(format!("{} has no src pad", from.name())))?;
            src.link(&sink).map_err(|e| gst_err(format!("cannot link {} to splitmuxsink's {pad}: {e:?}", from.name())))?;
        }
        ghost(&bin, Input::H264, &vqueue)?;
        ghost(&bin, Input::Audio, &aqueue)?;
        // Provenance tags in every segment (the first included): mp4mux forgets its tags when
        // splitmuxsink resets it between segments, so they are laid on as each file is named.
        // The muxer is splitmuxsink's own (made with its first pad; its "muxer" property stays
        // unset). The handler must not ask splitmuxsink anything: it runs under its lock.
        let mux = rec.clone().downcast::<gst::Bin>().ok().and_then(|b| {
            b.iterate_elements().into_iter().flatten().find(|e| e.factory().is_some_and(|f| f.name() == "mp4mux"))
        });
        if let Some(mux) = mux {
            let (cfg, sha) = (self.cfg.clone(), self.portrait_sha256.clone());
            let mux_weak = mux.downgrade();
            rec.connect("format-location-full", false, move |_| {
                if let Some(mux) = mux_weak.upgrade() {
                    crate::output::mp4::set_tags(&mux, &crate::provenance::tags(&cfg, &sha));
                }
                // No file name of our own (a NULL string): splitmuxsink keeps `location`.
                Some(None::<String>.to_value())
            });
        }
        Ok(bin)
    }
}

/// Free megabytes on the file system holding `dir`.
pub fn free_mb(dir: &Path) -> Option<u64> {
    let out = std::process::Command::new("df").arg("-Pk").arg(dir).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let avail_kb: u64 = text.lines().nth(1)?.split_whitespace().nth(3)?.parse().ok()?;
    Some(avail_kb / 1024)
}

/// Our segments in `dir`, oldest (lowest number) first.
fn segments(dir: &Path) -> Vec<(u64, PathBuf)> {
    let mut v: Vec<(u64, PathBuf)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            let n = name.strip_prefix("speakface-")?.strip_suffix(".mp4")?.parse().ok()?;
            Some((n, e.path()))
        })
        .collect();
    v.sort();
    v
}

/// Deletes the oldest segments (keeping the newest, being written) until `min_free_mb` is free.
/// Returns how many were deleted.
pub fn enforce_free_space(dir: &Path, min_free_mb: u64) -> usize {
    let mut deleted = 0;
    let segs = segments(dir);
    for (_, path) in segs.iter().take(segs.len().saturating_sub(1)) {
        match free_mb(dir) {
            Some(free) if free < min_free_mb => {
                if std::fs::remove_file(path).is_ok() {
                    log::warn!("record: deleted {} to keep {min_free_mb} MB free", path.display());
                    deleted += 1;
                }
            }
            _ => break,
        }
    }
    deleted
}
