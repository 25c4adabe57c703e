//! The HTTP control API (axum on a tokio runtime of its own thread), bound to localhost by
//! default, every route behind the bearer token:
//!
//! | route | what |
//! |---|---|
//! | `GET /v1/status` | JSON: portrait, video, fps, latency, audio, outputs, viewers, reloads |
//! | `GET /v1/config` | the config file as TOML |
//! | `PUT /v1/config` | a new config file (TOML); validated and applied, then saved |
//! | `PUT /v1/portrait` | a JPEG/PNG portrait; analysed, swapped in, kept, saved in the config |
//! | `POST /v1/portrait/camera` | a still from `camera.device` as the portrait (JSON `{"consent_by": …, "name": …}`) |
//! | `POST /v1/speech` | a WAV to speak now |
//! | `DELETE /v1/speech` | drop the speech queued through the API |
//! | `POST /v1/say` | text (plain, or JSON `{"text": …, "voice": …}`) spoken through the TTS engine |
//! | `GET /v1/snapshot.png` | the next frame as PNG |
//! | `GET /metrics` | Prometheus text |
//!
//! Errors are JSON `{"error": "one line"}` with 400 (bad request), 401 (token), 403 (a key only
//! the config file may change, or a path outside the daemon's folders), 408 (the body came too
//! slowly), 413 (too big), 422 (valid but not applicable; the old config runs on), 429 (too many
//! failed logins past the limit, the speech queue is full, or text-to-speech is busy), 503 (the
//! engine is not answering), 507 (the audit log cannot be written: changes wait until it can).
//!
//! The server is hyper's HTTP/1 connection driven by our own accept loop, so that nothing on the
//! network can starve the daemon: a connection must send its request head within 10 s and its
//! body within 60 s, an idle keep-alive connection is closed after 30 s, and at most
//! `MAX_CONNECTIONS` are open (`MAX_PER_ADDRESS` from one address; see `listen.rs`); past a cap the oldest idle
//! connection (no request in progress) is closed to make room, or the new one is refused.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Extension, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde_json::json;

use super::auth::{self, Guard, Verdict};
use super::reload::{CameraConsent, Outcome, Request as Change};
use super::{lock, Shared};
use crate::config::Config;
use crate::engine::{EngineMsg, Snapshot};
use crate::{audio, Error, Result};

#[derive(Clone)]
struct Api {
    shared: Arc<Shared>,
    engine: mpsc::Sender<EngineMsg>,
    reloader: mpsc::Sender<Change>,
    guard: Arc<Guard>,
    /// Text-to-speech processes allowed at once.
    tts_jobs: Arc<tokio::sync::Semaphore>,
    trusted_proxies: Arc<Vec<IpAddr>>,
    max_body: usize,
}

/// The client a request is from: the peer, or the `X-Forwarded-For` address a trusted proxy
/// names.
#[derive(Clone, Copy, Debug)]
struct Client(IpAddr);

/// Text-to-speech processes at once; more `say` requests get 429.
pub const MAX_TTS_JOBS: usize = 2;
/// Longest speech one request may queue (the queue holds `SPEECH_QUEUE_MAX_S` in all).
const UPLOAD_LIMITS: audio::wav::Limits = audio::wav::Limits { max_s: crate::engine::shared::SPEECH_QUEUE_MAX_S, max_samples: 30_000_000 };

