//! The Debian package: built by scripts/package.sh from the test build's binary, inspected with
//! dpkg-deb, installed into a scratch root with dpkg (maintainer scripts run against that root),
//! upgraded and purged there. The installed unit passes systemd-analyze verify against the
//! installed binary, and the installed binary finds its models, board profiles and assets.

mod common;
use common::*;

use std::path::{Path, PathBuf};
use std::process::Command;

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{cmd:?} failed:\n{text}");
    text
}

fn package(version: &str, out: &Path) -> PathBuf {
    let text = run(Command::new("bash")
        .arg(root().join("scripts/package.sh"))
        .args(["amd64", env!("CARGO_BIN_EXE_speakface")])
        .env("SPEAKFACE_DEB_VERSION", version)
        .env("CARGO_TARGET_DIR", out));
    let deb = root().join(text.lines().last().unwrap().trim());
    assert!(deb.is_file(), "{text}");
    let kept = out.join(deb.file_name().unwrap());
    std::fs::rename(&deb, &kept).unwrap();
    kept
}

fn dpkg(root: &Path, args: &[&str]) -> String {
    run(Command::new("dpkg")
        .arg(format!("--root={}", root.display()))
        .args(["--force-script-chrootless", "--force-depends", "--log=/dev/null"])
        .args(args))
}

#[test]
fn the_package_installs_upgrades_and_purges_keeping_the_operators_config() {
    let dir = tmpdir("package");
    let deb1 = package("0.1.0~test1", &dir);
    let deb2 = package("0.1.0~test2", &dir);

    let info = run(Command::new("dpkg-deb").arg("--info").arg(&deb1));
    for needle in ["Package: speakface", "Architecture: amd64", "libgstrtspserver-1.0-0", "gstreamer1.0-plugins-ugly"] {
        assert!(info.contains(needle), "control lacks {needle}:\n{info}");
    }
    let contents = run(Command::new("dpkg-deb").arg("--contents").arg(&deb1));
    for f in [
        "./usr/bin/speakface",
        "./usr/lib/systemd/system/speakface.service",
        "./usr/lib/sysusers.d/speakface.conf",
        "./usr/lib/tmpfiles.d/speakface.conf",
        "./usr/share/speakface/speakface.toml",
        "./usr/share/speakface/models/manifest.toml",
        "./usr/share/speakface/models/face_landmark.onnx",
        "./usr/share/speakface/models/audio2motion_int8.onnx",
        "./usr/share/speakface/board/jetson-orin-nano.toml",
        "./usr/share/speakface/assets/portraits/default.jpg",
        "./usr/share/doc/speakface/copyright",
        "./usr/share/man/man1/speakface.1.gz",
    ] {
        assert!(contents.lines().any(|l| l.ends_with(f)), "package lacks {f}:\n{contents}");
    }
    assert!(!contents.contains("./etc/"), "the package must not own /etc (the config is the operator's)");

    // --- install into a scratch root ----------------------------------------------------------
    let r = dir.join("root");
    for d in ["var/lib/dpkg/info", "var/lib/dpkg/updates", "etc"] {
        std::fs::create_dir_all(r.join(d)).unwrap();
    }
    std::fs::write(r.join("var/lib/dpkg/status"), "").unwrap();
    dpkg(&r, &["-i", deb1.to_str().unwrap()]);
    let cfg = r.join("etc/speakface/speakface.toml");
    assert!(cfg.is_file(), "postinst did not install the config");
    // The consent allowlist holds the bundled demo portrait, so the demo config runs.
    let consent = std::fs::read_to_string(r.join("etc/speakface/consent.toml")).expect("postinst did not install the consent allowlist");
    assert!(consent.contains("61404769e8d0050daac622c53d1737073013275d86a55da5e6186084ad57de68"), "{consent}");
    let passwd = std::fs::read_to_string(r.join("etc/passwd")).unwrap();
    assert!(passwd.lines().any(|l| l.starts_with("speakface:") && l.contains("/var/lib/speakface")), "{passwd}");
    for d in ["var/lib/speakface", "var/lib/speakface/portraits", "var/cache/speakface", "etc/speakface"] {
        assert!(r.join(d).is_dir(), "tmpfiles did not create /{d}");
    }

    // Every path the unit names is where it says, and the unit verifies with the installed binary.
    let unit = std::fs::read_to_string(r.join("usr/lib/systemd/system/speakface.service")).unwrap();
    for path in ["/usr/bin/speakface", "/etc/speakface/speakface.toml", "/var/cache/speakface"] {
        assert!(unit.contains(path), "unit no longer names {path}");
        assert!(r.join(path.trim_start_matches('/')).exists(), "{path} missing in the installed tree");
    }
    let bin = r.join("usr/bin/speakface");
    let checked = dir.join("speakface.service");
    std::fs::write(&checked, unit.replace("/usr/bin/speakface", bin.to_str().unwrap()).replace("/etc/speakface/", &format!("{}/", r.join("etc/speakface").display()))).unwrap();
    // With the man page check: the unit's Documentation=man:speakface(1) is the page the package
    // installs (MANPATH points man at the scratch root).
    let out = Command::new("systemd-analyze").args(["verify"]).arg(&checked).env("MANPATH", r.join("usr/share/man")).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && text.trim().is_empty(), "systemd-analyze verify: {text}");

    // The installed binary finds its models, board profiles and the config's defaults.
    let cache = dir.join("cache");
    let models = run(Command::new(&bin).arg("models").env("SPEAKFACE_CACHE", &cache).env_remove("SPEAKFACE_MODELS"));
    assert_eq!(models.matches(": ok").count(), 5, "{models}");
    let checked = run(Command::new(&bin).arg("check-config").arg(&cfg).env_remove("SPEAKFACE_BOARDS"));
    assert!(checked.contains(": ok (board profile"), "{checked}");
    let boards = run(Command::new(&bin).arg("boards").env_remove("SPEAKFACE_BOARDS"));
    assert!(boards.contains(&r.join("usr/share/speakface/board").display().to_string()), "boards not read from the install: {boards}");

    // --- the operator edits the config; an upgrade keeps it ----------------------------------
    let edited = std::fs::read_to_string(&cfg).unwrap() + "\n# hall 2, set up by Ana\n[motion]\nemotion = \"happy\"\n";
    std::fs::write(&cfg, &edited).unwrap();
    dpkg(&r, &["-i", deb2.to_str().unwrap()]);
    let status = std::fs::read_to_string(r.join("var/lib/dpkg/status")).unwrap();
    assert!(status.contains("Version: 0.1.0~test2"), "not upgraded:\n{status}");
    assert_eq!(std::fs::read_to_string(&cfg).unwrap(), edited, "the upgrade changed the operator's config");

    // --- purge: the program goes, the config and the records stay ----------------------------
    std::fs::write(r.join("var/lib/speakface/audit.log"), "{}\n").unwrap();
    dpkg(&r, &["--purge", "speakface"]);
    assert!(!bin.exists() && !r.join("usr/share/speakface/models").exists(), "purge left the program");
    assert_eq!(std::fs::read_to_string(&cfg).unwrap(), edited, "purge removed the operator's config");
    assert!(r.join("var/lib/speakface/audit.log").is_file(), "purge removed the audit log");
    assert!(!r.join("var/cache/speakface").exists(), "purge left the cache");
}
