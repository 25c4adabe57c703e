//! Media file reader: decodes every video frame to RGB24 and measures the audio stream.
//!
//! ```text
//! filesrc ! decodebin ─┬─ video/x-raw ─ videoconvert ! appsink(RGB)
//!                      └─ audio/x-raw ─ audioconvert ! appsink(F32LE, counts samples)
//! ```
//!
//! Both sinks are callback-driven and unsynchronised (`sync=false`), so nothing is paced by a
//! clock and neither branch can stall the other; the calling thread only watches the bus.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gstreamer as gst;
use gstreamer_app as gst_app;
use gstreamer_video as gst_video;

use gst::prelude::*;
use gst_video::prelude::*;

use super::mp4::{describe_bus_error, require_elements};
use crate::{Error, Result};

/// What [`decode_video`] found in a media file.
#[derive(Debug, Clone, Default)]
pub struct DecodedVideo {
    pub width: u32,
    pub height: u32,
    /// Frame rate from the stream caps; when the stream declares none (variable rate), frames/duration.
    pub fps: f64,
    /// Tightly packed RGB24 frames (`width*height*3` bytes each), in presentation order.
    pub frames: Vec<Vec<u8>>,
    /// Video duration: end of the last decoded frame minus the start of the first; when
    /// `max_frames` cut decoding short, the container's duration instead.
    pub duration_s: f64,
    pub has_audio: bool,
    /// Decoded audio samples per channel / sample rate (0 when there is no audio).
    pub audio_duration_s: f64,
    pub audio_channels: u32,
    pub audio_rate: u32,
}

const READER_ELEMENTS: &[(&str, &str)] = &[
    ("filesrc", "libgstreamer1.0-0"),
    ("decodebin", "gstreamer1.0-plugins-base"),
    ("videoconvert", "gstreamer1.0-plugins-base"),
    ("audioconvert", "gstreamer1.0-plugins-base"),
    ("appsink", "gstreamer1.0-plugins-base"),
];

/// Give up when nothing has been decoded for this long.
const STALL_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Default)]
struct VideoState {
    linked: bool,
    width: u32,
    height: u32,
    fps: Option<(i32, i32)>,
    frames: Vec<Vec<u8>>,
    first_pts: Option<gst::ClockTime>,
    end: Option<gst::ClockTime>,
    truncated: bool,
    error: Option<String>,
}

#[derive(Default)]
struct AudioState {
    linked: bool,
    rate: u32,
    channels: u32,
    samples: u64,
}

fn out_err(path: &Path, message: impl Into<String>) -> Error {
    Error::Output { path: path.to_path_buf(), message: message.into() }
}

