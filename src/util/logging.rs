//! Log lines to stderr, one per event. Under systemd (`JOURNAL_STREAM` set) each line starts with
//! its syslog priority (`<4>` …) so the journal records the level; elsewhere with the level's name.

use std::io::Write;

struct StderrLog {
    journal: bool,
    max: log::LevelFilter,
}

impl log::Log for StderrLog {
    fn enabled(&self, m: &log::Metadata) -> bool {
        m.level() <= self.max
    }

    fn log(&self, r: &log::Record) {
        if !self.enabled(r.metadata()) {
            return;
        }
        let line = crate::error::one_line(&r.args().to_string());
        let mut err = std::io::stderr().lock();
        let _ = if self.journal {
            let prio = match r.level() {
                log::Level::Error => 3,
                log::Level::Warn => 4,
                log::Level::Info => 6,
                _ => 7,
            };
            writeln!(err, "<{prio}>{line}")
        } else {
            writeln!(err, "speakface: {}: {line}", r.level().as_str().to_lowercase())
        };
    }

    fn flush(&self) {}
}

/// Installs the logger; `SPEAKFACE_LOG` = error | warn | info (default) | debug | trace.
pub fn init() {
    let max = std::env::var("SPEAKFACE_LOG").ok().and_then(|v| v.parse().ok()).unwrap_or(log::LevelFilter::Info);
    let journal = std::env::var_os("JOURNAL_STREAM").is_some();
    if log::set_boxed_logger(Box::new(StderrLog { journal, max })).is_ok() {
        log::set_max_level(max);
    }
}
