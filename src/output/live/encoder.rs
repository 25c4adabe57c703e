//! The one H.264 encoder shared by the RTSP server and the recorder: which one ([`choose_encoder`])
//! and its part of the pipeline, `queue ─ encoder ─ h264parse ─ tee "ht"`, with each encoder's
//! own properties. The boards' encoders (nvv4l2h264enc, v4l2h264enc, vaapih264enc) are not on
//! every build machine, so their properties are set from strings with errors checked, as
//! gst-launch would parse them; x264enc's are typed.

use gstreamer as gst;
use gstreamer::prelude::*;

use super::branch::{built, caps_filter, chain, gst_err, leaky_queue, link_tee, make, set_str, tee};
use crate::config::{Config, Encoder};
use crate::Result;

/// The H.264 encoder to use: the configured one, or on "auto" the first hardware encoder this
/// GStreamer has (Jetson NX/AGX, V4L2 M2M boards, VA-API), else x264.
pub fn choose_encoder(cfg: &Config) -> Result<Encoder> {
    let want = cfg.output.encoder;
    if want != Encoder::Auto {
        if gst::ElementFactory::find(want.as_str()).is_none() {
            return Err(gst_err(format!("output.encoder \"{want}\" is not available in this GStreamer installation")));
        }
        return Ok(want);
    }
    for hw in [Encoder::NvV4l2, Encoder::V4l2, Encoder::Vaapi] {
        if gst::ElementFactory::find(hw.as_str()).is_some() {
            return Ok(hw);
        }
    }
    if gst::ElementFactory::find(Encoder::X264.as_str()).is_some() {
        return Ok(Encoder::X264);
    }
    Err(gst_err("no H.264 encoder: install gstreamer1.0-plugins-ugly (x264enc)"))
}

/// The encoder `name`, set for live streaming at `fps` (a key frame a second) and `kbps`, with
/// what it needs before it (nvvidconv into NVMM memory for nvv4l2h264enc).
fn encoder_elements(enc: Encoder, fps: u32, kbps: u32, threads: u32) -> Result<Vec<gst::Element>> {
    let bps = kbps.saturating_mul(1000);
    let name = enc.as_str();
    Ok(match enc {
        Encoder::X264 => vec![built(
            name,
            gst::ElementFactory::make(name)
                .property_from_str("tune", "zerolatency")
                .property_from_str("speed-preset", "veryfast")
                .property("bitrate", kbps)
                .property("key-int-max", fps)
                .property("threads", threads)
                .property("sliced-threads", threads > 1)
                .build(),
        )?],
        Encoder::NvV4l2 => {
            let convert = make("nvvidconv")?;
            let nvmm = caps_filter(gst::Caps::builder("video/x-raw").features(["memory:NVMM"]).field("format", "I420").build())?;
            let enc = make(name)?;
            set_str(&enc, "bitrate", &bps.to_string())?;
            set_str(&enc, "iframeinterval", &fps.to_string())?;
            set_str(&enc, "insert-sps-pps", "true")?;
            set_str(&enc, "maxperf-enable", "true")?;
            vec![convert, nvmm, enc]
        }
        Encoder::V4l2 => {
            let enc = make(name)?;
            // The controls as `controls,video_bitrate=…,h264_i_frame_period=…` parses: ints.
            let controls = gst::Structure::builder("controls")
                .field("video_bitrate", i32::try_from(bps).unwrap_or(i32::MAX))
                .field("h264_i_frame_period", fps as i32)
                .build();
            super::branch::set_value(&enc, "extra-controls", controls)?;
            vec![enc]
        }
        Encoder::Vaapi | Encoder::Auto => {
            let enc = make(name)?;
            set_str(&enc, "bitrate", &kbps.to_string())?;
            set_str(&enc, "keyframe-period", &fps.to_string())?;
            vec![enc]
        }
    })
}

/// Adds `vt ─ queue ─ encoder ─ h264parse ─ tee` to `pipeline`; returns the tee ("ht") that the
/// H.264 branches take the stream from.
pub(super) fn attach(pipeline: &gst::Pipeline, vt: &gst::Element, enc: Encoder, fps: u32, kbps: u32, threads: u32) -> Result<gst::Element> {
    let queue = leaky_queue(3)?;
    let parse = built("h264parse", gst::ElementFactory::make("h264parse").property("config-interval", -1i32).build())?;
    let caps = caps_filter(
        gst::Caps::builder("video/x-h264").field("stream-format", "byte-stream").field("alignment", "au").build(),
    )?;
    let ht = tee("ht")?;
    let mut elements = vec![queue.clone()];
    elements.extend(encoder_elements(enc, fps, kbps, threads)?);
    elements.extend([parse, caps, ht.clone()]);
    chain(pipeline.upcast_ref(), &elements.iter().collect::<Vec<_>>())?;
    let sink = queue.static_pad("sink").ok_or_else(|| gst_err("queue has no sink pad"))?;
    link_tee(vt, &sink)?;
    Ok(ht)
}
