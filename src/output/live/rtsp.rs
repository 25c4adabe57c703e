//! The RTSP output: the server (gst-rtsp-server on a GLib loop of its own, one shared media for
//! all viewers, optional basic authentication, a cap on connections still setting up), and the
//! branch of the live pipeline that feeds it: two appsinks taking the shared encoder's H.264 and
//! the raw speech, whose samples are pushed into the current media's appsrcs. The media's own
//! pipeline is a fixed launch line (no configured value goes into it).

use std::path::Path;
use std::sync::{Arc, Mutex};

use gstreamer as gst;
use gstreamer_app as gst_app;
use gstreamer_rtsp_server as rtsp;
use gstreamer_rtsp_server::prelude::*;

use super::branch::{built, chain, ghost, gst_err, leaky_queue, Branch, Input};
use crate::config::Config;
use crate::Result;

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
            let mut list = crate::util::lock(&cl);
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
                let mut said = crate::util::lock(&CAP_LOGGED);
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
            let mut feed = crate::util::lock(&f);
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
                        let mut list = crate::util::lock(&cl);
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

/// The RTSP branch: `queue ─ appsink` for the H.264 and for the speech, both handing their
/// samples to the server's current media.
pub(super) struct Rtsp {
    feed: Arc<Mutex<RtspFeed>>,
}

impl Rtsp {
    pub(super) fn new(server: &RtspServer) -> Rtsp {
        Rtsp { feed: server.feed.clone() }
    }
}

impl Branch for Rtsp {
    fn name(&self) -> &'static str {
        "rtsp"
    }
    fn key(&self) -> &'static str {
        "output.rtsp"
    }
    fn inputs(&self) -> &'static [Input] {
        &[Input::H264, Input::Audio]
    }
    fn build(&self) -> Result<gst::Bin> {
        let bin = gst::Bin::with_name(self.name());
        for (input, name, buffers) in [(Input::H264, "rtsp_v", 30u32), (Input::Audio, "rtsp_a", 50)] {
            let queue = leaky_queue(buffers)?;
            let sink = built(
                "appsink",
                gst::ElementFactory::make("appsink")
                    .name(name)
                    .property("sync", false)
                    .property("async", false)
                    .property("max-buffers", buffers)
                    .property("drop", true)
                    .build(),
            )?;
            chain(&bin, &[&queue, &sink])?;
            ghost(&bin, input, &queue)?;
            let sink = sink.downcast::<gst_app::AppSink>().map_err(|_| gst_err("appsink is not an AppSink"))?;
            let feed = self.feed.clone();
            let is_video = input == Input::H264;
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
        Ok(bin)
    }
}
