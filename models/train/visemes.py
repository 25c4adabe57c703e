"""Phones → visemes → per-frame mouth targets with coarticulation.

Viseme classes are the Oculus/Meta set (sil PP FF TH DD kk CH SS nn RR aa E I O U). Each class
has a target mouth pose in the ARKit convention the renderer uses (mouthClose is the corrective
that closes the lips while the jaw is open: lips sealed = mouthClose equal to jawOpen). Poses are
blended over time with a dominance model (Cohen & Massaro 1993): every segment pulls each channel
towards its target with a weight that decays exponentially with the distance from the segment's
centre; bilabials and labiodentals dominate the lip channels (the lips must close for p, b, m
whatever the neighbours), consonants barely dominate rounding (so an /u/ rounds the consonants
around it). Finally each p/b/m gets at least one sealed frame, even when shorter than a frame.

    python3 visemes.py --selftest
"""
import unicodedata

import numpy as np

CHANNELS = ["jawOpen", "mouthClose", "mouthFunnel", "mouthPucker", "mouthStretch", "mouthPress",
            "mouthSmile", "mouthUpperUp", "mouthLowerDown", "speech", "emphasis", "tongueUp"]
N_MOUTH = 9
# The tongue's column in CHANNELS (its pose is the tenth value of each POSE row): added after
# speech and emphasis so that the first eleven columns are what they were in version 4.
TONGUE = 11
# Changes whenever frame_targets gives other numbers: train.py recomputes cached targets then.
TARGETS_VERSION = 5
# The target of the frame at instant i / fps is the mouth of the sound LEAD_S later: lips move
# before the sound they shape (the closure of a /p/ comes before its burst, a vowel's opening
# before its voicing), and a mouth that merely follows the sound looks dubbed. Version 3 had no
# lead and its rendered mouth came one frame (40 ms) after the speech on held-out voices
# (eval_heldout.py); the model's 75 ms look-ahead leaves 35 ms of the led sound to hear.
LEAD_S = 0.04
# The last value is the tongue tip raised to the ridge behind the upper teeth (tongueUp): up for
# /t d n l/, at the teeth's edges for /θ ð/, partly for the sibilants, low for the vowels, where
# the tongue lies behind the lower teeth.
#            jaw  close funnel pucker stretch press smile upUp  loDown  tongue
POSE = {
    "sil": [0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00],
    "PP":  [0.05, 0.05, 0.00, 0.05, 0.00, 0.45, 0.00, 0.00, 0.00, 0.00],
    "FF":  [0.07, 0.03, 0.00, 0.00, 0.05, 0.10, 0.00, 0.22, 0.00, 0.00],
    "TH":  [0.12, 0.00, 0.00, 0.00, 0.10, 0.00, 0.00, 0.05, 0.05, 0.75],
    "DD":  [0.14, 0.00, 0.00, 0.00, 0.10, 0.00, 0.00, 0.00, 0.05, 0.85],
    "kk":  [0.20, 0.00, 0.00, 0.00, 0.05, 0.00, 0.00, 0.00, 0.05, 0.00],
    "CH":  [0.12, 0.00, 0.45, 0.15, 0.00, 0.00, 0.00, 0.10, 0.00, 0.25],
    "SS":  [0.08, 0.00, 0.05, 0.00, 0.25, 0.00, 0.10, 0.05, 0.00, 0.30],
    "nn":  [0.14, 0.00, 0.00, 0.00, 0.05, 0.00, 0.00, 0.00, 0.05, 0.85],
    "RR":  [0.14, 0.00, 0.20, 0.20, 0.00, 0.00, 0.00, 0.00, 0.00, 0.15],
    "aa":  [0.55, 0.00, 0.00, 0.00, 0.05, 0.00, 0.00, 0.05, 0.30, 0.00],
    "E":   [0.38, 0.00, 0.00, 0.00, 0.20, 0.00, 0.05, 0.00, 0.15, 0.00],
    "I":   [0.24, 0.00, 0.00, 0.00, 0.35, 0.00, 0.15, 0.00, 0.05, 0.05],
    "O":   [0.42, 0.00, 0.50, 0.25, 0.00, 0.00, 0.00, 0.00, 0.10, 0.00],
    "U":   [0.24, 0.00, 0.30, 0.60, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00],
}
VOWELS = {"aa", "E", "I", "O", "U"}
# Dominance strength per class and channel group: (jaw/close/press, rounding funnel/pucker, rest).
ALPHA = {"PP": (6.0, 1.0, 1.0), "FF": (4.0, 0.5, 1.5), "CH": (1.0, 2.0, 1.0), "RR": (0.7, 1.2, 0.7), "sil": (1.0, 1.0, 1.0)}
# The tongue's dominance (the fourth group): the tip must reach the ridge for /t d n l/ and the
# teeth for /θ ð/ whatever the vowels around them, as the lips must close for /p b m/.
TONGUE_ALPHA = {"DD": 6.0, "nn": 6.0, "TH": 6.0, "SS": 2.0, "CH": 2.0}
GROUP = [0, 0, 1, 1, 2, 0, 2, 2, 2, 3]

