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
//! The RTSP server (gst-rtsp-server) runs its own GLib loop on a thread and one *shared* media
//! for all viewers: it takes the encoded H.264 from the appsink, so there is one encoder however
//! many watch, and a new viewer triggers a key frame so it starts at once.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use gstreamer as gst;
use gstreamer_app as gst_app;
use gstreamer_rtsp_server as rtsp;
use gstreamer_rtsp_server::prelude::*;

use crate::config::Config;
use crate::{Error, Result};

fn gst_err(m: impl Into<String>) -> Error {
    Error::Gst(m.into())
}

/// The H.264 encoder to use: the configured one, or on "auto" the first hardware encoder this
/// GStreamer has (Jetson NX/AGX, V4L2 M2M boards, VA-API), else x264.
pub fn choose_encoder(cfg: &Config) -> Result<String> {
    let want = cfg.output.encoder.as_str();
    if want != "auto" {
        if gst::ElementFactory::find(want).is_none() {
            return Err(gst_err(format!("output.encoder \"{want}\" is not available in this GStreamer installation")));
        }
        return Ok(want.into());
    }
    for hw in ["nvv4l2h264enc", "v4l2h264enc", "vaapih264enc"] {
        if gst::ElementFactory::find(hw).is_some() {
            return Ok(hw.into());
        }
    }
    if gst::ElementFactory::find("x264enc").is_some() {
        return Ok("x264enc".into());
    }
    Err(gst_err("no H.264 encoder: install gstreamer1.0-plugins-ugly (x264enc)"))
}

fn encoder_launch(name: &str, fps: u32, kbps: u32, threads: u32) -> String {
    match name {
        "x264enc" => format!(
            "x264enc tune=zerolatency speed-preset=veryfast bitrate={kbps} key-int-max={fps} threads={threads} sliced-threads={}",
            threads > 1
        ),
        "nvv4l2h264enc" => format!("nvvidconv ! video/x-raw(memory:NVMM),format=I420 ! nvv4l2h264enc bitrate={} iframeinterval={fps} insert-sps-pps=true maxperf-enable=true", kbps * 1000),
        "v4l2h264enc" => format!("v4l2h264enc extra-controls=\"controls,video_bitrate={},h264_i_frame_period={fps}\"", kbps * 1000),
        other => format!("{other} bitrate={kbps} keyframe-period={fps}"),
    }
}

/// The display sink: the configured one, or on "auto" kmssink when a DRM device exists (no
/// desktop), ximagesink when an X display is set, else an error naming the fix.
pub fn choose_display_sink(cfg: &Config) -> Result<String> {
    let want = cfg.output.display.sink.as_str();
    let pick = if want != "auto" {
        want.to_string()
    } else if std::env::var_os("DISPLAY").is_some() {
        "ximagesink".into()
    } else if Path::new("/dev/dri/card0").exists() {
        if gst::ElementFactory::find("nvdrmvideosink").is_some() { "nvdrmvideosink".into() } else { "kmssink".into() }
    } else {
        return Err(gst_err(
            "output.display: no display found (no /dev/dri/card0, no $DISPLAY); set output.display.enabled = false or name a sink",
        ));
    };
    if gst::ElementFactory::find(&pick).is_none() {
        let pkg = if pick.starts_with('x') { "gstreamer1.0-x" } else { "gstreamer1.0-plugins-bad" };
        return Err(gst_err(format!("output.display.sink \"{pick}\" is not available; install {pkg}")));
    }
    Ok(pick)
}

/// DRM drivers without vblank events (virtual machines' GPUs, firmware framebuffers).
const NO_VBLANK_DRIVERS: [&str; 8] = ["virtio_gpu", "bochs-drm", "qxl", "cirrus", "vboxvideo", "vmwgfx", "simpledrm", "hyperv_drm"];

