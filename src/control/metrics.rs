//! `GET /metrics`: the live figures in the Prometheus text format (version 0.0.4).

use std::fmt::Write;
use std::sync::atomic::Ordering;

use super::Shared;
use crate::engine::metrics::LATENCY_BUCKETS_MS;

fn metric(out: &mut String, name: &str, kind: &str, help: &str, value: impl std::fmt::Display) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}");
}

/// The exposition text.
pub fn render(s: &Shared) -> String {
    let m = &s.live.metrics;
    let c = &s.live.capture;
    let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    let mut o = String::with_capacity(4096);
    metric(&mut o, "speakface_up_seconds", "gauge", "Seconds since the daemon started.", format!("{:.1}", s.started.elapsed().as_secs_f64()));
    metric(&mut o, "speakface_fps", "gauge", "Frames per second over the last few seconds.", format!("{:.2}", load(&m.fps_milli) as f64 / 1000.0));
    metric(&mut o, "speakface_frames_total", "counter", "Frames rendered and handed to the outputs.", load(&m.frames_out));
    metric(&mut o, "speakface_frames_dropped_total", "counter", "Frames skipped because the engine was late.", load(&m.frames_skipped));
    metric(&mut o, "speakface_ticks_without_speech_total", "counter", "Frame ticks with no speech captured or queued.", load(&m.ticks_without_audio));
    let _ = writeln!(o, "# HELP speakface_latency_seconds Audio captured to frame handed to the outputs.\n# TYPE speakface_latency_seconds histogram");
    let mut cum = 0;
    for (i, ub) in LATENCY_BUCKETS_MS.iter().enumerate() {
        cum += load(&m.latency_buckets[i]);
        let _ = writeln!(o, "speakface_latency_seconds_bucket{{le=\"{}\"}} {cum}", ub / 1000.0);
    }
    cum += load(&m.latency_buckets[LATENCY_BUCKETS_MS.len()]);
    let _ = writeln!(o, "speakface_latency_seconds_bucket{{le=\"+Inf\"}} {cum}");
    let _ = writeln!(o, "speakface_latency_seconds_sum {}", load(&m.latency_sum_us) as f64 / 1e6);
    let _ = writeln!(o, "speakface_latency_seconds_count {cum}");
    metric(&mut o, "speakface_capture_running", "gauge", "1 while the speech source delivers audio.", u8::from(c.running.load(Ordering::Relaxed)));
    metric(&mut o, "speakface_capture_xruns_total", "counter", "Capture overruns recovered.", load(&c.overruns));
    metric(&mut o, "speakface_capture_outages_total", "counter", "Times the capture device was lost.", load(&c.outages));
    metric(&mut o, "speakface_speech_queued_seconds", "gauge", "Speech from the API waiting to be spoken.", format!("{:.2}", s.live.speech.seconds()));
    let inf = &s.inference;
    let _ = writeln!(
        o,
        "# HELP speakface_inference_device Where the models run (1 on the device in use), with the configured device.\n# TYPE speakface_inference_device gauge\nspeakface_inference_device{{device=\"{}\",configured=\"{}\"}} 1",
        inf.device, inf.configured
    );
    metric(&mut o, "speakface_inference_fallback", "gauge", "1 when the configured inference device could not be used and the models run on the CPU.", u8::from(inf.fallback.is_some()));
    metric(&mut o, "speakface_rtsp_clients", "gauge", "RTSP viewers connected.", s.live.rtsp_clients.load(Ordering::Relaxed));
    metric(&mut o, "speakface_output_errors_total", "counter", "Errors from the output pipeline.", load(&m.output_errors));
    metric(&mut o, "speakface_output_restarts_total", "counter", "Output pipeline restarts after an error.", load(&m.output_restarts));
    let _ = writeln!(o, "# HELP speakface_reloads_total Config reloads by result.\n# TYPE speakface_reloads_total counter");
    let _ = writeln!(o, "speakface_reloads_total{{result=\"applied\"}} {}", load(&s.reloads_ok));
    let _ = writeln!(o, "speakface_reloads_total{{result=\"rejected\"}} {}", load(&s.reloads_failed));
    metric(&mut o, "speakface_auth_failures_total", "counter", "API requests refused for a wrong or missing token.", load(&s.auth_failures));
    metric(&mut o, "speakface_api_requests_total", "counter", "API requests answered.", load(&s.api_requests));
    o
}
