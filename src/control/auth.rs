//! Bearer-token authentication for the API: the token lives in a file (created with 256 random
//! bits on first start when missing, mode 0600), is read on every check (so it can be rotated
//! without a restart), and is compared in constant time (both sides hashed first, so neither
//! length nor content leaks through timing). Failed attempts are counted per client address:
//! past the limit within a minute the address is refused with 429 before any comparison.

use std::collections::HashMap;
use std::io::Read;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

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

/// Reads the token (surrounding whitespace ignored); an empty file is an error.
pub fn read_token(path: &Path) -> std::io::Result<String> {
    let t = std::fs::read_to_string(path)?.trim().to_string();
    if t.is_empty() {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "the token file is empty"));
    }
    Ok(t)
}

/// Equal in constant time (for equal-length digests, which these always are).
pub fn token_matches(given: &str, expected: &str) -> bool {
    let (a, b) = (Sha256::digest(given.as_bytes()), Sha256::digest(expected.as_bytes()));
    a.iter().zip(b.iter()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// What an authentication attempt came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Ok,
    /// Wrong or missing token.
    Denied,
    /// Too many failures from this address lately; not even checked.
    Limited,
}

pub struct Guard {
    token_file: PathBuf,
    per_min: usize,
    failures: Mutex<HashMap<IpAddr, Vec<Instant>>>,
}

const WINDOW: Duration = Duration::from_secs(60);

impl Guard {
    pub fn new(token_file: PathBuf, max_failures_per_min: u32) -> Guard {
        Guard { token_file, per_min: max_failures_per_min as usize, failures: Mutex::new(HashMap::new()) }
    }

    pub fn token_file(&self) -> &Path {
        &self.token_file
    }

    /// Checks an `Authorization` header value from `ip`.
    pub fn check(&self, ip: IpAddr, authorization: Option<&str>) -> Verdict {
        let now = Instant::now();
        let mut failures = super::lock(&self.failures);
        failures.retain(|_, v| {
            v.retain(|t| now.duration_since(*t) < WINDOW);
            !v.is_empty()
        });
        if failures.get(&ip).is_some_and(|v| v.len() >= self.per_min) {
            return Verdict::Limited;
        }
        let given = authorization.and_then(|h| h.strip_prefix("Bearer ")).map(str::trim);
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
        failures.entry(ip).or_default().push(now);
        Verdict::Denied
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
    fn failures_are_limited_per_address() {
        let dir = std::env::temp_dir().join(format!("speakface-auth-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let file = dir.join("token");
        assert!(ensure_token(&file).unwrap());
        assert!(!ensure_token(&file).unwrap());
        let token = read_token(&file).unwrap();
        assert_eq!(token.len(), 64);
        let g = Guard::new(file, 3);
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let good = format!("Bearer {token}");
        assert_eq!(g.check(a, Some(&good)), Verdict::Ok);
        for _ in 0..3 {
            assert_eq!(g.check(a, Some("Bearer nope")), Verdict::Denied);
        }
        assert_eq!(g.check(a, None), Verdict::Limited);
        assert_eq!(g.check(a, Some(&good)), Verdict::Limited, "limited even with the right token");
        assert_eq!(g.check(b, Some(&good)), Verdict::Ok, "other addresses are not affected");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
