//! The security pass (issue 20) against the real daemon: `speakface run` as a process, real HTTP
//! requests, raw TCP connections, a real RTSP viewer, SIGHUP, kill -9 and a real full file system
//! (a small tmpfs). Each numbered item of the issue is reproduced and shown fixed.

mod common;
use common::live::*;
use common::*;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn token(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("state/api-token")).unwrap().trim().to_string()
}

fn base_config(port: u16, extra: &str) -> String {
    format!(
        "[audio]\nsource = \"file\"\nfiles = [\"{}\"]\ngap_s = 0.5\n[output.rtsp]\nlisten = \"127.0.0.1:{port}\"\n{extra}",
        asset("speech/short.wav").display()
    )
}

fn error_of(body: &[u8]) -> String {
    json(body)["error"].as_str().unwrap_or_default().to_string()
}

/// Polls the status until the last reload is the one `check` accepts.
fn wait_reload(api: &str, tok: &str, d: &mut Daemon, what: &str, check: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, body) = http("GET", &format!("{api}/v1/status"), Some(tok), None);
        let last = json(&body)["reloads"]["last"].clone();
        if check(&last) {
            return last;
        }
        assert!(Instant::now() < until, "{what}: last reload {last}\n{}", d.log());
        assert!(d.running(), "the daemon died: {what}\n{}", d.log());
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn wav_header(rate: u32, bits: u16, data_len: u32) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(b"RIFF");
    b.extend_from_slice(&(36 + data_len).to_le_bytes());
    b.extend_from_slice(b"WAVEfmt ");
    b.extend_from_slice(&16u32.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&rate.to_le_bytes());
    b.extend_from_slice(&(rate * bits as u32 / 8).to_le_bytes());
    b.extend_from_slice(&(bits / 8).to_le_bytes());
    b.extend_from_slice(&bits.to_le_bytes());
    b.extend_from_slice(b"data");
    b.extend_from_slice(&data_len.to_le_bytes());
    b
}

