//! Small helpers every stage may use, each with one home: time stamps (`time`), the shipped data
//! folders (`dirs`), SHA-256 (`hash`), living under systemd (`systemd`), log lines (`logging`),
//! and `lock`. Nothing here knows any other module of the crate except `error`.

pub mod choice;
pub mod dirs;
pub mod hash;
pub mod logging;
pub mod systemd;
pub mod time;

use std::sync::{Mutex, MutexGuard};

/// Locks, carrying on with the data if another thread panicked while holding it.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