/// The running API server; dropping it shuts it down.
pub struct ApiServer {
    pub addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        if let Some(s) = self.shutdown.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            // Give open requests a moment; never hang the daemon's exit on a client.
            for _ in 0..40 {
                if t.is_finished() {
                    let _ = t.join();
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

/// Binds `api.listen` (port 0: any free port, logged) and serves until dropped.
pub fn start(cfg: &Config, shared: Arc<Shared>, engine: mpsc::Sender<EngineMsg>, reloader: mpsc::Sender<Change>) -> Result<ApiServer> {
    let token_file = cfg.api.token_file.clone().unwrap_or_else(|| super::state_dir(cfg).join("api-token"));
    match auth::ensure_token(&token_file) {
        Ok(true) => log::info!("api: created a token in {} (send it as 'Authorization: Bearer TOKEN')", token_file.display()),
        Ok(false) => {}
        Err(e) => return Err(Error::Other(format!("api token file {}: cannot create: {e}", token_file.display()))),
    }
    auth::read_token(&token_file).map_err(|e| Error::Other(format!("api token file {}: {e}", token_file.display())))?;
    let addr: SocketAddr = cfg.api.listen.parse().map_err(|_| Error::Other(format!("api.listen \"{}\" is not ADDRESS:PORT", cfg.api.listen)))?;
    let listener = std::net::TcpListener::bind(addr).map_err(|e| Error::Other(format!("api.listen {addr}: {e}")))?;
    listener.set_nonblocking(true).map_err(|e| Error::Other(format!("api.listen {addr}: {e}")))?;
    let local = listener.local_addr().map_err(|e| Error::Other(format!("api.listen {addr}: {e}")))?;

    let trusted: Vec<IpAddr> = cfg.api.trusted_proxies.iter().filter_map(|p| p.parse().ok()).collect();
    let max_body = cfg.api.max_upload_mb as usize * 1024 * 1024;
    let api = Api {
        shared,
        engine,
        reloader,
        guard: Arc::new(Guard::new(token_file, cfg.api.max_auth_failures_per_min)),
        tts_jobs: Arc::new(tokio::sync::Semaphore::new(MAX_TTS_JOBS)),
        trusted_proxies: Arc::new(trusted),
        max_body,
    };
    let app = Router::new()
        .route("/v1/status", get(status))
        .route("/v1/config", get(get_config).put(put_config))
        .route("/v1/portrait", put(put_portrait))
        .route("/v1/portrait/camera", post(camera_portrait))
        .route("/v1/speech", post(post_speech).delete(delete_speech))
        .route("/v1/say", post(post_say))
        .route("/v1/snapshot.png", get(snapshot))
        .route("/metrics", get(metrics))
        // Runs after authentication (layers wrap outwards): only a client with the token gets
        // its body read, and state changes wait for a writable audit log.
        .route_layer(middleware::from_fn_with_state(api.clone(), read_body))
        .route_layer(middleware::from_fn_with_state(api.clone(), authenticate))
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(api);

    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let (started_tx, started_rx) = mpsc::channel::<std::result::Result<(), String>>();
    let thread = std::thread::Builder::new()
        .name("speakface-api".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = started_tx.send(Err(e.to_string()));
                    return;
                }
            };
            rt.block_on(async move {
                let listener = match tokio::net::TcpListener::from_std(listener) {
                    Ok(l) => l,
                    Err(e) => {
                        let _ = started_tx.send(Err(e.to_string()));
                        return;
                    }
                };
                let _ = started_tx.send(Ok(()));
                super::listen::accept_loop(listener, app, rx).await;
            });
        })
        .map_err(|e| Error::Other(format!("cannot start the API thread: {e}")))?;
    match started_rx.recv() {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(Error::Other(format!("api on {local}: {e}"))),
        Err(_) => return Err(Error::Other(format!("api on {local} did not start"))),
    }
    log::info!("api: listening on http://{local}");
    Ok(ApiServer { addr: local, shutdown: Some(tx), thread: Some(thread) })
}

fn error(status: StatusCode, msg: impl AsRef<str>) -> Response {
    (status, Json(json!({ "error": crate::error::one_line(msg.as_ref()) }))).into_response()
}

/// A body that could not be read (over `api.max_upload_mb`: 413), as our JSON error.
fn rejection(r: BytesRejection) -> Response {
    let status = r.status();
    let msg = if status == StatusCode::PAYLOAD_TOO_LARGE { "request body larger than api.max_upload_mb".to_string() } else { r.body_text() };
    error(status, msg)
}

/// The client's address: the peer's, or for a peer in `api.trusted_proxies` the last address of
/// its `X-Forwarded-For` that is not itself a trusted proxy (what the nearest proxy saw).
fn client_ip(api: &Api, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
    if !api.trusted_proxies.contains(&peer) {
        return peer;
    }
    headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|a| a.trim().parse::<IpAddr>().ok())
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .find(|a| !api.trusted_proxies.contains(a))
        .unwrap_or(peer)
}

