//! Live speech in: an ALSA capture device, or a looped playlist of WAV files, each on its own
//! thread, writing 16 kHz mono samples into a bounded `AudioRing` that the live pipeline drains.
//!
//! ALSA faults are recovered, never fatal: an overrun restarts the stream; a device that cannot be
//! opened or stops delivering (unplugged, its driver gone) is closed and re-opened with a backoff
//! (0.25 s doubling to 5 s), with one log line when the outage starts and one when it ends. The
//! pipeline keeps animating idle meanwhile because it pads missing audio with silence.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::ANALYSIS_RATE;

/// Samples per ALSA period asked for: 20 ms at 16 kHz.
pub const PERIOD_FRAMES: usize = 320;

/// A bounded FIFO of 16 kHz mono samples with the time each batch was captured. When the reader
/// falls behind, the oldest samples are dropped (and counted): it never grows past its capacity.
pub struct AudioRing {
    inner: Mutex<RingInner>,
    capacity: usize,
}

struct RingInner {
    samples: VecDeque<f32>,
    /// (cumulative index one past the batch's last sample, when it was captured), oldest first.
    marks: VecDeque<(u64, Instant)>,
    /// Samples ever pushed / ever taken or dropped.
    pushed: u64,
    taken: u64,
    dropped: u64,
}

/// Samples taken from the ring, with the capture time of each batch they came from.
#[derive(Debug, Default)]
pub struct Taken {
    /// (offset one past the batch's last sample within this take, capture time).
    pub marks: Vec<(usize, Instant)>,
}

