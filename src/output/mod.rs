//! Video out through GStreamer: the MP4 file writer (H.264 + AAC) used by `speakface render`,
//! the live outputs of the daemon (`live`: display, RTSP server, MP4 segments, V4L2), and an MP4
//! reader (decode to RGB frames) used by tests and `verify`.

mod decode;
mod mp4;
pub mod live;

pub use decode::{decode_video, DecodedVideo};
pub use mp4::{Mp4Settings, Mp4Writer};

#[cfg(test)]
mod tests;