/// Decodes every video frame of `path` to RGB24 (at most `max_frames` when given) and reports
/// whether there is an audio stream and how long it is.
pub fn decode_video(path: &Path, max_frames: Option<usize>) -> Result<DecodedVideo> {
    gst::init().map_err(|e| Error::Gst(format!("cannot initialise GStreamer: {e}")))?;
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() => {}
        Ok(_) => return Err(out_err(path, "not a regular file")),
        Err(e) => return Err(out_err(path, format!("cannot read: {e}"))),
    }
    require_elements(path, READER_ELEMENTS)?;

    let pipeline = gst::Pipeline::with_name("speakface-decoder");
    let src = gst::ElementFactory::make("filesrc")
        .property("location", path.to_string_lossy().as_ref())
        .build()
        .map_err(|e| out_err(path, format!("cannot create filesrc: {e}")))?;
    let decodebin = gst::ElementFactory::make("decodebin")
        .build()
        .map_err(|e| out_err(path, format!("cannot create decodebin: {e}")))?;
    pipeline
        .add_many([&src, &decodebin])
        .and_then(|_| src.link(&decodebin))
        .map_err(|e| out_err(path, format!("cannot build decoder pipeline: {e}")))?;

    let video = Arc::new(Mutex::new(VideoState::default()));
    let audio = Arc::new(Mutex::new(AudioState::default()));
    let max_frames = max_frames.unwrap_or(usize::MAX);

    {
        let pipeline_weak = pipeline.downgrade();
        let video = Arc::clone(&video);
        let audio = Arc::clone(&audio);
        decodebin.connect_pad_added(move |_, pad| {
            let Some(pipeline) = pipeline_weak.upgrade() else { return };
            let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
            let Some(name) = caps.structure(0).map(|s| s.name().to_string()) else { return };
            let result = if name.starts_with("video/") {
                link_video(&pipeline, pad, &video, max_frames)
            } else if name.starts_with("audio/") {
                link_audio(&pipeline, pad, &audio)
            } else {
                Ok(())
            };
            if let Err(msg) = result {
                // Surface it on the bus so the waiting thread reports it.
                gst::element_error!(pipeline, gst::CoreError::Negotiation, ("{}", msg));
            }
        });
    }

    let run = run_to_eos(path, &pipeline, &video, &audio);
    // Duration from the container, for when decoding stopped early.
    let container_duration = pipeline.query_duration::<gst::ClockTime>();
    let _ = pipeline.set_state(gst::State::Null);
    run?;

    let mut v = std::mem::take(&mut *crate::util::lock(&video));
    let a = std::mem::take(&mut *crate::util::lock(&audio));
    if let Some(msg) = v.error.take() {
        return Err(out_err(path, msg));
    }
    if !v.linked {
        return Err(out_err(path, "no video stream found"));
    }

    let decoded_span = match (v.first_pts, v.end) {
        (Some(first), Some(end)) if end > first => (end - first).nseconds() as f64 / 1e9,
        _ => 0.0,
    };
    let duration_s = if v.truncated {
        container_duration.map(|d| d.nseconds() as f64 / 1e9).unwrap_or(decoded_span)
    } else {
        decoded_span
    };
    let fps = match v.fps {
        Some((n, d)) if n > 0 && d > 0 => n as f64 / d as f64,
        _ if decoded_span > 0.0 => v.frames.len() as f64 / decoded_span,
        _ => 0.0,
    };
    let audio_duration_s = if a.rate > 0 { a.samples as f64 / a.rate as f64 } else { 0.0 };
    Ok(DecodedVideo {
        width: v.width,
        height: v.height,
        fps,
        frames: v.frames,
        duration_s,
        has_audio: a.linked,
        audio_duration_s,
        audio_channels: a.channels,
        audio_rate: a.rate,
    })
}

fn run_to_eos(
    path: &Path,
    pipeline: &gst::Pipeline,
    video: &Arc<Mutex<VideoState>>,
    audio: &Arc<Mutex<AudioState>>,
) -> Result<()> {
    let bus = pipeline.bus().ok_or_else(|| out_err(path, "pipeline has no bus"))?;
    if pipeline.set_state(gst::State::Playing).is_err() {
        let msg = bus
            .pop_filtered(&[gst::MessageType::Error])
            .and_then(|m| match m.view() {
                gst::MessageView::Error(e) => Some(describe_bus_error(e)),
                _ => None,
            })
            .unwrap_or_else(|| "cannot start the decoder".into());
        return Err(out_err(path, msg));
    }
    let progress = || {
        let v = video.lock().map(|v| v.frames.len() as u64 + v.end.map_or(0, |e| e.nseconds())).unwrap_or(0);
        let a = audio.lock().map(|a| a.samples).unwrap_or(0);
        (v, a)
    };
    let mut last = progress();
    let mut last_change = Instant::now();
    loop {
        let msg = bus.timed_pop_filtered(
            gst::ClockTime::from_seconds(1),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        );
        match msg.as_ref().map(|m| m.view()) {
            Some(gst::MessageView::Eos(_)) => return Ok(()),
            Some(gst::MessageView::Error(err)) => return Err(out_err(path, describe_bus_error(err))),
            _ => {}
        }
        let now = progress();
        if now != last {
            last = now;
            last_change = Instant::now();
        } else if last_change.elapsed() > STALL_TIMEOUT {
            return Err(out_err(path, format!("decoding stalled for {} s", STALL_TIMEOUT.as_secs())));
        }
    }
}

fn add_branch(pipeline: &gst::Pipeline, pad: &gst::Pad, convert: &str, sink: &gst_app::AppSink) -> Result<(), String> {
    let conv = gst::ElementFactory::make(convert).build().map_err(|e| format!("cannot create {convert}: {e}"))?;
    pipeline.add_many([&conv, sink.upcast_ref()]).map_err(|e| format!("cannot add {convert}: {e}"))?;
    conv.link(sink).map_err(|e| format!("cannot link {convert} to appsink: {e}"))?;
    conv.sync_state_with_parent().map_err(|e| format!("cannot start {convert}: {e}"))?;
    sink.sync_state_with_parent().map_err(|e| format!("cannot start appsink: {e}"))?;
    let sinkpad = conv.static_pad("sink").ok_or("converter has no sink pad")?;
    pad.link(&sinkpad).map_err(|e| format!("cannot link decoded stream to {convert}: {e:?}"))?;
    Ok(())
}

