//! The live outputs: one GStreamer pipeline fed with each rendered frame and its 40 ms of speech,
//! teed to any of: a display sink, one H.264 encoder shared by the RTSP server and the MP4
//! recorder, and a V4L2 output device. Every branch starts with a leaky queue, so a slow sink
//! drops frames instead of stalling the render or growing memory.
//!
//! ```text
//! appsrc(RGB) ─ videoconvert ─ tee ┬ queue ─ display sink
//!                                  ├ queue ─ x264enc/… ─ h264parse ─ tee ┬ appsink → RTSP media
//!                                  │                                     └ splitmuxsink (MP4)
//!                                  └ queue ─ v4l2sink
//! appsrc(S16 16 kHz) ─ tee ┬ appsink → RTSP media (Opus)      └ AAC → splitmuxsink
//! ```
//! This module holds the shared head (the two appsrcs, their tees, the encoder and its tee) and
//! [`LiveOutput`]. Each output is a [`Branch`]: a bin of its own, built element by element with
//! typed properties (no launch strings: configured paths reach GStreamer as property values only,
//! whatever characters they hold), whose ghost sink pads are linked to the tees here:
//! [`display`], [`rtsp`] (the appsinks feeding the RTSP server, and the server), [`record`]
//! (splitmuxsink with AAC) and [`v4l2`].
//!
//! The RTSP server (gst-rtsp-server) runs its own GLib loop on a thread and one *shared* media
//! for all viewers: it takes the encoded H.264 from the appsink, so there is one encoder however
//! many watch, and a new viewer triggers a key frame so it starts at once.

mod branch;
mod display;
mod encoder;
mod record;
mod rtsp;
mod v4l2;

pub use display::{choose_display_sink, drm_driver_name, drm_screen_size};
pub use encoder::choose_encoder;
pub use record::{enforce_free_space, free_mb};
pub use rtsp::RtspServer;

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;

use crate::config::{Config, Encoder};
use crate::Result;
use branch::{appsrc, caps_filter, chain, gst_err, link_tee, make, tee, Branch, Input, Keepalive};

/// The tees that branches are linked to.
struct Head {
    video: gst::Element,
    audio: gst::Element,
    h264: Option<gst::Element>,
}

impl Head {
    /// Adds `branch`'s bin to `pipeline` and links each of its inputs to its tee; returns the bin.
    fn attach(&self, pipeline: &gst::Pipeline, branch: &dyn Branch) -> Result<gst::Bin> {
        let bin = branch.build()?;
        pipeline.add(&bin).map_err(|e| gst_err(format!("cannot build the output pipeline: {e}")))?;
        for input in branch.inputs() {
            let tee = match input {
                Input::Video => &self.video,
                Input::Audio => &self.audio,
                Input::H264 => self.h264.as_ref().ok_or_else(|| gst_err(format!("{}: no encoder to take H.264 from", branch.name())))?,
            };
            let pad = bin
                .static_pad(input.pad_name())
                .ok_or_else(|| gst_err(format!("{}: no {} input", branch.name(), input.pad_name())))?;
            link_tee(tee, &pad)?;
        }
        Ok(bin)
    }
}

