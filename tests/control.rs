//! The control plane through its real parts: `speakface run` as a process, real HTTP requests
//! (ureq) to its API, a real RTSP viewer to see that the stream goes on, a real notify socket,
//! SIGHUP and edits of the config file on disk.

mod common;
use common::live::*;
use common::*;

use std::io::{Read, Write};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Longest gap between consecutive frames the viewer received in [from, to).
fn longest_gap(v: &Viewer, from: Instant, to: Instant) -> Duration {
    let f = v.frames.lock().unwrap();
    let times: Vec<Instant> = f.iter().map(|s| s.at).filter(|&t| t >= from && t < to).collect();
    times.windows(2).map(|w| w[1] - w[0]).max().unwrap_or(Duration::MAX)
}

#[test]
fn the_api_guards_validates_applies_and_keeps_the_stream_going() {
    let dir = tmpdir("control-api");
    let port = free_port();
    let base_config = format!(
        "# kiosk in hall 2\n[audio]\nsource = \"file\"\nfiles = [\"{}\"]\n[output.rtsp]\nlisten = \"127.0.0.1:{port}\"\n\
         [daemon]\nstate_dir = \"state\"\n[api]\nlisten = \"127.0.0.1:0\"\n[consent]\nallowlist = \"{}/tests/data/consent.toml\"\n\
         # configured for a GPU this machine does not have\n[inference]\ndevice = \"cuda\"\n",
        asset("speech/demo.wav").display(),
        env!("CARGO_MANIFEST_DIR")
    );
    let mut d = Daemon::start(&dir, &base_config, &[]);
    let api = api_url(&mut d);
    d.wait_log("live: running", Duration::from_secs(60));
    let cfg_file = dir.join("speakface.toml");
    let on_disk = std::fs::read_to_string(&cfg_file).unwrap();
    let token = std::fs::read_to_string(dir.join("state/api-token")).unwrap().trim().to_string();
    assert_eq!(token.len(), 64, "a random token is made on first start");

    // --- authentication -------------------------------------------------------------------
    let (code, _) = http("GET", &format!("{api}/v1/status"), None, None);
    assert_eq!(code, 401, "no token");
    let (code, _) = http("PUT", &format!("{api}/v1/config"), Some("not-the-token"), Some(("application/toml", b"[motion]\nemotion = \"sad\"\n")));
    assert_eq!(code, 401, "wrong token");
    assert_eq!(std::fs::read_to_string(&cfg_file).unwrap(), on_disk, "a refused request changed the config file");
    let (code, body) = http("GET", &format!("{api}/v1/status"), Some(&token), None);
    assert_eq!(code, 200, "{}", text(&body));
    let status = json(&body);
    assert_eq!(status["reloads"]["applied"], 0, "a refused request was applied: {status}");
    let portrait0 = status["portrait"]["sha256"].as_str().unwrap().to_string();
    assert_eq!(status["state"], "animating");
    // inference.device = "cuda" without a usable GPU: the models run on the CPU, and it says why.
    let inf = &status["inference"];
    assert_eq!((inf["configured"].as_str(), inf["device"].as_str()), (Some("cuda"), Some("cpu")), "{status}");
    assert!(inf["fallback"].as_str().is_some_and(|w| w.contains("CUDA")), "no fallback reason: {status}");
    assert!(d.log().contains("inference.device = \"cuda\" not used, the models run on the CPU"), "{}", d.log());

    let viewer = Viewer::connect(&format!("rtsp://127.0.0.1:{port}/avatar"), mouth_box());
    let until = Instant::now() + Duration::from_secs(20);
    while viewer.count() < 25 {
        assert!(Instant::now() < until, "the viewer got no frames\n{}", d.log());
        std::thread::sleep(Duration::from_millis(100));
    }

    // --- a broken config: 400 naming line and key; the old one runs on ----------------------
    let broken = base_config.clone() + "[motion]\nemotion = \"happy\"\nintensity = 2\n";
    let (code, body) = http("PUT", &format!("{api}/v1/config"), Some(&token), Some(("application/toml", broken.as_bytes())));
    let err = json(&body)["error"].as_str().unwrap_or_default().to_string();
    eprintln!("broken config -> {code}: {err}");
    assert_eq!(code, 400);
    let line = format!("line {}", base_config.lines().count() + 3);
    assert!(err.contains(&line) && err.contains("intensity"), "{err} (expected {line})");
    assert_eq!(std::fs::read_to_string(&cfg_file).unwrap(), on_disk, "a rejected config was written");
    let bad_value = base_config.clone() + "[video]\nfps = 500\n";
    let (code, body) = http("PUT", &format!("{api}/v1/config"), Some(&token), Some(("application/toml", bad_value.as_bytes())));
    let err = json(&body)["error"].as_str().unwrap_or_default().to_string();
    assert_eq!(code, 400, "{err}");
    assert!(err.contains("video.fps") && err.contains("found 500"), "{err}");

    // --- a valid motion change: applied and saved, the stream never stops --------------------
    let happy = base_config.clone() + "[motion]\nemotion = \"happy\"\ngaze = \"free\"\n";
    let t0 = Instant::now();
    let (code, body) = http("PUT", &format!("{api}/v1/config"), Some(&token), Some(("application/toml", happy.as_bytes())));
    let reply = json(&body);
    assert_eq!(code, 200, "{reply}");
    assert_eq!((reply["applied"].as_bool(), reply["saved"].as_bool()), (Some(true), Some(true)), "{reply}");
    assert_eq!(reply["changed"], "motion", "{reply}");
    assert_eq!(std::fs::read_to_string(&cfg_file).unwrap(), happy, "the applied config is not what is on disk");
    std::thread::sleep(Duration::from_secs(2));
    let gap = longest_gap(&viewer, t0 - Duration::from_secs(1), Instant::now());
    eprintln!("longest gap between RTSP frames around the motion change: {gap:?}");
    assert!(gap < Duration::from_millis(400), "the stream stalled for {gap:?} during a motion-only change");
    let (code, body) = http("GET", &format!("{api}/v1/config"), Some(&token), None);
    assert_eq!((code, text(&body)), (200, happy.clone()));

    // --- the trained lip-sync model (the default): a truncated file is refused (422, naming it);
    // the rules take over the mouth without stopping the stream ---------------------------------
    let models = dir.join("models-truncated");
    std::fs::create_dir_all(&models).unwrap();
    for f in std::fs::read_dir(asset("../models")).unwrap().flatten().filter(|f| f.path().is_file()) {
        std::fs::copy(f.path(), models.join(f.file_name())).unwrap();
    }
    let int8 = models.join("audio2motion_int8.onnx");
    let bytes = std::fs::read(&int8).unwrap();
    std::fs::write(&int8, &bytes[..bytes.len() / 2]).unwrap();
    let truncated = happy.clone() + &format!("[models]\ndir = \"{}\"\n", models.display());
    // models.dir names a place: only the config file on the device may change it (403 remotely).
    let (code, body) = http("PUT", &format!("{api}/v1/config"), Some(&token), Some(("application/toml", truncated.as_bytes())));
    let err = json(&body)["error"].as_str().unwrap_or_default().to_string();
    assert_eq!(code, 403, "{err}");
    assert!(err.contains("models.dir"), "{err}");
    assert_eq!(std::fs::read_to_string(&cfg_file).unwrap(), happy, "a refused config was written");
    // Set in the file and reloaded (SIGHUP), the truncated model is refused, naming it.
    std::fs::write(&cfg_file, &truncated).unwrap();
    Command::new("kill").args(["-HUP", &d.child.id().to_string()]).status().unwrap();
    let until = Instant::now() + Duration::from_secs(60);
    let err = loop {
        let (_, body) = http("GET", &format!("{api}/v1/status"), Some(&token), None);
        let last = json(&body)["reloads"]["last"].clone();
        if last["ok"] == false && last["message"].as_str().is_some_and(|m| m.contains("audio2motion")) {
            break last["message"].as_str().unwrap().to_string();
        }
        assert!(Instant::now() < until, "the truncated model was not refused: {last}\n{}", d.log());
        std::thread::sleep(Duration::from_millis(200));
    };
    eprintln!("truncated lip-sync model -> {err}");
    assert!(!err.contains('\n'), "{err}");
    std::fs::write(&cfg_file, &happy).unwrap();
    let t0 = Instant::now();
    let with_rules = happy.clone() + "lipsync = \"heuristic\"\n";
    let (code, body) = http("PUT", &format!("{api}/v1/config"), Some(&token), Some(("application/toml", with_rules.as_bytes())));
    assert_eq!(code, 200, "{}", text(&body));
    std::thread::sleep(Duration::from_secs(2));
    let gap = longest_gap(&viewer, t0 - Duration::from_secs(1), Instant::now());
    eprintln!("longest gap between RTSP frames around the switch to the rules: {gap:?}");
    assert!(gap < Duration::from_millis(400), "the stream stalled for {gap:?} when the rules took over");
    let happy = with_rules;

    // --- portraits: not allowlisted -> 422; no face -> 422, the old one kept; a painting -> swapped
    let mut stranger = std::fs::read(asset("portraits/default.jpg")).unwrap();
    stranger.extend_from_slice(b"another portrait"); // still a JPEG, another sha256
    let (code, body) = http("PUT", &format!("{api}/v1/portrait"), Some(&token), Some(("image/jpeg", &stranger)));
    let err = json(&body)["error"].as_str().unwrap_or_default().to_string();
    eprintln!("portrait outside the consent allowlist -> {code}: {err}");
    assert_eq!(code, 422);
    assert!(err.contains("not in the consent allowlist") && err.contains("tests/data/consent.toml"), "{err}");
    let coffee = std::fs::read(asset("portraits/no_face.jpg")).unwrap();
    let (code, body) = http("PUT", &format!("{api}/v1/portrait"), Some(&token), Some(("image/jpeg", &coffee)));
    let err = json(&body)["error"].as_str().unwrap_or_default().to_string();
    eprintln!("portrait without a face -> {code}: {err}");
    assert_eq!(code, 422);
    assert!(err.contains("no face") && err.contains("uploaded image"), "{err}");
    let (code, _) = http("PUT", &format!("{api}/v1/portrait"), Some(&token), Some(("image/png", b"not an image at all")));
    assert_eq!(code, 400);
    let status = json(&http("GET", &format!("{api}/v1/status"), Some(&token), None).1);
    assert_eq!(status["portrait"]["sha256"], portrait0.as_str(), "a refused portrait replaced the running one");
    assert_eq!(std::fs::read_to_string(&cfg_file).unwrap(), happy);

    let painting = std::fs::read(asset("portraits/painting.jpg")).unwrap();
    let t1 = Instant::now();
    let (code, body) = http("PUT", &format!("{api}/v1/portrait"), Some(&token), Some(("image/jpeg", &painting)));
    let reply = json(&body);
    assert_eq!(code, 200, "{reply}");
    let sha = reply["portrait"]["sha256"].as_str().unwrap().to_string();
    assert_ne!(sha, portrait0);
    let saved = std::fs::read_to_string(&cfg_file).unwrap();
    assert!(saved.starts_with("# kiosk in hall 2") && saved.contains(&format!("portraits/{sha}.jpg")), "{saved}");
    std::thread::sleep(Duration::from_secs(1));
    let gap = longest_gap(&viewer, t1, Instant::now());
    eprintln!("longest gap between RTSP frames around the portrait swap: {gap:?}");
    assert!(gap < Duration::from_millis(600), "the stream stalled for {gap:?} during a portrait swap");

    // --- outputs that do not start: 422, the previous ones run again ------------------------
    let saved_before = std::fs::read_to_string(&cfg_file).unwrap();
    let no_screen = saved_before.clone() + "[output.display]\nenabled = true\nsink = \"kmssink\"\n";
    let (code, body) = http("PUT", &format!("{api}/v1/config"), Some(&token), Some(("application/toml", no_screen.as_bytes())));
    let err = json(&body)["error"].as_str().unwrap_or_default().to_string();
    eprintln!("display without a screen -> {code}: {err}");
    assert_eq!(code, 422);
    assert!(err.starts_with("outputs:"), "{err}");
    assert_eq!(std::fs::read_to_string(&cfg_file).unwrap(), saved_before, "a refused config was written");
    let n = viewer.count();
    std::thread::sleep(Duration::from_secs(2));
    assert!(viewer.count() >= n + 25, "the stream did not come back after the refused outputs\n{}", d.log());

    // --- too big: 413 as JSON ---------------------------------------------------------------
    // Over a raw connection: the server answers 413 once the limit is passed and may close the
    // connection under a client still sending, which an HTTP client reports as a write error.
    let mut s = std::net::TcpStream::connect(api.trim_start_matches("http://")).unwrap();
    write!(s, "PUT /v1/config HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Length: {}\r\n\r\n", 21 * 1024 * 1024).unwrap();
    let mut w = s.try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        let chunk = vec![b'#'; 64 * 1024];
        for _ in 0..(21 * 16) {
            if w.write_all(&chunk).is_err() {
                break;
            }
        }
    });
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut reply = vec![0u8; 4096];
    let n = s.read(&mut reply).unwrap();
    let reply = String::from_utf8_lossy(&reply[..n]).into_owned();
    drop(s);
    writer.join().unwrap();
    assert!(reply.starts_with("HTTP/1.1 413") && reply.contains("max_upload_mb"), "{reply}");

    // --- speech and text in, a frame and the figures out ------------------------------------
    let wav = std::fs::read(asset("speech/short.wav")).unwrap();
    let (code, body) = http("POST", &format!("{api}/v1/speech"), Some(&token), Some(("audio/wav", &wav)));
    assert_eq!(code, 202, "{}", text(&body));
    assert!(json(&body)["queued_s"].as_f64().unwrap() > 0.5);
    let (code, _) = http("POST", &format!("{api}/v1/speech"), Some(&token), Some(("audio/wav", &wav[..30])));
    assert_eq!(code, 400, "a truncated WAV header is refused");
    let (code, body) = http("POST", &format!("{api}/v1/say"), Some(&token), Some(("application/json", br#"{"text": "Welcome to the museum.", "voice": "en-gb"}"#)));
    assert_eq!(code, 202, "{}", text(&body));
    let said = json(&body)["queued_s"].as_f64().unwrap();
    assert!((0.8..5.0).contains(&said), "'Welcome to the museum.' lasted {said} s");
    let (code, body) = http("POST", &format!("{api}/v1/say"), Some(&token), Some(("text/plain", b"Bonjour.")));
    assert_eq!(code, 202, "{}", text(&body));

    let (code, png) = http("GET", &format!("{api}/v1/snapshot.png"), Some(&token), None);
    assert_eq!(code, 200);
    let img = image::load_from_memory(&png).unwrap();
    assert_eq!((img.width(), img.height()), (512, 512));

    let (code, body) = http("GET", &format!("{api}/metrics"), Some(&token), None);
    assert_eq!(code, 200);
    let m = text(&body);
    for needle in [
        "speakface_frames_total ",
        "speakface_latency_seconds_bucket{le=\"0.15\"}",
        // 7 refused through the API (models.dir among them, 403) and the truncated model through SIGHUP
        "speakface_reloads_total{result=\"rejected\"} 8",
        "speakface_reloads_total{result=\"applied\"} 3",
        "speakface_auth_failures_total 2",
        "speakface_rtsp_clients ",
        "speakface_capture_xruns_total 0",
        "speakface_inference_device{device=\"cpu\",configured=\"cuda\"} 1",
        "speakface_inference_fallback 1",
    ] {
        assert!(m.contains(needle), "metrics lack {needle:?}:\n{m}");
    }

    // --- the audit log ----------------------------------------------------------------------
    let audit = audit_lines(&dir);
    let has = |what: &str, result: &str| audit.iter().any(|e| e["what"] == what && e["result"] == result);
    for (what, result) in [
        ("auth", "refused"),
        ("config.put", "rejected"),
        ("config.put", "applied"),
        ("portrait.put", "rejected"),
        ("portrait.refused", "refused"),
        ("portrait.use", "ok"),
        ("portrait.put", "applied"),
        ("say", "queued"),
    ] {
        assert!(has(what, result), "audit log has no {what} {result}: {audit:?}");
    }
    assert!(audit.iter().all(|e| e["time"].as_str().is_some_and(|t| t.ends_with('Z')) && e["who"].is_string()));

    // --- repeated failures from one address are limited; the right token still works ---------
    let mut codes = vec![];
    for _ in 0..7 {
        codes.push(http("GET", &format!("{api}/v1/status"), Some("guess"), None).0);
    }
    let (code, _) = http("GET", &format!("{api}/v1/status"), Some(&token), None);
    eprintln!("wrong tokens -> {codes:?}, then the right one -> {code}");
    assert!(codes.starts_with(&[401, 401, 401]) && codes.ends_with(&[429]), "{codes:?}");
    assert_eq!(code, 200, "the limit holds failures only: the right token works");

    drop(viewer);
    assert!(d.running());
    d.stop();
}

#[test]
fn edits_on_disk_and_sighup_reload_and_a_broken_file_keeps_the_old_config() {
    let dir = tmpdir("control-reload");
    let base = format!("[audio]\nsource = \"file\"\nfiles = [\"{}\"]\n[output.rtsp]\nenabled = false\n", asset("speech/short.wav").display());
    let mut d = Daemon::start(&dir, &base, &[]);
    d.wait_log("live: running", Duration::from_secs(60));
    let cfg_file = dir.join("speakface.toml");
    let original = std::fs::read_to_string(&cfg_file).unwrap();

    // A broken edit is reported once, with the line, and the daemon animates on.
    speakface::config::write_atomic(&cfg_file, (original.clone() + "[motion\n").as_bytes()).unwrap();
    d.wait_log("reload (config file change) rejected", Duration::from_secs(10));
    let log = d.log();
    let line = log.lines().find(|l| l.contains("reload (config file change) rejected")).unwrap();
    assert!(line.contains("line ") && line.contains("speakface.toml"), "{line}");
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(d.log().matches("rejected").count(), 1, "the same broken file was reported again:\n{}", d.log());
    assert!(d.running());

    // A good edit is applied without a restart.
    speakface::config::write_atomic(&cfg_file, (original.clone() + "[motion]\nemotion = \"surprised\"\n").as_bytes()).unwrap();
    d.wait_log("reload (config file change): applied (changed: motion)", Duration::from_secs(10));

    // SIGHUP (systemctl reload) reads the file again.
    std::fs::write(&cfg_file, original.clone() + "[motion]\nemotion = \"surprised\"\nseed = 7\n").unwrap();
    Command::new("kill").args(["-HUP", &d.child.id().to_string()]).status().unwrap();
    d.wait_log("reload (SIGHUP): applied (changed: motion)", Duration::from_secs(10));
    assert!(d.running(), "SIGHUP stopped the daemon");

    let audit = audit_lines(&dir);
    let reloads: Vec<(&str, &str)> = audit
        .iter()
        .filter(|e| e["what"] == "config.reload")
        .map(|e| (e["who"].as_str().unwrap(), e["result"].as_str().unwrap()))
        .collect();
    assert_eq!(reloads, [("config file change", "rejected"), ("config file change", "applied"), ("SIGHUP", "applied")]);
    d.stop();
}

#[test]
fn the_watchdog_follows_the_frame_loop_and_reloads_are_announced() {
    let dir = tmpdir("control-watchdog");
    let sock_path = dir.join("notify.sock");
    let sock = std::os::unix::net::UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
    let base = format!(
        "[audio]\nsource = \"file\"\nfiles = [\"{}\"]\n[output.rtsp]\nenabled = false\n[daemon]\nstate_dir = \"state\"\nwatch_config = false\n",
        asset("speech/short.wav").display()
    );
    let mut d = Daemon::start(
        &dir,
        &base,
        &[
            ("NOTIFY_SOCKET", sock_path.to_str().unwrap()),
            ("WATCHDOG_USEC", "400000"),
            ("SPEAKFACE_TEST_STALL_AFTER_FRAMES", "200"),
        ],
    );
    // Read the socket all along on a thread, as systemd would.
    let msgs: Arc<Mutex<Vec<(Instant, String)>>> = Arc::default();
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (msgs, done) = (msgs.clone(), done.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while !done.load(Ordering::SeqCst) {
                if let Ok(n) = sock.recv(&mut buf) {
                    msgs.lock().unwrap().push((Instant::now(), String::from_utf8_lossy(&buf[..n]).into_owned()));
                }
            }
        })
    };
    std::thread::sleep(Duration::from_secs(2));
    let snapshot = || msgs.lock().unwrap().clone();
    let ready = snapshot().iter().position(|(_, m)| m.contains("READY=1")).unwrap_or_else(|| panic!("no READY=1: {:?}\n{}", snapshot(), d.log()));
    let cfg_file = dir.join("speakface.toml");
    let original = std::fs::read_to_string(&cfg_file).unwrap();
    std::fs::write(&cfg_file, original + "[motion]\nemotion = \"happy\"\n").unwrap();
    Command::new("kill").args(["-HUP", &d.child.id().to_string()]).status().unwrap();
    // 200 frames at 25 fps: the loop stalls 8 s after it started.
    d.wait_log("frame loop stalled on purpose", Duration::from_secs(30));
    let stalled = Instant::now();
    std::thread::sleep(Duration::from_secs(3));
    done.store(true, Ordering::SeqCst);
    reader.join().unwrap();
    let msgs = snapshot();
    let texts: Vec<&str> = msgs.iter().map(|(_, m)| m.as_str()).collect();
    let reloading = texts.iter().position(|m| m.contains("RELOADING=1") && m.contains("MONOTONIC_USEC=")).unwrap_or_else(|| panic!("no RELOADING=1: {texts:?}"));
    assert!(texts[reloading + 1..].iter().any(|m| m.contains("READY=1")), "no READY=1 after RELOADING=1: {texts:?}");
    assert!(reloading > ready);
    let pings: Vec<Instant> = msgs.iter().filter(|(_, m)| m.contains("WATCHDOG=1")).map(|(t, _)| *t).collect();
    let before = pings.iter().filter(|&&t| t < stalled).count();
    let after = pings.iter().filter(|&&t| t > stalled + Duration::from_millis(300)).count();
    eprintln!("watchdog pings: {before} while the loop ran, {after} in the 2.7 s after it stalled");
    assert!(before >= 10, "too few watchdog pings while running: {before}");
    assert_eq!(after, 0, "watchdog pings went on from a stalled frame loop");
    d.log().contains("reload (SIGHUP): applied").then_some(()).expect("SIGHUP reload not applied");
    d.stop();
}
