//! The config parser and validator (the file, SIGHUP, `PUT /v1/config`): never panics, every
//! error is one line, and a config it accepts can be compared with the running one.
#![no_main]
use libfuzzer_sys::fuzz_target;
use speakface::config::Config;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match Config::from_text(text, std::path::Path::new("/etc/speakface/fuzz.toml")) {
        Ok(cfg) => {
            let _ = Config::default().changes(&cfg).describe();
            let _ = cfg.motion_settings();
        }
        Err(e) => assert!(!e.to_string().contains('\n'), "multi-line error: {e}"),
    }
});
