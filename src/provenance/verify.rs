//! `speakface verify FILE.mp4 | rtsp://…`: is the watermark there, and what does it carry?
//!
//! Decodes the video with GStreamer (uridecodebin: any file or stream GStreamer plays) frame by
//! frame into the [`Detector`] — nothing is kept but the detector's sums — and collects the
//! container's tags (the provenance comment `speakface render` and recordings carry).

use std::time::{Duration, Instant};

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use gstreamer_video as gst_video;
use serde::Serialize;

use super::watermark::{Detector, Payload, WindowRead, MIN_SNR, WINDOW};
use crate::{Error, Result};

/// What `verify` found.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub source: String,
    pub frames: usize,
    pub width: u32,
    pub height: u32,
    /// Reading windows (of `WINDOW` frames) and how many carried a valid mark. When none did, the
    /// whole clip is read as one (`found` then comes from that read).
    pub windows: usize,
    pub windows_marked: usize,
    /// The payloads found, most frequent first: (device hex, time text, windows).
    pub found: Vec<Found>,
    /// Best in-phase/quadrature ratio over the windows (≈1 unmarked; ≥ `MIN_SNR` marked).
    pub best_snr: f64,
    /// Each window: first frame, frames, signal ratio, whether it read.
    pub per_window: Vec<(usize, usize, f64, bool)>,
    /// The container's comment and encoder tags, when present.
    pub comment: Option<String>,
    pub encoder: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Found {
    pub device: String,
    pub minute: u32,
    pub time: String,
    pub windows: usize,
}

impl Report {
    pub fn watermarked(&self) -> bool {
        !self.found.is_empty()
    }

    pub fn summarise(reads: &[WindowRead]) -> (Vec<Found>, f64) {
        let mut found: Vec<(Payload, usize)> = vec![];
        for p in reads.iter().filter_map(|r| r.payload) {
            match found.iter_mut().find(|(q, _)| *q == p) {
                Some((_, n)) => *n += 1,
                None => found.push((p, 1)),
            }
        }
        found.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.minute.cmp(&b.0.minute)));
        let best = reads.iter().map(|r| r.snr).fold(0.0, f64::max);
        let found = found
            .into_iter()
            .map(|(p, n)| Found { device: format!("{:08x}", p.device), minute: p.minute, time: p.time_text(), windows: n })
            .collect();
        (found, best)
    }

    /// Human-readable lines.
    pub fn text(&self) -> String {
        let mut s = String::new();
        if let Some(f) = self.found.first() {
            s += &format!(
                "{}: watermark FOUND in {} of {} windows ({} frames, {}x{}): device {}, made {}\n",
                self.source, self.windows_marked, self.windows, self.frames, self.width, self.height, f.device, f.time
            );
            for f in &self.found[1..] {
                s += &format!("  also: device {}, made {} ({} windows)\n", f.device, f.time, f.windows);
            }
        } else {
            s += &format!(
                "{}: no watermark in {} frames ({}x{}, {} windows; best signal {:.2}, a mark needs {:.1})\n",
                self.source, self.frames, self.width, self.height, self.windows, self.best_snr, MIN_SNR
            );
        }
        if let Some(c) = &self.comment {
            s += &format!("  metadata comment: {c}\n");
        }
        if let Some(e) = &self.encoder {
            s += &format!("  metadata encoder: {e}\n");
        }
        s
    }
}

fn verr(source: &str, m: impl std::fmt::Display) -> Error {
    Error::Other(format!("verify {source}: {m}"))
}

