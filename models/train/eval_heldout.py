"""Lip sync on voices the model never heard, measured on the rendered video.

    bash models/train/eval_heldout.sh            (sets up its venv, then runs this)
    python3 eval_heldout.py --bin target/release/speakface --data DIR [--modes model,heuristic]
                            [--portraits default,painting] [--out RESULTS.jsonl] [--markdown]

For each held-out voice (heldout_data.py: English, French, Italian, Russian; real recordings,
phone-aligned) and each portrait, `speakface render` makes an MP4 per mouth mode; mediapipe's face
mesh reads the mouth off every frame, and the figures are those of ../shared/measure/lipread.py
(copied in tests/measure), with the phone classes written for IPA as well as ARPAbet:

  lag_ms      lag of the best correlation between the lip gap and the RMS envelope of the speech
              (frames of 40 ms, + = mouth late), in ms; lag_frac_ms: the same peak refined by a
              parabola through its neighbours (a finer reading, not the criterion)
  loud_mw     mean lip gap (% of the portrait's mouth width) on open vowels in the loudest third of
              speech frames: how wide loud open vowels open
  open        mean gap on open vowels over close vowels (> 1: the jaw follows vowel height)
  hit, prec   /p b m/ closure hit rate and precision, chance: the precision of closing at random;
              prec_x: prec / chance
  sil_closed  share of frames closed in pauses > 300 ms (80 ms trimmed each side); sil_sd: the gap's
              standard deviation there (% mw)
  sp_closed   share of frames inside speech with the lips closed
  round       mouth width on rounded vowels (and /w/) over spread vowels
  corr        the correlation at the best lag (reported, not a target)
A frame is closed at gap <= 3 % of the mouth width (lipread.py's calibration).
"""
import argparse
import functools
import json
import subprocess
import sys
import unicodedata
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "tests" / "measure"))
import lipread  # noqa: E402
import av  # noqa: E402

ARPA = {"BIL": lipread.BILABIAL, "LAB": lipread.LABIODENTAL, "ROUND": lipread.ROUNDED, "SPREAD": lipread.SPREAD,
        "OPEN": lipread.OPEN_V, "CLOSE": lipread.CLOSE_V}
IPA = {"BIL": "pbm", "LAB": "fv", "ROUND": "uoɔyøœʊwɵʉɒ", "SPREAD": "ieɛɪæ", "OPEN": "aɑæʌɐɔɒ", "CLOSE": "iuyɪʊɨʉ"}
# Portraits whose lips meet at rest (the bundled default smiles with its teeth apart: the mesh never
# reads its lips as closed, so closures cannot be scored on it).
PORTRAITS = {"painting": "assets/portraits/painting.jpg", "closed_lips": "assets/portraits/gallery/closed_lips.jpg",
             "elderly": "assets/portraits/gallery/elderly.jpg", "default": "assets/portraits/default.jpg"}


def tags(label):
    """The phone classes a phone label (ARPAbet or IPA) belongs to."""
    if label == "SIL" or label.startswith("+") or label.startswith("<"):
        return {"SIL"}
    if label.isupper():
        return {k for k, v in ARPA.items() if label in v}
    base = "".join(c for c in unicodedata.normalize("NFD", label) if not unicodedata.combining(c))
    base = "".join(c for c in base if c not in "ˈˌːˑ.‿^-_|:!ʲˠ0123456789")
    if not base:
        return {"SIL"} if not label.strip("_:!|-") else set()
    return {k for k, chars in IPA.items() if base[0] in chars}


@functools.lru_cache(maxsize=None)
def portrait_rest(path):
    """lipread.portrait_rest, once per portrait (every voice and mode is scored against it)."""
    return lipread.portrait_rest(path)


