"""Training speech with exact phoneme timings from espeak-ng (libespeak-ng through ctypes, phoneme
events in IPA), many languages, voice variants, rates and pitches.

    python3 espeak_corpus.py --out DIR --minutes M [--seed S]

Writes DIR/{id}.wav (16 kHz mono PCM16) and DIR/{id}.json with the phones (IPA), their viseme
classes (visemes.py) and start/end times. espeak-ng marks each phoneme's start in its audio
stream (audio_position, ms); a phoneme ends where the next starts, the last where the sound ends.
"""
import argparse
import ctypes as C
import json
import random
import re
import wave
from pathlib import Path

import numpy as np
from scipy.signal import resample_poly

import visemes

HERE = Path(__file__).resolve().parent


class Event(C.Structure):
    _fields_ = [("type", C.c_int), ("unique_identifier", C.c_uint), ("text_position", C.c_int), ("length", C.c_int),
                ("audio_position", C.c_int), ("sample", C.c_int), ("user_data", C.c_void_p), ("id", C.c_char * 8)]


CALLBACK = C.CFUNCTYPE(C.c_int, C.POINTER(C.c_short), C.c_int, C.POINTER(Event))
EV_WORD, EV_PHONEME, EV_END, EV_TERMINATED = 1, 7, 5, 6


class Espeak:
    def __init__(self):
        self.lib = C.CDLL("libespeak-ng.so.1")
        # AUDIO_OUTPUT_SYNCHRONOUS, phoneme events in IPA.
        self.rate = self.lib.espeak_Initialize(2, 0, None, 0x0001 | 0x0002)
        self.samples, self.events, self.words = [], [], []
        self._cb = CALLBACK(self._callback)
        self.lib.espeak_SetSynthCallback(self._cb)

    def _callback(self, wav, n, ev):
        if n > 0:
            self.samples.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
        i = 0
        while ev[i].type != 0:
            e = ev[i]
            if e.type == EV_PHONEME:
                self.events.append((e.audio_position / 1000.0, e.id.decode("utf-8", "replace")))
            elif e.type == EV_WORD:
                self.words.append(e.audio_position / 1000.0)
            i += 1
        return 0

    def say(self, text, voice, rate, pitch, rng):
        """(samples at self.rate, phoneme events [(s, IPA)]), or (None, None) for an unknown
        voice; the word starts (s) are left in self.words."""
        self.samples, self.events, self.words = [], [], []
        if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
            return None, None
        self.lib.espeak_SetParameter(1, rate, 0)
        self.lib.espeak_SetParameter(3, pitch, 0)
        self.lib.espeak_SetParameter(4, rng, 0)
        b = text.encode("utf-8")
        # POS_CHARACTER, espeakCHARS_UTF8 | espeakENDPAUSE
        self.lib.espeak_Synth(b, len(b) + 1, 0, 1, 0, 1 | 0x1000, None, None)
        self.lib.espeak_Synchronize()
        x = np.concatenate(self.samples).astype(np.float32) / 32768.0 if self.samples else np.zeros(0, np.float32)
        return x, list(self.events)


VOICES = {
    "en": ["en-us", "en", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-us-nyc", "en-gb-x-gbclan"],
    "fr": ["fr", "fr-be"], "es": ["es", "es-419"], "de": ["de"], "it": ["it"], "cmn": ["cmn"],
}
VARIANTS = ["", "+m1", "+m2", "+m3", "+m4", "+m5", "+m6", "+m7", "+f1", "+f2", "+f3", "+f4", "+f5", "+klatt", "+klatt2", "+klatt3", "+croak", "+whisper"]
LANG_SHARE = {"en": 0.6, "fr": 0.08, "es": 0.08, "de": 0.08, "it": 0.08, "cmn": 0.08}


def texts():
    out = {}
    for p in sorted((HERE / "texts").glob("*.txt")):
        out[p.stem] = [l.strip() for l in p.read_text().splitlines() if l.strip()]
    # More English prose: the sentences of the licence texts every Debian system carries.
    prose = []
    for lic in ["GPL-3", "LGPL-3", "Apache-2.0", "MPL-2.0", "Artistic"]:
        f = Path("/usr/share/common-licenses") / lic
        if f.exists():
            for s in re.split(r"(?<=[.;:])\s+", re.sub(r"\s+", " ", f.read_text())):
                w = s.split()
                if 5 <= len(w) <= 22 and not re.search(r"[<>@/\\_=|#]|http|\d\.\d", s):
                    prose.append(s)
    out["en"] = out.get("en", []) + prose
    return out


def write_wav(path, x):
    pcm = (np.clip(x, -1, 1 - 1 / 32768) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(pcm.tobytes())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    rnd = random.Random(args.seed)
    tts = Espeak()
    all_texts = texts()
    done = {k: 0.0 for k in LANG_SHARE}
    unknown = {}
    bad_voices = set()
    k = 0
    total = 0.0
    while total < args.minutes * 60:
        lang = min(LANG_SHARE, key=lambda l: done[l] / LANG_SHARE[l])
        sents = all_texts[lang]
        text = " ".join(rnd.sample(sents, rnd.choice([1, 1, 1, 2])))
        voice = rnd.choice(VOICES[lang]) + rnd.choice(VARIANTS)
        rate, pitch, prange = rnd.randint(120, 220), rnd.randint(20, 80), rnd.randint(20, 90)
        x, ev = tts.say(text, voice, rate, pitch, prange)
        if x is None:
            bad_voices.add(voice)
            continue
        if len(x) < tts.rate * 0.3 or not ev:
            continue
        x = resample_poly(x, 160, 221).astype(np.float32) if tts.rate == 22050 else x
        dur_speech = len(x) / 16000
        lead, tail = rnd.uniform(0.2, 0.8), rnd.uniform(0.2, 0.8)
        x = np.concatenate([np.zeros(int(lead * 16000), np.float32), x, np.zeros(int(tail * 16000), np.float32)])
        phones = [{"p": "", "v": "sil", "start": 0.0, "end": lead}]
        for i, (t, p) in enumerate(ev):
            end = ev[i + 1][0] if i + 1 < len(ev) else dur_speech
            if end <= t:
                continue
            v = visemes.of_ipa(p)
            if v is None:
                unknown[p] = unknown.get(p, 0) + 1
                v = "sil" if p.strip() in ("", "_", "ˈ", "ˌ") else "E"
            phones.append({"p": p, "v": v, "start": round(lead + t, 4), "end": round(lead + end, 4)})
        phones.append({"p": "", "v": "sil", "start": round(lead + dur_speech, 4), "end": round(len(x) / 16000, 4)})
        uid = f"es{args.seed}_{k:05d}"
        write_wav(args.out / f"{uid}.wav", x)
        meta = {"engine": "espeak-ng", "voice": voice, "lang": lang, "text": text, "rate": rate, "pitch": pitch, "phones": phones}
        (args.out / f"{uid}.json").write_text(json.dumps(meta, ensure_ascii=False))
        k += 1
        total += len(x) / 16000
        done[lang] += len(x) / 16000
        if k % 100 == 0:
            print(f"{k} utterances, {total / 60:.1f} min", flush=True)
    print(f"{k} utterances, {total / 60:.1f} min; minutes by language: " + ", ".join(f"{l} {v / 60:.1f}" for l, v in done.items()))
    if bad_voices:
        print("voices espeak-ng refused:", sorted(bad_voices))
    if unknown:
        print("unmapped phones:", sorted(unknown.items(), key=lambda kv: -kv[1])[:40])


if __name__ == "__main__":
    main()
