//! The `speakface` command: `render` (portrait + speech → MP4), `run` (the live daemon),
//! `analyze` (portrait → landmarks file), `verify`, `consent`, `camera`, `check-config`,
//! `boards`, `models`, `bench`, `manpage`. Every failure is one line on stderr and a non-zero exit.
//!
//! Over 500 lines: the command line itself, twelve subcommands whose argument help is also the
//! man page (`speakface manpage`), each with a handler of a few lines that calls into the
//! library; splitting it would scatter the one place a user's words are turned into calls.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use speakface::config::{Config, EmotionSpec};
use speakface::motion::emotion::GazeText;
use speakface::mouth::LipSync;
use speakface::job::{self, RenderJob};
use speakface::{infer, Error, Result};

#[derive(Parser)]
#[command(name = "speakface", version, about = "One still portrait + speech → a talking-head video, offline")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Render a talking-head MP4 from a portrait and a speech WAV (defaults: the bundled demo).
    Render(RenderArgs),
    /// Print the manual page (roff) to stdout; the package installs it as speakface(1).
    #[command(hide = true)]
    Manpage,
    /// Find the face in a portrait and write its landmarks as JSON (editable; usable with --landmarks).
    Analyze {
        #[arg(long)]
        portrait: PathBuf,
        /// Where to write the landmarks (default: print to stdout).
        #[arg(long)]
        out: Option<PathBuf>,
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// The live daemon: speech from ALSA (or a WAV playlist) in, the talking portrait out to the
    /// configured display / RTSP / MP4 / V4L2 outputs, until SIGTERM.
    Run {
        /// TOML config (default: /etc/speakface/speakface.toml when it exists, else built-in defaults).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Play these WAV files in a loop instead of capturing (sets audio.source = "file").
        #[arg(long, num_args = 1..)]
        speech: Vec<PathBuf>,
        /// Portrait image (overrides portrait.image).
        #[arg(long)]
        portrait: Option<PathBuf>,
    },
    /// Validate a config file without starting anything.
    CheckConfig { file: PathBuf },
    /// Render the gallery poses (rest, aa, ee, oo, mm, ff, ll with the tongue raised, blink, turn 20°, smile) of each
    /// portrait as one PNG sheet with 2× crops of the mouth and eyes, for a person to check.
    Gallery {
        /// Portraits to render (one sheet each, named after the file).
        #[arg(required = true, num_args = 1..)]
        portraits: Vec<PathBuf>,
        /// Folder for the sheets.
        #[arg(long)]
        out: PathBuf,
        /// Also write the poses as a motion track (CSV, each pose held N frames; see --hold),
        /// to render them through `render --motion-track`.
        #[arg(long)]
        track: Option<PathBuf>,
        #[arg(long, default_value_t = 3)]
        hold: usize,
        /// Full frames at 1/N size on the sheet (the crops stay 2×).
        #[arg(long, default_value_t = 2)]
        shrink: u32,
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// List the board profiles, which one this machine gets and why, and each board's notes.
    Boards,
    /// Is the invisible watermark in this video (an MP4 file, or a stream URL such as
    /// rtsp://HOST:8554/avatar)? Prints what it carries and the file's provenance tags.
    /// Exit status: 0 watermark found in every source, 1 not found in one, 2 error.
    Verify {
        #[arg(required = true)]
        sources: Vec<String>,
        /// Read at most this many seconds of video from each.
        #[arg(long, default_value_t = 60.0)]
        seconds: f64,
        /// Give up on a stream after this many seconds of wall time.
        #[arg(long, default_value_t = 30.0)]
        timeout: f64,
        /// Print JSON (one object per source) instead of text.
        #[arg(long)]
        json: bool,
    },
    /// The live path end to end on the bundled portrait and speech: frame rate, CPU, latency,
    /// peak memory, each beside its goal (a table, or JSON).
    Bench {
        /// Measuring time, after 5 s of settling.
        #[arg(long, default_value_t = 30.0)]
        seconds: f64,
        /// The daemon's mouth: model (the default) or heuristic, to compare the two
        #[arg(long, default_value = "model", value_parser = ["model", "heuristic"])]
        lipsync: String,
        #[arg(long)]
        json: bool,
        /// Instead: time each stage against a fixed reference computation in the same run.
        #[arg(long)]
        stages: bool,
        /// With --stages: fail (exit 1) if a stage's ratio is more than 25 % above this baseline.
        #[arg(long)]
        check: Option<PathBuf>,
        /// With --stages: write the ratios measured as the new baseline.
        #[arg(long)]
        write_baseline: Option<PathBuf>,
    },
    /// The portrait consent allowlist the daemon checks (consent.allowlist in the config).
    Consent {
        #[command(subcommand)]
        action: ConsentAction,
    },
    /// Take a still from a V4L2 camera (camera.device from the config, or --device) as a PNG,
    /// or list what the camera offers. The daemon takes one as its portrait on
    /// `POST /v1/portrait/camera`.
    Camera {
        #[arg(long)]
        device: Option<PathBuf>,
        /// Where to write the still (PNG).
        #[arg(long, default_value = "snapshot.png")]
        out: PathBuf,
        /// List the camera's formats and frame sizes instead.
        #[arg(long)]
        list: bool,
        /// Check that the still shows a face the daemon could animate.
        #[arg(long)]
        check_face: bool,
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Verify every model in the manifest (sha256, and that tract loads it).
    Models {
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Load them on this device: cpu, or cuda (runs the GPU self-test first; fails, naming
        /// the reason, if the models would fall back to the CPU).
        #[arg(long, default_value = "cpu")]
        device: String,
    },
}

#[derive(Subcommand)]
enum ConsentAction {
    /// Allow a portrait: record its sha256 with who agreed and when.
    Add {
        image: PathBuf,
        /// Who agreed: the person shown, their representative, or the rights holder.
        #[arg(long)]
        by: String,
        /// When they agreed, YYYY-MM-DD (default: today).
        #[arg(long)]
        date: Option<String>,
        /// What the portrait is (a name, "public domain painting", …).
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        note: Option<String>,
        /// Config whose consent.allowlist to write (default: /etc/speakface/speakface.toml if present).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// List the allowlist, or check one image against it.
    List {
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Is this image allowed? Exit status 0 yes, 1 no.
    Check {
        image: PathBuf,
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

#[derive(Args)]
struct RenderArgs {
    /// Portrait image, JPEG or PNG, any size.
    #[arg(long)]
    portrait: Option<PathBuf>,
    /// Speech, WAV at any common rate and channel count.
    #[arg(long)]
    audio: Option<PathBuf>,
    /// Output MP4 (H.264 + AAC).
    #[arg(long, default_value = "speakface-demo.mp4")]
    out: PathBuf,
    /// TOML config (see README for every key).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Landmarks file to use instead of the face models (from `speakface analyze`).
    #[arg(long)]
    landmarks: Option<PathBuf>,
    /// Hair mask: greyscale, the portrait's size, white where a moustache or beard covers the mouth
    #[arg(long)]
    hair_mask: Option<PathBuf>,
    /// CSV or JSON of named motion parameters per frame, overriding the computed ones.
    #[arg(long)]
    motion_track: Option<PathBuf>,
    /// Also write the motion used, every parameter per frame, as CSV (edit it and feed it back
    /// with --motion-track).
    #[arg(long)]
    motion_out: Option<PathBuf>,
    /// Also write a PNG contact sheet of frames across the clip.
    #[arg(long)]
    preview: Option<PathBuf>,
    /// neutral, happy, sad, angry, surprised, optionally with a strength: happy:0.6
    #[arg(long)]
    emotion: Option<String>,
    /// camera, free, or fixed angles YAW,PITCH in degrees.
    #[arg(long, allow_hyphen_values = true)]
    gaze: Option<String>,
    #[arg(long)]
    head_distance: Option<f32>,
    /// Scales head motion, gaze and expressiveness (0 = still head).
    #[arg(long)]
    intensity: Option<f32>,
    #[arg(long)]
    seed: Option<u64>,
    /// Mouth motion from the trained model (default) or hand-written rules: model | heuristic
    #[arg(long)]
    lipsync: Option<LipSync>,
    /// Scales the mouth's speech movements, 0.5 to 2.0 (motion.articulation; above 1 for lip-readers at a distance)
    #[arg(long)]
    articulation: Option<f32>,
    #[arg(long)]
    width: Option<u32>,
    #[arg(long)]
    height: Option<u32>,
    #[arg(long)]
    fps: Option<u32>,
    /// No progress bar and no summary line.
    #[arg(long, short)]
    quiet: bool,
}

/// The config file, or the built-in defaults with this board's profile under them.
fn load_config(path: Option<&PathBuf>) -> Result<Config> {
    match path {
        Some(p) => Config::load(p),
        None => Config::parse("", std::path::Path::new("built-in defaults")),
    }
}

fn render(a: RenderArgs) -> Result<()> {
    let mut cfg = load_config(a.config.as_ref())?;
    let inference = speakface::mouth::model::select_device(cfg.inference.device, &speakface::util::dirs::default_models_dir());
    if let Some(why) = &inference.fallback {
        eprintln!("inference.device = \"{}\" not used, the models run on the CPU: {why}", inference.configured);
    }
    if let Some(m) = a.hair_mask {
        cfg.portrait.hair_mask = Some(m);
    }
    if let Some(l) = a.landmarks {
        cfg.portrait.landmarks = Some(l);
    }
    if let Some(e) = a.emotion {
        cfg.motion.emotion = match e.split_once(':') {
            Some((name, s)) => {
                let v: f32 = s.parse().map_err(|_| Error::Other(format!("--emotion {e}: strength \"{s}\" is not a number")))?;
                EmotionSpec::from_text(None, &[(name.to_string(), v)])
            }
            None => EmotionSpec::from_text(Some(&e), &[]),
        }
        .map_err(|message| Error::Config { path: "command line".into(), message })?;
    }
    if let Some(g) = a.gaze {
        cfg.motion.gaze = match g.split_once(',') {
            Some((y, p)) => {
                let parse = |s: &str| s.trim().parse::<f32>().map_err(|_| Error::Other(format!("--gaze {g}: \"{s}\" is not a number of degrees")));
                GazeText::Angles { yaw: parse(y)?, pitch: parse(p)? }
            }
            None => GazeText::Mode(g),
        }
        .gaze()
        .map_err(|message| Error::Config { path: "command line".into(), message })?;
    }
    if let Some(v) = a.head_distance {
        cfg.motion.head_distance = v;
    }
    if let Some(v) = a.intensity {
        cfg.motion.motion_intensity = v;
    }
    if let Some(v) = a.seed {
        cfg.motion.seed = v;
    }
    if let Some(v) = a.lipsync {
        cfg.motion.lipsync = v;
    }
    if let Some(v) = a.articulation {
        cfg.motion.articulation = v;
    }
    if let Some(v) = a.width {
        cfg.video.width = v;
    }
    if let Some(v) = a.height {
        cfg.video.height = v;
    }
    if let Some(v) = a.fps {
        cfg.video.fps = v;
    }
    cfg.validate(a.config.as_deref().unwrap_or(std::path::Path::new("command line")))?;
    let portrait = a.portrait.or_else(|| cfg.portrait.image.clone()).unwrap_or_else(speakface::util::dirs::default_portrait);
    let audio = a.audio.unwrap_or_else(speakface::util::dirs::default_speech);
    let job = RenderJob {
        portrait,
        audio,
        out: a.out,
        config: cfg,
        motion_track: a.motion_track,
        motion_out: a.motion_out,
        preview: a.preview.clone(),
        progress: !a.quiet,
    };
    let report = job::render(&job)?;
    if !a.quiet {
        eprintln!(
            "wrote {}: {} frames, {:.2} s of speech, rendered in {:.1} s ({:.1}× real time){}",
            job.out.display(),
            report.frames,
            report.duration_s,
            report.elapsed_s,
            report.duration_s / report.elapsed_s.max(1e-9),
            a.preview.map(|p| format!("; preview {}", p.display())).unwrap_or_default()
        );
    }
    Ok(())
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Render(a) => render(a),
        Command::Gallery { portraits, out, track, hold, shrink, config } => {
            let cfg = load_config(config.as_ref())?;
            std::fs::create_dir_all(&out).map_err(|e| Error::Output { path: out.clone(), message: format!("cannot create: {e}") })?;
            if let Some(t) = &track {
                speakface::gallery::poses_csv(t, hold.max(1))?;
            }
            let mut failed = 0;
            for p in &portraits {
                let name = p.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "portrait".into());
                let sheet = out.join(format!("{name}.png"));
                match speakface::gallery::portrait_sheet(&cfg, p, &sheet, shrink) {
                    Ok(()) => println!("{}", sheet.display()),
                    Err(e) => {
                        eprintln!("speakface: {}: {e}", p.display());
                        failed += 1;
                    }
                }
            }
            if failed > 0 {
                return Err(Error::Other(format!("{failed} of {} portraits failed", portraits.len())));
            }
            Ok(())
        }
        Command::Analyze { portrait, out, config } => {
            let cfg = load_config(config.as_ref())?;
            let (_, analysis) = speakface::face::analyze_portrait(&cfg, &portrait)?;
            let json = serde_json::to_string_pretty(&analysis).map_err(|e| Error::Other(e.to_string()))?;
            match out {
                Some(p) => std::fs::write(&p, json)
                    .map_err(|e| Error::Output { path: p.clone(), message: format!("cannot write: {e}") })?,
                None => println!("{json}"),
            }
            Ok(())
        }
        Command::Run { config, speech, portrait } => {
            speakface::util::logging::init();
            // Absolute, so that paths written back into it (an uploaded portrait) and reloads
            // do not depend on the working folder.
            let config = daemon_config_path(config).map(|p| std::path::absolute(&p).unwrap_or(p));
            let mut cfg = load_config(config.as_ref())?;
            if let Some(path) = &config {
                use speakface::control::{guard, state_dir};
                let state = state_dir(&cfg);
                if let Some(msg) = guard::rollback_if_pending(path, &state) {
                    log::warn!("config rollback: {msg}");
                    if let Ok(a) = speakface::control::audit::Audit::open_sized(&state.join("audit.log"), cfg.daemon.audit_max_mb) {
                        a.record("daemon", "config.rollback", "applied", &msg);
                    }
                    cfg = load_config(config.as_ref())?;
                }
                let mut dirs = vec![state.clone(), state.join("portraits")];
                dirs.extend(path.parent().map(Path::to_path_buf));
                dirs.extend(cfg.consent.allowlist.parent().map(Path::to_path_buf));
                guard::remove_stale_temps(&dirs);
            }
            speakface::util::systemd::raise_open_files_limit();
            if !speech.is_empty() {
                cfg.audio.source = speakface::config::AudioSource::File;
                cfg.audio.files = speech;
            }
            if let Some(p) = portrait {
                cfg.portrait.image = Some(p);
            }
            cfg.validate(config.as_deref().unwrap_or(std::path::Path::new("command line")))?;
            let sig = speakface::util::systemd::signal_flags().map_err(|e| Error::Other(format!("cannot install signal handlers: {e}")))?;
            speakface::daemon::run(cfg, config, &sig.stop, sig.reload)
        }
        Command::CheckConfig { file } => {
            let cfg = Config::load(&file)?;
            let board = cfg.chosen_board.map(|b| format!(" (board profile {}: {})", b.name, b.reason)).unwrap_or_default();
            println!("{}: ok{board}", file.display());
            Ok(())
        }
        Command::Boards => {
            let dir = speakface::board::profiles_dir();
            let all = speakface::board::load_all(&dir).map_err(Error::Other)?;
            let model = speakface::board::device_tree_model();
            let chosen = speakface::board::choose(&all, "auto", model.as_deref(), std::env::consts::ARCH).ok();
            for p in &all {
                let here = chosen.as_ref().filter(|(c, _)| c.board.name == p.board.name).map(|(_, why)| format!("   <- this machine ({why})"));
                println!("{}: {}{}", p.board.name, p.board.description, here.unwrap_or_default());
                for line in p.board.notes.trim().lines() {
                    println!("    {line}");
                }
            }
            println!("(profiles in {})", dir.display());
            Ok(())
        }
        Command::Verify { .. } | Command::Manpage => unreachable!("handled in main"),
        Command::Consent { action } => consent(action),
        Command::Camera { device, out, list, check_face, config } => camera(device, out, list, check_face, config),
        Command::Bench { stages: true, json, check, write_baseline, .. } => {
            let now = speakface::bench::stages(60)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&now).map_err(|e| Error::Other(e.to_string()))?);
            } else {
                println!("{:<24} {:>10} {:>14} {:>8}", "stage", "median ms", "reference ms", "ratio");
                for s in &now {
                    println!("{:<24} {:>10.3} {:>14.3} {:>8.3}", s.stage, s.median_ms, s.reference_ms, s.ratio);
                }
            }
            if let Some(p) = write_baseline {
                let text = serde_json::to_string_pretty(&now).map_err(|e| Error::Other(e.to_string()))?;
                std::fs::write(&p, text + "\n").map_err(|e| Error::Output { path: p.clone(), message: format!("cannot write: {e}") })?;
                println!("baseline written to {}", p.display());
            }
            if let Some(p) = check {
                let text = std::fs::read_to_string(&p).map_err(|e| Error::Other(format!("baseline {}: cannot read: {e}", p.display())))?;
                let base: Vec<speakface::bench::StageRatio> =
                    serde_json::from_str(&text).map_err(|e| Error::Other(format!("baseline {}: {e}", p.display())))?;
                let bad = speakface::bench::regressions(&now, &base, 0.25);
                if !bad.is_empty() {
                    return Err(Error::Other(format!("stages slower than the baseline {}: {}", p.display(), bad.join("; "))));
                }
                println!("no stage more than 25 % slower than {} (ratios to the reference)", p.display());
            }
            Ok(())
        }
        Command::Bench { seconds, lipsync, json, .. } => {
            let r = speakface::bench::run(seconds.max(1.0), &lipsync)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&r).map_err(|e| Error::Other(e.to_string()))?);
            } else {
                print!("{}", r.table());
            }
            Ok(())
        }
        Command::Models { dir, device } => {
            let dir = dir.unwrap_or_else(speakface::util::dirs::default_models_dir);
            let Ok(dev) = device.parse::<infer::Device>() else {
                return Err(Error::Other(format!("--device {device}: expected cpu or cuda")));
            };
            let choice = speakface::mouth::model::select_device(dev, &dir);
            if let Some(why) = choice.fallback {
                return Err(Error::Other(format!("inference device {device} not usable (the daemon would run the models on the CPU): {why}")));
            }
            if let (Some(ms), Some(diff)) = (choice.self_test_ms, choice.self_test_max_diff) {
                println!("{device}: self-test ok (one lip-sync hop in {ms:.1} ms including warm-up, within {diff:.1e} of the CPU)");
            }
            for name in ["face_detection", "face_landmark", "iris_landmark", "audio2motion", "audio2motion_float"] {
                let m = infer::Model::load(&dir, name)?;
                println!("{name}: ok (sha256 verified, inputs {:?})", m.input_shape(0).unwrap_or(&[]));
            }
            Ok(())
        }
    }
}