def measure(video, wav, phones, portrait):
    fps, gap, width = lipread.mesh_track(str(video))
    n = len(gap)
    t = (np.arange(n) + 0.5) / fps
    ok = ~np.isnan(gap)
    res = {"frames": n, "face": round(float(ok.mean()), 3)}
    if ok.sum() < 10:
        return dict(res, error="face mesh found no face in most frames")
    rest = portrait_rest(str(portrait))
    if rest is None:
        return dict(res, error="face mesh found no face in the portrait")
    rest_width = rest[1]
    gap = gap / rest_width
    wn = width / rest_width
    tg = [(tags(l), s, e) for l, s, e in phones]
    def of(cls):
        return [(cls, s, e) for tt, s, e in tg if cls in tt]
    speech = np.zeros(n, bool)
    for tt, s, e in tg:
        if "SIL" not in tt:
            speech |= (t >= s) & (t < e)
    closed = (gap <= lipread.CLOSED) & ok
    bil = of("BIL")
    hits, total = lipread.bil_hits(t, ok, closed, [("P", s, e) for _, s, e in bil])
    res["n_bil"] = total
    res["hit"] = round(hits / total, 3) if total else None
    near_b = lipread.near(t, [("P", s, e) for _, s, e in bil], {"P"}, lipread.WIN)
    sp = speech & ok
    cs = closed & speech
    res["sp_closed"] = round(float(cs.sum() / max(sp.sum(), 1)), 3)
    res["prec"] = round(float((cs & near_b).sum() / cs.sum()), 3) if cs.any() else None
    res["chance"] = round(float((sp & near_b).sum() / max(sp.sum(), 1)), 3)
    res["prec_x"] = round(res["prec"] / res["chance"], 2) if res["prec"] is not None and res["chance"] else None
    def set_mean(series, cls):
        return lipread.set_mean(series, t, [("X", s, e) for _, s, e in of(cls)], {"X"})
    w_r, n_r = set_mean(wn, "ROUND")
    w_s, n_s = set_mean(wn, "SPREAD")
    res["round"] = lipread.rnd(w_r / w_s) if n_r and n_s else None
    g_o, n_o = set_mean(gap, "OPEN")
    g_c, n_c = set_mean(gap, "CLOSE")
    res["open"] = lipread.rnd(g_o / g_c) if n_o and n_c and g_c > 0 else None
    res["gap_open_mw"] = lipread.rnd(100 * g_o, 2)
    env = av.envelope(str(wav), fps, n)
    loud = sp & (env >= np.percentile(env[sp], 67))
    open_fr = np.zeros(n, bool)
    for _, s, e in of("OPEN"):
        open_fr |= (t >= s) & (t < e)
    sel = loud & open_fr & ok
    res["loud_mw"] = round(float(100 * np.mean(gap[sel])), 2) if sel.sum() >= 3 else None
    lags = {L: lipread.lagged(gap, env, L) for L in range(-8, 9)}
    best = max((L for L in lags if not np.isnan(lags[L])), key=lambda L: lags[L])
    res["lag_ms"] = round(1000 * best / fps)
    c0, c1, c2 = lags.get(best - 1, np.nan), lags[best], lags.get(best + 1, np.nan)
    frac = best + (0.5 * (c0 - c2) / (c0 - 2 * c1 + c2) if np.isfinite(c0 + c2) and (c0 - 2 * c1 + c2) < 0 else 0.0)
    res["lag_frac_ms"] = round(1000 * frac / fps)
    res["corr"] = lipread.rnd(lags[best])
    sil = np.zeros(n, bool)
    for tt, s, e in tg:
        if "SIL" in tt and e - s > lipread.SIL_MIN:
            sil |= (t >= s + 0.08) & (t < e - 0.08)
    sil &= ok
    res["sil_frames"] = int(sil.sum())
    res["sil_closed"] = round(float(closed[sil].mean()), 3) if sil.sum() >= 3 else None
    res["sil_sd"] = round(float(100 * np.std(gap[sil])), 2) if sil.sum() >= 3 else None
    return res


COLS = [("lag_ms", "lag ms", "{:+d}"), ("lag_frac_ms", "(fine)", "{:+d}"), ("loud_mw", "loud gap %mw", "{:.1f}"),
        ("open", "open/close", "{:.2f}"), ("hit", "p b m hit", "{:.2f}"), ("prec", "precision", "{:.2f}"),
        ("prec_x", "× chance", "{:.1f}"), ("sil_closed", "pauses closed", "{:.2f}"), ("sp_closed", "speech closed", "{:.2f}"),
        ("round", "round/spread", "{:.2f}"), ("corr", "r(envelope)", "{:.2f}")]


def fmt(v, f):
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return "–"
    return f.format(int(round(v)) if "d" in f else v)


def markdown(rows):
    out = ["| voice | portrait | mouth | " + " | ".join(h for _, h, _ in COLS) + " |",
           "|---|---|---|" + "---|" * len(COLS)]
    for r in rows:
        if "error" in r:
            out.append(f"| {r['voice']} | {r['portrait']} | {r['mode']} | {r['error']} |")
            continue
        out.append(f"| {r['voice']} | {r['portrait']} | {r['mode']} | " + " | ".join(fmt(r.get(k), f) for k, _, f in COLS) + " |")
    for mode in sorted({r["mode"] for r in rows}):
        sel = [r for r in rows if r["mode"] == mode and "error" not in r]
        mean = {k: (float(np.mean([r[k] for r in sel if r.get(k) is not None])) if any(r.get(k) is not None for r in sel) else None)
                for k, _, _ in COLS}
        worst_lag = max((r["lag_ms"] for r in sel), default=None)
        out.append(f"| **mean** ({len(sel)}) | | **{mode}** | " + " | ".join(fmt(mean[k], f) for k, _, f in COLS) +
                   f" |  ← latest lag {fmt(worst_lag, '{:+d}')} ms")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", type=Path, default=ROOT / "target/release/speakface")
    ap.add_argument("--data", type=Path, default=ROOT / "target/heldout")
    ap.add_argument("--voices", default="en,fr,it,ru")
    ap.add_argument("--modes", default="model,heuristic")
    ap.add_argument("--portraits", default="painting,closed_lips,elderly")
    ap.add_argument("--config", type=Path, help="TOML config for every render (e.g. motion.articulation)")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--markdown", action="store_true")
    a = ap.parse_args()
    rows = []
    work = a.data / "renders"
    work.mkdir(parents=True, exist_ok=True)
    for v in a.voices.split(","):
        meta = json.loads((a.data / f"{v}.json").read_text())
        wav = a.data / f"{v}.wav"
        for p in a.portraits.split(","):
            portrait = ROOT / PORTRAITS.get(p, p)
            for mode in a.modes.split(","):
                mp4 = work / f"{v}-{Path(p).stem}-{mode}.mp4"
                cmd = [str(a.bin), "render", "-q", "--portrait", str(portrait), "--audio", str(wav), "--out", str(mp4),
                       "--lipsync", mode, "--motion-out", str(mp4.with_suffix(".csv"))]
                if a.config:
                    cmd += ["--config", str(a.config)]
                subprocess.run(cmd, check=True)
                r = {"voice": v, "portrait": Path(p).stem, "mode": mode}
                r.update(measure(mp4, wav, meta["phones"], portrait))
                rows.append(r)
                print(json.dumps(r, ensure_ascii=False), flush=True)
                if a.out:
                    with open(a.out, "a") as f:
                        f.write(json.dumps(r, ensure_ascii=False) + "\n")
    if a.markdown:
        print(markdown(rows))


if __name__ == "__main__":
    main()