/// The preferred mode of the first connected screen on `card` (from sysfs `card0-HDMI-A-1/modes`).
pub fn drm_screen_size(sysfs: &Path, card: &str) -> Option<(u32, u32)> {
    let mut connectors: Vec<PathBuf> = std::fs::read_dir(sysfs)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(&format!("{card}-"))))
        .collect();
    connectors.sort();
    connectors.into_iter().find_map(|c| {
        let status = std::fs::read_to_string(c.join("status")).ok()?;
        if status.trim() != "connected" {
            return None;
        }
        let modes = std::fs::read_to_string(c.join("modes")).ok()?;
        let (w, h) = modes.lines().next()?.trim().trim_end_matches('i').split_once('x')?;
        Some((w.parse().ok()?, h.parse().ok()?))
    })
}

/// The kernel's name for the DRM driver behind `card` (DRM_IOCTL_VERSION), as kmssink's
/// `driver-name` wants it: "i915", "virtio_gpu", "tegra", ….
pub fn drm_driver_name(card: &Path) -> Option<String> {
    use std::os::fd::AsRawFd;
    #[repr(C)]
    struct DrmVersion {
        major: libc::c_int,
        minor: libc::c_int,
        patch: libc::c_int,
        name_len: libc::size_t,
        name: *mut libc::c_char,
        date_len: libc::size_t,
        date: *mut libc::c_char,
        desc_len: libc::size_t,
        desc: *mut libc::c_char,
    }
    // _IOWR('d', 0x00, struct drm_version)
    const DRM_IOCTL_VERSION: u64 = (3 << 30) | ((std::mem::size_of::<DrmVersion>() as u64) << 16) | ((b'd' as u64) << 8);
    let file = std::fs::OpenOptions::new().read(true).write(true).open(card).ok()?;
    let mut name = vec![0u8; 64];
    let mut v = DrmVersion {
        major: 0,
        minor: 0,
        patch: 0,
        name_len: name.len(),
        name: name.as_mut_ptr().cast(),
        date_len: 0,
        date: std::ptr::null_mut(),
        desc_len: 0,
        desc: std::ptr::null_mut(),
    };
    // SAFETY: `v` is a live drm_version whose one buffer (name) is as long as name_len says; the
    // kernel writes at most name_len bytes there and zero bytes to the empty date/desc.
    let rc = unsafe { libc::ioctl(file.as_raw_fd(), DRM_IOCTL_VERSION as _, &mut v as *mut DrmVersion) };
    if rc != 0 {
        return None;
    }
    name.truncate(v.name_len.min(64));
    let name = String::from_utf8(name).ok()?;
    (!name.is_empty()).then_some(name)
}

/// The encoded stream and raw speech that the RTSP media takes from the main pipeline.
#[derive(Default)]
struct RtspFeed {
    /// The current shared media's sources, while a media exists.
    video: Option<gst_app::AppSrc>,
    audio: Option<gst_app::AppSrc>,
    /// Ask the encoder for a key frame at the next chance (a viewer just joined).
    want_key: bool,
}

/// RTSP connections without a session (viewers connecting, OPTIONS/DESCRIBE probes) at once.
const CONNECTING_MAX: usize = 32;
/// A connection that has not set up a session by then is closed.
const CLIENT_SETUP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// When the connection cap was last logged.
static CAP_LOGGED: Mutex<Option<std::time::Instant>> = Mutex::new(None);

/// An RTSP connection the server watches.
struct Watched {
    client: gst::glib::WeakRef<rtsp::RTSPClient>,
    since: std::time::Instant,
    closed: Arc<std::sync::atomic::AtomicBool>,
}

