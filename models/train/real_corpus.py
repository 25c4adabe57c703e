"""Real recorded speech for training: Allison Smith's Asterisk prompts (the set eval_real.py
fetches: Debian asterisk-core-sounds-en-g722 1.6.1-1, CC-BY-SA-3.0, with the sound set's own
transcripts), phone timings from the pocketsphinx forced aligner, ARPAbet mapped to IPA for
visemes.py. The prompts eval_real.py evaluates on (`eval_set`) are left out, so the model is
scored on sentences it never heard; the speaker is the same, which the README says beside the
figures.

    python3 real_corpus.py --out DIR --data EVAL_DATA_DIR [--n-eval 40]

Every prompt of the set is used, short ones and those in sub-folders (digits, letters, dictate,
…) too, unlike the evaluation's choice: single digits and # * are spelled out for the aligner;
prompts with other numbers or only a bracketed description ("[beep tone]") are skipped, as are
those the aligner cannot take (a word its dictionary lacks). Writes DIR/al1_{prompt}.wav (16 kHz
mono PCM16) and .json in espeak_corpus.py's format.
"""
import argparse
import gzip
import json
import re
import subprocess
from pathlib import Path

import numpy as np

import features as F
import visemes
from espeak_corpus import write_wav
from eval_real import aligned, eval_set, fetch
from flite_corpus import CMU_IPA


def phones_of(raw, dur):
    """The aligner's phones as corpus phones: silence and noise tokens (SIL, +NSN+, …) are
    silence; the file's lead and tail too."""
    out, at = [], 0.0
    for p in raw:
        s, e = p["start"], min(p["end"], dur)
        if e <= s:
            continue
        if s > at:
            out.append({"p": "", "v": "sil", "start": round(at, 4), "end": round(s, 4)})
        name = p["p"].lower()
        ipa = CMU_IPA.get(name)
        if ipa is None or not re.fullmatch(r"[a-z]+", name):
            ipa = ""  # SIL, +NSN+, +SPN+, …
        out.append({"p": ipa, "v": visemes.of_ipa(ipa) if ipa else "sil", "start": round(s, 4), "end": round(e, 4)})
        at = e
    if at < dur:
        out.append({"p": "", "v": "sil", "start": round(at, 4), "end": round(dur, 4)})
    return out


DIGITS = "zero one two three four five six seven eight nine".split()


def spoken(text):
    """The transcript as words the aligner's dictionary knows, or None."""
    if "[" in text or "<" in text:
        return None
    t = text.replace("#", " pound ").replace("*", " star ")
    t = re.sub(r"(?<![\d.,])(\d)(?![\d.,]?\d)", lambda m: " " + DIGITS[int(m[1])] + " ", t)
    if re.search(r"\d", t):
        return None
    words = re.sub(r"[^a-z' ]", " ", t.lower()).split()
    return " ".join(words) if words else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--data", type=Path, required=True, help="eval_real.py's --data folder")
    ap.add_argument("--n-eval", type=int, default=40)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    fetch(args.data)
    held_out = {w.stem for w in eval_set(args.data, args.n_eval)}
    src = args.data / "g/usr/share/asterisk/sounds/en_US_f_Allison"
    work = args.data / "train_wav"
    work.mkdir(exist_ok=True)
    lines = gzip.open(args.data / "t/usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz", "rt", errors="replace").read().splitlines()
    k, skipped, total = 0, 0, 0.0
    for line in lines:
        m = re.match(r"^([a-z0-9/_-]+): (.+)$", line.strip())
        if not m or m[1] in held_out or not (src / f"{m[1]}.g722").exists():
            continue
        text = spoken(m[2])
        if text is None:
            skipped += 1
            continue
        name = m[1].replace("/", "__")
        uid = "al1_" + name
        if (args.out / f"{uid}.json").exists():
            k += 1
            total += len(F.read_wav(args.out / f"{uid}.wav")) / 16000
            continue
        wav = work / f"{name}.wav"
        if not wav.exists():
            subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-f", "g722", "-i", str(src / f"{m[1]}.g722"),
                            "-ar", "16000", "-ac", "1", "-c:a", "pcm_s16le", str(wav)], check=True)
            wav.with_suffix(".txt").write_text(text)
        raw = aligned(wav)
        if not raw:
            skipped += 1
            continue
        x = F.read_wav(wav).astype(np.float32)
        dur = len(x) / 16000
        meta = {"engine": "allison", "voice": "Allison Smith (recorded)", "lang": "en",
                "text": m[2], "phones": phones_of(raw, dur)}
        write_wav(args.out / f"{uid}.wav", x)
        (args.out / f"{uid}.json").write_text(json.dumps(meta, ensure_ascii=False))
        k += 1
        total += dur
        if k % 100 == 0:
            print(f"real: {k} prompts, {total / 60:.1f} min", flush=True)
    print(f"real: {k} prompts, {total / 60:.1f} min ({len(held_out)} held out for evaluation, {skipped} skipped: numbers, tones or words the aligner lacks)")


if __name__ == "__main__":
    main()