/// Items 1, 2, 5, 6, 7, 9, 12, 13: what the token may and may not do, and bounded work.
#[test]
fn the_token_grants_only_what_an_operator_needs() {
    let dir = tmpdir("security-token");
    let mut d = Daemon::start(&dir, &base_config(free_port(), ""), &[]);
    let api = api_url(&mut d);
    d.wait_log("live: running", Duration::from_secs(60));
    let tok = token(&dir);
    let cfg_file = dir.join("speakface.toml");
    let on_disk = std::fs::read_to_string(&cfg_file).unwrap();
    let put = |text: &str| http("PUT", &format!("{api}/v1/config"), Some(&tok), Some(("application/toml", text.as_bytes())));

    // 1. tts.command is file-only; a voice is never an option; an unknown voice is refused.
    let (code, body) = put(&(on_disk.clone() + "[tts]\ncommand = \"/bin/sh\"\n"));
    let err = error_of(&body);
    eprintln!("tts.command = /bin/sh -> {code}: {err}");
    assert_eq!(code, 403, "{err}");
    assert!(err.contains("tts.command"), "{err}");
    let pwned = dir.join("pwned");
    for voice in ["-s", "-", "--stdin", "xx-nonexistent"] {
        let req = serde_json::json!({ "text": format!("touch {}", pwned.display()), "voice": voice }).to_string();
        let (code, body) = http("POST", &format!("{api}/v1/say"), Some(&tok), Some(("application/json", req.as_bytes())));
        assert_eq!(code, 400, "voice {voice}: {}", text(&body));
    }
    assert!(!pwned.exists(), "a say request ran a command");

    // 5 and 2. Keys naming programs or places are file-only; remote paths stay in our folders.
    let takeover = on_disk
        .replace("listen = \"127.0.0.1:0\"", "listen = \"0.0.0.0:0\"\ntoken_file = \"/tmp/evil-token\"")
        .replace("state_dir = \"state\"", "state_dir = \"/tmp/evil-state\"");
    let (code, body) = put(&takeover);
    let err = error_of(&body);
    eprintln!("api.listen, api.token_file, daemon.state_dir -> {code}: {err}");
    assert_eq!(code, 403);
    for key in ["api.listen", "api.token_file", "daemon.state_dir"] {
        assert!(err.contains(key), "{key}: {err}");
    }
    for (snippet, key) in [
        ("[models]\ndir = \"/tmp\"\n", "models.dir"),
        ("[cache]\ndir = \"/tmp\"\n", "cache.dir"),
        ("[output.record]\ndir = \"/tmp\"\n", "output.record.dir"),
        ("[output.v4l2]\ndevice = \"/dev/video3\"\n", "output.v4l2.device"),
        ("[camera]\ndevice = \"/dev/video0\"\n", "camera.device"),
    ] {
        let (code, body) = put(&(on_disk.clone() + snippet));
        let err = error_of(&body);
        assert_eq!(code, 403, "{key}: {err}");
        assert!(err.contains(key), "{key}: {err}");
    }
    let moved_list = on_disk.replace(&format!("{}/tests/data/consent.toml", env!("CARGO_MANIFEST_DIR")), "/tmp/consent.toml");
    assert_ne!(moved_list, on_disk);
    let (code, body) = put(&moved_list);
    assert!(code == 403 && error_of(&body).contains("consent.allowlist"), "{code} {}", text(&body));
    let playlist = asset("speech/short.wav").display().to_string();
    for (path, why) in [("/dev/zero", "not a regular file"), ("/etc/hostname", "outside the daemon's folders")] {
        let (code, body) = put(&on_disk.replace(&playlist, path));
        let err = error_of(&body);
        eprintln!("audio.files = {path} -> {code}: {err}");
        assert!(code == 403 && err.contains(why), "{code} {err}");
    }
    let passwd_sha = speakface::util::hash::sha256_hex(&std::fs::read("/etc/passwd").unwrap());
    for path in ["/dev/zero", "/etc/passwd"] {
        let (code, body) = put(&(on_disk.clone() + &format!("[portrait]\nimage = \"{path}\"\n")));
        let err = error_of(&body);
        assert_eq!(code, 403, "portrait.image = {path}: {err}");
        assert!(!err.contains(&passwd_sha), "the reply reveals the file's sha256: {err}");
    }
    assert_eq!(std::fs::read_to_string(&cfg_file).unwrap(), on_disk, "a refused config was written");
    let audit = audit_lines(&dir);
    assert!(
        audit.iter().any(|e| e["what"] == "config.put" && e["result"] == "refused" && e["detail"].as_str().unwrap_or_default().contains("tts.command")),
        "the refusal is not audited with its key: {audit:?}"
    );

    // 2 and 13. From the config file (SIGHUP) too: a device or a non-WAV playlist is refused.
    for (path, why) in [("/dev/zero", "not a regular file"), (concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"), "not a WAV")] {
        std::fs::write(&cfg_file, on_disk.replace(&playlist, path)).unwrap();
        Command::new("kill").args(["-HUP", &d.child.id().to_string()]).status().unwrap();
        let last = wait_reload(&api, &tok, &mut d, why, |l| l["ok"] == false && l["message"].as_str().is_some_and(|m| m.contains(why) && m.contains(path)));
        eprintln!("playlist {path} from the file -> {}", last["message"]);
    }
    // 9. An empty file is refused like a broken one; the running config stays.
    std::fs::write(&cfg_file, "  \n").unwrap();
    Command::new("kill").args(["-HUP", &d.child.id().to_string()]).status().unwrap();
    wait_reload(&api, &tok, &mut d, "empty file", |l| l["ok"] == false && l["message"].as_str().is_some_and(|m| m.contains("empty")));
    std::fs::write(&cfg_file, &on_disk).unwrap();
    for empty in ["", " \n\t\n"] {
        let (code, body) = put(empty);
        assert!(code == 400 && error_of(&body).contains("empty"), "{code} {}", text(&body));
    }
    // 13. A NUL byte gets its reason.
    let (code, body) = put("[motion]\nseed = 1\0\n");
    assert!(code == 400 && error_of(&body).contains("NUL"), "{code} {}", text(&body));
    let (_, body) = http("GET", &format!("{api}/v1/status"), Some(&tok), None);
    let st = json(&body);
    assert_eq!(st["audio"]["input"]["source"], "file", "the running config changed: {st}");

    // 7. A rejected value is not echoed whole (reply, log, audit).
    let audit_before = std::fs::metadata(dir.join("state/audit.log")).unwrap().len();
    let log_before = d.log().len();
    let huge = on_disk.clone() + &format!("[provenance]\nlabel_text = \"{}\"\n", "A".repeat(2_000_000));
    let (code, body) = put(&huge);
    eprintln!("2 MB label_text -> {code}, reply {} bytes", body.len());
    assert_eq!(code, 400);
    assert!(body.len() < 2000, "reply of {} bytes", body.len());
    let audit_grew = std::fs::metadata(dir.join("state/audit.log")).unwrap().len() - audit_before;
    assert!(audit_grew < 4000, "the audit log grew by {audit_grew} bytes");
    assert!(d.log().len() - log_before < 8000, "the log grew by {} bytes", d.log().len() - log_before);

    // 6. A 19 MB 8-bit WAV at 1000 Hz is refused from its header, at once, without the memory.
    let mut slow = wav_header(1000, 8, 19_000_000);
    slow.resize(slow.len() + 19_000_000, 128);
    let t = Instant::now();
    let (code, body) = http("POST", &format!("{api}/v1/speech"), Some(&tok), Some(("audio/wav", &slow)));
    let took = t.elapsed();
    eprintln!("1000 Hz WAV -> {code} in {took:?}: {}", error_of(&body));
    assert!(code == 400 && error_of(&body).contains("1000 Hz"), "{code} {}", text(&body));
    let mut long = wav_header(8000, 8, 19_000_000);
    long.resize(long.len() + 19_000_000, 128);
    let (code, body) = http("POST", &format!("{api}/v1/speech"), Some(&tok), Some(("audio/wav", &long)));
    assert!(code == 400 && error_of(&body).contains("longer than the 300 s"), "{code} {}", text(&body));
    let (_, _, rss_kb) = d.resources();
    eprintln!("RSS after the WAV uploads: {} MB", rss_kb / 1024);
    assert!(rss_kb < 400 * 1024, "RSS {} MB", rss_kb / 1024);
    let audit = audit_lines(&dir);
    assert!(audit.iter().any(|e| e["what"] == "speech" && e["result"] == "failed"), "a failed speech request is not audited");

    // 13. A 10 GB Content-Length gets 413 at once; a lowercase scheme is accepted.
    let host = api.trim_start_matches("http://");
    let mut s = TcpStream::connect(host).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(s, "POST /v1/speech HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {tok}\r\nContent-Length: 10000000000\r\n\r\n").unwrap();
    let mut head = [0u8; 64];
    let n = s.read(&mut head).expect("no early answer to a 10 GB Content-Length");
    assert!(String::from_utf8_lossy(&head[..n]).starts_with("HTTP/1.1 413"), "{}", String::from_utf8_lossy(&head[..n]));
    let r = ureq::get(&format!("{api}/v1/status")).set("Authorization", &format!("bearer {tok}")).call();
    assert!(r.is_ok(), "lowercase bearer: {r:?}");

    // 12. At most two text-to-speech jobs at once; queued speech can be cancelled.
    let long_text = "The museum opens at nine and closes at five on weekdays. ".repeat(30);
    let handles: Vec<_> = (0..6)
        .map(|_| {
            let (api, tok, t) = (api.clone(), tok.clone(), long_text.clone());
            std::thread::spawn(move || http("POST", &format!("{api}/v1/say"), Some(&tok), Some(("text/plain", t.as_bytes()))).0)
        })
        .collect();
    let codes: Vec<u16> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    eprintln!("six parallel says -> {codes:?}");
    assert!(codes.iter().filter(|&&c| c == 202).count() >= 1 && codes.iter().filter(|&&c| c == 429).count() >= 1, "{codes:?}");
    let (code, body) = http("DELETE", &format!("{api}/v1/speech"), Some(&tok), None);
    let dropped = json(&body)["dropped_s"].as_f64().unwrap_or_default();
    eprintln!("DELETE /v1/speech -> {code}: {dropped:.1} s dropped");
    assert!(code == 200 && dropped > 1.0, "{code} {}", text(&body));
    let (_, body) = http("GET", &format!("{api}/v1/status"), Some(&tok), None);
    assert_eq!(json(&body)["speech_queued_s"].as_f64(), Some(0.0));

    // 4. The right token works after 100 wrong ones; the lockout is audited once, not 100 times.
    for _ in 0..100 {
        http("GET", &format!("{api}/v1/status"), Some("wrong-token"), None);
    }
    let (code, _) = http("GET", &format!("{api}/v1/status"), Some(&tok), None);
    assert_eq!(code, 200, "the operator was locked out");
    let audit = audit_lines(&dir);
    let lockouts = audit.iter().filter(|e| e["what"] == "auth.lockout").count();
    let refusals = audit.iter().filter(|e| e["what"] == "auth").count();
    eprintln!("100 wrong tokens -> {refusals} refusals and {lockouts} lockout(s) in the audit log");
    // One lockout for the address, one for the global budget (100 failures pass both).
    assert!((1..=2).contains(&lockouts) && refusals <= 5, "{refusals} refusals, {lockouts} lockouts");
    assert!(d.running());
    d.stop();
}

/// Item 3 and 11: half-open connections on both ports do not starve the daemon; RTSP viewers
/// can be made to log in.
#[test]
fn nothing_on_the_network_can_starve_the_daemon() {
    // The attacker's 2200 sockets are this test's: raise its own limit (the daemon raises its own).
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
    lim.rlim_cur = lim.rlim_max.min(65_536);
    unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) };
    assert!(lim.rlim_cur >= 3000, "this test needs 3000 open files (hard limit {})", lim.rlim_max);

    let dir = tmpdir("security-network");
    std::fs::write(dir.join("rtsp-users"), "# viewers\nkiosk:Gallery-2-secret\n").unwrap();
    let port = free_port();
    let mut d = Daemon::start(&dir, &base_config(port, "auth_file = \"rtsp-users\"\n"), &[]);
    let api = api_url(&mut d);
    d.wait_log("live: running", Duration::from_secs(60));
    let tok = token(&dir);
    let (fds0, _, _) = d.resources();

    // 1100 half-open connections on each port: half send nothing, half a request head cut short.
    let api_host = api.trim_start_matches("http://").to_string();
    let mut held = vec![];
    for (i, addr) in std::iter::repeat_n(api_host.clone(), 1100).chain(std::iter::repeat_n(format!("127.0.0.1:{port}"), 1100)).enumerate() {
        let addr: std::net::SocketAddr = addr.parse().unwrap();
        if let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
            if i % 2 == 0 {
                let _ = s.write_all(b"GET /v1/status HTTP/1.1\r\nHost: x\r\n");
            }
            held.push(s);
        }
    }
    eprintln!("{} attacking connections open", held.len());
    let t = Instant::now();
    let r = ureq::get(&format!("{api}/v1/status")).set("Authorization", &format!("Bearer {tok}")).timeout(Duration::from_secs(5)).call();
    let took = t.elapsed();
    eprintln!("status during the attack: {:?} in {took:?}", r.as_ref().map(|r| r.status()));
    let body = r.expect("the API does not answer during the attack").into_string().unwrap();
    assert!(took < Duration::from_secs(1), "the API took {took:?}");
    let (fds, _, _) = d.resources();
    eprintln!("daemon file descriptors: {fds0} before, {fds} during the attack");
    assert!(fds < fds0 + 600, "{fds} descriptors open");
    let st: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(st["audio"]["capturing"], true, "the playlist died: {st}");

    // A viewer gets the stream during the attack, if it logs in; one without the password does not.
    let viewer = Viewer::connect(&format!("rtsp://kiosk:Gallery-2-secret@127.0.0.1:{port}/avatar"), mouth_box());
    let intruder = Viewer::connect(&format!("rtsp://127.0.0.1:{port}/avatar"), mouth_box());
    let until = Instant::now() + Duration::from_secs(30);
    while viewer.count() < 25 {
        assert!(Instant::now() < until, "the logged-in viewer got no frames during the attack\n{}", d.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(intruder.count(), 0, "a viewer without the password got frames");
    drop(held);
    drop(intruder);

    // After the attack: descriptors come back down, the playlist is alive.
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let (fds, _, _) = d.resources();
        if fds < fds0 + 40 {
            break;
        }
        assert!(Instant::now() < until, "descriptors stay at {fds} (before: {fds0})");
        std::thread::sleep(Duration::from_millis(200));
    }
    let (_, body) = http("GET", &format!("{api}/v1/status"), Some(&tok), None);
    assert_eq!(json(&body)["audio"]["capturing"], true);
    drop(viewer);
    d.stop();
}

