//! What every output branch is and is built from: the [`Branch`] trait (a bin with ghost sink
//! pads named after its [`Input`]s), the keep-alive branch that keeps the tees linked with no
//! output on, and the small element helpers (checked factories, leaky queues, caps filters,
//! property setters that report a mismatch instead of panicking, linking).

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;

use crate::{Error, Result};

pub(super) fn gst_err(m: impl Into<String>) -> Error {
    Error::Gst(m.into())
}

/// What a branch takes from the shared head of the pipeline; also the name of the branch bin's
/// ghost sink pad for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Input {
    /// Raw video, I420 BT.709, at the render's size and rate.
    Video,
    /// The shared encoder's H.264 (byte-stream, one access unit per buffer).
    H264,
    /// The speech: S16LE, 16 kHz, mono.
    Audio,
}

impl Input {
    pub(super) fn pad_name(self) -> &'static str {
        match self {
            Input::Video => "video",
            Input::H264 => "h264",
            Input::Audio => "audio",
        }
    }
}

/// One live output: a bin with a ghost sink pad per input (named by [`Input::pad_name`]), which
/// [`LiveOutput::start`] adds to the pipeline and links to the tees. Checks on the configuration
/// (a device that must exist, a folder that must be writable) are done when the branch value is
/// made, before any element is built.
pub(super) trait Branch {
    /// The bin's name in the pipeline ("display", "rtsp", "record", "v4l2", …).
    fn name(&self) -> &'static str;
    /// The config key that errors from this branch's elements are reported under.
    fn key(&self) -> &'static str;
    /// The streams the branch takes, in the order their tee pads are requested.
    fn inputs(&self) -> &'static [Input];
    /// Builds the branch's elements, linked, in a bin named [`Branch::name`].
    fn build(&self) -> Result<gst::Bin>;
}

/// Fakesinks that keep the raw tees linked even with no output, so pushing never errors.
pub(super) struct Keepalive;

impl Branch for Keepalive {
    fn name(&self) -> &'static str {
        "keepalive"
    }
    fn key(&self) -> &'static str {
        "output"
    }
    fn inputs(&self) -> &'static [Input] {
        &[Input::Video, Input::Audio]
    }
    fn build(&self) -> Result<gst::Bin> {
        let bin = gst::Bin::with_name(self.name());
        for input in self.inputs() {
            let queue = leaky_queue(3)?;
            let sink = built(
                "fakesink",
                gst::ElementFactory::make("fakesink").property("sync", false).property("async", false).build(),
            )?;
            chain(&bin, &[&queue, &sink])?;
            ghost(&bin, *input, &queue)?;
        }
        Ok(bin)
    }
}

/// An element from its builder's result, or an error naming the factory.
pub(super) fn built(factory: &str, made: std::result::Result<gst::Element, gst::glib::BoolError>) -> Result<gst::Element> {
    made.map_err(|e| gst_err(format!("cannot create the GStreamer element {factory}: {e}")))
}

/// A new `factory` element with default properties.
pub(super) fn make(factory: &str) -> Result<gst::Element> {
    built(factory, gst::ElementFactory::make(factory).build())
}

/// `queue leaky=downstream max-size-buffers=N max-size-bytes=0 max-size-time=0`: drops the oldest
/// buffer rather than blocking when its branch cannot keep up.
pub(super) fn leaky_queue(buffers: u32) -> Result<gst::Element> {
    built(
        "queue",
        gst::ElementFactory::make("queue")
            .property_from_str("leaky", "downstream")
            .property("max-size-buffers", buffers)
            .property("max-size-bytes", 0u32)
            .property("max-size-time", 0u64)
            .build(),
    )
}

pub(super) fn caps_filter(caps: gst::Caps) -> Result<gst::Element> {
    built("capsfilter", gst::ElementFactory::make("capsfilter").property("caps", caps).build())
}