/// Basic authentication from a file of `user:password` lines (`#` comments and blank lines
/// ignored); each user gets the "viewer" role.
fn rtsp_auth(file: &Path) -> Result<rtsp::RTSPAuth> {
    let text = std::fs::read_to_string(file).map_err(|e| gst_err(format!("output.rtsp.auth_file {}: cannot read: {e}", file.display())))?;
    let auth = rtsp::RTSPAuth::new();
    let token = rtsp::RTSPToken::builder().field(rtsp::RTSP_TOKEN_MEDIA_FACTORY_ROLE, "viewer").build();
    let mut users = 0;
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((user, pass)) = line.split_once(':').filter(|(u, p)| !u.is_empty() && !p.is_empty()) else {
            return Err(gst_err(format!("output.rtsp.auth_file {}: line {}: expected user:password", file.display(), n + 1)));
        };
        auth.add_basic(&rtsp::RTSPAuth::make_basic(user, pass), &token);
        users += 1;
    }
    if users == 0 {
        return Err(gst_err(format!("output.rtsp.auth_file {}: no user:password line", file.display())));
    }
    log::info!("rtsp: viewers log in ({users} user(s) in {})", file.display());
    Ok(auth)
}

/// The RTSP server: its own GLib main loop on a thread; stops when dropped.
pub struct RtspServer {
    main_loop: gst::glib::MainLoop,
    thread: Option<std::thread::JoinHandle<()>>,
    feed: Arc<Mutex<RtspFeed>>,
    pub url_path: String,
    pub port: u16,
    pool: rtsp::RTSPSessionPool,
}

