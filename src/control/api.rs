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
//! | `POST /v1/say` | text (plain, or JSON `{"text": …, "voice": …}`) spoken through the TTS engine |
//! | `GET /v1/snapshot.png` | the next frame as PNG |
//! | `GET /metrics` | Prometheus text |
//!
//! Errors are JSON `{"error": "one line"}` with 400 (bad request), 401 (token), 413 (too big),
//! 422 (valid but not applicable; the old config runs on), 429 (too many failed logins, or the
//! speech queue is full), 503 (the engine is not answering).

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Request, State};
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
use crate::pipeline::{EngineMsg, Snapshot};
use crate::{audio, Error, Result};

#[derive(Clone)]
struct Api {
    shared: Arc<Shared>,
    engine: mpsc::Sender<EngineMsg>,
    reloader: mpsc::Sender<Change>,
    guard: Arc<Guard>,
}

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

    let api = Api { shared, engine, reloader, guard: Arc::new(Guard::new(token_file, cfg.api.max_auth_failures_per_min)) };
    let app = Router::new()
        .route("/v1/status", get(status))
        .route("/v1/config", get(get_config).put(put_config))
        .route("/v1/portrait", put(put_portrait))
        .route("/v1/portrait/camera", post(camera_portrait))
        .route("/v1/speech", post(post_speech))
        .route("/v1/say", post(post_say))
        .route("/v1/snapshot.png", get(snapshot))
        .route("/metrics", get(metrics))
        .route_layer(middleware::from_fn_with_state(api.clone(), authenticate))
        .layer(DefaultBodyLimit::max(cfg.api.max_upload_mb as usize * 1024 * 1024))
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
                let served = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
                    .with_graceful_shutdown(async move {
                        let _ = rx.await;
                    })
                    .await;
                if let Err(e) = served {
                    log::error!("api: server stopped: {e}");
                }
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

async fn authenticate(State(api): State<Api>, ConnectInfo(peer): ConnectInfo<SocketAddr>, req: Request, next: Next) -> Response {
    api.shared.api_requests.fetch_add(1, Ordering::Relaxed);
    let given = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    match api.guard.check(peer.ip(), given) {
        Verdict::Ok => next.run(req).await,
        Verdict::Denied => {
            api.shared.auth_failures.fetch_add(1, Ordering::Relaxed);
            let what = format!("{} {}: {} token", req.method(), req.uri().path(), if given.is_some() { "wrong" } else { "no" });
            log::warn!("api: refused {what} from {}", peer.ip());
            api.shared.audit.record(&peer.ip().to_string(), "auth", "refused", &what);
            let mut r = error(StatusCode::UNAUTHORIZED, "missing or wrong bearer token");
            r.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
            r
        }
        Verdict::Limited => {
            api.shared.auth_failures.fetch_add(1, Ordering::Relaxed);
            let mut r = error(StatusCode::TOO_MANY_REQUESTS, "too many failed authentications from this address; wait a minute");
            r.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from_static("60"));
            r
        }
    }
}

