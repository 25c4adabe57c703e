//! Living under systemd: `sd_notify` messages (READY, STATUS, WATCHDOG, STOPPING) over the
//! datagram socket named in `$NOTIFY_SOCKET`, the watchdog interval from `$WATCHDOG_USEC`, and
//! SIGTERM/SIGINT turned into a stop flag and SIGHUP into a reload flag. Without systemd every call here is a no-op.

use std::os::unix::net::UnixDatagram;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

/// Sends one notification (`"READY=1"`, `"WATCHDOG=1"`, `"STATUS=…"`); false when there is no
/// `$NOTIFY_SOCKET` or it cannot be reached.
pub fn notify(state: &str) -> bool {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return false;
    };
    let Ok(sock) = UnixDatagram::unbound() else {
        return false;
    };
    // Never block the frame loop on a receiver that is not reading: a full queue loses a message.
    if sock.set_nonblocking(true).is_err() {
        return false;
    }
    let bytes = path.as_encoded_bytes();
    let sent = if let Some(name) = bytes.strip_prefix(b"@") {
        use std::os::linux::net::SocketAddrExt;
        match std::os::unix::net::SocketAddr::from_abstract_name(name) {
            Ok(addr) => sock.send_to_addr(state.as_bytes(), &addr),
            Err(e) => Err(e),
        }
    } else {
        sock.send_to(state.as_bytes(), &path)
    };
    sent.is_ok()
}

/// How often systemd wants a watchdog ping (half of `$WATCHDOG_USEC`), if it wants any for us.
pub fn watchdog_interval() -> Option<Duration> {
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
    if let Some(pid) = std::env::var("WATCHDOG_PID").ok().and_then(|p| p.parse::<u32>().ok()) {
        if pid != std::process::id() {
            return None;
        }
    }
    (usec > 0).then(|| Duration::from_micros(usec / 2))
}

/// Flags set by signals: `stop` on SIGTERM or SIGINT, `reload` on SIGHUP (`systemctl reload`).
pub struct Signals {
    pub stop: Arc<AtomicBool>,
    pub reload: Arc<AtomicBool>,
}

pub fn signal_flags() -> std::io::Result<Signals> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, stop.clone())?;
    }
    let reload = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGHUP, reload.clone())?;
    Ok(Signals { stop, reload })
}

/// Raises the soft limit on open files to the hard one (at most 65536): the API and RTSP caps
/// keep connections far below it, but GStreamer, models and viewers need room beside them. The
/// packaged unit sets `LimitNOFILE` as well.
pub fn raise_open_files_limit() {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: lim is a valid, writable rlimit.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return;
    }
    let want = lim.rlim_max.min(65_536);
    if lim.rlim_cur < want {
        lim.rlim_cur = want;
        // SAFETY: lim is a valid rlimit no larger than the hard limit.
        unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) };
    }
}
