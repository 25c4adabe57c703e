"""Training speech with exact phone timings from Flite (CMU's small synthesizer, Debian's `flite`
2.2): five voices of two different kinds from espeak-ng's formant voices — kal and kal16
(diphone concatenation of a recorded speaker) and awb, rms, slt (clustergen statistical voices
trained on three more speakers) — at varied speed and pitch, so the model hears more than one
synthesizer.

    python3 flite_corpus.py --out DIR --minutes M [--seed S]

Writes DIR/{id}.wav (16 kHz mono PCM16) and DIR/{id}.json in espeak_corpus.py's format. Flite
prints every segment with its end time (`-psdur`, CMU phone set); a segment starts where the
previous one ends. The CMU phones are mapped to IPA for visemes.py.
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

import visemes
from espeak_corpus import texts, write_wav

VOICES = ["kal", "kal16", "awb", "rms", "slt"]

# CMU/ARPAbet (Flite's US English phone set) to IPA.
CMU_IPA = {
    "aa": "ɑ", "ae": "æ", "ah": "ʌ", "ao": "ɔ", "aw": "aʊ", "ax": "ə", "ay": "aɪ", "eh": "ɛ", "er": "ɚ",
    "ey": "eɪ", "ih": "ɪ", "iy": "i", "ow": "oʊ", "oy": "ɔɪ", "uh": "ʊ", "uw": "u",
    "b": "b", "ch": "tʃ", "d": "d", "dh": "ð", "dx": "ɾ", "f": "f", "g": "ɡ", "hh": "h", "jh": "dʒ",
    "k": "k", "l": "l", "m": "m", "n": "n", "ng": "ŋ", "p": "p", "r": "ɹ", "s": "s", "sh": "ʃ",
    "t": "t", "th": "θ", "v": "v", "w": "w", "y": "j", "z": "z", "zh": "ʒ", "pau": "", "h#": "",
}


def say(text, voice, stretch, f0, tmp):
    wav_path = Path(tmp) / "out.wav"
    cmd = ["flite", "-voice", voice, "--setf", f"duration_stretch={stretch:.2f}",
           "--setf", f"int_f0_target_mean={f0:.0f}", "-psdur", "-t", text, "-o", str(wav_path)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if r.returncode != 0 or not wav_path.exists():
        return None, None
    with wave.open(str(wav_path)) as w:
        rate = w.getframerate()
        x = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float32) / 32768.0
        if w.getnchannels() > 1:
            x = x.reshape(-1, w.getnchannels()).mean(axis=1)
    if rate != 16000:
        g = np.gcd(16000, rate)
        x = resample_poly(x, 16000 // g, rate // g).astype(np.float32)
    segs = []
    for tok in r.stdout.split():
        if ":" in tok:
            p, end = tok.rsplit(":", 1)
            try:
                segs.append((p, float(end)))
            except ValueError:
                pass
    return x, segs


def clip_from_segments(x, segs, table, rnd, unknown):
    """A synthesizer's output as a corpus clip: 0.2-0.8 s of silence before and after (drawn from
    `rnd`), and its (phone, end time) segments as corpus phones, each starting where the previous
    one ended, mapped to IPA by `table` ('' = silence; phones not in it are counted in `unknown`
    and given a neutral vowel)."""
    lead, tail = rnd.uniform(0.2, 0.8), rnd.uniform(0.2, 0.8)
    dur = len(x) / 16000
    x = np.concatenate([np.zeros(int(lead * 16000), np.float32), x, np.zeros(int(tail * 16000), np.float32)])
    phones, start = [{"p": "", "v": "sil", "start": 0.0, "end": lead}], 0.0
    for p, end in segs:
        end = min(end, dur)
        if end <= start:
            continue
        ipa = table.get(p)
        if ipa is None:
            unknown[p] = unknown.get(p, 0) + 1
            v = "E"
        else:
            v = visemes.of_ipa(ipa) if ipa else "sil"
        phones.append({"p": ipa if ipa is not None else p, "v": v, "start": round(lead + start, 4), "end": round(lead + end, 4)})
        start = end
    phones.append({"p": "", "v": "sil", "start": round(lead + start, 4), "end": round(len(x) / 16000, 4)})
    return x, phones


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--minutes", type=float, default=20)
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
            text = " ".join(rnd.sample(sents, rnd.choice([1, 1, 2])))
            stretch, f0 = rnd.uniform(0.75, 1.35), rnd.uniform(85, 230)
            x, segs = say(text, voice, stretch, f0, tmp)
            if x is None or len(x) < 16000 * 0.3 or not segs:
                continue
            x, phones = clip_from_segments(x, segs, CMU_IPA, rnd, unknown)
            uid = f"fl{args.seed}_{k:05d}"
            write_wav(args.out / f"{uid}.wav", x)
            meta = {"engine": "flite", "voice": voice, "lang": "en", "text": text, "stretch": round(stretch, 2),
                    "f0": round(f0), "phones": phones}
            (args.out / f"{uid}.json").write_text(json.dumps(meta, ensure_ascii=False))
            k += 1
            total += len(x) / 16000
            by_voice[voice] += len(x) / 16000
            if k % 100 == 0:
                print(f"flite: {k} utterances, {total / 60:.1f} min", flush=True)
    print(f"flite: {k} utterances, {total / 60:.1f} min; by voice: " + ", ".join(f"{v} {s / 60:.1f}" for v, s in by_voice.items()))
    if unknown:
        print("flite: unmapped phones:", sorted(unknown.items(), key=lambda kv: -kv[1]))


if __name__ == "__main__":
    main()