_MAP = {}
for cls, chars in {
    "PP": "pbmʙ", "FF": "fvɱʋβɸ", "TH": "θð", "DD": "tdɾʈɖcɟ", "kk": "kgɡŋxɣhɦqχʔɢ",
    "CH": "ʃʒɕʑʂʐ", "SS": "szçʝ", "nn": "nlɲɫʎɬɳŋ̍", "RR": "rɹɻʁʀ", "aa": "aɑæʌɐä",
    "E": "eɛəɜɚɘ", "I": "iɪjɨᵻʲ", "O": "oɔɒɤ", "U": "uʊwyʏøœɯɥʉʍ",
}.items():
    for ch in chars:
        _MAP.setdefault(ch, cls)


def of_ipa(p):
    """Viseme class of an IPA phone string (stress, length, tone and diacritics ignored; an
    affricate is its first part unless that is t/d before ʃ ʒ ɕ ʑ ʂ ʐ s z; a diphthong its first
    vowel). None if nothing in it is known."""
    s = "".join(ch for ch in unicodedata.normalize("NFD", p) if not unicodedata.combining(ch))
    s = "".join(ch for ch in s if ch not in "ˈˌːˑ.‿^-_|:!0123456789˥˦˧˨˩")
    if not s:
        return "sil" if p.strip() in ("", "_", "_:", "_!", "||", "|") else None
    if len(s) >= 2 and s[0] in "td" and s[1] in "ʃʒɕʑʂʐ":
        return "CH"
    if len(s) >= 2 and s[0] in "td" and s[1] in "sz":
        return "SS"
    for ch in s:
        if ch in _MAP:
            return _MAP[ch]
    return None


def envelope_db(wav, times, rate=16000):
    half = int(0.02 * rate)
    out = np.full(len(times), -100.0, np.float32)
    for i, ti in enumerate(times):
        c = int(ti * rate)
        seg = wav[max(0, c - half): c + half]
        if len(seg):
            out[i] = 10 * np.log10(np.mean(seg.astype(np.float64) ** 2) + 1e-12)
    return out


def frame_targets(phones, n, fps=25, wav=None, lead=LEAD_S):
    """[n, 12] float32 targets for the frames at instants i / fps (see CHANNELS): the mouth of
    the sound at i / fps + lead."""
    t = np.arange(n) / fps + lead
    segs = [(p["v"], p["start"], p["end"]) for p in phones if p["end"] > p["start"]]
    num = np.zeros((n, N_MOUTH + 1))
    den = np.zeros((n, N_MOUTH + 1))
    for v, s, e in segs:
        c, half = (s + e) / 2, (e - s) / 2
        pose = np.array(POSE[v])
        alpha = ALPHA.get(v, (1.0, 0.25 if v not in VOWELS else 1.0, 1.0))
        alpha = (*alpha, TONGUE_ALPHA.get(v, 1.0))
        a = np.array([alpha[g] for g in GROUP])
        # Inside the segment full weight; outside it decays with ~50 ms (longer towards vowels).
        tau = 0.035 if v in ("PP", "FF") else (0.06 if v in VOWELS else 0.045)
        if v == "sil":
            tau = 0.03
        d = np.maximum(np.abs(t - c) - half * (1.0 if v == "sil" else 0.8), 0.0)
        w = np.exp(-d / tau)[:, None] * a[None, :]
        num += w * pose[None, :]
        den += w
    y = np.zeros((n, len(CHANNELS)), np.float32)
    blend = num / np.maximum(den, 1e-9)
    y[:, :N_MOUTH] = blend[:, :N_MOUTH]
    y[:, TONGUE] = blend[:, N_MOUTH]
    # Seal every bilabial: the frame nearest its centre, and every frame inside it.
    for v, s, e in segs:
        if v != "PP":
            continue
        idx = set(np.nonzero((t >= s) & (t <= e))[0].tolist())
        k = int(round(((s + e) / 2 - lead) * fps))
        if 0 <= k < n:
            idx.add(k)
        for i in idx:
            y[i, 0] = min(y[i, 0], 0.08)
            y[i, 1] = y[i, 0]
            y[i, 5] = max(y[i, 5], 0.4)
            y[i, 2] *= 0.3
    y[:, 1] = np.minimum(y[:, 1], y[:, 0])
    # Speech activity: inside non-silent segments, and pauses shorter than 0.12 s between them.
    speech = np.zeros(n, bool)
    for v, s, e in segs:
        if v != "sil":
            speech |= (t >= s) & (t < e)
    for v, s, e in segs:
        if v == "sil" and e - s < 0.12 and s > segs[0][1] and e < segs[-1][2]:
            speech |= (t >= s) & (t < e)
    y[:, 9] = speech
    if wav is not None and speech.any():
        db = envelope_db(wav, t)
        ref = db[speech]
        med, hi = np.median(ref), np.percentile(ref, 95)
        emph = np.clip((db - med) / max(hi - med, 1.0), 0, 1) * speech
        k = np.ones(3) / 3
        y[:, 10] = np.convolve(emph, k, mode="same")
        # Louder syllables open the jaw wider (vocal effort): inside speech the jaw and lower lip
        # are scaled by 0.6..1.0 with the level between the utterance's 10th and 95th percentile.
        lo = np.percentile(ref, 10)
        loud = np.convolve(np.clip((db - lo) / max(hi - lo, 1.0), 0, 1), k, mode="same")
        scale = np.where(speech, 0.6 + 0.4 * loud, 1.0)
        y[:, 0] *= scale
        y[:, 8] *= scale
        y[:, 1] = np.minimum(y[:, 1], y[:, 0])
    return y


