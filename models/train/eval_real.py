"""Lip-sync evaluation on real recorded human speech, aligned by an independent forced aligner.

Data: Allison Smith's Asterisk prompts (Debian asterisk-core-sounds-en-g722 1.6.1-1, CC-BY-SA-3.0,
real studio recordings) with the sound set's own transcripts (core-sounds-en.txt). Aligner:
pocketsphinx 5 (PyPI, its bundled en-us acoustic model and dictionary). Predictions: the
`speakface` binary's `--motion-out` CSV (what the renderer is actually given).

    python3 eval_real.py --bin ../../target/release/speakface [--lipsync model|heuristic] [--n 40]

Metrics (frame n = instant n/25 s):
  closure hit rate   share of /P B M/ phones with at least one frame in [start-20ms, end+20ms]
                     whose lip gap (jawOpen - mouthClose) <= 0.08; also per-frame rate
  jaw~envelope       Pearson r of jawOpen with the RMS level (dB, 40 ms window, floor -60 dB)
  jaw~vowels         Pearson r of jawOpen with the aligner's vowel indicator
  false closures     share of frames inside vowels (20 ms in from each edge) with the lips closed
                     (lip gap <= 0.08): a mouth that shuts where it must be open; and closure
                     precision: of the closed frames inside speech (within a non-silence phone),
                     the share within 40 ms of a /P B M/
  silence motion     in aligner silences >= 0.3 s (0.1 s trimmed each side): mean jawOpen, mean
                     |d jawOpen| per frame, share of frames with lip gap > 0.05
"""
import argparse
import csv
import gzip
import json
import re
import subprocess
import tempfile
from pathlib import Path

import numpy as np

import features as F

VOWELS = {"AA", "AE", "AH", "AO", "AW", "AY", "EH", "ER", "EY", "IH", "IY", "OW", "OY", "UH", "UW"}
PKG = "asterisk-core-sounds-en-g722=1.6.1-1"
TXT = "asterisk-core-sounds-en=1.6.1-1"


def fetch(root):
    root.mkdir(parents=True, exist_ok=True)
    wavs = root / "wav"
    if wavs.is_dir() and any(wavs.glob("*.wav")):
        return
    subprocess.run(f"cd {root} && apt-get download {PKG} {TXT} && dpkg-deb -x asterisk-core-sounds-en-g722_*.deb g && dpkg-deb -x asterisk-core-sounds-en_1.6.1-1_all.deb t",
                   shell=True, check=True, capture_output=True)
    wavs.mkdir(exist_ok=True)
    lines = gzip.open(root / "t/usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz", "rt", errors="replace").read().splitlines()
    src = root / "g/usr/share/asterisk/sounds/en_US_f_Allison"
    for line in lines:
        m = re.match(r"^([a-z0-9-]+): (.+)$", line.strip())
        if not m or not (src / f"{m[1]}.g722").exists():
            continue
        text = m[2]
        if re.search(r"[\d\[\]<>()]", text) or len(text.split()) < 4:
            continue
        subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-f", "g722", "-i", str(src / f"{m[1]}.g722"),
                        "-ar", "16000", "-ac", "1", "-c:a", "pcm_s16le", str(wavs / f"{m[1]}.wav")], check=True)
        (wavs / f"{m[1]}.txt").write_text(text)


def eval_set(data, n=40):
    """The evaluation prompts: the `n` richest in p, b, m (closures are what the eye checks).
    real_corpus.py trains on the other prompts only."""
    wavs = sorted((data / "wav").glob("*.wav"))
    wavs.sort(key=lambda w: (-len(re.findall(r"[pbm]", w.with_suffix(".txt").read_text().lower())), w.name))
    return sorted(wavs[:n])


def aligned(wav):
    """The aligner's phones for `wav` (cached beside it); [] when a word is not in its dictionary."""
    cache = wav.with_suffix(".align.json")
    if cache.exists():
        return json.loads(cache.read_text())
    try:
        phones = align(wav, wav.with_suffix(".txt").read_text())
    except RuntimeError:
        phones = []
    cache.write_text(json.dumps(phones))
    return phones


def align(wav, text):
    from pocketsphinx import Decoder

    d = Decoder(samprate=16000, bestpath=False, loglevel="FATAL")
    words = re.sub(r"[^a-z' ]", " ", text.lower()).split()
    d.set_align_text(" ".join(words))
    pcm = (np.clip(F.read_wav(wav), -1, 1 - 1 / 32768) * 32768).astype("<i2").tobytes()
    d.start_utt()
    d.process_raw(pcm, full_utt=True)
    d.end_utt()
    # Second pass: phone (and state) alignment within the word alignment.
    d.set_alignment()
    d.start_utt()
    d.process_raw(pcm, full_utt=True)
    d.end_utt()
    phones = []
    for w in d.get_alignment():
        for p in w:
            phones.append({"p": p.name, "start": p.start / 100.0, "end": (p.start + p.duration) / 100.0, "w": w.name})
    return phones


