//! What the engine shares with the threads around it: its figures, the capture thread's status,
//! the speech queue the API feeds, and the outputs in use. The engine writes them; anyone may
//! read them (the control plane builds status and metrics from them).

use std::collections::VecDeque;
use std::sync::atomic::AtomicU32;
use std::sync::{Arc, Mutex};

use crate::audio::capture::CaptureStatus;
use crate::engine::metrics::Metrics;

/// The engine's state as the other threads see it.
pub struct Live {
    pub metrics: Metrics,
    pub capture: Arc<CaptureStatus>,
    /// Speech handed in through the API, played before anything else the engine has queued.
    pub speech: SpeechQueue,
    /// Outputs in use, as words, for status.
    pub outputs: Mutex<String>,
    /// RTSP viewers, updated every few seconds.
    pub rtsp_clients: AtomicU32,
}

impl Default for Live {
    fn default() -> Live {
        Live {
            metrics: Metrics::default(),
            capture: Arc::new(CaptureStatus::default()),
            speech: SpeechQueue::new(SPEECH_QUEUE_MAX_S),
            outputs: Mutex::new(String::new()),
            rtsp_clients: AtomicU32::new(0),
        }
    }
}

/// Most speech (seconds) the API may queue ahead.
pub const SPEECH_QUEUE_MAX_S: f64 = 300.0;

/// Speech at 16 kHz mono waiting to be spoken; the engine takes one frame's worth per tick.
pub struct SpeechQueue {
    q: Mutex<VecDeque<f32>>,
    cap: usize,
}

impl SpeechQueue {
    pub fn new(max_s: f64) -> SpeechQueue {
        SpeechQueue { q: Mutex::new(VecDeque::new()), cap: (max_s * crate::audio::ANALYSIS_RATE as f64) as usize }
    }

    /// Queues `samples`; on a full queue nothing is queued and the seconds already waiting are
    /// returned as the error.
    pub fn push(&self, samples: &[f32]) -> Result<f64, f64> {
        let mut q = crate::util::lock(&self.q);
        let waiting = q.len() as f64 / crate::audio::ANALYSIS_RATE as f64;
        if q.len() + samples.len() > self.cap {
            return Err(waiting);
        }
        q.extend(samples);
        Ok(waiting)
    }

    /// Adds up to `out.len()` queued samples onto `out`; returns how many there were.
    pub fn mix_into(&self, out: &mut [f32]) -> usize {
        let mut q = crate::util::lock(&self.q);
        let n = out.len().min(q.len());
        for (o, s) in out.iter_mut().zip(q.drain(..n)) {
            *o += s;
        }
        n
    }

    pub fn seconds(&self) -> f64 {
        crate::util::lock(&self.q).len() as f64 / crate::audio::ANALYSIS_RATE as f64
    }

    pub fn clear(&self) {
        crate::util::lock(&self.q).clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speech_queue_is_bounded_and_mixes() {
        let q = SpeechQueue::new(1.0);
        assert_eq!(q.push(&[0.5; 8000]), Ok(0.0));
        assert_eq!(q.push(&[0.5; 9000]), Err(0.5));
        let mut out = [0.25f32; 10_000];
        assert_eq!(q.mix_into(&mut out), 8000);
        assert_eq!((out[0], out[7999], out[8000]), (0.75, 0.75, 0.25));
        assert_eq!(q.seconds(), 0.0);
    }
}