def _selftest():
    assert of_ipa("p") == "PP" and of_ipa("bʲ") == "PP" and of_ipa("ˈaɪ") == "aa" and of_ipa("tʃ") == "CH"
    assert of_ipa("uː") == "U" and of_ipa("ɹ") == "RR" and of_ipa("_:") == "sil"
    # "ma pa": m short (30 ms) between vowels must still seal the lips once.
    ph = [{"v": "sil", "start": 0, "end": 0.3}, {"v": "aa", "start": 0.3, "end": 0.45}, {"v": "PP", "start": 0.45, "end": 0.48},
          {"v": "aa", "start": 0.48, "end": 0.65}, {"v": "PP", "start": 0.65, "end": 0.73}, {"v": "aa", "start": 0.73, "end": 0.9},
          {"v": "sil", "start": 0.9, "end": 1.6}]
    y = frame_targets(ph, 40)
    for s, e in [(0.45, 0.48), (0.65, 0.73)]:
        k = int(round(((s + e) / 2 - LEAD_S) * 25))
        assert y[k, 0] <= 0.1 and y[k, 1] >= 0.9 * y[k, 0], (k, y[k])
    assert y[:2, :9].max() < 0.015 and y[-5:, :9].max() < 0.015, "silence is not still"
    assert y[:2, TONGUE].max() < 0.015 and y[14, TONGUE] < 0.1, "the tongue rises for no reason"
    assert y[14, 0] > 0.2, y[14]
    assert y[:, 9].sum() > 10 and y[0, 9] == 0
    # Rounding spreads: a consonant before /u/ is rounder than before /i/.
    def cons_then(v):
        ph = [{"v": "sil", "start": 0, "end": 0.2}, {"v": "SS", "start": 0.2, "end": 0.3}, {"v": v, "start": 0.3, "end": 0.5}, {"v": "sil", "start": 0.5, "end": 0.8}]
        return frame_targets(ph, 20, lead=0.0)[6]
    assert cons_then("U")[3] > cons_then("I")[3] + 0.1
    # The lead: a vowel after silence opens the jaw a frame before its sound starts.
    ph = [{"v": "sil", "start": 0, "end": 0.4}, {"v": "aa", "start": 0.4, "end": 0.8}, {"v": "sil", "start": 0.8, "end": 1.2}]
    y0, y1 = frame_targets(ph, 30, lead=0.0), frame_targets(ph, 30)
    k = int(np.argmax(y0[:, 0] > 0.2))
    assert y1[k - 1, 0] > 0.2 and y0[k - 1, 0] <= 0.2, (k, y0[k - 2:k + 1, 0], y1[k - 2:k + 1, 0])
    # The tongue rises for /t d n l/ and stays down for /k/ and for the vowels.
    def tongue(c):
        ph = [{"v": "sil", "start": 0, "end": 0.2}, {"v": "aa", "start": 0.2, "end": 0.35}, {"v": c, "start": 0.35, "end": 0.45},
              {"v": "aa", "start": 0.45, "end": 0.6}, {"v": "sil", "start": 0.6, "end": 0.9}]
        return frame_targets(ph, 23, lead=0.0)[10, TONGUE]
    assert tongue("DD") > 0.6 and tongue("nn") > 0.6 and tongue("kk") < 0.1, (tongue("DD"), tongue("nn"), tongue("kk"))
    print("OK")


if __name__ == "__main__":
    import sys
    if "--selftest" in sys.argv:
        _selftest()
