//! MP4 (H.264 + AAC) writer on a GStreamer pipeline.
//!
//! ```text
//! appsrc(video/x-raw RGB) ! videoconvert ! capsfilter(I420) ! x264enc ! h264parse ─┐
//!                                                                                  mp4mux ! filesink(.OUT.mp4.partial)
//! appsrc(audio/x-raw F32LE) ! audioconvert ! audioresample ! capsfilter(48 kHz) ! avenc_aac ─┘
//! ```
//!
//! Ordering contract (this is what keeps the two sources from deadlocking each other): all of
//! the speech goes in through [`Mp4Writer::write_audio`] *before* the first
//! [`Mp4Writer::write_frame`]. The audio source has an unbounded queue and never blocks, so
//! `write_audio` always returns promptly; the first `write_frame` closes the audio stream (EOS),
//! after which the muxer never waits on audio again and the video source can block on a small
//! queue (back-pressure keeps memory flat however long the clip is). `write_audio` after a frame
//! is an error rather than a silent hang.
//! When no speech at all was written before the first frame, the audio branch is removed and
//! the file is video-only (mp4mux would otherwise write an empty audio track that demuxers reject).
//!
//! The file is written under a hidden temporary name in the destination directory
//! (`.OUT.mp4.partial`) and renamed over `OUT.mp4` only when [`Mp4Writer::finish`] succeeds, so a
//! failed or abandoned render never leaves a half file under the user's name and never clobbers a
//! previous good file.
//!
//! Over 500 lines: one writer whose pipeline (built with a fallback per element), ordering
//! contract and four ways to fail (bus error, flow error, finish timeout, rename) share its
//! state; splitting its `impl` over files would hide that state, not shorten the reading.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use gstreamer as gst;
use gstreamer_app as gst_app;
use gstreamer_video as gst_video;

use gst::prelude::*;

use crate::{Error, Result};

/// Encoding settings for [`Mp4Writer`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mp4Settings {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    /// H.264 target bitrate in kbit/s.
    pub video_bitrate_kbps: u32,
    /// AAC bitrate in bit/s.
    pub audio_bitrate_bps: u32,
}

impl Default for Mp4Settings {
    fn default() -> Self {
        Self { width: 512, height: 512, fps: 25, video_bitrate_kbps: 2000, audio_bitrate_bps: 128_000 }
    }
}

impl Mp4Settings {
    /// `width`×`height` at `fps` with the default bitrates (2000 kbit/s video, 128 kbit/s audio).
    pub fn new(width: u32, height: u32, fps: u32) -> Self {
        Self { width, height, fps, ..Self::default() }
    }
}

/// Elements the writer needs and the Debian package that ships each.
const WRITER_ELEMENTS: &[(&str, &str)] = &[
    ("appsrc", "gstreamer1.0-plugins-base"),
    ("videoconvert", "gstreamer1.0-plugins-base"),
    ("audioconvert", "gstreamer1.0-plugins-base"),
    ("audioresample", "gstreamer1.0-plugins-base"),
    ("x264enc", "gstreamer1.0-plugins-ugly"),
    ("h264parse", "gstreamer1.0-plugins-bad"),
    ("avenc_aac", "gstreamer1.0-libav"),
    ("mp4mux", "gstreamer1.0-plugins-good"),
    ("filesink", "libgstreamer1.0-0"),
];

/// How long `finish` waits for the muxer to drain before giving up.
const FINISH_TIMEOUT: Duration = Duration::from_secs(300);

/// Streams RGB frames and speech into an MP4 file. See the module docs for the ordering contract.
///
/// Dropping a writer without calling [`finish`](Self::finish) stops the pipeline and deletes the
/// temporary `.OUT.mp4.partial` file (which would not be a valid MP4: the index is written at EOS);
/// the destination path is left untouched.
/// Lays the provenance tags on an MP4 muxer (before it starts a file): the encoder tag
/// (`©too`) and the comment (`©cmt`), which players and `speakface verify` show.
pub fn set_tags(mux: &gst::Element, tags: &crate::provenance::Tags) {
    if let Some(setter) = mux.dynamic_cast_ref::<gst::TagSetter>() {
        setter.add_tag::<gst::tags::Encoder>(&tags.encoder.as_str(), gst::TagMergeMode::Replace);
        setter.add_tag::<gst::tags::Comment>(&tags.comment.as_str(), gst::TagMergeMode::Replace);
        let now = crate::util::time::utc_text(std::time::SystemTime::now());
        if let Ok(dt) = gst::DateTime::from_iso8601_string(&now) {
            setter.add_tag::<gst::tags::DateTime>(&dt, gst::TagMergeMode::Replace);
        }
    }
}