/// A tee that returns OK when none of its pads is linked.
pub(super) fn tee(name: &str) -> Result<gst::Element> {
    built("tee", gst::ElementFactory::make("tee").name(name).property("allow-not-linked", true).build())
}

/// Sets property `name` of `e` from its string form, as gst-launch does (for elements this
/// machine may not have, such as the boards' encoders): an error, not a panic, when `e` has no
/// such property or `value` does not parse as its type.
pub(super) fn set_str(e: &gst::Element, name: &str, value: &str) -> Result<()> {
    let factory = e.factory().map_or_else(|| e.name().to_string(), |f| f.name().to_string());
    let pspec = e.find_property(name).ok_or_else(|| gst_err(format!("{factory} has no property {name}")))?;
    let v = <gst::glib::Value as gst::prelude::GstValueExt>::deserialize(value, pspec.value_type())
        .map_err(|_| gst_err(format!("{factory}: {name}={value} is not a valid {}", pspec.value_type().name())))?;
    e.set_property_from_value(name, &v);
    Ok(())
}

/// Sets property `name` of `e` to `value`: an error, not a panic, when `e` (a sink named in the
/// config, say) has no such property or one of another type.
pub(super) fn set_value(e: &gst::Element, name: &str, value: impl Into<gst::glib::Value>) -> Result<()> {
    let value = value.into();
    let factory = e.factory().map_or_else(|| e.name().to_string(), |f| f.name().to_string());
    match e.find_property(name) {
        Some(p) if value.type_().is_a(p.value_type()) => {
            e.set_property_from_value(name, &value);
            Ok(())
        }
        Some(p) => Err(gst_err(format!("{factory}: property {name} is a {}, not a {}", p.value_type().name(), value.type_().name()))),
        None => Err(gst_err(format!("{factory} has no property {name}"))),
    }
}

/// Adds `elements` to `bin` and links them in order.
pub(super) fn chain(bin: &gst::Bin, elements: &[&gst::Element]) -> Result<()> {
    bin.add_many(elements).map_err(|e| gst_err(format!("cannot build the output pipeline: {e}")))?;
    gst::Element::link_many(elements).map_err(|e| gst_err(format!("cannot build the output pipeline: {e}")))
}

/// Gives `bin` a ghost sink pad for `input`, onto the sink pad of `first`.
pub(super) fn ghost(bin: &gst::Bin, input: Input, first: &gst::Element) -> Result<()> {
    let target = first.static_pad("sink").ok_or_else(|| gst_err(format!("{} has no sink pad", first.name())))?;
    let pad = gst::GhostPad::builder_with_target(&target)
        .map_err(|e| gst_err(format!("cannot build the output pipeline: {e}")))?
        .name(input.pad_name())
        .build();
    bin.add_pad(&pad).map_err(|e| gst_err(format!("cannot build the output pipeline: {e}")))
}

/// Links a new pad of `tee` to `sink`.
pub(super) fn link_tee(tee: &gst::Element, sink: &gst::Pad) -> Result<()> {
    let src = tee.request_pad_simple("src_%u").ok_or_else(|| gst_err(format!("{}: no new source pad", tee.name())))?;
    src.link(sink).map(|_| ()).map_err(|e| gst_err(format!("cannot link {} to {}: {e:?}", tee.name(), sink.name())))
}

/// A live appsrc: timestamps from the clock at push, the oldest buffer dropped when full.
pub(super) fn appsrc(name: &str, caps: gst::Caps, max_buffers: u64) -> Result<gst_app::AppSrc> {
    built(
        "appsrc",
        gst::ElementFactory::make("appsrc")
            .name(name)
            .property("is-live", true)
            .property("do-timestamp", true)
            .property("format", gst::Format::Time)
            .property("block", false)
            .property("max-buffers", max_buffers)
            .property_from_str("leaky-type", "downstream")
            .property("caps", caps)
            .build(),
    )?
    .downcast::<gst_app::AppSrc>()
    .map_err(|_| gst_err("appsrc is not an AppSrc"))
}
