"""Held-out voices for eval_heldout.py: real recorded speech by speakers that no training script
ever reads, in four languages, each with a phone alignment.

    python3 heldout_data.py --data DIR [--seconds 30] [--check-alignment]

Voices (none of them in models/train's corpora; the training speaker is Allison Smith):
  en  LibriVox reader of "Sense and Sensibility" ch. 1 (public domain), the 5 excerpts in the
      pocketsphinx 5.0.4 source package's test data (PyPI sdist, sha256 checked), their own
      transcripts; aligned by pocketsphinx (en-us).
  fr  June Wallack, Canadian French (Debian asterisk-core-sounds-fr-g722 1.6.1-1, CC-BY-SA-3.0).
  it  Carlo, Italian, a male voice (asterisk-core-sounds-it-g722 1.6.1-1, CC-BY-SA-3.0).
  ru  IvrvoiceRU, Russian (asterisk-core-sounds-ru-g722 1.6.1-1, CC-BY-SA-3.0).
The Asterisk sets carry their transcripts (core-sounds-LANG.txt in asterisk-core-sounds-LANG).
Their prompts are aligned by synthesis and time warping: espeak-ng speaks the transcript in the
language with its phoneme events, both signals go to MFCCs, dynamic time warping maps the
synthetic phones onto the recording (dtw_align). `--check-alignment` measures that route against
pocketsphinx on English recordings (the LibriVox reader and 20 of Allison Smith's prompts): word
starts, both ways.

Per voice the script picks prompts of 1.5-8 s with the most p, b, m per second (no digits, no
bracketed tone descriptions), up to --seconds of speech, and joins them with 0.6 s of quiet into
DIR/VOICE.wav (16 kHz) with DIR/VOICE.json: the phones [label, start, end] ("SIL" for silence;
ARPAbet from pocketsphinx, IPA from espeak-ng), the prompts and the aligner used.
"""
import argparse
import gzip
import hashlib
import json
import re
import subprocess
import urllib.request
from pathlib import Path

import numpy as np
import sys as _sys
_sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "measure"))
from scipy.fft import dct
from scipy.signal import resample_poly

from espeak_corpus import Espeak, write_wav

RATE = 16000
HOP_S = 0.01
PS_SDIST = ("https://files.pythonhosted.org/packages/ce/89/23e37c19bf30f0570088b7c4b548a666ca94331a6aa5a59b34402becc2d5/"
            "pocketsphinx-5.0.4.tar.gz", "17d2971e998490def9554b6ba41886708422af5b4ae888723b1b077aab0fe8d4")
ASTERISK = {  # voice: (language, espeak-ng voice, sound folder)
    "fr": ("fr", "fr", "fr_CA_f_June"),
    "it": ("it", "it", "it_IT_m_Carlo"),
    "ru": ("ru", "ru", "ru_RU_f_IvrvoiceRU"),
}
VOICES = {
    "en": "LibriVox reader (Sense and Sensibility), English, public domain; pocketsphinx 5.0.4 test data",
    "fr": "June Wallack, Canadian French, CC-BY-SA-3.0; Debian asterisk-core-sounds-fr-g722 1.6.1-1",
    "it": "Carlo, Italian (male), CC-BY-SA-3.0; Debian asterisk-core-sounds-it-g722 1.6.1-1",
    "ru": "IvrvoiceRU, Russian, CC-BY-SA-3.0; Debian asterisk-core-sounds-ru-g722 1.6.1-1",
}


def sh(cmd, cwd):
    subprocess.run(cmd, shell=True, check=True, cwd=cwd, capture_output=True)