pub struct Mp4Writer {
    pipeline: gst::Pipeline,
    video_src: gst_app::AppSrc,
    audio_src: gst_app::AppSrc,
    /// The audio branch after the source, up to (not including) the muxer.
    audio_chain: Vec<gst::Element>,
    mux: gst::Element,
    /// The pipeline is built in READY and set to PLAYING on the first write, so a clip without
    /// speech can drop its audio branch first (mp4mux writes an empty, unplayable audio track
    /// for a pad that saw only EOS).
    started: bool,
    pool: gst::BufferPool,
    video_info: gst_video::VideoInfo,
    settings: Mp4Settings,
    audio_rate: u32,
    audio_channels: u16,
    frames_written: u64,
    /// Audio frames (samples per channel) pushed so far.
    audio_frames_written: u64,
    audio_closed: bool,
    final_path: PathBuf,
    partial_path: PathBuf,
    done: bool,
}

impl std::fmt::Debug for Mp4Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mp4Writer")
            .field("path", &self.final_path)
            .field("settings", &self.settings)
            .field("frames_written", &self.frames_written)
            .field("audio_frames_written", &self.audio_frames_written)
            .finish()
    }
}

fn out_err(path: &Path, message: impl Into<String>) -> Error {
    Error::Output { path: path.to_path_buf(), message: message.into() }
}

/// `.NAME.partial` next to `path`.
pub(crate) fn partial_path_for(path: &Path) -> Option<PathBuf> {
    let name = path.file_name()?.to_string_lossy();
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    Some(dir.join(format!(".{name}.partial")))
}

/// Fails with an `Error::Output` naming the first missing element and its package.
pub(crate) fn require_elements(path: &Path, elements: &[(&str, &str)]) -> Result<()> {
    for (name, package) in elements {
        if gst::ElementFactory::find(name).is_none() {
            return Err(out_err(
                path,
                format!("GStreamer element '{name}' is not available; install the Debian package {package}"),
            ));
        }
    }
    Ok(())
}

/// One line describing a bus error message.
pub(crate) fn describe_bus_error(err: &gst::message::Error) -> String {
    let src = err.src().map(|s| s.path_string().to_string()).unwrap_or_else(|| "pipeline".into());
    format!("{} (from {src})", err.error())
}

fn make(path: &Path, factory: &str) -> Result<gst::Element> {
    gst::ElementFactory::make(factory)
        .build()
        .map_err(|e| out_err(path, format!("cannot create GStreamer element '{factory}': {e}")))
}

impl Mp4Writer {
    /// Checks the destination and the GStreamer elements, builds the pipeline and starts it.
    pub fn create(path: &Path, settings: &Mp4Settings, audio_rate: u32, audio_channels: u16) -> Result<Self> {
        gst::init().map_err(|e| Error::Gst(format!("cannot initialise GStreamer: {e}")))?;

        // --- settings --------------------------------------------------------------------
        if settings.width == 0 || settings.height == 0 || !settings.width.is_multiple_of(2) || !settings.height.is_multiple_of(2) {
            return Err(out_err(
                path,
                format!(
                    "video size {}x{} is not valid for H.264 4:2:0; width and height must be even and non-zero",
                    settings.width, settings.height
                ),
            ));
        }
        if settings.fps == 0 || settings.fps > i32::MAX as u32 {
            return Err(out_err(path, format!("frame rate {} is not valid", settings.fps)));
        }
        if settings.video_bitrate_kbps == 0 || settings.audio_bitrate_bps == 0 || settings.audio_bitrate_bps > i32::MAX as u32 {
            return Err(out_err(path, "video and audio bitrates must be positive"));
        }
        if audio_rate == 0 || audio_rate > i32::MAX as u32 {
            return Err(out_err(path, format!("audio sample rate {audio_rate} is not valid")));
        }
        if !(1..=2).contains(&audio_channels) {
            return Err(out_err(
                path,
                format!("audio has {audio_channels} channels; only mono or stereo speech is supported (downmix first)"),
            ));
        }

        // --- destination -----------------------------------------------------------------
        let partial_path =
            partial_path_for(path).ok_or_else(|| out_err(path, "output path has no file name"))?;
        let dir = partial_path.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."));
        match fs::metadata(&dir) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => return Err(out_err(path, format!("{} is not a directory", dir.display()))),
            Err(e) => return Err(out_err(path, format!("output directory {} is not usable: {e}", dir.display()))),
        }
        if path.is_dir() {
            return Err(out_err(path, "is a directory"));
        }