async fn authenticate(State(api): State<Api>, ConnectInfo(peer): ConnectInfo<SocketAddr>, mut req: Request, next: Next) -> Response {
    api.shared.api_requests.fetch_add(1, Ordering::Relaxed);
    let ip = client_ip(&api, peer.ip(), req.headers());
    let given = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    let verdict = api.guard.check(ip, given);
    if verdict == Verdict::Ok {
        req.extensions_mut().insert(Client(ip));
        return next.run(req).await;
    }
    api.shared.auth_failures.fetch_add(1, Ordering::Relaxed);
    let what = format!("{} {}: {} token", req.method(), crate::config::clip(req.uri().path()), if given.is_some() { "wrong" } else { "no" });
    match verdict {
        Verdict::Denied => {
            log::warn!("api: refused {what} from {ip}");
            api.shared.audit.record(&ip.to_string(), "auth", "refused", &what);
            let mut r = error(StatusCode::UNAUTHORIZED, "missing or wrong bearer token");
            r.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
            r
        }
        _ => {
            if verdict == Verdict::LimitReached {
                log::warn!("api: too many failed authentications ({what} from {ip}); further failures get 429 for a minute");
                api.shared.audit.record(&ip.to_string(), "auth.lockout", "limited", &format!("{what}; further failures are answered 429 and not recorded one by one for a minute (the right token still works)"));
            }
            let mut r = error(StatusCode::TOO_MANY_REQUESTS, "too many failed authentications; wait a minute");
            r.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from_static("60"));
            r
        }
    }
}

/// After authentication: the body is read here, with an early 413 from `Content-Length` and a
/// deadline for slow senders; then a state-changing request waits for a writable audit log (507).
async fn read_body(State(api): State<Api>, req: Request, next: Next) -> Response {
    let changes = !matches!(*req.method(), axum::http::Method::GET | axum::http::Method::HEAD);
    let declared = req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > api.max_body as u64) {
        return error(StatusCode::PAYLOAD_TOO_LARGE, "request body larger than api.max_upload_mb");
    }
    let (parts, body) = req.into_parts();
    let bytes = match tokio::time::timeout(super::listen::BODY_TIMEOUT, axum::body::to_bytes(body, api.max_body)).await {
        Ok(Ok(b)) => b,
        Ok(Err(_)) => return error(StatusCode::PAYLOAD_TOO_LARGE, "request body larger than api.max_upload_mb"),
        Err(_) => return error(StatusCode::REQUEST_TIMEOUT, format!("the request body did not arrive within {} s", super::listen::BODY_TIMEOUT.as_secs())),
    };
    // After the body is read: a reply sent while the client is still sending would reach it as
    // a broken connection, not as the 507.
    if changes && !api.shared.audit.ready() {
        return error(StatusCode::INSUFFICIENT_STORAGE, format!("the audit log {} cannot be written (disk full?): changes are refused until it can", api.shared.audit.path().display()));
    }
    next.run(Request::from_parts(parts, axum::body::Body::from(bytes))).await
}

async fn status(State(api): State<Api>) -> Response {
    let s = &api.shared;
    let cfg = s.config();
    let last = lock(&s.live.metrics.last).clone();
    let m = &s.live.metrics;
    let audio_src = if cfg.audio.source == crate::config::AudioSource::File {
        json!({ "source": "file", "files": cfg.audio.files })
    } else {
        json!({ "source": "alsa", "device": cfg.audio.device })
    };
    let frames = m.frames_out.load(Ordering::Relaxed);
    Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "state": if frames > 0 { "animating" } else { "starting" },
        "uptime_s": s.started.elapsed().as_secs_f64(),
        "config_file": s.config_path,
        "board": cfg.chosen_board.as_ref().map(|b| json!({ "profile": b.name, "why": b.reason })),
        "inference": s.inference,
        "portrait": *lock(&s.portrait),
        "video": { "width": cfg.video.width, "height": cfg.video.height, "fps": cfg.video.fps },
        "fps": last.fps,
        "frames": frames,
        "frames_dropped": m.frames_skipped.load(Ordering::Relaxed),
        "latency_ms": { "median": last.latency_median_ms, "p95": last.latency_p95_ms, "samples": last.latency_samples },
        "render_ms_median": last.render_median_ms,
        "audio": {
            "input": audio_src,
            "capturing": s.live.capture.running.load(Ordering::Relaxed),
            "last_error": *lock(&s.live.capture.last_error),
            "xruns": s.live.capture.overruns.load(Ordering::Relaxed),
            "outages": s.live.capture.outages.load(Ordering::Relaxed),
        },
        "speech_queued_s": s.live.speech.seconds(),
        "outputs": *lock(&s.live.outputs),
        "rtsp_clients": s.live.rtsp_clients.load(Ordering::Relaxed),
        "reloads": {
            "applied": s.reloads_ok.load(Ordering::Relaxed),
            "rejected": s.reloads_failed.load(Ordering::Relaxed),
            "last": *lock(&s.last_reload),
        },
        "audit_log": s.audit.path(),
    }))
    .into_response()
}

