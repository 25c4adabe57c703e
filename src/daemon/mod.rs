//! The live daemon (`speakface run`), glued together: the engine (`crate::engine`) below, the
//! control plane (`crate::control`: reloader, API, audit, rollback guard) beside it, and systemd
//! around it (READY after the first frame, WATCHDOG from the frame loop, STATUS lines, STOPPING).
//! Nothing depends on this module but the binary.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::control::{self, audit, lock, Shared};
use crate::engine::face::build_face;
use crate::engine::{Engine, EngineMsg};
use crate::mouth::LipModel;
use crate::provenance::Stamp;
use crate::util::systemd;
use crate::{Error, Result};

/// How often the figures for status and metrics are summarised.
const SUMMARY_EVERY: Duration = Duration::from_secs(5);

/// For tests of the watchdog: stall the frame loop on purpose after this many frames.
fn stall_after() -> Option<u64> {
    std::env::var("SPEAKFACE_TEST_STALL_AFTER_FRAMES").ok()?.parse().ok()
}

/// Runs the live daemon until `stop` is set; `reload` (set by SIGHUP) asks for the config file to
/// be read again. Start-up problems (portrait, models, outputs, ports) are returned as errors;
/// faults while running are logged and recovered.
pub fn run(cfg: Config, config_path: Option<PathBuf>, stop: &AtomicBool, reload: Arc<AtomicBool>) -> Result<()> {
    let state = control::state_dir(&cfg);
    std::fs::create_dir_all(&state)
        .map_err(|e| Error::Other(format!("daemon.state_dir {}: cannot create: {e}", state.display())))?;
    let audit_path = state.join("audit.log");
    let audit = control::audit::Audit::open_sized(&audit_path, cfg.daemon.audit_max_mb)
        .map_err(|e| Error::Other(format!("audit log {}: cannot open: {e}", audit_path.display())))?;
    if let Some(b) = &cfg.chosen_board {
        log::info!("board profile: {} ({})", b.name, b.reason);
    }
    // Before any model loads: every model of the process runs where this decides.
    let inference = crate::mouth::model::select_device(cfg.inference.device, &crate::util::dirs::default_models_dir());
    match &inference.fallback {
        Some(why) => log::warn!("inference.device = \"{}\" not used, the models run on the CPU: {why}", inference.configured),
        None => log::info!("inference on {} (configured \"{}\")", inference.device, inference.configured),
    }
    // A portrait or playlist entry that is a device, or a playlist entry that is no WAV, would
    // hang or exhaust the daemon: refused before anything starts.
    control::remote::check_files(&cfg).map_err(|e| Error::Config { path: config_path.clone().unwrap_or_default(), message: e })?;
    let lip = LipModel::configured(cfg.motion.lipsync, &cfg.models_dir())?;
    log::info!("lip sync: {}", if lip.is_some() { "the trained model (audio2motion)" } else { "the rules" });
    let face = match build_face(&cfg) {
        Ok(f) => f,
        Err(e) => {
            if let Error::Consent { path, .. } = &e {
                audit.record("daemon", "portrait.refused", "refused", &format!("{}: {e}", path.display()));
            }
            return Err(e);
        }
    };
    log::info!("portrait {} ready ({} x {} px)", face.portrait.path.display(), face.portrait.width, face.portrait.height);
    let mut keeper = control::guard::Keeper::new(config_path.clone(), &cfg);
    let shared = Arc::new(Shared::new(cfg.clone(), config_path, face.portrait.clone(), audit, inference));
    shared.audit.record("daemon", "start", "ok", &format!("portrait {} sha256 {}", face.portrait.path.display(), face.portrait.sha256));
    audit::portrait_use(&shared.audit, "daemon", &face);
    audit::provenance(&shared.audit, "daemon", None, &cfg);
    let stamp = Stamp::new(&cfg, face.rig.width, face.rig.height);
    if cfg.provenance.watermark {
        log::info!("watermark: device id {:08x}", stamp.device());
    }

    let (engine_tx, engine_rx) = mpsc::channel::<EngineMsg>();
    let reloader = control::reload::start(shared.clone(), engine_tx.clone(), reload)?;
    let api = if cfg.api.enabled {
        Some(control::api::start(&cfg, shared.clone(), engine_tx.clone(), reloader.sender())?)
    } else {
        None
    };
    drop(engine_tx);

    let mut e = Engine::start(&cfg, face, lip, stamp, shared.live.clone())?;

    let watchdog = systemd::watchdog_interval();
    let stats_every = Duration::from_secs(
        std::env::var("SPEAKFACE_STATS_S").ok().and_then(|v| v.parse().ok()).filter(|&s: &u64| s > 0).unwrap_or(60),
    );
    let summary_every = SUMMARY_EVERY.min(stats_every);
    let stall_at = stall_after();
    let mut next_summary = Instant::now() + summary_every;
    let mut next_stats = Instant::now() + stats_every;
    let mut last_ping = Instant::now();
    let mut ready = false;

    while !stop.load(Ordering::SeqCst) {
        e.turn(&engine_rx);
        let metrics = &shared.live.metrics;
        if stall_at.is_some_and(|n| metrics.frames_out.load(Ordering::Relaxed) >= n) {
            log::warn!("frame loop stalled on purpose (SPEAKFACE_TEST_STALL_AFTER_FRAMES)");
            while !stop.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(50));
            }
            break;
        }
        // --- housekeeping --------------------------------------------------------------------
        if !ready && metrics.frames_out.load(Ordering::Relaxed) > 0 {
            ready = true;
            systemd::notify("READY=1\nSTATUS=animating");
            log::info!("live: running at {} fps, {}x{}", e.config().video.fps, e.config().video.width, e.config().video.height);
        }
        if let Some(every) = watchdog {
            if last_ping.elapsed() >= every {
                systemd::notify("WATCHDOG=1");
                last_ping = Instant::now();
            }
        }
        keeper.tick();
        if Instant::now() >= next_summary {
            next_summary = Instant::now() + summary_every;
            metrics.take_stats();
            shared.live.rtsp_clients.store(e.viewers(), Ordering::Relaxed);
        }
        if Instant::now() >= next_stats {
            next_stats = Instant::now() + stats_every;
            let s = lock(&metrics.last).clone();
            let audio = if shared.live.capture.running.load(Ordering::Relaxed) { "capturing" } else { "no speech source" };
            let line = format!(
                "stats: {:.1} fps, audio-in to frame-out median {:.0} ms, p95 {:.0} ms ({} frames with speech), render median {:.1} ms, skipped {} frames, viewers {}, audio {}",
                s.fps,
                s.latency_median_ms,
                s.latency_p95_ms,
                s.latency_samples,
                s.render_median_ms,
                metrics.frames_skipped.load(Ordering::Relaxed),
                e.viewers(),
                audio,
            );
            log::info!("{line}");
            systemd::notify(&format!("STATUS={line}"));
        }
    }
    systemd::notify("STOPPING=1");
    log::info!("stopping");
    shared.audit.record("daemon", "stop", "ok", "");
    keeper.stopped_cleanly();
    drop(api);
    drop(reloader);
    drop(e);
    Ok(())
}