fn link_video(
    pipeline: &gst::Pipeline,
    pad: &gst::Pad,
    state: &Arc<Mutex<VideoState>>,
    max_frames: usize,
) -> Result<(), String> {
    {
        let mut s = state.lock().map_err(|_| "video state poisoned")?;
        if s.linked {
            return Ok(()); // only the first video stream is decoded; others stay unlinked
        }
        s.linked = true;
    }
    let caps = gst::Caps::builder("video/x-raw").field("format", "RGB").build();
    let sink = gst_app::AppSink::builder().name("video-sink").caps(&caps).sync(false).build();
    let st = Arc::clone(state);
    sink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |sink| {
                let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                let mut s = st.lock().map_err(|_| gst::FlowError::Error)?;
                if s.frames.len() >= max_frames {
                    s.truncated = true;
                    return Err(gst::FlowError::Eos);
                }
                match copy_rgb_frame(&sample) {
                    Ok((w, h, fps, pts, end, rgb)) => {
                        s.width = w;
                        s.height = h;
                        if fps.0 > 0 {
                            s.fps = Some(fps);
                        }
                        if s.first_pts.is_none() {
                            s.first_pts = pts;
                        }
                        if let Some(end) = end {
                            s.end = Some(s.end.map_or(end, |e| e.max(end)));
                        }
                        s.frames.push(rgb);
                        Ok(gst::FlowSuccess::Ok)
                    }
                    Err(msg) => {
                        s.error = Some(msg);
                        Err(gst::FlowError::Error)
                    }
                }
            })
            .build(),
    );
    add_branch(pipeline, pad, "videoconvert", &sink)
}

type FrameInfo = (u32, u32, (i32, i32), Option<gst::ClockTime>, Option<gst::ClockTime>, Vec<u8>);

/// Copies one RGB sample into a tightly packed buffer (the sample's rows may be padded to 4 bytes).
fn copy_rgb_frame(sample: &gst::Sample) -> Result<FrameInfo, String> {
    let caps = sample.caps().ok_or("decoded frame without caps")?;
    let info = gst_video::VideoInfo::from_caps(caps).map_err(|e| format!("bad decoded video caps: {e}"))?;
    let buffer = sample.buffer().ok_or("decoded sample without buffer")?;
    let frame = gst_video::VideoFrameRef::from_buffer_ref_readable(buffer, &info)
        .map_err(|e| format!("cannot map decoded frame: {e}"))?;
    let (w, h) = (info.width(), info.height());
    let row = w as usize * 3;
    let stride = frame.plane_stride()[0] as usize;
    let data = frame.plane_data(0).map_err(|e| format!("cannot read decoded frame: {e}"))?;
    let mut rgb = Vec::with_capacity(row * h as usize);
    for y in 0..h as usize {
        let start = y * stride;
        let line = data.get(start..start + row).ok_or("decoded frame is shorter than its caps say")?;
        rgb.extend_from_slice(line);
    }
    let fps = info.fps();
    let pts = buffer.pts();
    let end = pts.map(|p| p + buffer.duration().unwrap_or(gst::ClockTime::ZERO));
    Ok((w, h, (fps.numer(), fps.denom()), pts, end, rgb))
}

fn link_audio(pipeline: &gst::Pipeline, pad: &gst::Pad, state: &Arc<Mutex<AudioState>>) -> Result<(), String> {
    {
        let mut s = state.lock().map_err(|_| "audio state poisoned")?;
        if s.linked {
            return Ok(());
        }
        s.linked = true;
    }
    let caps = gst::Caps::builder("audio/x-raw").field("format", "F32LE").field("layout", "interleaved").build();
    let sink = gst_app::AppSink::builder().name("audio-sink").caps(&caps).sync(false).build();
    let st = Arc::clone(state);
    sink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |sink| {
                let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                let mut s = st.lock().map_err(|_| gst::FlowError::Error)?;
                if let Some(st) = sample.caps().and_then(|c| c.structure(0)) {
                    s.rate = st.get::<i32>("rate").map(|r| r.max(0) as u32).unwrap_or(s.rate);
                    s.channels = st.get::<i32>("channels").map(|c| c.max(0) as u32).unwrap_or(s.channels);
                }
                if let Some(buffer) = sample.buffer() {
                    let bpf = 4 * s.channels.max(1) as u64;
                    s.samples += buffer.size() as u64 / bpf;
                }
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
    add_branch(pipeline, pad, "audioconvert", &sink)
}
