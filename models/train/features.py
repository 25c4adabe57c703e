"""Log-mel features exactly as the Rust `audio::mel::LogMel` computes them, and the grouping of
mel frames into 40 ms model hops. Keep in step with src/audio/mel.rs and src/motion/ (the Rust
test `mel_matches_the_training_features` checks a reference made by this file).

80 HTK-mel bands 20 Hz..8 kHz over a 512-point FFT of 25 ms periodic-Hann windows every 10 ms,
natural log of power floored at 1e-10; frame j covers samples [160 j, 160 j + 400), no centring.
"""
import wave

import numpy as np

RATE = 16000
N_MELS, WIN, HOP, N_FFT = 80, 400, 160, 512
F_MIN, F_MAX, LOG_FLOOR = 20.0, 8000.0, 1e-10
FPS = 25
MEL_PER_HOP = 4  # 10 ms mel frames per 40 ms video frame
LOOKAHEAD_MEL = 2  # video frame k reads mel frames 4k+2 .. 4k+5: audio up to 75 ms after its instant


def hz_to_mel(hz):
    return 2595.0 * np.log10(1.0 + hz / 700.0)


def mel_to_hz(mel):
    return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)


def mel_filters():
    bins = N_FFT // 2 + 1
    m0, m1 = hz_to_mel(np.float32(F_MIN)), hz_to_mel(np.float32(F_MAX))
    edges = mel_to_hz(m0 + (m1 - m0) * np.arange(N_MELS + 2, dtype=np.float32) / (N_MELS + 1)).astype(np.float32)
    hz = np.arange(bins, dtype=np.float32) * np.float32(RATE / N_FFT)
    fb = np.zeros((N_MELS, bins), np.float32)
    for b in range(N_MELS):
        lo, c, hi = edges[b], edges[b + 1], edges[b + 2]
        up = (hz > lo) & (hz <= c)
        down = (hz > c) & (hz < hi)
        fb[b, up] = (hz[up] - lo) / (c - lo)
        fb[b, down] = (hi - hz[down]) / (hi - c)
    return fb


_FB = mel_filters()
_WINDOW = (0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(WIN) / WIN)).astype(np.float32)


def log_mel(x):
    """[frames, 80] float32 for a float32 16 kHz mono signal in [-1, 1)."""
    x = np.asarray(x, np.float32)
    n = 0 if len(x) < WIN else (len(x) - WIN) // HOP + 1
    if n == 0:
        return np.zeros((0, N_MELS), np.float32)
    idx = np.arange(WIN)[None, :] + HOP * np.arange(n)[:, None]
    frames = x[idx] * _WINDOW[None, :]
    spec = np.fft.rfft(frames, n=N_FFT, axis=1)
    power = (spec.real.astype(np.float64) ** 2 + spec.imag.astype(np.float64) ** 2).astype(np.float32)
    e = power @ _FB.T
    return np.log(np.maximum(e, LOG_FLOOR)).astype(np.float32)


def frame_count(n_samples, fps=FPS):
    """Video frames for a signal: ceil(duration * fps), as the Rust FrameAnalyzer."""
    return int(np.ceil(n_samples / RATE * fps - 1e-9))


def hops(x, n_frames):
    """Model input [n_frames, 4*80]: row k = mel frames 4k+2..4k+5 (the signal is padded with
    zeros at the end so that every frame has its look-ahead)."""
    need = HOP * (MEL_PER_HOP * (n_frames - 1) + LOOKAHEAD_MEL + MEL_PER_HOP - 1) + WIN
    x = np.asarray(x, np.float32)
    if len(x) < need:
        x = np.concatenate([x, np.zeros(need - len(x), np.float32)])
    m = log_mel(x)
    start = LOOKAHEAD_MEL
    rows = m[start : start + MEL_PER_HOP * n_frames]
    return rows.reshape(n_frames, MEL_PER_HOP * N_MELS)


def read_wav(path):
    """16 kHz mono 16-bit PCM WAV → float32 in [-1, 1)."""
    with wave.open(str(path), "rb") as w:
        assert w.getframerate() == RATE and w.getnchannels() == 1 and w.getsampwidth() == 2, path
        pcm = np.frombuffer(w.readframes(w.getnframes()), "<i2")
    return pcm.astype(np.float32) / 32768.0