def fetch(data):
    """Downloads and unpacks the packages (once)."""
    src = data / "src"
    src.mkdir(parents=True, exist_ok=True)
    for lang in ASTERISK:
        if not (src / f"g722-{lang}").is_dir():
            sh(f"apt-get download asterisk-core-sounds-{lang}-g722=1.6.1-1 asterisk-core-sounds-{lang}=1.6.1-1", src)
            sh(f"dpkg-deb -x asterisk-core-sounds-{lang}-g722_1.6.1-1_all.deb g722-{lang} && "
               f"dpkg-deb -x asterisk-core-sounds-{lang}_1.6.1-1_all.deb txt-{lang}", src)
    if not (src / "pocketsphinx-5.0.4").is_dir():
        url, sha = PS_SDIST
        raw = urllib.request.urlopen(url, timeout=120).read()
        if hashlib.sha256(raw).hexdigest() != sha:
            raise SystemExit(f"{url}: sha256 differs from the index's {sha}")
        (src / "ps.tar.gz").write_bytes(raw)
        sh("tar xzf ps.tar.gz pocketsphinx-5.0.4/test/data/librivox", src)


def read16k(path, fmt=None):
    cmd = ["ffmpeg", "-v", "error"] + (["-f", fmt] if fmt else []) + ["-i", str(path), "-ac", "1", "-ar", str(RATE), "-f", "s16le", "-"]
    return np.frombuffer(subprocess.run(cmd, capture_output=True, check=True).stdout, np.int16).astype(np.float32) / 32768


# ---- alignment by synthesis and dynamic time warping ------------------------------------------

def speak(tts, text, voice):
    """espeak-ng (espeak_corpus.Espeak) at its default pitch and 160 wpm: 16 kHz samples, the
    phoneme events [(s, IPA)] and the word starts (s)."""
    x, phones = tts.say(text, voice, 160, 50, 50)
    if x is None:
        raise SystemExit(f"espeak-ng has no voice {voice}")
    if tts.rate != RATE:
        x = resample_poly(x, RATE, tts.rate).astype(np.float32)
    return x, phones, list(tts.words)


