//! The V4L2 output: the video written to a v4l2loopback device (a virtual camera for video-call
//! software), as YUY2 at the render's rate.

use std::path::{Path, PathBuf};

use gstreamer as gst;

use super::branch::{built, caps_filter, chain, ghost, leaky_queue, make, Branch, Input};
use crate::{Error, Result};

/// The V4L2 branch: `queue ─ videorate ─ queue ─ videoconvert ─ YUY2 ─ identity ─ v4l2sink`.
pub(super) struct V4l2 {
    device: String,
}

impl V4l2 {
    /// Checks that `device` (`output.v4l2.device`) is a character device.
    pub(super) fn new(device: &Path) -> Result<V4l2> {
        use std::os::unix::fs::FileTypeExt;
        let fail = |message: &str| Error::Output { path: PathBuf::from(device), message: format!("output.v4l2.device: {message}") };
        let meta = std::fs::metadata(device)
            .map_err(|_| fail("V4L2 output device does not exist (load v4l2loopback, or set output.v4l2.enabled = false)"))?;
        if !meta.file_type().is_char_device() {
            return Err(fail("not a V4L2 output device (a v4l2loopback device such as /dev/video10 is expected)"));
        }
        let device = device.to_str().ok_or_else(|| fail("the path is not valid UTF-8"))?.to_string();
        Ok(V4l2 { device })
    }
}

impl Branch for V4l2 {
    fn name(&self) -> &'static str {
        "v4l2"
    }
    fn key(&self) -> &'static str {
        "output.v4l2.device"
    }
    fn inputs(&self) -> &'static [Input] {
        &[Input::Video]
    }
    fn build(&self) -> Result<gst::Bin> {
        // drop-allocation: upstream allocates its own buffers and v4l2sink copies them into the
        // device's, the arrangement v4l2loopback works with. videorate and videoconvert: while a
        // program holds the virtual camera open, v4l2loopback keeps the format it had and offers
        // its default 30 fps and BT.601 colours to a new writer (after a config change or
        // restart); the stream adapts instead of failing.
        // Known upstream bug: GStreamer 1.22's v4l2sink on v4l2loopback 0.12.7 can crash when its
        // pipeline is stopped within a fraction of a second of starting (v4l2loopback issue #568;
        // reproduced with gst-launch-1.0 alone). Here that takes another branch failing on its
        // first frame; systemd restarts the daemon then.
        // The leaky queue after videorate: when conversion or the device cannot keep up (a busy
        // CPU), videorate's copies of older frames are dropped there; without it they queued up
        // behind one another and the virtual camera fell minutes behind (seen in the device VM at
        // 3.5 fps: the new portrait never showed).
        let bin = gst::Bin::with_name(self.name());
        let queue = leaky_queue(3)?;
        let yuy2 = caps_filter(gst::Caps::builder("video/x-raw").field("format", "YUY2").build())?;
        let identity = built("identity", gst::ElementFactory::make("identity").property("drop-allocation", true).build())?;
        let sink = built(
            "v4l2sink",
            gst::ElementFactory::make("v4l2sink").property("device", self.device.as_str()).property("sync", false).build(),
        )?;
        chain(&bin, &[&queue, &make("videorate")?, &leaky_queue(3)?, &make("videoconvert")?, &yuy2, &identity, &sink])?;
        ghost(&bin, Input::Video, &queue)?;
        Ok(bin)
    }
}