        // --- elements (before touching the file system) ------------------------------------
        require_elements(path, WRITER_ELEMENTS)?;

        // Writability: actually create the temporary file (filesink re-opens and truncates it).
        fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&partial_path)
            .map_err(|e| out_err(path, format!("cannot write in {}: {e}", dir.display())))?;
        let cleanup_on_err = |e: Error| {
            let _ = fs::remove_file(&partial_path);
            e
        };

        Self::build(path, &partial_path, settings, audio_rate, audio_channels).map_err(cleanup_on_err)
    }

    fn build(
        path: &Path,
        partial_path: &Path,
        settings: &Mp4Settings,
        audio_rate: u32,
        audio_channels: u16,
    ) -> Result<Self> {
        let fps = gst::Fraction::new(settings.fps as i32, 1);
        let video_info = gst_video::VideoInfo::builder(gst_video::VideoFormat::Rgb, settings.width, settings.height)
            .fps(fps)
            .build()
            .map_err(|e| out_err(path, format!("invalid video format: {e}")))?;
        let video_caps = video_info.to_caps().map_err(|e| out_err(path, format!("invalid video caps: {e}")))?;
        let frame_bytes = video_info.size() as u64;

        // Video branch. The source blocks once ~4 frames are queued: back-pressure, flat memory.
        let video_src = gst_app::AppSrc::builder()
            .name("video-src")
            .caps(&video_caps)
            .format(gst::Format::Time)
            .is_live(false)
            .block(true)
            .max_bytes(frame_bytes * 4)
            .build();
        let videoconvert = make(path, "videoconvert")?;
        // Force 4:2:0 so x264enc does not pick Y444 (High 4:4:4, which most players reject), and
        // BT.709 so the matrix used here is the one signalled in the stream (the default for
        // small sizes would be BT.601 with an sRGB transfer tag, a mix players resolve differently).
        let i420 = gst::ElementFactory::make("capsfilter")
            .property(
                "caps",
                gst::Caps::builder("video/x-raw").field("format", "I420").field("colorimetry", "bt709").build(),
            )
            .build()
            .map_err(|e| out_err(path, format!("cannot create capsfilter: {e}")))?;
        let x264 = gst::ElementFactory::make("x264enc")
            .property("bitrate", settings.video_bitrate_kbps)
            .property("key-int-max", settings.fps)
            .property_from_str("speed-preset", "faster")
            .build()
            .map_err(|e| out_err(path, format!("cannot create x264enc: {e}")))?;
        let h264parse = make(path, "h264parse")?;

        // Audio branch. Unbounded, non-blocking source: all speech is queued before the video.
        let audio_caps = gst::Caps::builder("audio/x-raw")
            .field("format", "F32LE")
            .field("layout", "interleaved")
            .field("rate", audio_rate as i32)
            .field("channels", audio_channels as i32)
            .build();
        let audio_src = gst_app::AppSrc::builder()
            .name("audio-src")
            .caps(&audio_caps)
            .format(gst::Format::Time)
            .is_live(false)
            .block(false)
            .max_bytes(0)
            .build();
        let audioconvert = make(path, "audioconvert")?;
        let audioresample = make(path, "audioresample")?;
        let rate48k = gst::ElementFactory::make("capsfilter")
            .property("caps", gst::Caps::builder("audio/x-raw").field("rate", 48_000i32).build())
            .build()
            .map_err(|e| out_err(path, format!("cannot create capsfilter: {e}")))?;
        let aac = gst::ElementFactory::make("avenc_aac")
            .property("bitrate", settings.audio_bitrate_bps as i32)
            .build()
            .map_err(|e| out_err(path, format!("cannot create avenc_aac: {e}")))?;

        let mux = make(path, "mp4mux")?;
        let sink = gst::ElementFactory::make("filesink")
            .property("location", partial_path.to_string_lossy().as_ref())
            .property("async", false)
            .build()
            .map_err(|e| out_err(path, format!("cannot create filesink: {e}")))?;

        let pipeline = gst::Pipeline::with_name("speakface-mp4-writer");
        let link_err = |what: &str, e: gst::glib::BoolError| out_err(path, format!("cannot link {what}: {e}"));
        pipeline
            .add_many([
                video_src.upcast_ref(),
                &videoconvert,
                &i420,
                &x264,
                &h264parse,
                audio_src.upcast_ref(),
                &audioconvert,
                &audioresample,
                &rate48k,
                &aac,
                &mux,
                &sink,
            ])
            .map_err(|e| link_err("pipeline elements", e))?;
        gst::Element::link_many([video_src.upcast_ref(), &videoconvert, &i420, &x264, &h264parse, &mux])
            .map_err(|e| link_err("video branch", e))?;
        // aac → mux is linked by the first write_audio: a requested-but-unused mp4mux pad still
        // leaves an empty audio track behind, which demuxers reject as corrupt.
        gst::Element::link_many([audio_src.upcast_ref(), &audioconvert, &audioresample, &rate48k, &aac])
            .map_err(|e| link_err("audio branch", e))?;
        mux.link(&sink).map_err(|e| link_err("mp4mux to filesink", e))?;

        let pool = gst::BufferPool::new();
        let mut config = pool.config();
        config.set_params(Some(&video_caps), video_info.size() as u32, 2, 0);
        pool.set_config(config).map_err(|e| out_err(path, format!("cannot configure buffer pool: {e}")))?;
        pool.set_active(true).map_err(|e| out_err(path, format!("cannot activate buffer pool: {e}")))?;

        let mut writer = Self {
            pipeline,
            video_src,
            audio_src,
            audio_chain: vec![audioconvert, audioresample, rate48k, aac],
            mux,
            started: false,
            pool,
            video_info,
            settings: settings.clone(),
            audio_rate,
            audio_channels,
            frames_written: 0,
            audio_frames_written: 0,
            audio_closed: false,
            final_path: path.to_path_buf(),
            partial_path: partial_path.to_path_buf(),
            done: false,
        };
        if let Err(e) = writer.pipeline.set_state(gst::State::Ready) {
            let msg = writer.bus_error().unwrap_or_else(|| format!("pipeline failed to initialise: {e}"));
            writer.shutdown();
            return Err(out_err(path, msg));
        }
        Ok(writer)
    }

    fn start(&mut self) -> Result<()> {
        if self.started {
            return Ok(());
        }
        self.started = true;
        if let Err(e) = self.pipeline.set_state(gst::State::Playing) {
            let msg = self.bus_error().unwrap_or_else(|| format!("pipeline failed to start: {e}"));
            return Err(self.err(msg));
        }
        Ok(())
    }

    /// Connects the audio branch to the muxer (before the pipeline starts).
    fn link_audio_branch(&mut self) -> Result<()> {
        let Some(last) = self.audio_chain.last().cloned() else { return Ok(()) };
        last.link(&self.mux).map_err(|e| self.err(format!("cannot link avenc_aac to mp4mux: {e}")))
    }

    /// Removes the (never linked to the muxer) audio branch, before the pipeline starts.
    fn drop_audio_branch(&mut self) -> Result<()> {
        let mut elements: Vec<gst::Element> = vec![self.audio_src.clone().upcast()];
        elements.append(&mut self.audio_chain);
        for e in &elements {
            let _ = e.set_state(gst::State::Null);
        }
        self.pipeline
            .remove_many(&elements)
            .map_err(|e| self.err(format!("cannot remove the unused audio branch: {e}")))
    }

    /// The destination path.
    pub fn path(&self) -> &Path {
        &self.final_path
    }

    /// Number of video frames written so far.
    /// Provenance tags for the file (call before the first write).
    pub fn set_tags(&self, tags: &crate::provenance::Tags) {
        set_tags(&self.mux, tags);
    }

    pub fn frames_written(&self) -> u64 {
        self.frames_written
    }

    /// Queues speech (interleaved `f32` at the rate/channels given to `create`). May be called
    /// several times, but only before the first `write_frame`.
    pub fn write_audio(&mut self, interleaved: &[f32]) -> Result<()> {
        if self.audio_closed {
            return Err(self.err(
                "write_audio called after write_frame; all speech must be written before the first video frame",
            ));
        }
        let ch = self.audio_channels as usize;
        if !interleaved.len().is_multiple_of(ch) {
            return Err(self.err(format!(
                "audio chunk of {} samples is not a whole number of {ch}-channel frames",
                interleaved.len()
            )));
        }
        if interleaved.is_empty() {
            return Ok(());
        }
        if !self.started {
            self.link_audio_branch()?;
            self.start()?;
        }
        self.check_bus()?;
        let rate = self.audio_rate as u64;
        let chunk_frames = (self.audio_rate as usize / 10).max(1);
        for chunk in interleaved.chunks(chunk_frames * ch) {
            let n = (chunk.len() / ch) as u64;
            let start = self.audio_frames_written;
            let pts = sample_time(start, rate);
            let end = sample_time(start + n, rate);
            let mut buffer = gst::Buffer::with_size(chunk.len() * 4)
                .map_err(|e| self.err(format!("cannot allocate audio buffer: {e}")))?;
            {
                let buf = buffer.get_mut().expect("fresh buffer is writable");
                buf.set_pts(pts);
                buf.set_duration(end - pts);
                buf.set_offset(start);
                buf.set_offset_end(start + n);
                let mut map = buf.map_writable().map_err(|e| self.err(format!("cannot map audio buffer: {e}")))?;
                for (dst, s) in map.as_mut_slice().chunks_exact_mut(4).zip(chunk) {
                    dst.copy_from_slice(&s.to_le_bytes());
                }
            }
            if let Err(flow) = self.audio_src.push_buffer(buffer) {
                return Err(self.flow_err("audio", flow));
            }
            self.audio_frames_written += n;
        }
        Ok(())
    }

    /// Pushes the next frame: tightly packed RGB24, `width*height*3` bytes. Blocks while the
    /// encoder is a few frames behind.
    pub fn write_frame(&mut self, rgb: &[u8]) -> Result<()> {
        let (w, h) = (self.settings.width as usize, self.settings.height as usize);
        let row = w * 3;
        if rgb.len() != row * h {
            return Err(self.err(format!(
                "frame {} has {} bytes, expected {} ({}x{} RGB24)",
                self.frames_written,
                rgb.len(),
                row * h,
                w,
                h
            )));
        }
        if !self.audio_closed {
            self.audio_closed = true;
            if self.audio_frames_written == 0 {
                // No speech: a video-only file.
                self.drop_audio_branch()?;
                self.start()?;
            } else if let Err(flow) = self.audio_src.end_of_stream() {
                // Close the audio stream so the muxer never waits on it (see module docs).
                return Err(self.flow_err("audio", flow));
            }
        }
        self.check_bus()?;

        let mut buffer = self
            .pool
            .acquire_buffer(None)
            .map_err(|e| self.err(format!("cannot get a video buffer from the pool: {e:?}")))?;
        let n = self.frames_written;
        let fps = self.settings.fps as u64;
        let pts = frame_time(n, fps);
        let next = frame_time(n + 1, fps);
        {
            let buf = buffer.get_mut().ok_or_else(|| self.err("pooled video buffer is not writable"))?;
            buf.set_pts(pts);
            buf.set_dts(gst::ClockTime::NONE);
            buf.set_duration(next - pts);
            buf.set_offset(n);
            buf.set_offset_end(n + 1);
            let stride = self.video_info.stride()[0] as usize;
            let offset = self.video_info.offset()[0];
            let mut map = buf.map_writable().map_err(|e| self.err(format!("cannot map video buffer: {e}")))?;
            let data = &mut map.as_mut_slice()[offset..];
            if stride == row {
                data[..row * h].copy_from_slice(rgb);
            } else {
                for (dst, src) in data.chunks_mut(stride).zip(rgb.chunks_exact(row)) {
                    dst[..row].copy_from_slice(src);
                }
            }
        }
        if let Err(flow) = self.video_src.push_buffer(buffer) {
            return Err(self.flow_err("video", flow));
        }
        self.frames_written += 1;
        Ok(())
    }

    /// Ends both streams, waits for the muxer to write the index, stops the pipeline and renames
    /// the temporary file to the destination. The MP4 is valid only after this returns `Ok`.
    pub fn finish(mut self) -> Result<()> {
        let result = self.finish_inner();
        self.shutdown();
        match result {
            Ok(()) => {
                let renamed = fs::rename(&self.partial_path, &self.final_path);
                if let Err(e) = renamed {
                    let _ = fs::remove_file(&self.partial_path);
                    return Err(self.err(format!(
                        "cannot move {} into place: {e}",
                        self.partial_path.display()
                    )));
                }
                Ok(())
            }
            Err(e) => {
                let _ = fs::remove_file(&self.partial_path);
                Err(e)
            }
        }
    }

    fn finish_inner(&mut self) -> Result<()> {
        if self.frames_written == 0 {
            return Err(self.err("no video frames were written"));
        }
        self.check_bus()?;
        if let Err(flow) = self.video_src.end_of_stream() {
            return Err(self.flow_err("video", flow));
        }
        let bus = self.pipeline.bus().ok_or_else(|| self.err("pipeline has no bus"))?;
        let deadline = Instant::now() + FINISH_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(self.err(format!(
                    "timed out after {} s waiting for the muxer to finish",
                    FINISH_TIMEOUT.as_secs()
                )));
            }
            let timeout = gst::ClockTime::from_nseconds(left.as_nanos() as u64);
            let Some(msg) = bus.timed_pop_filtered(timeout, &[gst::MessageType::Eos, gst::MessageType::Error]) else {
                continue;
            };
            match msg.view() {
                gst::MessageView::Eos(_) => return Ok(()),
                gst::MessageView::Error(err) => return Err(self.err(describe_bus_error(err))),
                _ => {}
            }
        }
    }

    fn shutdown(&mut self) {
        if !self.done {
            self.done = true;
            let _ = self.pipeline.set_state(gst::State::Null);
            let _ = self.pool.set_active(false);
        }
    }

    fn err(&self, message: impl Into<String>) -> Error {
        out_err(&self.final_path, message)
    }

    /// The first error message waiting on the bus, if any.
    fn bus_error(&self) -> Option<String> {
        let bus = self.pipeline.bus()?;
        let msg = bus.pop_filtered(&[gst::MessageType::Error])?;
        match msg.view() {
            gst::MessageView::Error(err) => Some(describe_bus_error(err)),
            _ => None,
        }
    }

    fn check_bus(&self) -> Result<()> {
        match self.bus_error() {
            Some(msg) => Err(self.err(msg)),
            None => Ok(()),
        }
    }

    /// A push failed: prefer the element's own error message (give it a moment to arrive).
    fn flow_err(&self, stream: &str, flow: gst::FlowError) -> Error {
        if let Some(bus) = self.pipeline.bus() {
            if let Some(msg) = bus.timed_pop_filtered(gst::ClockTime::from_seconds(2), &[gst::MessageType::Error]) {
                if let gst::MessageView::Error(err) = msg.view() {
                    return self.err(describe_bus_error(err));
                }
            }
        }
        self.err(format!("pushing {stream} into the pipeline failed: {flow:?}"))
    }
}

