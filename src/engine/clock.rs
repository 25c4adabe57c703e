//! The engine's frame clock, with no I/O: which ticks are due at a moment, which are skipped
//! after a stall, how much queued audio is too much, and which span of the 16 kHz speech stream
//! belongs to each tick (audio in) and to each frame (audio out with that frame).
//!
//! Tick *k* covers the stream samples `[at(k), at(k + 1))`, `at(k) = round(k · 16000 / fps)`,
//! so the spans at any rate are contiguous and sum to exactly 16 000 samples a second: the video
//! never drifts from the speech, however long the stream.

use std::ops::Range;
use std::time::Duration;

use crate::audio::ANALYSIS_RATE;

/// Further ticks the engine may be late before it skips frames.
pub const MAX_LATE_TICKS: u64 = 2;
/// Audio (seconds) the ring may hold beyond one tick before the oldest is dropped.
pub const MAX_BACKLOG_S: f64 = 0.04;

/// What the clock says at a moment.
#[derive(Debug, Clone, PartialEq)]
pub enum Poll {
    /// Nothing is due yet: sleep this long (at most one tick) and ask again.
    Wait(Duration),
    /// `ticks` ticks are due now (take each one's audio with [`FrameClock::tick_audio`]);
    /// `skipped` ticks before them were dropped because the engine was far behind.
    Due { skipped: u64, ticks: u64 },
}

/// Ticks at `fps` on a timeline that starts at zero; the caller gives the time elapsed since.
#[derive(Debug, Clone)]
pub struct FrameClock {
    fps: f64,
    /// Ticks whose audio has been taken (or skipped).
    ticks: u64,
    /// Frames whose audio has been sent out.
    frame: u64,
}

impl FrameClock {
    pub fn new(fps: f64) -> FrameClock {
        FrameClock { fps, ticks: 0, frame: 0 }
    }

    pub fn fps(&self) -> f64 {
        self.fps
    }

    /// The stream index where tick (or frame) `k` starts.
    pub fn at(&self, k: u64) -> u64 {
        (k as f64 * ANALYSIS_RATE as f64 / self.fps).round() as u64
    }

    /// The most samples one tick spans (the buffer size for [`FrameClock::tick_audio`]).
    pub fn max_tick_samples(&self) -> usize {
        (self.at(1) + 1) as usize
    }

    /// What is due `elapsed` after the start. Due ticks beyond `MAX_LATE_TICKS + 1` are skipped
    /// (counted, never rendered) so that a stall is not followed by a burst of stale frames.
    pub fn poll(&mut self, elapsed: Duration) -> Poll {
        let due = (elapsed.as_secs_f64() * self.fps) as u64 + 1;
        if due <= self.ticks {
            let tick = Duration::from_secs_f64(1.0 / self.fps);
            let next = Duration::from_secs_f64(self.ticks as f64 / self.fps);
            return Poll::Wait(next.saturating_sub(elapsed).min(tick));
        }
        let mut todo = due - self.ticks;
        let mut skipped = 0;
        if todo > MAX_LATE_TICKS + 1 {
            skipped = todo - (MAX_LATE_TICKS + 1);
            self.ticks += skipped;
            todo -= skipped;
        }
        Poll::Due { skipped, ticks: todo }
    }

    /// The next due tick's span of the stream; the tick counts as taken.
    pub fn tick_audio(&mut self) -> Range<u64> {
        let r = self.at(self.ticks)..self.at(self.ticks + 1);
        self.ticks += 1;
        r
    }

    /// The next frame's span of the stream: the speech sent out with it; the frame counts as made.
    pub fn frame_audio(&mut self) -> Range<u64> {
        let r = self.at(self.frame)..self.at(self.frame + 1);
        self.frame += 1;
        r
    }
}

/// How many samples to keep when the ring holds `queued` and one tick takes `tick`: `None` while
/// the backlog beyond the tick is within `MAX_BACKLOG_S`, else half that bound (the oldest go), so
/// a burst of audio (a capture thread catching up) costs a few dropped samples, not a lasting
/// delay between speech and lips.
pub fn trim_backlog(queued: usize, tick: usize) -> Option<usize> {
    let max_backlog = (MAX_BACKLOG_S * ANALYSIS_RATE as f64) as usize;
    (queued > tick + max_backlog).then_some(tick + max_backlog / 2)
}