async fn status(State(api): State<Api>) -> Response {
    let s = &api.shared;
    let cfg = s.config();
    let last = lock(&s.metrics.last).clone();
    let m = &s.metrics;
    let audio_src = if cfg.audio.source == "file" {
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
            "capturing": s.capture.running.load(Ordering::Relaxed),
            "last_error": *lock(&s.capture.last_error),
            "xruns": s.capture.overruns.load(Ordering::Relaxed),
            "outages": s.capture.outages.load(Ordering::Relaxed),
        },
        "speech_queued_s": s.speech.seconds(),
        "outputs": *lock(&s.outputs),
        "rtsp_clients": s.rtsp_clients.load(Ordering::Relaxed),
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

async fn put_config(State(api): State<Api>, ConnectInfo(peer): ConnectInfo<SocketAddr>, body: Result<Bytes, BytesRejection>) -> Response {
    let body = match body {
        Ok(b) => b,
        Err(r) => return rejection(r),
    };
    let text = match String::from_utf8(body.to_vec()) {
        Ok(t) => t,
        Err(_) => return error(StatusCode::BAD_REQUEST, "the config is not UTF-8 text"),
    };
    let who = peer.ip().to_string();
    change(&api, |reply| Change::PutConfig { text, who, reply }).await
}

async fn put_portrait(State(api): State<Api>, ConnectInfo(peer): ConnectInfo<SocketAddr>, body: Result<Bytes, BytesRejection>) -> Response {
    let body = match body {
        Ok(b) => b,
        Err(r) => return rejection(r),
    };
    if body.is_empty() {
        return error(StatusCode::BAD_REQUEST, "no image in the request body");
    }
    let who = peer.ip().to_string();
    change(&api, |reply| Change::PutPortrait { bytes: body.to_vec(), who, reply }).await
}

async fn camera_portrait(State(api): State<Api>, ConnectInfo(peer): ConnectInfo<SocketAddr>, body: Result<Bytes, BytesRejection>) -> Response {
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
    let who = peer.ip().to_string();
    change(&api, |reply| Change::CameraPortrait { consent, who, reply }).await
}

/// Queues speech; 202 with how long it is and when it starts, or 429 when the queue is full.
fn queue_speech(api: &Api, speech: &audio::Speech, who: &str, what: &str, detail: &str) -> Response {
    let secs = speech.duration_s();
    match api.shared.speech.push(&speech.mono16k) {
        Ok(waiting) => {
            api.shared.audit.record(who, what, "queued", &format!("{secs:.2} s; {detail}"));
            (StatusCode::ACCEPTED, Json(json!({ "queued_s": secs, "starts_in_s": waiting }))).into_response()
        }
        Err(waiting) => error(
            StatusCode::TOO_MANY_REQUESTS,
            format!("speech queue full: {waiting:.1} s already waiting (at most {:.0} s)", super::SPEECH_QUEUE_MAX_S),
        ),
    }
}

async fn post_speech(State(api): State<Api>, ConnectInfo(peer): ConnectInfo<SocketAddr>, body: Result<Bytes, BytesRejection>) -> Response {
    let body = match body {
        Ok(b) => b,
        Err(r) => return rejection(r),
    };
    let w = match audio::wav::parse(&body) {
        Ok(w) => w,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("speech: {e}")),
    };
    let speech = audio::speech_from_samples(w.samples, w.rate, w.channels);
    if speech.mono16k.is_empty() {
        return error(StatusCode::BAD_REQUEST, "speech: the WAV holds no samples");
    }
    queue_speech(&api, &speech, &peer.ip().to_string(), "speech", &format!("WAV {} Hz, {} channel(s)", speech.original_rate, speech.original_channels))
}

#[derive(serde::Deserialize)]
struct SayBody {
    text: String,
    voice: Option<String>,
}

async fn post_say(State(api): State<Api>, ConnectInfo(peer): ConnectInfo<SocketAddr>, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> Response {
    let body = match body {
        Ok(b) => b,
        Err(r) => return rejection(r),
    };
    let json_body = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|c| c.starts_with("application/json"));
    let req = if json_body {
        match serde_json::from_slice::<SayBody>(&body) {
            Ok(b) => b,
            Err(e) => return error(StatusCode::BAD_REQUEST, format!("say: not {{\"text\": …, \"voice\": …}}: {e}")),
        }
    } else {
        match String::from_utf8(body.to_vec()) {
            Ok(text) => SayBody { text, voice: None },
            Err(_) => return error(StatusCode::BAD_REQUEST, "say: the text is not UTF-8"),
        }
    };
    let tts = api.shared.config().tts;
    let SayBody { text, voice } = req;
    let spoken = text.clone();
    let made = tokio::task::spawn_blocking(move || crate::tts::synthesize(&tts, &text, voice.as_deref())).await;
    let speech = match made {
        Ok(Ok(s)) => s,
        Ok(Err(e)) if e.starts_with("text to speech:") => return error(StatusCode::INTERNAL_SERVER_ERROR, e),
        Ok(Err(e)) => return error(StatusCode::BAD_REQUEST, format!("say: {e}")),
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, format!("say: {e}")),
    };
    let shown: String = spoken.chars().take(200).collect();
    queue_speech(&api, &speech, &peer.ip().to_string(), "say", &format!("text: {shown}"))
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