/// Reads up to `max_seconds` of video (or `timeout` of wall time, for streams) from a file path
/// or a URI (`rtsp://…`, `file://…`).
pub fn verify(source: &str, max_seconds: f64, timeout: Duration) -> Result<Report> {
    gst::init().map_err(|e| verr(source, format!("cannot initialise GStreamer: {e}")))?;
    let uri = if source.contains("://") {
        source.to_string()
    } else {
        let p = std::path::Path::new(source);
        match std::fs::metadata(p) {
            Ok(m) if m.is_file() => {}
            Ok(_) => return Err(verr(source, "not a regular file")),
            Err(e) => return Err(verr(source, format!("cannot read: {e}"))),
        }
        let abs = std::path::absolute(p).map_err(|e| verr(source, e))?;
        gst::glib::filename_to_uri(&abs, None).map_err(|e| verr(source, e))?.to_string()
    };
    let pipeline = gst::Pipeline::with_name("speakface-verify");
    let dec = gst::ElementFactory::make("uridecodebin").property("uri", &uri).build().map_err(|e| verr(source, format!("no uridecodebin: {e}")))?;
    let conv = gst::ElementFactory::make("videoconvert").build().map_err(|e| verr(source, e))?;
    let sink = gst_app::AppSink::builder()
        .caps(&gst::Caps::builder("video/x-raw").field("format", "RGB").build())
        .sync(false)
        .max_buffers(8)
        .build();
    pipeline.add_many([&dec, &conv, sink.upcast_ref()]).map_err(|e| verr(source, e))?;
    conv.link(&sink).map_err(|e| verr(source, e))?;
    let conv_weak = conv.downgrade();
    dec.connect_pad_added(move |_, pad| {
        let Some(conv) = conv_weak.upgrade() else { return };
        let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
        if caps.structure(0).is_some_and(|s| s.name().starts_with("video/")) {
            if let Some(sinkpad) = conv.static_pad("sink") {
                if !sinkpad.is_linked() {
                    let _ = pad.link(&sinkpad);
                }
            }
        }
    });
    pipeline.set_state(gst::State::Playing).map_err(|_| verr(source, "cannot start decoding"))?;
    let bus = pipeline.bus().ok_or_else(|| verr(source, "no bus"))?;
    let mut det = Detector::new(WINDOW);
    let (mut width, mut height, mut fps) = (0u32, 0u32, 25.0f64);
    let (mut comment, mut encoder) = (None, None);
    let started = Instant::now();
    let mut error = None;
    loop {
        while let Some(msg) = bus.pop() {
            match msg.view() {
                gst::MessageView::Error(e) => {
                    error = Some(crate::error::one_line(&e.error().to_string()));
                }
                gst::MessageView::Tag(t) => {
                    let tags = t.tags();
                    if let Some(c) = tags.get::<gst::tags::Comment>() {
                        comment = Some(c.get().to_string());
                    }
                    // The codec's own encoder tag ("x264") must not hide the container's.
                    if let Some(c) = tags.get::<gst::tags::Encoder>() {
                        if encoder.as_deref().is_none_or(|e: &str| !e.starts_with("speakface")) {
                            encoder = Some(c.get().to_string());
                        }
                    }
                }
                _ => {}
            }
        }
        if error.is_some() || started.elapsed() > timeout || det.frames() as f64 >= max_seconds * fps {
            break;
        }
        let Some(sample) = sink.try_pull_sample(gst::ClockTime::from_mseconds(200)) else {
            if sink.is_eos() {
                break;
            }
            continue;
        };
        let (Some(buf), Some(caps)) = (sample.buffer(), sample.caps()) else { continue };
        let Ok(info) = gst_video::VideoInfo::from_caps(caps) else { continue };
        (width, height) = (info.width(), info.height());
        if info.fps().numer() > 0 {
            fps = info.fps().numer() as f64 / info.fps().denom() as f64;
        }
        let Ok(map) = buf.map_readable() else { continue };
        let stride = info.stride()[0] as usize;
        let row = width as usize * 3;
        if stride == row {
            det.push(&map[..row * height as usize], width, height);
        } else {
            let packed: Vec<u8> = (0..height as usize).flat_map(|y| map[y * stride..y * stride + row].iter().copied()).collect();
            det.push(&packed, width, height);
        }
    }
    let _ = pipeline.set_state(gst::State::Null);
    let frames = det.frames();
    if frames == 0 {
        return Err(verr(source, format!("no video could be decoded{}", error.map(|e| format!(" (GStreamer: {e})")).unwrap_or_default())));
    }
    let (reads, whole) = det.finish();
    let (mut found, mut best_snr) = Report::summarise(&reads);
    // The whole clip read as one: counts when no single window could be read.
    if found.is_empty() {
        (found, best_snr) = Report::summarise(std::slice::from_ref(&whole));
    }
    Ok(Report {
        source: source.to_string(),
        frames,
        width,
        height,
        windows: reads.len(),
        windows_marked: reads.iter().filter(|r| r.payload.is_some()).count(),
        per_window: reads.iter().map(|r| (r.start, r.frames, (r.snr * 100.0).round() / 100.0, r.payload.is_some())).collect(),
        found,
        best_snr,
        comment,
        encoder,
    })
}
