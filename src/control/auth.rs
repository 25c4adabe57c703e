//! Bearer-token authentication for the API: the token lives in a file (created with 256 random
//! bits on first start when missing, mode 0600; at least 32 characters), is read on every check
//! (so it can be rotated without a restart), and is compared in constant time (both sides hashed
//! first, so neither length nor content leaks through timing). The scheme is matched without
//! regard to case (RFC 7235).
//!
//! Failures, never successes, are limited: the right token always works, so nobody can lock the
//! operator out by sending wrong ones. Past `max_auth_failures_per_min` failures from one address,
//! or ten times that from all addresses together, further failures get 429 and are no longer
//! written to the audit log one by one: the crossing of the limit is ("auth lockout").

use std::collections::HashMap;
use std::io::Read;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::util::hash::sha256;

/// Creates the token file with a random token unless it exists; says whether it made one.
pub fn ensure_token(path: &Path) -> std::io::Result<bool> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if path.exists() {
        return Ok(false);
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut raw = [0u8; 32];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut raw)?;
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    f.write_all(format!("{}\n", hex::encode(raw)).as_bytes())?;
    f.sync_all()?;
    Ok(true)
}

/// Shortest token accepted (characters).
pub const MIN_TOKEN_CHARS: usize = 32;

/// Reads the token (surrounding whitespace ignored); an empty or short token is an error.
pub fn read_token(path: &Path) -> std::io::Result<String> {
    let t = std::fs::read_to_string(path)?.trim().to_string();
    if t.is_empty() {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "the token file is empty"));
    }
    if t.chars().count() < MIN_TOKEN_CHARS {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("the token has {} characters, at least {MIN_TOKEN_CHARS} are needed (remove the file to have a random one made)", t.chars().count()),
        ));
    }
    Ok(t)
}

/// The token of an `Authorization` header value: scheme `Bearer` in any case.
pub fn bearer(header: &str) -> Option<&str> {
    let (scheme, rest) = header.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
}

/// Equal in constant time (for equal-length digests, which these always are).
pub fn token_matches(given: &str, expected: &str) -> bool {
    let (a, b) = (sha256(given.as_bytes()), sha256(expected.as_bytes()));
    a.iter().zip(b.iter()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// What an authentication attempt came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Ok,
    /// Wrong or missing token.
    Denied,
    /// Wrong or missing token, and this failure crossed a limit (audit it as a lockout).
    LimitReached,
    /// Wrong or missing token past a limit (429, not audited one by one).
    Limited,
}

#[derive(Default)]
struct Failures {
    per_ip: HashMap<IpAddr, Vec<Instant>>,
    all: Vec<Instant>,
}

pub struct Guard {
    token_file: PathBuf,
    per_min: usize,
    failures: Mutex<Failures>,
}

const WINDOW: Duration = Duration::from_secs(60);

impl Guard {
    pub fn new(token_file: PathBuf, max_failures_per_min: u32) -> Guard {
        Guard { token_file, per_min: max_failures_per_min as usize, failures: Mutex::new(Failures::default()) }
    }

    pub fn token_file(&self) -> &Path {
        &self.token_file
    }

    /// Checks an `Authorization` header value from `ip`.
    pub fn check(&self, ip: IpAddr, authorization: Option<&str>) -> Verdict {
        let given = authorization.and_then(bearer);
        let ok = match (given, read_token(&self.token_file)) {
            (Some(g), Ok(t)) => token_matches(g, &t),
            (_, Err(e)) => {
                log::error!("api: token file {}: {e}", self.token_file.display());
                false
            }
            (None, _) => false,
        };
        if ok {
            return Verdict::Ok;
        }
        let now = Instant::now();
        let mut f = super::lock(&self.failures);
        f.per_ip.retain(|_, v| {
            v.retain(|t| now.duration_since(*t) < WINDOW);
            !v.is_empty()
        });
        f.all.retain(|t| now.duration_since(*t) < WINDOW);
        let global = self.per_min * 10;
        let mine = f.per_ip.entry(ip).or_default();
        // Keep at most one more than the limit per address: the count only has to say "over".
        let was_over = mine.len() > self.per_min;
        if !was_over {
            mine.push(now);
        }
        let (n_ip, over_before) = (mine.len(), f.all.len() > global);
        if f.all.len() <= global {
            f.all.push(now);
        }
        let n_all = f.all.len();
        if (n_ip > self.per_min && !was_over) || (n_all > global && !over_before) {
            Verdict::LimitReached
        } else if n_ip > self.per_min || n_all > global {
            Verdict::Limited
        } else {
            Verdict::Denied
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_by_content_only() {
        assert!(token_matches("abc", "abc"));
        assert!(!token_matches("abd", "abc"));
        assert!(!token_matches("", "abc"));
        assert!(!token_matches("abcabc", "abc"));
    }

    #[test]
    fn failures_are_limited_but_the_right_token_always_works() {
        let dir = std::env::temp_dir().join(format!("speakface-auth-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let file = dir.join("token");
        assert!(ensure_token(&file).unwrap());
        assert!(!ensure_token(&file).unwrap());
        let token = read_token(&file).unwrap();
        assert_eq!(token.len(), 64);
        let g = Guard::new(file.clone(), 3);
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let good = format!("Bearer {token}");
        assert_eq!(g.check(a, Some(&good)), Verdict::Ok);
        assert_eq!(g.check(a, Some(&format!("bearer {token}"))), Verdict::Ok, "the scheme in any case");
        assert_eq!(g.check(a, Some(&format!("BEARER  {token} "))), Verdict::Ok);
        for _ in 0..3 {
            assert_eq!(g.check(a, Some("Bearer nope")), Verdict::Denied);
        }
        assert_eq!(g.check(a, None), Verdict::LimitReached);
        assert_eq!(g.check(a, None), Verdict::Limited);
        assert_eq!(g.check(b, Some("Bearer nope")), Verdict::Denied, "other addresses keep their own count");
        for _ in 0..100 {
            g.check(a, Some("Bearer nope"));
        }
        assert_eq!(g.check(a, Some(&good)), Verdict::Ok, "the right token works after 100 wrong ones");
        // The global budget: 30 failures a minute from all addresses together.
        let g = Guard::new(file.clone(), 3);
        let mut verdicts = vec![];
        for i in 0..40u8 {
            verdicts.push(g.check(IpAddr::from([10, 1, 0, i]), None));
        }
        assert!(verdicts.contains(&Verdict::LimitReached) && verdicts.last() == Some(&Verdict::Limited), "{verdicts:?}");
        assert_eq!(g.check(b, Some(&good)), Verdict::Ok);
        std::fs::write(&file, "short\n").unwrap();
        assert!(read_token(&file).unwrap_err().to_string().contains("at least 32"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
