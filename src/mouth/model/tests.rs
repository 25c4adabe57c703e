//! Tests of the trained mouth: streaming against whole utterances, the live tracker against the
//! render path, and its timing on a voice it never heard.
use super::*;

fn speechy(n: usize) -> Vec<f32> {
    // A buzz with a syllable-rate envelope and silences: enough to move every unit.
    (0..n)
        .map(|i| {
            let t = i as f32 / 16_000.0;
            let env = (t * 2.0 * std::f32::consts::PI * 3.0).sin().max(0.0) * if (t as usize) % 2 == 0 { 1.0 } else { 0.0 };
            env * 0.3 * ((t * 2.0 * std::f32::consts::PI * 140.0).sin() + 0.5 * (t * 2.0 * std::f32::consts::PI * 1130.0).sin())
        })
        .collect()
}

#[test]
fn streaming_equals_whole_utterance_and_rust_hops_match_stream() {
    let dir = crate::util::dirs::default_models_dir();
    let m = LipModel::load(&dir).unwrap();
    let x = speechy(16_000 * 3 + 1234);
    let n = crate::audio::frame_count(x.len(), MODEL_FPS);
    // Odd-sized pushes, as audio arrives from a device.
    let mut s = m.stream();
    let mut streamed = Vec::new();
    for chunk in x.chunks(333) {
        s.push(chunk, &mut streamed).unwrap();
    }
    while streamed.len() < n {
        s.push(&[0.0; 100], &mut streamed).unwrap();
    }
    streamed.truncate(n);
    assert_eq!(streamed, m.run(&x, n).unwrap());
    let whole = run_whole(&dir, MODEL_NAME, &x, n).unwrap();
    let worst = streamed.iter().flatten().zip(whole.iter().flatten()).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
    assert!(worst < 1e-4, "streaming and whole-utterance outputs differ by {worst}");
}

#[test]
fn the_live_tracker_gives_the_render_paths_mouth_frames_in_time() {
    let m = LipModel::load(&crate::util::dirs::default_models_dir()).unwrap();
    let wav = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/speech/short.wav");
    let x = crate::audio::read_wav(&wav).unwrap().mono16k;
    for fps in [25.0f32, 30.0, 40.0] {
        let n = crate::audio::frame_count(x.len(), fps);
        let rows = m.run(&x, crate::audio::frame_count(x.len(), MODEL_FPS) + 1).unwrap();
        let whole = mouth_track(&rows, n, fps);
        let mut t = ModelTracker::new(&m, fps);
        let mut live = Vec::new();
        let mut pushed = 0usize;
        for chunk in x.chunks(160) {
            t.push(chunk, &mut live).unwrap();
            pushed += chunk.len();
            // Every frame whose look-ahead has arrived is out, and none before the model's
            // own look-ahead.
            let heard = pushed as f64 / 16_000.0;
            let out_by = |ahead: f64| (((heard - ahead) * fps as f64 + 1e-6).floor() as i64 + 1).max(0);
            let (lo, hi) = (out_by(MouthTrack::lookahead_s(fps)), out_by(LOOKAHEAD_S as f64));
            let got = live.len() as i64;
            assert!(lo <= got && got <= hi, "{fps} fps: {got} frames out after {heard:.3} s, expected {lo}..={hi}");
        }
        while live.len() < n {
            t.push(&[0.0; 160], &mut live).unwrap();
        }
        live.truncate(n);
        assert_eq!(live, whole, "{fps} fps: the live mouth differs from the rendered one");
        let top = whole.iter().map(|s| s.jaw_open).fold(0.0, f32::max);
        assert!(top > 0.1, "{fps} fps: the mouth hardly moves (jaw at most {top})");
    }
}

/// Pearson correlation of `a[i + lag]` with `b[i]`.
fn lagged_corr(a: &[f32], b: &[f32], lag: i64) -> f64 {
    let pairs: Vec<(f64, f64)> = (0..b.len() as i64)
        .filter_map(|i| {
            let j = i + lag;
            (j >= 0 && (j as usize) < a.len()).then(|| (a[j as usize] as f64, b[i as usize] as f64))
        })
        .collect();
    let n = pairs.len() as f64;
    let (ma, mb) = (pairs.iter().map(|p| p.0).sum::<f64>() / n, pairs.iter().map(|p| p.1).sum::<f64>() / n);
    let cov: f64 = pairs.iter().map(|p| (p.0 - ma) * (p.1 - mb)).sum();
    let va: f64 = pairs.iter().map(|p| (p.0 - ma).powi(2)).sum();
    let vb: f64 = pairs.iter().map(|p| (p.1 - mb).powi(2)).sum();
    cov / (va * vb).sqrt().max(1e-12)
}

/// A voice the model never heard (a LibriVox reader), streamed through the live tracker in
/// 20 ms pushes: the lip gap it gives correlates best with the speech's loudness at a lag of
/// 0 frames or earlier, never after the sound (eval_heldout.py measures the same on the
/// rendered video; version 3 of the model was one frame late here).
#[test]
fn the_live_mouth_is_not_later_than_the_sound_on_an_unheard_voice() {
    let m = LipModel::load(&crate::util::dirs::default_models_dir()).unwrap();
    let wav = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/speech/heldout_librivox.wav");
    let x = crate::audio::read_wav(&wav).unwrap().mono16k;
    let fps = MODEL_FPS;
    let n = crate::audio::frame_count(x.len(), fps);
    let mut t = ModelTracker::new(&m, fps);
    let mut live = Vec::new();
    for chunk in x.chunks(320) {
        t.push(chunk, &mut live).unwrap();
    }
    while live.len() < n {
        t.push(&[0.0; 320], &mut live).unwrap();
    }
    live.truncate(n);
    let gap: Vec<f32> = live.iter().map(|s| s.jaw_open - s.close).collect();
    // RMS over each frame's 40 ms, as eval_heldout.py and ../shared/measure/av.py take it.
    let hop = 16_000.0 / fps as f64;
    let env: Vec<f32> = (0..n)
        .map(|i| {
            let seg = &x[(i as f64 * hop) as usize..(((i + 1) as f64 * hop) as usize).min(x.len())];
            (seg.iter().map(|v| v * v).sum::<f32>() / seg.len().max(1) as f32).sqrt()
        })
        .collect();
    let corr: Vec<(i64, f64)> = (-4..=4).map(|l| (l, lagged_corr(&gap, &env, l))).collect();
    let (best, r) = corr.iter().copied().fold((0, f64::MIN), |a, b| if b.1 > a.1 { b } else { a });
    assert!(r > 0.4, "the mouth hardly follows the speech: best r {r:.3} ({corr:?})");
    assert!(best <= 0, "the mouth is {best} frame(s) later than the sound ({corr:?})");
}
