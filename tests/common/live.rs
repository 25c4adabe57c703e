//! The live daemon as a process (`speakface run`) and a real RTSP viewer, for the live and
//! control-plane tests.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;

use speakface::config::Config;
use speakface::face::idx;
use speakface::face::rig::Rig;

use super::{asset, bbox, tmpdir};

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub struct Daemon {
    pub child: Child,
    pub log: PathBuf,
}

impl Daemon {
    pub fn start(dir: &Path, config: &str, env: &[(&str, &str)]) -> Daemon {
        let cfg = dir.join("speakface.toml");
        // Each daemon keeps its state in its test folder and lets the API pick a free port.
        let mut config = config.to_string();
        if !config.contains("[daemon]") {
            config += "\n[daemon]\nstate_dir = \"state\"\n";
        }
        if !config.contains("[consent]") {
            config += &format!("\n[consent]\nallowlist = \"{}/tests/data/consent.toml\"\n", env!("CARGO_MANIFEST_DIR"));
        }
        if !config.contains("[api]") {
            config += "\n[api]\nlisten = \"127.0.0.1:0\"\n";
        }
        std::fs::write(&cfg, config).unwrap();
        Daemon::start_existing(dir, env)
    }

    /// Starts the daemon on the config file already in `dir` (a restart), appending to its log.
    pub fn start_existing(dir: &Path, env: &[(&str, &str)]) -> Daemon {
        let cfg = dir.join("speakface.toml");
        let log = dir.join("daemon.log");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_speakface"));
        cmd.args(["run", "--config"]).arg(&cfg);
        cmd.env("SPEAKFACE_CACHE", dir.join("cache")).env("SPEAKFACE_STATS_S", "1");
        for (k, v) in env {
            cmd.env(k, v);
        }
        // Each run logs to a fresh daemon.log; an earlier run's is kept as daemon.log.1, .2, ….
        if log.exists() {
            let n = (1..).find(|i| !dir.join(format!("daemon.log.{i}")).exists()).unwrap();
            std::fs::rename(&log, dir.join(format!("daemon.log.{n}"))).unwrap();
        }
        let child = cmd.stdout(Stdio::null()).stderr(std::fs::File::create(&log).unwrap()).spawn().unwrap();
        Daemon { child, log }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn wait_log(&mut self, needle: &str, timeout: Duration) {
        let until = Instant::now() + timeout;
        while Instant::now() < until {
            if self.log().contains(needle) {
                return;
            }
            if let Ok(Some(st)) = self.child.try_wait() {
                panic!("daemon exited ({st}) before logging {needle:?}:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("daemon did not log {needle:?} within {timeout:?}:\n{}", self.log());
    }

    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGTERM, then the exit status must be success within 10 s.
    pub fn stop(mut self) {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let until = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                assert!(st.success(), "daemon exit {st} after SIGTERM:\n{}", self.log());
                return;
            }
            assert!(Instant::now() < until, "daemon ignored SIGTERM:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// (open files, threads, resident kB) of the daemon process.
    pub fn resources(&self) -> (usize, usize, u64) {
        let pid = self.child.id();
        let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).unwrap().count();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let field = |name: &str| -> u64 {
            status.lines().find(|l| l.starts_with(name)).unwrap().split_whitespace().nth(1).unwrap().parse().unwrap()
        };
        (fds, field("Threads:") as usize, field("VmRSS:"))
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The lips' box in the 512×512 output of the default portrait (what the daemon renders).
pub fn mouth_box() -> [u32; 4] {
    let dir = tmpdir("live-rig");
    std::env::set_var("SPEAKFACE_CACHE", dir.join("cache"));
    let (img, analysis) = speakface::face::analyze_portrait(&Config::default(), &asset("portraits/default.jpg")).unwrap();
    let rig = Rig::build(&img, &analysis, 512, 512, 1.0);
    let ids = idx::UPPER_LIP_OUTER.iter().chain(idx::LOWER_LIP_OUTER.iter());
    bbox(ids.map(|&i| [rig.rest[i][0], rig.rest[i][1]]), 4.0, 512, 512)
}

/// One received frame: when it arrived, the dark fraction of the mouth box (an open mouth shows
/// the dark inside), and a small grey thumbnail of the whole frame (to tell idle motion from a
/// frozen picture).
pub struct Seen {
    pub at: Instant,
    pub dark: f32,
    pub thumb: Vec<u8>,
}

/// A real RTSP client: rtspsrc → H.264 decode → grey frames.
pub struct Viewer {
    pub pipeline: gst::Pipeline,
    pub frames: Arc<Mutex<Vec<Seen>>>,
}

impl Viewer {
    pub fn connect(url: &str, mouth: [u32; 4]) -> Viewer {
        gst::init().unwrap();
        let p = gst::parse::launch(&format!(
            "rtspsrc location={url} protocols=tcp latency=100 ! rtph264depay ! avdec_h264 ! videoconvert \
             ! video/x-raw,format=GRAY8,width=512,height=512 ! appsink name=s sync=false max-buffers=50 drop=true"
        ))
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
        let frames = Arc::new(Mutex::new(Vec::new()));
        let f = frames.clone();
        let sink = p.by_name("s").unwrap().downcast::<gst_app::AppSink>().unwrap();
        sink.set_callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |s| {
                    let sample = s.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                    let buf = sample.buffer().ok_or(gst::FlowError::Error)?;
                    let map = buf.map_readable().map_err(|_| gst::FlowError::Error)?;
                    let stride = map.len() / 512;
                    let px = |x: u32, y: u32| map[y as usize * stride + x as usize];
                    let (mut dark, mut n) = (0u32, 0u32);
                    for y in mouth[1]..mouth[3] {
                        for x in mouth[0]..mouth[2] {
                            n += 1;
                            // The built mouth is dim inside, not black (its cavity stays
                            // above luma ~50 so an outside camera's noise stays grey).
                            if px(x, y) < 80 {
                                dark += 1;
                            }
                        }
                    }
                    let thumb = (0..32 * 32).map(|i| px((i % 32) * 16 + 8, (i / 32) * 16 + 8)).collect();
                    f.lock().unwrap().push(Seen { at: Instant::now(), dark: dark as f32 / n as f32, thumb });
                    Ok(gst::FlowSuccess::Ok)
                })
                .build(),
        );
        p.set_state(gst::State::Playing).unwrap();
        Viewer { pipeline: p, frames }
    }

    /// Frames that arrived in [from, to).
    pub fn between(&self, from: Instant, to: Instant) -> Vec<(f32, Vec<u8>)> {
        self.frames.lock().unwrap().iter().filter(|s| s.at >= from && s.at < to).map(|s| (s.dark, s.thumb.clone())).collect()
    }

    pub fn count(&self) -> usize {
        self.frames.lock().unwrap().len()
    }
}

impl Drop for Viewer {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

/// The API's address, from the daemon's log line.
pub fn api_url(d: &mut Daemon) -> String {
    d.wait_log("api: listening on http://", Duration::from_secs(60));
    let log = d.log();
    let at = log.find("api: listening on http://").unwrap() + "api: listening on ".len();
    log[at..].split_whitespace().next().unwrap().to_string()
}

/// One HTTP request: (status, body).
pub fn http(method: &str, url: &str, token: Option<&str>, body: Option<(&str, &[u8])>) -> (u16, Vec<u8>) {
    let mut r = ureq::request(method, url).timeout(Duration::from_secs(90));
    if let Some(t) = token {
        r = r.set("Authorization", &format!("Bearer {t}"));
    }
    let res = match body {
        Some((ctype, b)) => r.set("Content-Type", ctype).send_bytes(b),
        None => r.call(),
    };
    let resp = match res {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{method} {url}: {e}"),
    };
    let code = resp.status();
    let mut v = Vec::new();
    resp.into_reader().read_to_end(&mut v).unwrap();
    (code, v)
}

pub fn json(body: &[u8]) -> serde_json::Value {
    serde_json::from_slice(body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(body)))
}

pub fn text(body: &[u8]) -> String {
    String::from_utf8_lossy(body).into_owned()
}

pub fn audit_lines(dir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("state/audit.log")).unwrap_or_default().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