impl Drop for RtspServer {
    fn drop(&mut self) {
        self.main_loop.quit();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl RtspServer {
    pub fn start(cfg: &Config) -> Result<RtspServer> {
        gst::init().map_err(|e| gst_err(format!("cannot initialise GStreamer: {e}")))?;
        let r = &cfg.output.rtsp;
        let addr: std::net::SocketAddr =
            r.listen.parse().map_err(|_| gst_err(format!("output.rtsp.listen \"{}\" is not ADDRESS:PORT", r.listen)))?;
        // Fail now, with the reason, when the port is taken (the server would only log it).
        std::net::TcpListener::bind(addr).map_err(|e| gst_err(format!("output.rtsp.listen {addr}: {e}")))?;
        let feed = Arc::new(Mutex::new(RtspFeed::default()));
        let ctx = gst::glib::MainContext::new();
        let main_loop = gst::glib::MainLoop::new(Some(&ctx), false);
        let server = rtsp::RTSPServer::new();
        server.set_address(&addr.ip().to_string());
        server.set_service(&addr.port().to_string());
        // Connections waiting to be accepted (the default, 5, makes a burst of half-open
        // connections block new viewers in the kernel before our cap can close them).
        server.set_backlog(128);
        // Every client connection is served on this server's own loop (gst-rtsp-server's default
        // pool serves them on a thread of its own): the connection cap and the set-up timeout
        // below close clients from this loop, which is only safe on the thread that runs them.
        let threads = rtsp::RTSPThreadPool::new();
        threads.set_max_threads(0);
        server.set_thread_pool(Some(&threads));
        let pool = rtsp::RTSPSessionPool::new();
        pool.set_max_sessions(r.max_sessions);
        server.set_session_pool(Some(&pool));
        let timeout = r.session_timeout_s;
        // Connections that have not set up a session (a viewer in its first second, or a
        // half-open connection) are capped: past CONNECTING_MAX of them, the oldest is closed to
        // make room, and one is closed after CLIENT_SETUP_TIMEOUT anyway. Connections with a
        // session are viewers, capped by `max_sessions` in the session pool. Half-open
        // connections can then neither use up the process's file handles nor keep viewers out.
        let clients: Arc<Mutex<Vec<Watched>>> = Arc::default();
        let cl = clients.clone();
        let ctx_for_close = ctx.clone();
        server.connect_client_connected(move |_, client| {
            client.connect_new_session(move |_, session| session.set_timeout(timeout));
            let closed = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let c = closed.clone();
            client.connect_closed(move |_| c.store(true, std::sync::atomic::Ordering::SeqCst));
            let mut list = cl.lock().unwrap_or_else(|p| p.into_inner());
            list.retain(|w| !w.closed.load(std::sync::atomic::Ordering::SeqCst) && w.client.upgrade().is_some());
            let setting_up: Vec<(usize, std::time::Instant)> = list
                .iter()
                .enumerate()
                .filter(|(_, w)| w.client.upgrade().is_some_and(|c| c.session_filter(None).is_empty()))
                .map(|(i, w)| (i, w.since))
                .collect();
            let victim = if setting_up.len() >= CONNECTING_MAX {
                setting_up.iter().min_by_key(|(_, since)| *since).and_then(|&(i, _)| list.swap_remove(i).client.upgrade())
            } else {
                None
            };
            list.push(Watched { client: client.downgrade(), since: std::time::Instant::now(), closed });
            if let Some(victim) = victim {
                // Said once a minute at most (a flood would fill the log otherwise).
                let now = std::time::Instant::now();
                let mut said = CAP_LOGGED.lock().unwrap_or_else(|p| p.into_inner());
                if said.is_none_or(|t| now.duration_since(t) > std::time::Duration::from_secs(60)) {
                    log::warn!("rtsp: {CONNECTING_MAX} connections without a session; closing the oldest to make room");
                    *said = Some(now);
                }
                // On this loop, after this handler, like gst-rtsp-server's own timeouts.
                let src = gst::glib::source::idle_source_new(None, gst::glib::Priority::DEFAULT, move || {
                    victim.close();
                    gst::glib::ControlFlow::Break
                });
                src.attach(Some(&ctx_for_close));
            }
        });
        if let Some(file) = &r.auth_file {
            server.set_auth(Some(&rtsp_auth(file)?));
        }
        let factory = rtsp::RTSPMediaFactory::new();
        factory.set_shared(true);
        if r.auth_file.is_some() {
            // Logged-in viewers (the token rtsp_auth gives them) may see and start the stream.
            factory.add_role_from_structure(
                &gst::Structure::builder("viewer")
                    .field(rtsp::RTSP_PERM_MEDIA_FACTORY_ACCESS, true)
                    .field(rtsp::RTSP_PERM_MEDIA_FACTORY_CONSTRUCT, true)
                    .build(),
            );
        }
        // A viewer may SETUP only some streams (video-only recorders do). The payloader of a
        // stream nobody set up returns not-linked, which would stop the shared media for every
        // viewer; the `tee allow-not-linked=true` before each payloader turns that into OK.
        factory.set_launch(
            "( appsrc name=v is-live=true format=time do-timestamp=true max-buffers=30 leaky-type=downstream \
               caps=video/x-h264,stream-format=byte-stream,alignment=au \
               ! h264parse config-interval=-1 ! tee allow-not-linked=true ! rtph264pay name=pay0 pt=96 config-interval=-1 \
               appsrc name=a is-live=true format=time do-timestamp=true max-buffers=50 leaky-type=downstream \
               caps=audio/x-raw,format=S16LE,rate=16000,channels=1,layout=interleaved \
               ! audioconvert ! opusenc bitrate=32000 ! tee allow-not-linked=true ! rtpopuspay name=pay1 pt=97 )",
        );
        let f = feed.clone();
        factory.connect_media_configure(move |_, media| {
            // Hold one preparation of our own so the shared media outlives its viewers: when the
            // last one leaves it is not torn down, so a viewer arriving at that moment cannot be
            // handed a half-unprepared media (gst-rtsp-server answers 503 then), and a new viewer
            // joins a running stream instead of waiting for a new pipeline. It costs one Opus
            // encoder running while nobody watches.
            // Taken once the media is prepared, from another thread (prepare() takes the
            // media's lock, which the signal holds).
            let held = Arc::new(std::sync::atomic::AtomicBool::new(false));
            media.connect_prepared(move |m| {
                if !held.swap(true, std::sync::atomic::Ordering::SeqCst) {
                    let m = m.clone();
                    std::thread::spawn(move || {
                        if m.prepare(None).is_err() {
                            log::warn!("rtsp: could not keep the stream prepared; it restarts per viewer");
                        }
                    });
                }
            });
            let bin = media.element();
            let bin = bin.downcast_ref::<gst::Bin>();
            let get = |n: &str| bin.and_then(|b| b.by_name(n)).and_then(|e| e.downcast::<gst_app::AppSrc>().ok());
            let mut feed = f.lock().unwrap_or_else(|p| p.into_inner());
            feed.video = get("v");
            feed.audio = get("a");
            feed.want_key = true;
            let f2 = f.clone();
            media.connect_unprepared(move |_| {
                let mut feed = f2.lock().unwrap_or_else(|p| p.into_inner());
                feed.video = None;
                feed.audio = None;
            });
            log::info!("rtsp: stream started for a viewer");
        });
        let mounts = server.mount_points().ok_or_else(|| gst_err("RTSP server has no mount points"))?;
        mounts.add_factory(&r.path, factory);
        let (tx, rx) = std::sync::mpsc::channel();
        let ml = main_loop.clone();
        let pool2 = pool.clone();
        let thread = std::thread::Builder::new()
            .name("speakface-rtsp".into())
            .spawn(move || {
                let res = ctx.with_thread_default(|| {
                    let id = server.attach(Some(&ctx));
                    // Expired sessions (viewers that vanished without TEARDOWN) are removed here,
                    // and connections that never set up a session within CLIENT_SETUP_TIMEOUT
                    // are closed.
                    let p = pool2.clone();
                    let cl = clients.clone();
                    // On this loop's context (timeout_add_seconds would use the global one).
                    gst::glib::source::timeout_source_new_seconds(2, Some("rtsp-cleanup"), gst::glib::Priority::DEFAULT, move || {
                        p.cleanup();
                        let mut list = cl.lock().unwrap_or_else(|p| p.into_inner());
                        list.retain(|w| {
                            let Some(c) = w.client.upgrade().filter(|_| !w.closed.load(std::sync::atomic::Ordering::SeqCst)) else { return false };
                            if w.since.elapsed() > CLIENT_SETUP_TIMEOUT && c.session_filter(None).is_empty() {
                                c.close();
                                return false;
                            }
                            true
                        });
                        gst::glib::ControlFlow::Continue
                    })
                    .attach(Some(&ctx));
                    id
                });
                match res {
                    Ok(Ok(_id)) => {
                        let _ = tx.send(Ok(()));
                        ml.run();
                    }
                    Ok(Err(e)) => {
                        let _ = tx.send(Err(e.to_string()));
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e.to_string()));
                    }
                }
            })
            .map_err(|e| gst_err(format!("cannot start the RTSP thread: {e}")))?;
        match rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(gst_err(format!("RTSP server on {addr}: {e}"))),
            Err(_) => return Err(gst_err(format!("RTSP server on {addr} did not start"))),
        }
        log::info!("rtsp: serving rtsp://{}{}", addr, r.path);
        Ok(RtspServer { main_loop, thread: Some(thread), feed, url_path: r.path.clone(), port: addr.port(), pool })
    }

    /// Viewers' sessions open now.
    pub fn sessions(&self) -> u32 {
        self.pool.n_sessions() as u32
    }
}

