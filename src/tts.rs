//! Text to speech for the accessibility-kiosk case (`POST /v1/say`): an offline engine run as a
//! command (espeak-ng by default), text on stdin (never on the command line), WAV on stdout.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::audio::{self, Speech};
use crate::config::{valid_voice, TtsConfig};

/// Longest text accepted in one request (characters).
pub const MAX_TEXT_CHARS: usize = 5000;
const TIMEOUT: Duration = Duration::from_secs(30);

/// Speaks `text` with `voice` (or the configured one) into a `Speech`; errors are one line.
pub fn synthesize(cfg: &TtsConfig, text: &str, voice: Option<&str>) -> Result<Speech, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("no text to say".into());
    }
    if text.chars().count() > MAX_TEXT_CHARS {
        return Err(format!("text is longer than {MAX_TEXT_CHARS} characters"));
    }
    let voice = voice.unwrap_or(&cfg.voice);
    if !valid_voice(voice) {
        return Err(format!("voice \"{}\" is not a voice name (letters, digits and - _ + :, not starting with -)", crate::config::clip(voice)));
    }
    if !known_voice(&cfg.command, voice).unwrap_or(voice == cfg.voice) {
        return Err(format!("voice \"{voice}\" is not one of {}'s voices (`{} --voices` lists them)", cfg.command, cfg.command));
    }
    let mut child = Command::new(&cfg.command)
        .args(["-v", voice, "-s", &cfg.rate_wpm.to_string(), "--stdout"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("text to speech: cannot run \"{}\": {e} (install espeak-ng or set tts.command)", cfg.command))?;
    let mut stdin = child.stdin.take().ok_or("text to speech: no stdin")?;
    let owned = text.to_string();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(owned.as_bytes());
    });
    let mut stdout = child.stdout.take().ok_or("text to speech: no stdout")?;
    let reader = std::thread::spawn(move || {
        let mut wav = Vec::new();
        let _ = stdout.read_to_end(&mut wav);
        wav
    });
    let t0 = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if t0.elapsed() > TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("text to speech: {} took longer than {} s", cfg.command, TIMEOUT.as_secs()));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => return Err(format!("text to speech: {e}")),
        }
    };
    let _ = writer.join();
    let wav = reader.join().unwrap_or_default();
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    if status.code() == Some(127) && wav.is_empty() {
        // What a shell, or an emulator's exec, reports for a command that is not there.
        return Err(format!("text to speech: cannot run \"{}\": not found (install espeak-ng or set tts.command)", cfg.command));
    }
    if !status.success() || wav.is_empty() {
        // The engine's own words stay in the daemon's log: they are no business of an API client
        // (and a misconfigured command's stderr could carry anything).
        log::warn!("text to speech: {} failed ({status}): {}", cfg.command, crate::config::clip(&crate::error::one_line(&err)));
        return Err(format!("text to speech: {} failed ({status}); the daemon's log has its message", cfg.command));
    }
    let w = audio::wav::parse(&wav).map_err(|e| format!("text to speech: {} wrote no usable WAV: {e}", cfg.command))?;
    let speech = audio::speech_from_samples(w.samples, w.rate, w.channels);
    if speech.mono16k.is_empty() {
        return Err(format!("text to speech: {} produced no audio (voice \"{voice}\")", cfg.command));
    }
    Ok(speech)
}

/// Whether `voice` (before any `+variant`) is in `command --voices`: the Language, VoiceName and
/// File columns and the other languages in parentheses. The list is read once per command; None
/// when the command has no list (then only the configured voice is used).
pub fn known_voice(command: &str, voice: &str) -> Option<bool> {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    static LISTS: OnceLock<Mutex<HashMap<String, Vec<String>>>> = OnceLock::new();
    let base = voice.split('+').next().unwrap_or(voice).to_ascii_lowercase();
    let mut lists = crate::util::lock(LISTS.get_or_init(Default::default));
    let list = lists.entry(command.to_string()).or_insert_with(|| voice_list(command));
    (!list.is_empty()).then(|| list.iter().any(|v| *v == base))
}

fn voice_list(command: &str) -> Vec<String> {
    let Ok(out) = Command::new(command).arg("--voices").stdin(Stdio::null()).stderr(Stdio::null()).output() else {
        return vec![];
    };
    let mut names = vec![];
    for line in String::from_utf8_lossy(&out.stdout).lines().skip(1) {
        let cols: Vec<&str> = line.split_whitespace().collect();
        if cols.len() < 5 {
            continue;
        }
        for c in [cols[1], cols[3], cols[4]] {
            names.push(c.to_ascii_lowercase());
        }
        for other in cols[5..].iter().filter_map(|c| c.strip_prefix('(')) {
            names.push(other.to_ascii_lowercase());
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_requests_are_refused_before_running_anything() {
        let cfg = TtsConfig { command: "/nonexistent/tts".into(), ..TtsConfig::default() };
        assert_eq!(synthesize(&cfg, "  ", None).unwrap_err(), "no text to say");
        assert!(synthesize(&cfg, "hi", Some("en; rm -rf /")).unwrap_err().contains("not a voice name"));
        assert!(synthesize(&cfg, "hi", Some("-s")).unwrap_err().contains("not a voice name"), "an option is never a voice");
        assert!(synthesize(&cfg, "hi", Some("-")).unwrap_err().contains("not a voice name"));
        assert!(synthesize(&cfg, "hi", Some("fr")).unwrap_err().contains("not one of"), "a command without a voice list");
        assert!(synthesize(&cfg, "hi", None).unwrap_err().contains("cannot run"));
    }
}
