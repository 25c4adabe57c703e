"""Training-time degradations of clean synthesized speech, as a kiosk microphone hears it: another
speaker's voice (a frequency warp of the whole spectrum, pitch and formants together, as a longer
or shorter vocal tract gives), gain, additive noise (white, pink, mains hum, babble from other
utterances), room reverberation, band-limiting (cheap USB microphone, telephone) and occasional
clipping. Never shifts timing: the warp keeps every frame in place and the reverberation keeps
the direct path at lag 0."""
import numpy as np
from scipy.signal import butter, fftconvolve, istft, sosfilt, stft

# Changes whenever augment() gives other samples: train.py recomputes cached features then.
VERSION = 2

RATE = 16000


def pink(n, rng):
    w = rng.standard_normal(n)
    f = np.fft.rfft(w)
    f /= np.sqrt(np.maximum(np.arange(len(f)), 1))
    p = np.fft.irfft(f, n)
    return p / (np.std(p) + 1e-9)


def hum(n, rng, hiss):
    """Mains hum (50 or 60 Hz and two harmonics, random phases) plus white noise at `hiss`."""
    f0 = rng.choice([50.0, 60.0])
    t = np.arange(n) / RATE
    return sum(np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 6.3)) / k for k in (1, 2, 3)) + hiss * rng.standard_normal(n)


def reverb(x, rng):
    rt60 = rng.uniform(0.1, 0.8)
    n = int(rt60 * RATE)
    t = np.arange(n) / RATE
    ir = rng.standard_normal(n) * np.exp(-6.9 * t / rt60) * rng.uniform(0.1, 0.5)
    ir[: int(0.003 * RATE)] = 0.0
    ir[0] = 1.0
    return fftconvolve(x, ir)[: len(x)] / np.sqrt(1 + np.sum(ir[1:] ** 2))


def voice_warp(x, alpha):
    """Vocal tract length perturbation in the signal: the short-time magnitude spectrum is
    stretched along frequency by alpha (> 1: a shorter tract and higher voice, as from a man's
    voice to a woman's or a child's), each bin keeping its own phase; 32 ms frames, 75 %
    overlap, so timing is kept to within a frame hop (4 ms)."""
    f, t, z = stft(x, fs=RATE, nperseg=512, noverlap=384)
    k = np.arange(len(f))
    mag = np.abs(z)
    src = k / alpha
    warped = np.stack([np.interp(src, k, mag[:, j], right=0.0) for j in range(mag.shape[1])], axis=1)
    y = istft(warped * np.exp(1j * np.angle(z)), fs=RATE, nperseg=512, noverlap=384)[1][: len(x)]
    if len(y) < len(x):
        y = np.pad(y, (0, len(x) - len(y)))
    return y * (np.sqrt(np.mean(x**2)) / (np.sqrt(np.mean(y**2)) + 1e-12))


def augment(x, rng, babble=None):
    x = x.astype(np.float64)
    if rng.random() < 0.7:
        x = voice_warp(x, float(np.exp(rng.uniform(np.log(0.82), np.log(1.22)))))
    rms = np.sqrt(np.mean(x**2)) + 1e-9
    if rng.random() < 0.5:
        x = reverb(x, rng)
    if rng.random() < 0.6:
        lo = rng.uniform(80, 300)
        hi = rng.uniform(3400, 7200)
        x = sosfilt(butter(4, [lo, hi], btype="band", fs=RATE, output="sos"), x)
    if rng.random() < 0.8:
        kind = rng.choice(["white", "pink", "hum", "babble"] if babble is not None else ["white", "pink", "hum"])
        n = len(x)
        if kind == "white":
            z = rng.standard_normal(n)
        elif kind == "pink":
            z = pink(n, rng)
        elif kind == "hum":
            z = hum(n, rng, 0.3)
        else:
            z = np.resize(babble, n)
        z = z / (np.sqrt(np.mean(z**2)) + 1e-9)
        snr = rng.uniform(10, 40)
        x = x + z * rms * 10 ** (-snr / 20)
    x = x * 10 ** (rng.uniform(-18, 6) / 20)
    if rng.random() < 0.1:
        lim = np.percentile(np.abs(x), 99.5)
        x = np.clip(x, -lim, lim)
    return np.clip(x, -1, 1).astype(np.float32)