async fn get_config(State(api): State<Api>) -> Response {
    let text = match &api.shared.config_path {
        Some(p) => match std::fs::read_to_string(p) {
            Ok(t) => t,
            Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, format!("config {}: cannot read: {e}", p.display())),
        },
        None => match toml::to_string(&api.shared.config()) {
            Ok(t) => t,
            Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        },
    };
    ([(header::CONTENT_TYPE, "application/toml; charset=utf-8")], text).into_response()
}

/// Hands a change to the reloader and waits for its answer.
async fn change(api: &Api, make: impl FnOnce(tokio::sync::oneshot::Sender<Outcome>) -> Change) -> Response {
    let (tx, rx) = tokio::sync::oneshot::channel();
    if api.reloader.send(make(tx)).is_err() {
        return error(StatusCode::SERVICE_UNAVAILABLE, "the daemon is stopping");
    }
    match tokio::time::timeout(Duration::from_secs(120), rx).await {
        Ok(Ok(Ok(applied))) => {
            let mut v = serde_json::to_value(&applied).unwrap_or_default();
            v["applied"] = json!(true);
            Json(v).into_response()
        }
        Ok(Ok(Err(r))) => {
            let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
            (status, Json(json!({ "applied": false, "error": r.error }))).into_response()
        }
        _ => error(StatusCode::SERVICE_UNAVAILABLE, "the reloader did not answer"),
    }
}

async fn put_config(State(api): State<Api>, Extension(Client(ip)): Extension<Client>, body: Result<Bytes, BytesRejection>) -> Response {
    let body = match body {
        Ok(b) => b,
        Err(r) => return rejection(r),
    };
    let text = match String::from_utf8(body.to_vec()) {
        Ok(t) => t,
        Err(_) => return error(StatusCode::BAD_REQUEST, "the config is not UTF-8 text"),
    };
    let who = ip.to_string();
    change(&api, |reply| Change::PutConfig { text, who, reply }).await
}

async fn put_portrait(State(api): State<Api>, Extension(Client(ip)): Extension<Client>, body: Result<Bytes, BytesRejection>) -> Response {
    let body = match body {
        Ok(b) => b,
        Err(r) => return rejection(r),
    };
    if body.is_empty() {
        return error(StatusCode::BAD_REQUEST, "no image in the request body");
    }
    let who = ip.to_string();
    change(&api, |reply| Change::PutPortrait { bytes: body.to_vec(), who, reply }).await
}

async fn camera_portrait(State(api): State<Api>, Extension(Client(ip)): Extension<Client>, body: Result<Bytes, BytesRejection>) -> Response {
    let body = match body {
        Ok(b) => b,
        Err(r) => return rejection(r),
    };
    let consent: CameraConsent = if body.iter().all(u8::is_ascii_whitespace) {
        CameraConsent::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(c) => c,
            Err(e) => return error(StatusCode::BAD_REQUEST, format!("the request body is not JSON {{\"consent_by\", \"name\", \"note\"}}: {e}")),
        }
    };
    let who = ip.to_string();
    change(&api, |reply| Change::CameraPortrait { consent, who, reply }).await
}

/// Queues speech; 202 with how long it is and when it starts, or 429 when the queue is full.
fn queue_speech(api: &Api, speech: &audio::Speech, who: &str, what: &str, detail: &str) -> Response {
    let secs = speech.duration_s();
    match api.shared.live.speech.push(&speech.mono16k) {
        Ok(waiting) => {
            api.shared.audit.record(who, what, "queued", &format!("{secs:.2} s; {detail}"));
            (StatusCode::ACCEPTED, Json(json!({ "queued_s": secs, "starts_in_s": waiting }))).into_response()
        }
        Err(waiting) => failed(
            api,
            who,
            what,
            StatusCode::TOO_MANY_REQUESTS,
            format!("speech queue full: {waiting:.1} s already waiting and {secs:.1} s more asked (at most {:.0} s; DELETE /v1/speech empties it)", crate::engine::shared::SPEECH_QUEUE_MAX_S),
        ),
    }
}

/// A speech or say request that failed: audited, logged, answered.
fn failed(api: &Api, who: &str, what: &str, status: StatusCode, msg: String) -> Response {
    log::warn!("api: {what} from {who} failed: {msg}");
    api.shared.audit.record(who, what, "failed", &msg);
    error(status, msg)
}