/// Recording settings resolved at start.
struct Record {
    dir: PathBuf,
    min_free_mb: u64,
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
    record: Option<Record>,
    pub encoder: Option<String>,
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

impl LiveOutput {
    /// Builds and starts the pipeline for the enabled outputs. `rtsp` is the running server (when
    /// `output.rtsp.enabled`).
    /// `portrait_sha256`: the portrait on air, for the recordings' provenance tags.
    pub fn start(cfg: &Config, rtsp: Option<&RtspServer>, portrait_sha256: &str) -> Result<LiveOutput> {
        gst::init().map_err(|e| gst_err(format!("cannot initialise GStreamer: {e}")))?;
        let o = &cfg.output;
        let (w, h, fps) = (cfg.video.width, cfg.video.height, cfg.video.fps);
        let leaky = "queue leaky=downstream max-size-buffers=3 max-size-bytes=0 max-size-time=0";
        let mut d = format!(
            "appsrc name=vsrc is-live=true do-timestamp=true format=time block=false max-buffers=3 leaky-type=downstream \
             caps=video/x-raw,format=RGB,width={w},height={h},framerate={fps}/1 \
             ! videoconvert ! video/x-raw,format=I420,colorimetry=bt709 ! tee name=vt allow-not-linked=true \
             appsrc name=asrc is-live=true do-timestamp=true format=time block=false max-buffers=10 leaky-type=downstream \
             caps=audio/x-raw,format=S16LE,rate=16000,channels=1,layout=interleaved ! tee name=at allow-not-linked=true "
        );
        // Keep the tees linked even with no output, so pushing never errors.
        d += &format!("vt. ! {leaky} ! fakesink sync=false async=false at. ! {leaky} ! fakesink sync=false async=false ");
        let mut display_sink = None;
        if o.display.enabled {
            let mut sink = choose_display_sink(cfg)?;
            let mut fit = String::new();
            if sink == "kmssink" {
                // kmssink finds only the drivers on its own list (not virtio_gpu, bochs, …): name it.
                if let Some(driver) = drm_driver_name(Path::new("/dev/dri/card0")) {
                    sink += &format!(" driver-name=\"{driver}\"");
                    // Virtual and firmware framebuffers have no vblank interrupt: kmssink's wait
                    // for one fails every frame (drmWaitVBlank: EOPNOTSUPP) and stops the stream.
                    if NO_VBLANK_DRIVERS.contains(&driver.as_str()) {
                        sink += " skip-vsync=true";
                    }
                }
                // Without a desktop the avatar fills the screen, letterboxed: many KMS drivers'
                // primary planes cannot show a smaller frame (drmModeSetPlane: EINVAL) or scale.
                if let Some((w, h)) = drm_screen_size(Path::new("/sys/class/drm"), "card0") {
                    fit = format!("videoscale add-borders=true ! video/x-raw,width={w},height={h},pixel-aspect-ratio=1/1 ! ");
                    sink += " can-scale=false";
                }
            }
            d += &format!("vt. ! {leaky} ! videoconvert ! {fit}{sink} name=display sync=false ");
            display_sink = Some(sink);
        }
        let mut encoder = None;
        let mut record = None;
        if rtsp.is_some() || o.record.enabled {
            let enc = choose_encoder(cfg)?;
            d += &format!(
                "vt. ! {leaky} ! {} ! h264parse config-interval=-1 ! video/x-h264,stream-format=byte-stream,alignment=au ! tee name=ht allow-not-linked=true ",
                encoder_launch(&enc, fps, cfg.video.bitrate_kbps, cfg.output.encoder_threads)
            );
            encoder = Some(enc);
            if rtsp.is_some() {
                d += "ht. ! queue leaky=downstream max-size-buffers=30 max-size-bytes=0 max-size-time=0 \
                      ! appsink name=rtsp_v sync=false async=false max-buffers=30 drop=true \
                      at. ! queue leaky=downstream max-size-buffers=50 max-size-bytes=0 max-size-time=0 \
                      ! appsink name=rtsp_a sync=false async=false max-buffers=50 drop=true ";
            }
            if o.record.enabled {
                let dir = &o.record.dir;
                std::fs::create_dir_all(dir)
                    .map_err(|e| Error::Output { path: dir.clone(), message: format!("cannot create the recording folder: {e}") })?;
                let probe = dir.join(".speakface-write-test");
                std::fs::write(&probe, b"")
                    .map_err(|e| Error::Output { path: dir.clone(), message: format!("recording folder is not writable: {e}") })?;
                let _ = std::fs::remove_file(probe);
                let start = segments(dir).last().map_or(0, |(n, _)| n + 1);
                let loc = dir.join("speakface-%05d.mp4");
                let loc = loc.to_string_lossy().replace('"', "\\\"");
                let ns = o.record.segment_s as u64 * 1_000_000_000;
                d += &format!(
                    "ht. ! queue max-size-buffers=60 max-size-bytes=0 max-size-time=0 leaky=downstream ! h264parse \
                     ! splitmuxsink name=rec location=\"{loc}\" start-index={start} max-size-time={ns} \
                       muxer-factory=mp4mux muxer-properties=\"properties,fragment-duration=2000\" async-finalize=false \
                     at. ! queue max-size-buffers=100 max-size-bytes=0 max-size-time=0 leaky=downstream \
                     ! audioconvert ! audioresample ! avenc_aac ! aacparse ! rec.audio_0 "
                );
                enforce_free_space(dir, o.record.min_free_mb);
                record = Some(Record { dir: dir.clone(), min_free_mb: o.record.min_free_mb });
            }
        }
        if o.v4l2.enabled {
            let dev = &o.v4l2.device;
            if !dev.exists() {
                return Err(Error::Output {
                    path: dev.clone(),
                    message: "V4L2 output device does not exist (load v4l2loopback, or set output.v4l2.enabled = false)".into(),
                });
            }
            d += &format!(
                // drop-allocation: upstream allocates its own buffers and v4l2sink copies them
                // into the device's, the arrangement v4l2loopback works with. videorate and
                // videoconvert: while a program holds the virtual camera open, v4l2loopback keeps
                // the format it had and offers its default 30 fps and BT.601 colours to a new
                // writer (after a config change or restart); the stream adapts instead of failing.
                // Known upstream bug: GStreamer 1.22's v4l2sink on v4l2loopback 0.12.7 can crash
                // when its pipeline is stopped within a fraction of a second of starting
                // (v4l2loopback issue #568; reproduced with gst-launch-1.0 alone). Here that takes
                // another branch failing on its first frame; systemd restarts the daemon then.
                // The leaky queue after videorate: when conversion or the device cannot keep
                // up (a busy CPU), videorate's copies of older frames are dropped there; without
                // it they queued up behind one another and the virtual camera fell minutes
                // behind (seen in the device VM at 3.5 fps: the new portrait never showed).
                "vt. ! {leaky} ! videorate ! {leaky} ! videoconvert ! video/x-raw,format=YUY2 ! identity drop-allocation=true ! v4l2sink device=\"{}\" sync=false ",
                dev.display()
            );
        }
        let pipeline = gst::parse::launch(&d)
            .map_err(|e| gst_err(format!("cannot build the output pipeline: {e}")))?
            .downcast::<gst::Pipeline>()
            .map_err(|_| gst_err("output pipeline is not a pipeline"))?;
        let get = |n: &str| -> Result<gst_app::AppSrc> {
            pipeline
                .by_name(n)
                .and_then(|e| e.downcast::<gst_app::AppSrc>().ok())
                .ok_or_else(|| gst_err(format!("output pipeline has no {n}")))
        };
        let video = get("vsrc")?;
        let audio = get("asrc")?;
        if let Some(rec) = pipeline.by_name("rec") {
            // Provenance tags in every segment (the first included): mp4mux forgets its tags
            // when splitmuxsink resets it between segments, so they are laid on as each file is
            // named. The muxer is splitmuxsink's own (made from muxer-factory; its "muxer"
            // property stays unset). The handler must not ask splitmuxsink anything: it runs
            // under splitmuxsink's lock.
            let mux = rec.clone().downcast::<gst::Bin>().ok().and_then(|bin| {
                bin.iterate_elements().into_iter().flatten().find(|e| e.factory().is_some_and(|f| f.name() == "mp4mux"))
            });
            if let Some(mux) = mux {
                let (cfg2, sha) = (cfg.clone(), portrait_sha256.to_string());
                let mux_weak = mux.downgrade();
                rec.connect("format-location-full", false, move |_| {
                    if let Some(mux) = mux_weak.upgrade() {
                        crate::output::mp4::set_tags(&mux, &crate::provenance::tags(&cfg2, &sha));
                    }
                    // No file name of our own (a NULL string): splitmuxsink keeps `location`.
                    Some(None::<String>.to_value())
                });
            }
        }
        if let Some(server) = rtsp {
            for (name, is_video) in [("rtsp_v", true), ("rtsp_a", false)] {
                let sink = pipeline
                    .by_name(name)
                    .and_then(|e| e.downcast::<gst_app::AppSink>().ok())
                    .ok_or_else(|| gst_err(format!("output pipeline has no {name}")))?;
                let feed = server.feed.clone();
                sink.set_callbacks(
                    gst_app::AppSinkCallbacks::builder()
                        .new_sample(move |s| {
                            let sample = s.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                            let mut f = feed.lock().unwrap_or_else(|p| p.into_inner());
                            if is_video && f.want_key && f.video.is_some() {
                                f.want_key = false;
                                let ev = gstreamer_video::UpstreamForceKeyUnitEvent::builder().all_headers(true).build();
                                if let Some(pad) = s.static_pad("sink") {
                                    pad.push_event(ev);
                                }
                            }
                            let src = if is_video { f.video.clone() } else { f.audio.clone() };
                            drop(f);
                            if let (Some(src), Some(buf)) = (src, sample.buffer()) {
                                let mut b = buf.copy();
                                {
                                    let b = b.make_mut();
                                    b.set_pts(gst::ClockTime::NONE);
                                    b.set_dts(gst::ClockTime::NONE);
                                }
                                // A media being torn down refuses buffers: that is not our error.
                                let _ = src.push_buffer(b);
                            }
                            Ok(gst::FlowSuccess::Ok)
                        })
                        .build(),
                );
            }
        }
        let frames = frame_pool((w * h * 3) as usize)?;
        pipeline
            .set_state(gst::State::Playing)
            .map_err(|_| gst_err(format!("output pipeline does not start: {}", first_bus_error(&pipeline).unwrap_or_default())))?;
        Ok(LiveOutput { pipeline, video, frames, audio, width: w, height: h, record, encoder, display_sink })
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
                gst::MessageView::Error(e) => return Some(super::mp4::describe_bus_error(&e)),
                gst::MessageView::Element(e) => {
                    if e.structure().is_some_and(|s| s.name() == "splitmuxsink-fragment-closed") {
                        if let Some(r) = &self.record {
                            enforce_free_space(&r.dir, r.min_free_mb);
                        }
                    }
                }
                _ => {}
            }
        }
        None
    }
}