/// The config file the daemon reads: the one named, else /etc/speakface/speakface.toml when it
/// exists (else none: built-in defaults).
fn daemon_config_path(config: Option<PathBuf>) -> Option<PathBuf> {
    let etc = PathBuf::from("/etc/speakface/speakface.toml");
    config.or_else(|| etc.is_file().then_some(etc))
}

fn daemon_config(config: Option<PathBuf>) -> Result<Config> {
    load_config(daemon_config_path(config).as_ref())
}

fn camera(device: Option<PathBuf>, out: PathBuf, list: bool, check_face: bool, config: Option<PathBuf>) -> Result<()> {
    let cfg = daemon_config(config)?;
    let device = match device {
        Some(d) => d,
        None => speakface::camera::configured(&cfg)?,
    };
    if list {
        let o = speakface::camera::offer(&device)?;
        println!("{}: \"{}\" ({})", device.display(), o.card, o.driver);
        for f in &o.formats {
            println!("  {f}");
        }
        return Ok(());
    }
    let c = &cfg.camera;
    let shot = speakface::camera::snapshot(&device, c.width, c.height, c.skip_frames)?;
    let bytes = speakface::camera::png(&shot.image)?;
    if check_face {
        let models = speakface::face::FaceModels::load(&cfg.models_dir())?;
        speakface::face::analyze(&models, &shot.image, &device)?;
    }
    speakface::config::write_atomic(&out, &bytes).map_err(|e| Error::Other(format!("{}: cannot write: {e}", out.display())))?;
    println!("{}: {} still from \"{}\" written to {}", device.display(), shot.format, shot.card, out.display());
    Ok(())
}