def mfcc(x):
    """13 MFCCs (c1..c12 and log energy), deltas, per-utterance mean and variance normalised; 10 ms hop."""
    win, hop, nfft = 400, 160, 512
    x = np.concatenate([np.zeros(win // 2, np.float32), x, np.zeros(win // 2, np.float32)])
    n = max(1, 1 + (len(x) - win) // hop)
    idx = np.arange(win)[None, :] + hop * np.arange(n)[:, None]
    fr = x[idx] * np.hamming(win)[None, :]
    p = np.abs(np.fft.rfft(fr, nfft)) ** 2
    mel = lambda f: 2595 * np.log10(1 + f / 700)
    edges = 700 * (10 ** (np.linspace(mel(100), mel(7600), 42) / 2595) - 1)
    bins = np.fft.rfftfreq(nfft, 1 / RATE)
    fb = np.zeros((40, len(bins)))
    for m in range(40):
        lo, c, hi = edges[m:m + 3]
        fb[m] = np.clip(np.minimum((bins - lo) / (c - lo), (hi - bins) / (hi - c)), 0, None)
    lm = np.log(p @ fb.T + 1e-8)
    c = dct(lm, type=2, norm="ortho", axis=1)[:, 1:13]
    e = np.log(p.sum(1) + 1e-8)[:, None]
    f = np.hstack([c, e])
    d = np.gradient(f, axis=0)
    f = np.hstack([f, d])
    return (f - f.mean(0)) / (f.std(0) + 1e-6), np.log10(p.sum(1) + 1e-12)


def speech_span(logp):
    """First and last 10 ms frame whose energy is within 35 dB of the loudest."""
    on = np.flatnonzero(logp > logp.max() - 3.5)
    return int(on[0]), int(on[-1]) + 1


def dtw_path(a, b):
    """Path of the cheapest alignment of feature rows a (n) and b (m), steps (1,1) (1,0) (0,1),
    each costing the cell once (so diagonal paths are favoured: on English the symmetric steps,
    a diagonal costing twice, put word starts 70 ms from pocketsphinx's at the median, these 30)."""
    cost = np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))
    n, m = cost.shape
    D = np.full((n + 1, m + 1), np.inf)
    D[0, 0] = 0.0
    for i in range(1, n + 1):
        row = cost[i - 1]
        prev = D[i - 1]
        best = np.minimum(prev[:-1], prev[1:])  # diagonal, vertical
        cur = D[i]
        for j in range(1, m + 1):
            v = best[j - 1] if best[j - 1] < cur[j - 1] else cur[j - 1]
            cur[j] = row[j - 1] + v
    i, j, path = n, m, []
    while i > 0 and j > 0:
        path.append((i - 1, j - 1))
        k = np.argmin([D[i - 1, j - 1], D[i - 1, j], D[i, j - 1]])
        i, j = (i - 1, j - 1) if k == 0 else ((i - 1, j) if k == 1 else (i, j - 1))
    return path[::-1]


def warp(path):
    """Synthetic frame -> recorded frame (the mean of the recorded frames it matched)."""
    acc = {}
    for i, j in path:
        acc.setdefault(i, []).append(j)
    n = max(acc) + 1
    return np.array([np.mean(acc[i]) for i in range(n)])


def dtw_align(x, text, voice, tts):
    """[(label, start, end)] for recording x (16 kHz) of `text`, and the warped word starts."""
    y, phones, words = speak(tts, text, voice)
    fa, la = mfcc(y)
    fb, lb = mfcc(x)
    a0, a1 = speech_span(la)
    b0, b1 = speech_span(lb)
    w = warp(dtw_path(fa[a0:a1], fb[b0:b1]))
    def to_rec(t):
        k = t / HOP_S - a0
        if k <= 0:
            return b0 * HOP_S + min(k, 0) * HOP_S
        if k >= len(w) - 1:
            return (b0 + w[-1] + (k - len(w) + 1)) * HOP_S
        return (b0 + np.interp(k, np.arange(len(w)), w)) * HOP_S
    dur_y, dur_x = len(y) / RATE, len(x) / RATE
    out, at = [], 0.0
    for k, (t, p) in enumerate(phones):
        end = phones[k + 1][0] if k + 1 < len(phones) else a1 * HOP_S
        s, e = max(to_rec(t), 0.0), min(to_rec(end), dur_x)
        label = p.strip()
        if e <= s:
            continue
        if not label or label.strip("_:!|") == "":
            label = "SIL"
        if s > at + 1e-3:
            out.append(("SIL", at, s))
        out.append((label, s, e))
        at = e
    if at < dur_x:
        out.append(("SIL", at, dur_x))
    return merge_sil(out), [to_rec(t) for t in words]


def merge_sil(phones):
    out = []
    for p in phones:
        if out and p[0] == "SIL" and out[-1][0] == "SIL":
            out[-1] = ("SIL", out[-1][1], p[2])
        else:
            out.append(tuple(p))
    return out


def ps_align(wav_path, text, cache):
    import lipread
    al = lipread.align(str(wav_path), text, str(cache))
    return merge_sil([tuple(p) for p in al["phones"]]), al


# ---- prompt choice and assembly ---------------------------------------------------------------

def prompts(data, voice):
    """[(name, audio, text)] of a voice's usable prompts."""
    src = data / "src"
    if voice == "en":
        d = src / "pocketsphinx-5.0.4/test/data/librivox"
        return [(w.stem, read16k(w), w.with_suffix(".txt").read_text().strip()) for w in sorted(d.glob("*.wav"))]
    lang, _, folder = ASTERISK[voice]
    lines = gzip.open(src / f"txt-{lang}/usr/share/doc/asterisk-core-sounds-{lang}/core-sounds-{lang}.txt.gz", "rt",
                      errors="replace").read().splitlines()
    out = []
    for line in lines:
        m = re.match(r"^\ufeff?([a-z0-9-]+)\s*:\s*(.+)$", line.strip())
        if not m:
            continue
        g = src / f"g722-{lang}/usr/share/asterisk/sounds/{folder}/{m[1]}.g722"
        text = m[2].strip()
        if not g.exists() or re.search(r"[\d\[\]<>()?#*]", text) or len(text.split()) < 3:
            continue
        out.append((m[1], g, text))
    return out


def choose(items, seconds):
    """Prompts of 1.5-8 s, most p/b/m (and their Cyrillic п б м) per second first."""
    scored = []
    for name, audio, text in items:
        x = audio if isinstance(audio, np.ndarray) else read16k(audio, "g722")
        dur = len(x) / RATE
        if not 1.5 <= dur <= 8.0:
            continue
        lab = sum(text.lower().count(c) for c in "pbmпбм")
        scored.append((-lab / dur, name, x, text))
    scored.sort(key=lambda s: (s[0], s[1]))
    out, total = [], 0.0
    for _, name, x, text in scored:
        if total >= seconds:
            break
        out.append((name, x, text))
        total += len(x) / RATE
    return sorted(out, key=lambda s: s[0])


def build(data, voice, seconds, tts):
    items = prompts(data, voice)
    chosen = items if voice == "en" else choose(items, seconds)
    gap = np.random.default_rng(7).standard_normal(int(0.6 * RATE)).astype(np.float32) * 10 ** (-62 / 20)
    parts, phones, meta, at = [], [], [], 0.0
    tmp = data / "tmp"
    tmp.mkdir(exist_ok=True)
    for name, x, text in chosen:
        if voice == "en":
            p = tmp / f"{name}.wav"
            write_wav(p, x)
            ph, _ = ps_align(p, text, data / "cache")
            aligner = "pocketsphinx 5.0.4 (en-us)"
        else:
            ph, _ = dtw_align(x, text, ASTERISK[voice][1], tts)
            aligner = f"espeak-ng {ASTERISK[voice][1]} + MFCC DTW"
        phones += [(l, round(s + at, 3), round(e + at, 3)) for l, s, e in ph]
        meta.append({"prompt": name, "text": text, "start": round(at, 3), "seconds": round(len(x) / RATE, 3)})
        parts += [x, gap]
        at += (len(x) + len(gap)) / RATE
        phones.append(("SIL", round(at - len(gap) / RATE, 3), round(at, 3)))
    write_wav(data / f"{voice}.wav", np.concatenate(parts))
    (data / f"{voice}.json").write_text(json.dumps({"voice": voice, "about": VOICES[voice], "aligner": aligner,
                                                    "prompts": meta, "phones": merge_sil(phones)}, ensure_ascii=False))
    return sum(m["seconds"] for m in meta), len(meta)


def check_alignment(data, tts):
    """Word starts by espeak-ng + DTW against pocketsphinx, on English recordings."""
    errs = []
    recs = [(n, x, t) for n, x, t in prompts(data, "en")]
    from eval_real import fetch as fetch_allison  # the training speaker's prompts, only to check the aligner
    fetch_allison(data / "allison")
    for w in sorted((data / "allison" / "wav").glob("*.wav"))[:20]:
        recs.append((w.stem, read16k(w), w.with_suffix(".txt").read_text().strip()))
    tmp = data / "tmp"
    tmp.mkdir(exist_ok=True)
    for name, x, text in recs:
        p = tmp / f"chk-{name}.wav"
        write_wav(p, x)
        try:
            _, al = ps_align(p, text, data / "cache")
        except RuntimeError:
            continue
        ref = [s for w, s, e in al["words"] if w not in ("<s>", "</s>", "<sil>") and not w.startswith("[")]
        _, starts = dtw_align(x, text, "en-us", tts)
        if len(ref) != len(starts):
            continue  # espeak and the dictionary split a word differently
        errs += [abs(a - b) for a, b in zip(ref, starts)]
    e = np.array(errs) * 1000
    return {"words": len(e), "median_ms": round(float(np.median(e)), 1), "mean_ms": round(float(np.mean(e)), 1),
            "within_50ms": round(float(np.mean(e <= 50)), 3), "within_100ms": round(float(np.mean(e <= 100)), 3)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--voices", default="en,fr,it,ru")
    ap.add_argument("--check-alignment", action="store_true")
    a = ap.parse_args()
    a.data.mkdir(parents=True, exist_ok=True)
    fetch(a.data)
    tts = Espeak()
    for v in a.voices.split(","):
        if not (a.data / f"{v}.json").exists():
            secs, n = build(a.data, v, a.seconds, tts)
            print(f"{v}: {n} prompts, {secs:.1f} s", flush=True)
    if a.check_alignment:
        print(json.dumps({"alignment_check": check_alignment(a.data, tts)}))


if __name__ == "__main__":
    main()