/// The live output pipeline. `push` hands it one frame and that frame's speech.
pub struct LiveOutput {
    pipeline: gst::Pipeline,
    video: gst_app::AppSrc,
    /// Frame buffers, recycled: a frame's buffer comes back once every branch is done with it.
    frames: gst::BufferPool,
    audio: gst_app::AppSrc,
    width: u32,
    height: u32,
    record: Option<record::Record>,
    /// Each branch's bin and the config key its errors are reported under.
    keys: Vec<(gst::Bin, &'static str)>,
    pub encoder: Option<Encoder>,
    pub display_sink: Option<String>,
}

impl Drop for LiveOutput {
    fn drop(&mut self) {
        // Let the recorder finish its segment, briefly.
        if self.record.is_some() {
            let _ = self.video.end_of_stream();
            let _ = self.audio.end_of_stream();
            if let Some(bus) = self.pipeline.bus() {
                let _ = bus.timed_pop_filtered(gst::ClockTime::from_seconds(3), &[gst::MessageType::Eos, gst::MessageType::Error]);
            }
        }
        let _ = self.pipeline.set_state(gst::State::Null);
        let _ = self.frames.set_active(false);
    }
}

/// A pool of `size`-byte buffers for the frames pushed into the pipeline, so that pushing a frame
/// copies it into a recycled buffer instead of allocating 0.8 MB every 40 ms for months.
fn frame_pool(size: usize) -> Result<gst::BufferPool> {
    let pool = gst::BufferPool::new();
    let mut c = pool.config();
    // Unbounded: the leaky queues (3 buffers per branch) bound how many are out at once.
    c.set_params(None, size as u32, 4, 0);
    pool.set_config(c).map_err(|e| gst_err(format!("frame buffer pool: {e}")))?;
    pool.set_active(true).map_err(|e| gst_err(format!("frame buffer pool: {e}")))?;
    Ok(pool)
}

impl LiveOutput {
    /// Builds and starts the pipeline for the enabled outputs. `rtsp` is the running server (when
    /// `output.rtsp.enabled`).
    /// `portrait_sha256`: the portrait on air, for the recordings' provenance tags.
    pub fn start(cfg: &Config, rtsp: Option<&RtspServer>, portrait_sha256: &str) -> Result<LiveOutput> {
        gst::init().map_err(|e| gst_err(format!("cannot initialise GStreamer: {e}")))?;
        let o = &cfg.output;
        let (w, h, fps) = (cfg.video.width, cfg.video.height, cfg.video.fps);
        // The outputs' checks, in this order: the first problem is the one reported.
        let display = if o.display.enabled { Some(display::Display::new(cfg)?) } else { None };
        let encoder = if rtsp.is_some() || o.record.enabled { Some(choose_encoder(cfg)?) } else { None };
        let rtsp = rtsp.map(rtsp::Rtsp::new);
        let record = if encoder.is_some() && o.record.enabled { Some(record::Record::new(cfg, portrait_sha256)?) } else { None };
        let v4l2 = if o.v4l2.enabled { Some(v4l2::V4l2::new(&o.v4l2.device)?) } else { None };

        let pipeline = gst::Pipeline::new();
        let video = appsrc(
            "vsrc",
            gst::Caps::builder("video/x-raw")
                .field("format", "RGB")
                .field("width", w as i32)
                .field("height", h as i32)
                .field("framerate", gst::Fraction::new(fps as i32, 1))
                .build(),
            3,
        )?;
        let convert = make("videoconvert")?;
        let i420 = caps_filter(gst::Caps::builder("video/x-raw").field("format", "I420").field("colorimetry", "bt709").build())?;
        let vt = tee("vt")?;
        let audio = appsrc(
            "asrc",
            gst::Caps::builder("audio/x-raw")
                .field("format", "S16LE")
                .field("rate", 16000i32)
                .field("channels", 1i32)
                .field("layout", "interleaved")
                .build(),
            10,
        )?;
        let at = tee("at")?;
        chain(pipeline.upcast_ref(), &[video.upcast_ref(), &convert, &i420, &vt])?;
        chain(pipeline.upcast_ref(), &[audio.upcast_ref(), &at])?;
        let mut head = Head { video: vt, audio: at, h264: None };

        // The tees' pads are requested in this order: keepalive, display, encoder, RTSP, record, V4L2.
        let mut keys = vec![];
        let mut attach = |head: &Head, b: &dyn Branch| -> Result<()> {
            keys.push((head.attach(&pipeline, b)?, b.key()));
            Ok(())
        };
        attach(&head, &Keepalive)?;
        if let Some(d) = &display {
            attach(&head, d)?;
        }
        if let Some(enc) = &encoder {
            head.h264 = Some(encoder::attach(&pipeline, &head.video, *enc, fps, cfg.video.bitrate_kbps, o.encoder_threads)?);
        }
        if let Some(r) = &rtsp {
            attach(&head, r)?;
        }
        if let Some(r) = &record {
            attach(&head, r)?;
        }
        if let Some(v) = &v4l2 {
            attach(&head, v)?;
        }

        let frames = frame_pool((w * h * 3) as usize)?;
        pipeline
            .set_state(gst::State::Playing)
            .map_err(|_| gst_err(format!("output pipeline does not start: {}", first_bus_error(&pipeline, &keys).unwrap_or_default())))?;
        Ok(LiveOutput {
            pipeline,
            video,
            frames,
            audio,
            width: w,
            height: h,
            record,
            keys,
            encoder,
            display_sink: display.map(|d| d.describe()),
        })
    }

    /// Hands one RGB frame and the speech it shows (16 kHz mono) to every output.
    pub fn push(&self, rgb: &[u8], speech: &[i16]) -> Result<()> {
        debug_assert_eq!(rgb.len(), (self.width * self.height * 3) as usize);
        let mut vb = self.frames.acquire_buffer(None).map_err(|e| gst_err(format!("video output: no frame buffer: {e}")))?;
        {
            let b = vb.get_mut().ok_or_else(|| gst_err("video output: a recycled frame buffer is still shared"))?;
            let mut map = b.map_writable().map_err(|_| gst_err("video output: cannot map a frame buffer"))?;
            map.copy_from_slice(rgb);
        }
        let mut bytes = Vec::with_capacity(speech.len() * 2);
        for s in speech {
            bytes.extend_from_slice(&s.to_le_bytes());
        }
        let ab = gst::Buffer::from_slice(bytes);
        // Audio first: its timestamp is taken at push, and it belongs with this frame.
        self.audio.push_buffer(ab).map_err(|e| gst_err(format!("speech output: {e}")))?;
        self.video.push_buffer(vb).map_err(|e| gst_err(format!("video output: {e}")))?;
        Ok(())
    }

    /// The first error the pipeline reported since the last call, as one line.
    pub fn poll_error(&self) -> Option<String> {
        let bus = self.pipeline.bus()?;
        while let Some(msg) = bus.pop() {
            match msg.view() {
                gst::MessageView::Error(e) => return Some(describe(&self.keys, &e)),
                gst::MessageView::Element(e) => {
                    if e.structure().is_some_and(|s| s.name() == "splitmuxsink-fragment-closed") {
                        if let Some(r) = &self.record {
                            r.enforce_free_space();
                        }
                    }
                }
                _ => {}
            }
        }
        None
    }
}

/// A bus error as one line, after the config key of the branch whose element reported it.
fn describe(keys: &[(gst::Bin, &'static str)], err: &gst::message::Error) -> String {
    let text = super::mp4::describe_bus_error(err);
    let key = err.src().and_then(|src| keys.iter().find(|(bin, _)| src == bin.upcast_ref::<gst::Object>() || src.has_as_ancestor(bin)));
    match key {
        Some((_, key)) => format!("{key}: {text}"),
        None => text,
    }
}

fn first_bus_error(p: &gst::Pipeline, keys: &[(gst::Bin, &'static str)]) -> Option<String> {
    let bus = p.bus()?;
    let msg = bus.timed_pop_filtered(gst::ClockTime::from_mseconds(500), &[gst::MessageType::Error])?;
    match msg.view() {
        gst::MessageView::Error(e) => Some(describe(keys, &e)),
        _ => None,
    }
}