fn first_bus_error(p: &gst::Pipeline) -> Option<String> {
    let bus = p.bus()?;
    let msg = bus.timed_pop_filtered(gst::ClockTime::from_mseconds(500), &[gst::MessageType::Error])?;
    match msg.view() {
        gst::MessageView::Error(e) => Some(super::mp4::describe_bus_error(&e)),
        _ => None,
    }
}

#[cfg(test)]
mod drm_tests {
    use super::*;

    #[test]
    fn screen_size_is_the_first_connected_connectors_preferred_mode() {
        let dir = std::env::temp_dir().join(format!("speakface-drm-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for (name, status, modes) in [
            ("card0-DP-1", "disconnected", ""),
            ("card0-HDMI-A-1", "connected", "1920x1080\n1280x720\n"),
            ("card1-HDMI-A-2", "connected", "640x480\n"),
        ] {
            std::fs::create_dir_all(dir.join(name)).unwrap();
            std::fs::write(dir.join(name).join("status"), format!("{status}\n")).unwrap();
            std::fs::write(dir.join(name).join("modes"), modes).unwrap();
        }
        assert_eq!(drm_screen_size(&dir, "card0"), Some((1920, 1080)));
        assert_eq!(drm_screen_size(&dir, "card1"), Some((640, 480)));
        assert_eq!(drm_screen_size(&dir, "card2"), None);
        std::fs::write(dir.join("card0-HDMI-A-1/status"), "disconnected\n").unwrap();
        assert_eq!(drm_screen_size(&dir, "card0"), None);
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(drm_driver_name(Path::new("/dev/null")), None);
    }
}
