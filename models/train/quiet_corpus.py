"""Clips with no speech at all — steady room noise, hiss, mains hum, a breath-like noise burst —
at kiosk-microphone levels, labelled silence throughout, so that the model learns that sound
which is not speech leaves the mouth closed and still.

    python3 quiet_corpus.py --out DIR --minutes M [--seed S]

Writes DIR/{id}.wav and DIR/{id}.json in espeak_corpus.py's format (one "sil" phone).
"""
import argparse
import json
from pathlib import Path

import numpy as np

from espeak_corpus import write_wav
from noise import hum, pink

RATE = 16000


def clip(rng, seconds):
    n = int(seconds * RATE)
    kind = rng.choice(["white", "pink", "hum", "breath", "mix"])
    if kind == "white":
        x = rng.standard_normal(n)
    elif kind == "pink":
        x = pink(n, rng)
    elif kind == "hum":
        x = hum(n, rng, 0.1)
    elif kind == "breath":
        # Band-passed noise bursts of 0.3–0.8 s rising and falling, as an exhale near a microphone.
        x = 0.2 * pink(n, rng)
        k = 0
        while k < n:
            k += int(rng.uniform(0.8, 2.0) * RATE)
            m = int(rng.uniform(0.3, 0.8) * RATE)
            if k + m < n:
                x[k:k + m] += np.hanning(m) * rng.standard_normal(m) * rng.uniform(1.0, 3.0)
            k += m
    else:
        x = pink(n, rng) + 0.5 * rng.standard_normal(n)
    x = x / (np.sqrt(np.mean(x ** 2)) + 1e-9)
    level_db = rng.uniform(-70, -35)
    return (x * 10 ** (level_db / 20)).astype(np.float32), kind, level_db


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--minutes", type=float, default=5)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    k, total = 0, 0.0
    while total < args.minutes * 60:
        x, kind, level = clip(rng, rng.uniform(2.0, 6.0))
        dur = len(x) / RATE
        uid = f"qt{args.seed}_{k:05d}"
        write_wav(args.out / f"{uid}.wav", x)
        meta = {"engine": "noise", "voice": kind, "lang": "none", "text": "", "level_dbfs": round(float(level), 1),
                "phones": [{"p": "", "v": "sil", "start": 0.0, "end": round(dur, 4)}]}
        (args.out / f"{uid}.json").write_text(json.dumps(meta))
        k += 1
        total += dur
    print(f"quiet: {k} clips, {total / 60:.1f} min")


if __name__ == "__main__":
    main()