async fn post_speech(State(api): State<Api>, Extension(Client(ip)): Extension<Client>, body: Result<Bytes, BytesRejection>) -> Response {
    let body = match body {
        Ok(b) => b,
        Err(r) => return rejection(r),
    };
    let who = ip.to_string();
    // Decoding and resampling take time on a long WAV: off the API's thread.
    let decoded = tokio::task::spawn_blocking(move || {
        audio::wav::parse_limited(&body, UPLOAD_LIMITS).map(|w| audio::speech_from_samples(w.samples, w.rate, w.channels))
    })
    .await;
    let speech = match decoded {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return failed(&api, &who, "speech", StatusCode::BAD_REQUEST, format!("speech: {e}")),
        Err(e) => return failed(&api, &who, "speech", StatusCode::INTERNAL_SERVER_ERROR, format!("speech: {e}")),
    };
    if speech.mono16k.is_empty() {
        return failed(&api, &who, "speech", StatusCode::BAD_REQUEST, "speech: the WAV holds no samples".into());
    }
    queue_speech(&api, &speech, &who, "speech", &format!("WAV {} Hz, {} channel(s)", speech.original_rate, speech.original_channels))
}

/// `DELETE /v1/speech`: drops what the API queued (the playlist or microphone goes on).
async fn delete_speech(State(api): State<Api>, Extension(Client(ip)): Extension<Client>) -> Response {
    let dropped = api.shared.live.speech.seconds();
    api.shared.live.speech.clear();
    api.shared.audit.record(&ip.to_string(), "speech.cancel", "ok", &format!("{dropped:.2} s of queued speech dropped"));
    Json(json!({ "dropped_s": dropped })).into_response()
}

#[derive(serde::Deserialize)]
struct SayBody {
    text: String,
    voice: Option<String>,
}

async fn post_say(State(api): State<Api>, Extension(Client(ip)): Extension<Client>, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> Response {
    let body = match body {
        Ok(b) => b,
        Err(r) => return rejection(r),
    };
    let who = ip.to_string();
    let json_body = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|c| c.starts_with("application/json"));
    let req = if json_body {
        match serde_json::from_slice::<SayBody>(&body) {
            Ok(b) => b,
            Err(e) => return failed(&api, &who, "say", StatusCode::BAD_REQUEST, format!("say: not {{\"text\": …, \"voice\": …}}: {e}")),
        }
    } else {
        match String::from_utf8(body.to_vec()) {
            Ok(text) => SayBody { text, voice: None },
            Err(_) => return failed(&api, &who, "say", StatusCode::BAD_REQUEST, "say: the text is not UTF-8".into()),
        }
    };
    let Ok(_permit) = api.tts_jobs.clone().try_acquire_owned() else {
        return failed(&api, &who, "say", StatusCode::TOO_MANY_REQUESTS, format!("say: {MAX_TTS_JOBS} texts are being spoken into speech already; try again shortly"));
    };
    let tts = api.shared.config().tts;
    let SayBody { text, voice } = req;
    let spoken = text.clone();
    let made = tokio::task::spawn_blocking(move || crate::tts::synthesize(&tts, &text, voice.as_deref())).await;
    let speech = match made {
        Ok(Ok(s)) => s,
        Ok(Err(e)) if e.starts_with("text to speech:") => return failed(&api, &who, "say", StatusCode::INTERNAL_SERVER_ERROR, e),
        Ok(Err(e)) => return failed(&api, &who, "say", StatusCode::BAD_REQUEST, format!("say: {e}")),
        Err(e) => return failed(&api, &who, "say", StatusCode::INTERNAL_SERVER_ERROR, format!("say: {e}")),
    };
    queue_speech(&api, &speech, &who, "say", &format!("text: {}", crate::config::clip(&spoken)))
}

async fn snapshot(State(api): State<Api>) -> Response {
    let (tx, rx) = tokio::sync::oneshot::channel::<Snapshot>();
    if api.engine.send(EngineMsg::Snapshot { reply: tx }).is_err() {
        return error(StatusCode::SERVICE_UNAVAILABLE, "the engine has stopped");
    }
    let frame = match tokio::time::timeout(Duration::from_secs(3), rx).await {
        Ok(Ok(f)) => f,
        _ => return error(StatusCode::SERVICE_UNAVAILABLE, "the engine made no frame within 3 s"),
    };
    let png = tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        let enc = image::codecs::png::PngEncoder::new(&mut out);
        image::ImageEncoder::write_image(enc, &frame.rgb, frame.width, frame.height, image::ExtendedColorType::Rgb8).map(|_| out)
    })
    .await;
    match png {
        Ok(Ok(bytes)) => ([(header::CONTENT_TYPE, "image/png")], bytes).into_response(),
        Ok(Err(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, format!("png: {e}")),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn metrics(State(api): State<Api>) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], super::metrics::render(&api.shared)).into_response()
}