fn consent(action: ConsentAction) -> Result<()> {
    use speakface::provenance::{today, Allowlist, ConsentEntry};
    use speakface::util::hash::file_sha256;
    match action {
        ConsentAction::Add { image, by, date, name, note, config } => {
            let cfg = daemon_config(config)?;
            // Only images that are images: hash what the daemon would load.
            let bytes = std::fs::read(&image).map_err(|e| Error::Image { path: image.clone(), message: format!("cannot read: {e}") })?;
            speakface::face::decode_portrait(&bytes, &image)?;
            let sha256 = file_sha256(&image)?;
            let mut list = Allowlist::load(&cfg.consent.allowlist)?;
            let entry = ConsentEntry { sha256: sha256.clone(), consent_by: by, consent_date: date.unwrap_or_else(today), name, note };
            entry.check().map_err(|m| Error::Other(format!("consent add: {m}")))?;
            list.add(entry)?;
            println!("{}: sha256 {sha256} allowed in {}", image.display(), list.path.display());
            Ok(())
        }
        ConsentAction::List { config } => {
            let cfg = daemon_config(config)?;
            let list = Allowlist::load(&cfg.consent.allowlist)?;
            println!("{} ({} entries{}){}", list.path.display(), list.entries.len(), if list.present { "" } else { ", file absent" },
                if cfg.consent.required { "" } else { "; consent.required = false: the daemon does not check" });
            for e in &list.entries {
                println!("{}  {}  by {}{}", e.sha256, e.consent_date, e.consent_by, e.name.as_ref().map(|n| format!("  ({n})")).unwrap_or_default());
            }
            Ok(())
        }
        ConsentAction::Check { image, config } => {
            let cfg = daemon_config(config)?;
            let sha = file_sha256(&image)?;
            let c = speakface::provenance::check_consent(&cfg, &image, &sha)?;
            println!("{}: allowed ({})", image.display(), c.describe());
            Ok(())
        }
    }
}