impl AudioRing {
    pub fn new(capacity: usize) -> AudioRing {
        AudioRing {
            inner: Mutex::new(RingInner {
                samples: VecDeque::with_capacity(capacity),
                marks: VecDeque::with_capacity(256),
                pushed: 0,
                taken: 0,
                dropped: 0,
            }),
            capacity,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, RingInner> {
        // A panic while holding the lock leaves plain numbers behind: carry on with them.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn push(&self, samples: &[f32], captured: Instant) {
        let mut r = self.lock();
        let overflow = (r.samples.len() + samples.len()).saturating_sub(self.capacity);
        if overflow > 0 {
            let n = overflow.min(r.samples.len());
            r.samples.drain(..n);
            r.taken += n as u64;
            r.dropped += n as u64;
        }
        let skip = samples.len().saturating_sub(self.capacity);
        r.samples.extend(&samples[skip..]);
        r.pushed += samples.len() as u64;
        r.taken += skip as u64;
        r.dropped += skip as u64;
        let end = r.pushed;
        if r.marks.len() == r.marks.capacity() {
            r.marks.pop_front();
        }
        r.marks.push_back((end, captured));
    }

    /// Samples waiting.
    pub fn len(&self) -> usize {
        self.lock().samples.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Samples dropped because the reader fell behind, since start.
    pub fn dropped(&self) -> u64 {
        self.lock().dropped
    }

    /// Drops the oldest samples so that at most `keep` wait (the reader's drift control).
    pub fn trim_to(&self, keep: usize) -> usize {
        let mut r = self.lock();
        let n = r.samples.len().saturating_sub(keep);
        r.samples.drain(..n);
        r.taken += n as u64;
        r.dropped += n as u64;
        n
    }

    /// Moves up to `out.len()` samples into `out`; returns how many, and records in `taken` the
    /// capture time of each batch they belong to.
    pub fn take(&self, out: &mut [f32], taken: &mut Taken) -> usize {
        let mut r = self.lock();
        let n = out.len().min(r.samples.len());
        for (o, s) in out.iter_mut().zip(r.samples.drain(..n)) {
            *o = s;
        }
        let start = r.taken;
        r.taken += n as u64;
        let end = r.taken;
        taken.marks.clear();
        while let Some(&(mark_end, at)) = r.marks.front() {
            if mark_end <= start {
                r.marks.pop_front();
                continue;
            }
            taken.marks.push(((mark_end.min(end) - start) as usize, at));
            if mark_end <= end {
                r.marks.pop_front();
                continue;
            }
            break;
        }
        n
    }
}

/// What the capture thread is doing, for health and metrics.
#[derive(Debug, Default)]
pub struct CaptureStatus {
    /// True while the source delivers audio.
    pub running: AtomicBool,
    /// Overruns recovered, outages begun, re-opens that succeeded.
    pub overruns: AtomicU64,
    pub outages: AtomicU64,
    pub reopens: AtomicU64,
    /// The last error, for the health endpoint and logs.
    pub last_error: Mutex<Option<String>>,
}

impl CaptureStatus {
    fn set_error(&self, e: Option<String>) {
        *crate::util::lock(&self.last_error) = e;
    }

    /// The running device stopped delivering: counts the outage, records why and logs it once.
    fn lost(&self, device: &str, why: &str) {
        self.outages.fetch_add(1, Ordering::Relaxed);
        self.running.store(false, Ordering::SeqCst);
        self.set_error(Some(format!("capture device '{device}': {why}")));
        log::warn!("audio: capture device '{device}' {why}; re-opening, animating idle meanwhile");
    }
}

/// Where live speech comes from.
#[derive(Debug, Clone)]
pub enum Source {
    /// An ALSA capture PCM by name (`default`, `plughw:CARD=Device,DEV=0`, …).
    Alsa { device: String },
    /// WAV files played in turn at real-time speed, with `gap_s` of silence between them,
    /// looped when `looped`.
    Files { files: Vec<PathBuf>, gap_s: f32, looped: bool },
}

/// A running capture thread. Dropping it asks the thread to stop.
pub struct Capture {
    pub status: Arc<CaptureStatus>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // An ALSA read can block inside the driver; don't wait for it at shutdown.
        if let Some(t) = self.thread.take() {
            if t.is_finished() {
                let _ = t.join();
            }
        }
    }
}

/// Starts capturing `source` into `ring` on a new thread, reporting into `status` (shared with
/// status and metrics, and kept across restarts of the capture so its counters add up).
pub fn start(source: Source, ring: Arc<AudioRing>, status: Arc<CaptureStatus>) -> std::io::Result<Capture> {
    status.running.store(false, Ordering::SeqCst);
    let stop = Arc::new(AtomicBool::new(false));
    let (st, sp) = (status.clone(), stop.clone());
    let thread = std::thread::Builder::new().name("speakface-capture".into()).spawn(move || match source {
        Source::Alsa { device } => alsa_loop(&device, &ring, &st, &sp),
        Source::Files { files, gap_s, looped } => file_loop(&files, gap_s, looped, &ring, &st, &sp),
    })?;
    Ok(Capture { status, stop, thread: Some(thread) })
}

fn open_alsa(device: &str) -> alsa::Result<alsa::PCM> {
    use alsa::pcm::{Access, Format, HwParams};
    let pcm = alsa::PCM::new(device, alsa::Direction::Capture, false)?;
    {
        let hw = HwParams::any(&pcm)?;
        hw.set_access(Access::RWInterleaved)?;
        hw.set_format(Format::s16())?;
        hw.set_channels(1)?;
        hw.set_rate(ANALYSIS_RATE, alsa::ValueOr::Nearest)?;
        hw.set_period_size_near(PERIOD_FRAMES as alsa::pcm::Frames, alsa::ValueOr::Nearest)?;
        hw.set_buffer_size_near(8 * PERIOD_FRAMES as alsa::pcm::Frames)?;
        pcm.hw_params(&hw)?;
    }
    pcm.prepare()?;
    pcm.start()?;
    Ok(pcm)
}

/// errno of an ALSA overrun.
const EPIPE: i32 = 32;

/// Consecutive failed reads after which the device counts as gone.
const MAX_FAILED_READS: u32 = 5;
/// Bit-identical, non-silent periods in a row after which the source counts as dead: a microphone
/// never repeats itself exactly, but a feed whose producer died can (ALSA's file plugin repeats
/// its last period at the end of its input; some loopbacks do the same).
const MAX_REPEATED_PERIODS: u32 = 25;

fn alsa_loop(device: &str, ring: &AudioRing, st: &CaptureStatus, stop: &AtomicBool) {
    let mut backoff = Duration::from_millis(250);
    let mut in_outage = false;
    let mut raw = vec![0i16; PERIOD_FRAMES];
    let mut prev = vec![0i16; PERIOD_FRAMES];
    let mut samples = vec![0f32; PERIOD_FRAMES];
    while !stop.load(Ordering::SeqCst) {
        // "usb" / "usb:NAME" is looked up again at every open (the microphone may have moved).
        let opened = crate::board::resolve_alsa_device(device).and_then(|d| open_alsa(&d).map_err(|e| e.to_string()));
        let pcm = match opened {
            Ok(p) => p,
            Err(e) => {
                if !in_outage {
                    in_outage = true;
                    st.outages.fetch_add(1, Ordering::Relaxed);
                    log::warn!("audio: capture device '{device}' unavailable ({e}); retrying, animating idle meanwhile");
                }
                st.set_error(Some(format!("capture device '{device}': {e}")));
                st.running.store(false, Ordering::SeqCst);
                sleep_unless_stopped(backoff, stop);
                backoff = (backoff * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        let io = match pcm.io_i16() {
            Ok(io) => io,
            Err(e) => {
                log::error!("audio: capture device '{device}' gives no 16-bit interleaved access: {e}");
                sleep_unless_stopped(Duration::from_secs(5), stop);
                continue;
            }
        };
        if in_outage {
            st.reopens.fetch_add(1, Ordering::Relaxed);
            log::info!("audio: capture device '{device}' is back");
        } else {
            log::info!("audio: capturing from '{device}' (16 kHz mono, {PERIOD_FRAMES}-frame periods)");
        }
        in_outage = false;
        backoff = Duration::from_millis(250);
        st.set_error(None);
        let mut failed = 0u32;
        let mut repeats = 0u32;
        while !stop.load(Ordering::SeqCst) {
            match io.readi(&mut raw) {
                Ok(n) if n > 0 => {
                    failed = 0;
                    if n == PERIOD_FRAMES && raw == prev && raw.iter().any(|&s| s != 0) {
                        repeats += 1;
                        if repeats >= MAX_REPEATED_PERIODS {
                            st.lost(device, "repeats the same period (its source is gone)");
                            in_outage = true;
                            break;
                        }
                        continue;
                    }
                    repeats = 0;
                    prev.copy_from_slice(&raw);
                    st.running.store(true, Ordering::SeqCst);
                    for (o, &s) in samples.iter_mut().zip(&raw[..n]) {
                        *o = s as f32 / 32768.0;
                    }
                    ring.push(&samples[..n], Instant::now());
                }
                Ok(_) => failed += 1,
                Err(e) => {
                    failed += 1;
                    if e.errno().abs() == EPIPE {
                        st.overruns.fetch_add(1, Ordering::Relaxed);
                    }
                    if failed >= MAX_FAILED_READS || pcm.try_recover(e, true).is_err() {
                        st.lost(device, &format!("lost ({e})"));
                        in_outage = true;
                        break;
                    }
                }
            }
            if failed >= MAX_FAILED_READS {
                st.lost(device, "delivers nothing");
                in_outage = true;
                break;
            }
        }
        drop(io);
        drop(pcm);
        if in_outage {
            sleep_unless_stopped(backoff, stop);
        }
    }
}

fn sleep_unless_stopped(d: Duration, stop: &AtomicBool) {
    let until = Instant::now() + d;
    while !stop.load(Ordering::SeqCst) {
        let now = Instant::now();
        if now >= until {
            break;
        }
        std::thread::sleep((until - now).min(Duration::from_millis(50)));
    }
}

/// Plays the playlist into the ring at real-time speed (20 ms batches on an absolute schedule).
fn file_loop(files: &[PathBuf], gap_s: f32, looped: bool, ring: &AudioRing, st: &CaptureStatus, stop: &AtomicBool) {
    let batch = PERIOD_FRAMES;
    let period = Duration::from_secs_f64(batch as f64 / ANALYSIS_RATE as f64);
    let mut next = Instant::now();
    let gap = vec![0.0f32; (gap_s.max(0.0) * ANALYSIS_RATE as f32) as usize];
    // When no entry can be read (files gone, the process out of file handles), the playlist
    // waits and tries again, 1 s doubling to 30 s: it comes back by itself once the cause is gone.
    let mut backoff = Duration::from_secs(1);
    loop {
        let mut played_any = false;
        for f in files {
            let speech = match super::read_wav_limited(f, super::wav::LIVE_LIMITS) {
                Ok(s) => s,
                Err(e) => {
                    log::warn!("audio: skipping playlist entry: {e}");
                    st.set_error(Some(e.to_string()));
                    continue;
                }
            };
            played_any = true;
            st.running.store(true, Ordering::SeqCst);
            log::info!("audio: playing {} ({:.1} s)", f.display(), speech.duration_s());
            for chunk in speech.mono16k.chunks(batch).chain(gap.chunks(batch)) {
                if stop.load(Ordering::SeqCst) {
                    return;
                }
                next += period;
                let now = Instant::now();
                if next > now {
                    std::thread::sleep(next - now);
                } else if now - next > Duration::from_millis(500) {
                    next = now; // suspended or starved: don't burst to catch up
                }
                ring.push(chunk, Instant::now());
            }
        }
        if !played_any {
            st.running.store(false, Ordering::SeqCst);
            st.set_error(Some("no playable file in the playlist".into()));
            log::error!("audio: no playable file in the playlist; animating idle, trying again in {} s", backoff.as_secs());
            sleep_unless_stopped(backoff, stop);
            if stop.load(Ordering::SeqCst) {
                return;
            }
            backoff = (backoff * 2).min(Duration::from_secs(30));
            next = Instant::now();
            continue;
        }
        if backoff > Duration::from_secs(1) {
            log::info!("audio: the playlist plays again");
            backoff = Duration::from_secs(1);
        }
        if !looped {
            st.running.store(false, Ordering::SeqCst);
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_is_bounded_and_keeps_capture_times() {
        let ring = AudioRing::new(1000);
        let t0 = Instant::now();
        let t1 = t0 + Duration::from_millis(20);
        ring.push(&[0.5; 600], t0);
        ring.push(&[0.25; 600], t1);
        assert_eq!(ring.len(), 1000, "capacity holds");
        assert_eq!(ring.dropped(), 200);
        let mut out = vec![0.0; 500];
        let mut taken = Taken::default();
        assert_eq!(ring.take(&mut out, &mut taken), 500);
        // 400 samples left of the first batch, then 100 of the second.
        assert_eq!(out[399], 0.5);
        assert_eq!(out[400], 0.25);
        assert_eq!(taken.marks, vec![(400, t0), (500, t1)]);
        assert_eq!(ring.take(&mut out, &mut taken), 500);
        assert_eq!(taken.marks, vec![(500, t1)]);
        assert!(ring.is_empty());
    }
}