def predict(binary, wav, lipsync, tmp):
    out = Path(tmp) / (wav.stem + ".csv")
    subprocess.run([binary, "render", "--portrait", str(Path(__file__).resolve().parents[2] / "assets/portraits/default.jpg"),
                    "--audio", str(wav), "--out", str(Path(tmp) / "x.mp4"), "-q", "--lipsync", lipsync, "--motion-out", str(out)],
                   check=True, capture_output=True)
    rows = list(csv.DictReader(open(out)))
    return np.array([float(r["jawOpen"]) for r in rows]), np.array([float(r["mouthClose"]) for r in rows])


def pearson(a, b):
    if np.std(a) < 1e-9 or np.std(b) < 1e-9:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--data", type=Path, default=Path("/work/eval_data/allison"))
    ap.add_argument("--lipsync", default="model")
    ap.add_argument("--n", type=int, default=40)
    args = ap.parse_args()
    fetch(args.data)
    wavs = eval_set(args.data, args.n)
    hits = tot = 0
    vow_closed = vow_frames = 0
    closed_speech = closed_near_pbm = 0
    fr_hit = fr_tot = 0
    env_r, vow_r, sil_jaw, sil_d, sil_gap = [], [], [], [], []
    seconds = 0.0
    skipped = []
    with tempfile.TemporaryDirectory() as tmp:
        for wav in wavs:
            phones = aligned(wav)
            if not phones:
                skipped.append(wav.stem)
                continue
            x = F.read_wav(wav)
            seconds += len(x) / 16000
            jaw, close = predict(args.bin, wav, args.lipsync, tmp)
            n = len(jaw)
            t = np.arange(n) / 25.0
            gap = jaw - close
            for p in phones:
                if p["p"] in ("P", "B", "M"):
                    inside = (t >= p["start"] - 0.02) & (t <= p["end"] + 0.02)
                    tot += 1
                    hits += bool((gap[inside] <= 0.08).any())
                    core = (t >= p["start"]) & (t < p["end"])
                    fr_tot += int(core.sum())
                    fr_hit += int((gap[core] <= 0.08).sum())
            half = 320
            db = np.array([10 * np.log10(np.mean(x[max(0, int(ti * 16000) - half): int(ti * 16000) + half].astype(np.float64) ** 2) + 1e-12) for ti in t])
            db = np.maximum(db, db.max() - 60)
            env_r.append(pearson(jaw, db))
            vow = np.zeros(n)
            for p in phones:
                if p["p"] in VOWELS:
                    vow[(t >= p["start"]) & (t < p["end"])] = 1
            vow_r.append(pearson(jaw, vow))
            for p in phones:
                if p["p"] in VOWELS:
                    core = (t >= p["start"] + 0.02) & (t <= p["end"] - 0.02)
                    vow_frames += int(core.sum())
                    vow_closed += int((gap[core] <= 0.08).sum())
            in_speech = np.zeros(n, bool)
            near_pbm = np.zeros(n, bool)
            for p in phones:
                if p["p"] != "SIL" and not p["p"].startswith("+"):
                    in_speech |= (t >= p["start"]) & (t < p["end"])
                if p["p"] in ("P", "B", "M"):
                    near_pbm |= (t >= p["start"] - 0.04) & (t <= p["end"] + 0.04)
            shut = in_speech & (gap <= 0.08)
            closed_speech += int(shut.sum())
            closed_near_pbm += int((shut & near_pbm).sum())
            # Silences: SIL phones and gaps between aligned phones, at least 0.3 s long; the file's
            # leading and trailing silence count.
            segs = [(0.0, phones[0]["start"] if phones else n / 25)] + [(p["start"], p["end"]) for p in phones if p["p"] == "SIL"]
            if phones:
                segs.append((phones[-1]["end"], n / 25))
            for s, e in segs:
                if e - s >= 0.3:
                    m = (t >= s + 0.1) & (t <= e - 0.1)
                    if m.sum() >= 2:
                        sil_jaw.append(jaw[m].mean())
                        sil_d.append(np.abs(np.diff(jaw[m])).mean())
                        sil_gap.append((gap[m] > 0.05).mean())
    res = {
        "lipsync": args.lipsync,
        "utterances": len(wavs) - len(skipped),
        "skipped_unalignable": len(skipped),
        "seconds": round(seconds, 1),
        "bilabials": tot,
        "closure_hit_rate": round(hits / max(tot, 1), 3),
        "closure_frame_rate": round(fr_hit / max(fr_tot, 1), 3),
        "jaw_envelope_r": round(float(np.nanmean(env_r)), 3),
        "jaw_vowel_r": round(float(np.nanmean(vow_r)), 3),
        "vowel_frames_closed": round(vow_closed / max(vow_frames, 1), 3),
        "closure_precision": round(closed_near_pbm / max(closed_speech, 1), 3),
        "silence_jaw_mean": round(float(np.mean(sil_jaw)), 4) if sil_jaw else None,
        "silence_jaw_step_mean": round(float(np.mean(sil_d)), 4) if sil_d else None,
        "silence_open_share": round(float(np.mean(sil_gap)), 3) if sil_gap else None,
        "silences": len(sil_jaw),
    }
    print(json.dumps(res))


if __name__ == "__main__":
    main()