fn verify(sources: &[String], seconds: f64, timeout: f64, json: bool) -> ExitCode {
    let mut all = true;
    for s in sources {
        match speakface::provenance::verify::verify(s, seconds, std::time::Duration::from_secs_f64(timeout.max(1.0))) {
            Ok(r) => {
                all &= r.watermarked();
                if json {
                    println!("{}", serde_json::to_string(&r).unwrap_or_default());
                } else {
                    print!("{}", r.text());
                }
            }
            Err(e) => {
                eprintln!("speakface: error: {}", speakface::error::one_line(&e.to_string()));
                return ExitCode::from(2);
            }
        }
    }
    if all {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// The manual page, made from the command-line definition.
fn manpage() -> std::io::Result<Vec<u8>> {
    use clap::CommandFactory;
    let mut out = Vec::new();
    clap_mangen::Man::new(Cli::command()).render(&mut out)?;
    Ok(out)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Manpage = &cli.command {
        use std::io::Write;
        return match manpage().and_then(|m| std::io::stdout().write_all(&m)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("speakface: error: {e}");
                ExitCode::FAILURE
            }
        };
    }
    if let Command::Verify { sources, seconds, timeout, json } = &cli.command {
        return verify(sources, *seconds, *timeout, *json);
    }
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line whatever the underlying library put in its message.
            eprintln!("speakface: error: {}", speakface::error::one_line(&e.to_string()));
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    /// docs/speakface.1 (what the package installs) is the page the command line makes now:
    /// regenerate it with `cargo run --release -- manpage > docs/speakface.1`.
    #[test]
    fn the_committed_man_page_is_current() {
        let now = super::manpage().unwrap();
        let committed = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/speakface.1")).unwrap_or_default();
        assert!(now == committed, "docs/speakface.1 is stale: cargo run --release -- manpage > docs/speakface.1");
    }
}
