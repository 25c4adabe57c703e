"""Training speech with exact phone timings from Festival 2.5 (Debian `festival`): three more
English voices — kal and ked (diphone voices of two recorded speakers, festvox-kallpc16k and
festvox-kdlpc16k) and cmu_us_slt_arctic_hts (an HTS statistical voice, festvox-us-slt-hts) — at
varied speed.

    python3 festival_corpus.py --out DIR --minutes M [--seed S]

Writes DIR/{id}.wav (16 kHz mono PCM16) and DIR/{id}.json in espeak_corpus.py's format. Festival
saves each utterance's segments with their end times (`utt.save.segs`, the radio phone set, close
to CMU's); a segment starts where the previous one ends. Utterances are made 20 to a Festival run
(its start-up is most of the time).
"""
import argparse
import json
import random
import subprocess
import tempfile
import wave
from pathlib import Path

import numpy as np
from scipy.signal import resample_poly

from espeak_corpus import texts, write_wav
from flite_corpus import CMU_IPA, clip_from_segments

VOICES = ["kal_diphone", "ked_diphone", "cmu_us_slt_arctic_hts"]
# The radio phone set's extras over CMU's.
RADIO_IPA = {**CMU_IPA, "axr": "ɚ", "el": "l", "em": "m", "en": "n", "ix": "ɪ", "nx": "n", "hv": "h", "brth": ""}
BATCH = 20


def read_wav16(path):
    with wave.open(str(path)) as w:
        rate = w.getframerate()
        x = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float32) / 32768.0
        if w.getnchannels() > 1:
            x = x.reshape(-1, w.getnchannels()).mean(axis=1)
    if rate != 16000:
        g = np.gcd(16000, rate)
        x = resample_poly(x, 16000 // g, rate // g).astype(np.float32)
    return x


def read_segs(path):
    segs = []
    for line in Path(path).read_text().splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] != "#":
            try:
                segs.append((parts[2], float(parts[0])))
            except ValueError:
                pass
    return segs


def synth_batch(voice, items, tmp):
    """items: (text, stretch); returns [(samples, segs) or None]."""
    lines = [f"(voice_{voice})"]
    for k, (text, stretch) in enumerate(items):
        safe = text.replace("\\", " ").replace('"', " ")
        lines += [f"(Parameter.set 'Duration_Stretch {stretch:.2f})",
                  f'(set! utt (Utterance Text "{safe}"))', "(utt.synth utt)",
                  f'(utt.save.wave utt "{tmp}/{k}.wav" \'riff)', f'(utt.save.segs utt "{tmp}/{k}.segs")']
    script = Path(tmp) / "batch.scm"
    script.write_text("\n".join(lines) + "\n")
    subprocess.run(["festival", "-b", str(script)], capture_output=True, timeout=600)
    out = []
    for k in range(len(items)):
        w, s = Path(tmp) / f"{k}.wav", Path(tmp) / f"{k}.segs"
        out.append((read_wav16(w), read_segs(s)) if w.exists() and s.exists() else None)
        for p in (w, s):
            p.unlink(missing_ok=True)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--minutes", type=float, default=15)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    rnd = random.Random(args.seed)
    sents = texts()["en"]
    unknown, by_voice = {}, {v: 0.0 for v in VOICES}
    k, total = 0, 0.0
    with tempfile.TemporaryDirectory() as tmp:
        while total < args.minutes * 60:
            voice = min(VOICES, key=lambda v: by_voice[v])
            items = [(" ".join(rnd.sample(sents, rnd.choice([1, 1, 2]))), rnd.uniform(0.8, 1.3)) for _ in range(BATCH)]
            made = synth_batch(voice, items, tmp)
            if not any(made):
                raise SystemExit(f"festival: voice {voice} made nothing (is festvox for it installed?)")
            for (text, stretch), r in zip(items, made):
                if r is None:
                    continue
                x, segs = r
                if len(x) < 16000 * 0.3 or not segs:
                    continue
                x, phones = clip_from_segments(x, segs, RADIO_IPA, rnd, unknown)
                uid = f"fe{args.seed}_{k:05d}"
                write_wav(args.out / f"{uid}.wav", x)
                meta = {"engine": "festival", "voice": voice, "lang": "en", "text": text, "stretch": round(stretch, 2), "phones": phones}
                (args.out / f"{uid}.json").write_text(json.dumps(meta, ensure_ascii=False))
                k += 1
                total += len(x) / 16000
                by_voice[voice] += len(x) / 16000
            print(f"festival: {k} utterances, {total / 60:.1f} min", flush=True)
    print(f"festival: {k} utterances, {total / 60:.1f} min; by voice: " + ", ".join(f"{v} {s / 60:.1f}" for v, s in by_voice.items()))
    if unknown:
        print("festival: unmapped phones:", sorted(unknown.items(), key=lambda kv: -kv[1]))


if __name__ == "__main__":
    main()