impl Drop for Mp4Writer {
    fn drop(&mut self) {
        if !self.done {
            self.shutdown();
            let _ = fs::remove_file(&self.partial_path);
        }
    }
}

/// PTS of video frame `n` at `fps`: exactly n/fps seconds, rounded down to the nanosecond
/// (computed from the integer frame index, so no drift accumulates).
fn frame_time(n: u64, fps: u64) -> gst::ClockTime {
    gst::ClockTime::SECOND.mul_div_floor(n, fps).unwrap_or(gst::ClockTime::MAX)
}

/// PTS of audio frame (sample index per channel) `n` at `rate`.
fn sample_time(n: u64, rate: u64) -> gst::ClockTime {
    gst::ClockTime::SECOND.mul_div_floor(n, rate).unwrap_or(gst::ClockTime::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_do_not_drift() {
        assert_eq!(frame_time(0, 30), gst::ClockTime::ZERO);
        assert_eq!(frame_time(30, 30), gst::ClockTime::SECOND);
        assert_eq!(frame_time(3000, 30), gst::ClockTime::from_seconds(100));
        assert_eq!(frame_time(1, 30).nseconds(), 33_333_333);
        assert_eq!(sample_time(22050, 22050), gst::ClockTime::SECOND);
    }

    #[test]
    fn partial_name_is_hidden_sibling() {
        assert_eq!(partial_path_for(Path::new("/a/b/out.mp4")).unwrap(), PathBuf::from("/a/b/.out.mp4.partial"));
        assert_eq!(partial_path_for(Path::new("out.mp4")).unwrap(), PathBuf::from("./.out.mp4.partial"));
    }
}