/// Items 2 and 10: a saved change that the daemon does not survive is rolled back at the next
/// start, and temporary files left by a killed write are removed.
#[test]
fn a_saved_change_that_kills_the_daemon_is_rolled_back() {
    let dir = tmpdir("security-rollback");
    let config = base_config(free_port(), "[daemon]\nstate_dir = \"state\"\nrollback_window_s = 5\n");
    let mut d = Daemon::start(&dir, &config, &[]);
    let api = api_url(&mut d);
    d.wait_log("live: running", Duration::from_secs(60));
    let tok = token(&dir);
    let cfg_file = dir.join("speakface.toml");
    let good = std::fs::read_to_string(&cfg_file).unwrap();
    d.wait_log("kept as", Duration::from_secs(60));
    assert_eq!(std::fs::read_to_string(dir.join("state/config.last-good.toml")).unwrap(), good);

    let changed = good.clone() + "[motion]\nseed = 7\n";
    let (code, body) = http("PUT", &format!("{api}/v1/config"), Some(&tok), Some(("application/toml", changed.as_bytes())));
    assert_eq!(code, 200, "{}", text(&body));
    assert_eq!(std::fs::read_to_string(&cfg_file).unwrap(), changed);
    // Killed at once (as the OOM killer would), and a write cut short left its temporary file.
    d.child.kill().unwrap();
    d.child.wait().unwrap();
    let stale = dir.join(".speakface.toml.tmp-999999999");
    std::fs::write(&stale, "half a config").unwrap();

    let mut d = Daemon::start_existing(&dir, &[]);
    d.wait_log("config rollback", Duration::from_secs(60));
    d.wait_log("live: running", Duration::from_secs(60));
    assert_eq!(std::fs::read_to_string(&cfg_file).unwrap(), good, "the change was not rolled back");
    assert!(!stale.exists(), "the stale temporary file is still there");
    let audit = audit_lines(&dir);
    assert!(audit.iter().any(|e| e["what"] == "config.rollback"), "the rollback is not audited: {audit:?}");
    d.stop();
    // A clean stop soon after a change is no crash: nothing is rolled back.
    let mut d = Daemon::start_existing(&dir, &[]);
    let api = api_url(&mut d);
    d.wait_log("live: running", Duration::from_secs(60));
    let (code, _) = http("PUT", &format!("{api}/v1/config"), Some(&tok), Some(("application/toml", changed.as_bytes())));
    assert_eq!(code, 200);
    d.stop();
    let d = Daemon::start_existing(&dir, &[]);
    let mut d = d;
    d.wait_log("live: running", Duration::from_secs(60));
    assert_eq!(std::fs::read_to_string(&cfg_file).unwrap(), changed);
    d.stop();
}