/// Of `mouths` frames made in one pass, the one to render: the last (the others are skipped;
/// their audio still goes out).
pub fn frame_to_render(mouths: usize) -> Option<usize> {
    mouths.checked_sub(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    /// Takes every due tick's audio, as the engine does; returns (skipped, spans).
    fn run(c: &mut FrameClock, at: Duration) -> Option<(u64, Vec<Range<u64>>)> {
        match c.poll(at) {
            Poll::Wait(_) => None,
            Poll::Due { skipped, ticks } => Some((skipped, (0..ticks).map(|_| c.tick_audio()).collect())),
        }
    }

    #[test]
    fn on_time_one_tick_then_wait_for_the_next() {
        let mut c = FrameClock::new(25.0);
        assert_eq!(run(&mut c, MS(0)), Some((0, vec![0..640])));
        assert_eq!(c.poll(MS(10)), Poll::Wait(MS(30)));
        // Never asked to sleep longer than a tick, whatever the caller's clock says.
        assert_eq!(c.poll(Duration::ZERO), Poll::Wait(MS(40)));
        assert_eq!(run(&mut c, MS(40)), Some((0, vec![640..1280])));
    }

    #[test]
    fn a_late_frame_takes_both_ticks_and_renders_the_last() {
        let mut c = FrameClock::new(25.0);
        run(&mut c, MS(0)).unwrap();
        // 45 ms late: the ticks at 40 and 80 ms are both due; nothing is dropped.
        let (skipped, spans) = run(&mut c, MS(85)).unwrap();
        assert_eq!((skipped, spans), (0, vec![640..1280, 1280..1920]));
        assert_eq!(frame_to_render(2), Some(1));
        assert_eq!(frame_to_render(0), None);
    }

    #[test]
    fn a_200_ms_stall_skips_all_but_the_last_three_ticks() {
        let mut c = FrameClock::new(25.0);
        run(&mut c, MS(0)).unwrap();
        // Stalled from 1 ms to 241 ms: ticks 1..=6 are due; 1..=3 are skipped, 4..=6 taken.
        let (skipped, spans) = run(&mut c, MS(241)).unwrap();
        assert_eq!(skipped, 3);
        assert_eq!(spans, vec![2560..3200, 3200..3840, 3840..4480]);
        // Back on time afterwards.
        assert_eq!(c.poll(MS(250)), Poll::Wait(MS(30)));
        // The audio sent out with frames stays contiguous from the start: no speech is lost.
        let sent: Vec<_> = (0..4).map(|_| c.frame_audio()).collect();
        assert_eq!(sent, vec![0..640, 640..1280, 1280..1920, 1920..2560]);
    }

    #[test]
    fn a_burst_of_audio_is_trimmed_to_half_the_backlog_bound() {
        // 40 ms at 25 fps = 640 samples a tick; the bound is 640 more.
        assert_eq!(trim_backlog(640, 640), None);
        assert_eq!(trim_backlog(1280, 640), None);
        assert_eq!(trim_backlog(1281, 640), Some(960));
        // Two seconds arriving at once (a capture thread catching up).
        assert_eq!(trim_backlog(32_000, 640), Some(960));
    }

    #[test]
    fn a_rate_change_starts_a_new_timeline_with_exact_spans() {
        let mut c = FrameClock::new(25.0);
        run(&mut c, MS(0)).unwrap();
        run(&mut c, MS(40)).unwrap();
        // The engine builds a new clock at the new rate (and restarts its elapsed time).
        let mut c = FrameClock::new(30.0);
        assert_eq!(c.max_tick_samples(), 534);
        let mut spans = vec![];
        for k in 0..30u64 {
            let at = Duration::from_secs_f64(k as f64 / 30.0) + MS(1);
            let (skipped, s) = run(&mut c, at).unwrap();
            assert_eq!(skipped, 0);
            spans.extend(s);
        }
        // 533 or 534 samples each, contiguous, exactly one second of speech in 30 ticks.
        assert!(spans.iter().all(|r| r.end - r.start == 533 || r.end - r.start == 534));
        assert!(spans.windows(2).all(|w| w[0].end == w[1].start));
        assert_eq!((spans[0].start, spans[29].end), (0, 16_000));
        assert_eq!(c.fps(), 30.0);
    }
}
