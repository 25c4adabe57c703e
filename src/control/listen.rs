//! The API's accept loop: hyper's HTTP/1 connections driven by our own loop, so that nothing on
//! the network can starve the daemon. A connection must send its request head within 10 s and
//! its body within 60 s (the body deadline is the API's `read_body` middleware), an idle
//! keep-alive connection is closed after 30 s, and at most `MAX_CONNECTIONS` are open
//! (`MAX_PER_ADDRESS` from one address); past a cap the oldest idle connection (no request in
//! progress) is closed to make room, or the new one is refused.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::ConnectInfo;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};

use crate::util::lock;

/// Most API connections open at once, and from one address.
pub const MAX_CONNECTIONS: usize = 256;
pub const MAX_PER_ADDRESS: usize = 32;
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
pub(super) const BODY_TIMEOUT: Duration = Duration::from_secs(60);
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// One open connection, as the accept loop sees it.
struct Conn {
    id: u64,
    ip: IpAddr,
    opened: Instant,
    /// Requests in progress (a connection with none may be closed to make room).
    busy: Arc<AtomicUsize>,
    close: Arc<tokio::sync::Notify>,
}

#[derive(Default)]
struct Conns {
    open: Mutex<Vec<Conn>>,
    next_id: AtomicU64,
}

impl Conns {
    /// Makes room for a connection from `ip`: past a cap, closes the oldest idle connection (of
    /// that address for the per-address cap); None when there is none to close.
    fn admit(&self, ip: IpAddr) -> Option<(u64, Arc<AtomicUsize>, Arc<tokio::sync::Notify>)> {
        let mut open = lock(&self.open);
        for (cap, same_ip) in [(MAX_PER_ADDRESS, true), (MAX_CONNECTIONS, false)] {
            let n = open.iter().filter(|c| !same_ip || c.ip == ip).count();
            if n >= cap {
                let victim = open
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| (!same_ip || c.ip == ip) && c.busy.load(Ordering::SeqCst) == 0)
                    .min_by_key(|(_, c)| c.opened)
                    .map(|(i, _)| i)?;
                let c = open.swap_remove(victim);
                c.close.notify_one();
            }
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (busy, close) = (Arc::new(AtomicUsize::new(0)), Arc::new(tokio::sync::Notify::new()));
        open.push(Conn { id, ip, opened: Instant::now(), busy: busy.clone(), close: close.clone() });
        Some((id, busy, close))
    }

    fn release(&self, id: u64) {
        lock(&self.open).retain(|c| c.id != id);
    }
}

pub(super) async fn accept_loop(listener: tokio::net::TcpListener, app: Router, mut shutdown: tokio::sync::oneshot::Receiver<()>) {
    let conns = Arc::new(Conns::default());
    let mut last_error_log: Option<Instant> = None;
    loop {
        let accepted = tokio::select! {
            _ = &mut shutdown => break,
            a = listener.accept() => a,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file handles, most likely: wait a little rather than spin, say so once
                // a minute.
                if last_error_log.is_none_or(|t| t.elapsed() > Duration::from_secs(60)) {
                    log::error!("api: cannot accept a connection: {e}");
                    last_error_log = Some(Instant::now());
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Some((id, busy, close)) = conns.admit(peer.ip()) else {
            drop(stream); // every connection at the cap is busy: refuse this one
            continue;
        };
        let conns = conns.clone();
        let app = app.clone();
        tokio::spawn(async move {
            serve_connection(stream, peer, app, busy, close).await;
            conns.release(id);
        });
    }
}

async fn serve_connection(stream: tokio::net::TcpStream, peer: SocketAddr, app: Router, busy: Arc<AtomicUsize>, close: Arc<tokio::sync::Notify>) {
    let last_done = Arc::new(Mutex::new(Instant::now()));
    let (b, done) = (busy.clone(), last_done.clone());
    let service = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        let mut app = app.clone();
        let (b, done) = (b.clone(), done.clone());
        b.fetch_add(1, Ordering::SeqCst);
        async move {
            let r = tower_service::Service::call(&mut app, req.map(axum::body::Body::new)).await;
            *lock(&done) = Instant::now();
            b.fetch_sub(1, Ordering::SeqCst);
            r
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(HEADER_TIMEOUT).max_buf_size(64 * 1024);
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    let mut closing_since: Option<Instant> = None;
    loop {
        tokio::select! {
            _ = conn.as_mut() => return,
            _ = close.notified() => return, // dropped to make room: the socket closes
            _ = tokio::time::sleep(Duration::from_secs(1)) => {
                let idle = busy.load(Ordering::SeqCst) == 0 && lock(&last_done).elapsed() >= IDLE_TIMEOUT;
                match closing_since {
                    None if idle => {
                        conn.as_mut().graceful_shutdown();
                        closing_since = Some(Instant::now());
                    }
                    Some(t) if t.elapsed() > Duration::from_secs(5) => return,
                    _ => {}
                }
            }
        }
    }
}