/// Item 8: on a full disk nothing is half-written, changes are refused with 507, and once there
/// is room again the gap is recorded. The state folder is a 1 MiB tmpfs (needs root, as CI is).
#[test]
fn the_audit_log_survives_a_full_disk() {
    let dir = tmpdir("security-fulldisk");
    let state = dir.join("state");
    std::fs::create_dir_all(&state).unwrap();
    let mounted = Command::new("mount").args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"]).arg(&state).status().is_ok_and(|s| s.success());
    if !mounted {
        eprintln!("the_audit_log_survives_a_full_disk DID NOT RUN: mounting a tmpfs needs root (CI runs as root)");
        return;
    }
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        }
    }
    let _unmount = Unmount(state.clone());
    let mut d = Daemon::start(&dir, &base_config(free_port(), ""), &[]);
    let api = api_url(&mut d);
    d.wait_log("live: running", Duration::from_secs(60));
    let tok = token(&dir);
    let wav = std::fs::read(asset("speech/short.wav")).unwrap();
    let (code, _) = http("POST", &format!("{api}/v1/speech"), Some(&tok), Some(("audio/wav", &wav)));
    assert_eq!(code, 202);

    // Fill the file system.
    let filler = state.join("filler");
    let mut f = std::fs::File::create(&filler).unwrap();
    while f.write_all(&[0u8; 4096]).is_ok() {}
    drop(f);
    for (method, path, body) in [("POST", "/v1/speech", &wav[..]), ("POST", "/v1/say", &b"Hello."[..]), ("PUT", "/v1/config", &b"[motion]\nseed = 3\n"[..])] {
        let (code, body) = http(method, &format!("{api}{path}"), Some(&tok), Some(("application/octet-stream", body)));
        eprintln!("{method} {path} on a full disk -> {code}: {}", error_of(&body));
        assert_eq!(code, 507, "{method} {path}: {}", text(&body));
    }
    let (code, _) = http("GET", &format!("{api}/v1/status"), Some(&tok), None);
    assert_eq!(code, 200, "reading goes on");

    // Room again: the gap is recorded, then the request.
    std::fs::remove_file(&filler).unwrap();
    let (code, body) = http("POST", &format!("{api}/v1/speech"), Some(&tok), Some(("audio/wav", &wav)));
    assert_eq!(code, 202, "{}", text(&body));
    let raw = std::fs::read_to_string(state.join("audit.log")).unwrap();
    let lines: Vec<serde_json::Value> =
        raw.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("a broken audit line ({e}): {l:?}"))).collect();
    let n = lines.len();
    assert!(n >= 2 && lines[n - 2]["what"] == "audit.gap" && lines[n - 1]["what"] == "speech", "{:?}", &lines[n.saturating_sub(3)..]);
    eprintln!("audit gap: {}", lines[n - 2]["detail"]);
    d.stop();
}
