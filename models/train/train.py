"""Trains the audio-to-motion network on the synthesized corpus (espeak_corpus.py, visemes.py,
noise.py), exports the float ONNX graph, quantizes it to int8 (quantize.py) and checks both.

    python3 train.py --corpus DIR --work DIR --out ../ [--epochs N] [--copies K]

Features are cached in WORK (one npz per utterance and augmented copy). Uses JAX on the CPU (or
a GPU if jax finds one)."""
import argparse
import hashlib
import json
import os
import time
from pathlib import Path

import numpy as np

import features as F
import model as M

WEIGHTS = np.array([3.0, 2.0, 1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 1.0, 0.5, 0.5], np.float32)


def split_of(uid):
    return "val" if int(hashlib.sha256(uid.encode()).hexdigest(), 16) % 10 == 0 else "train"


def build_cache(corpus, work, copies, seed):
    import noise
    import visemes

    work.mkdir(parents=True, exist_ok=True)
    items = sorted(p.stem for p in corpus.glob("*.json"))
    done = 0
    for uid in items:
        out = work / f"{uid}.npz"
        if out.exists():
            with np.load(out) as z:
                if "targets" in z and int(z["targets"]) == visemes.TARGETS_VERSION and int(z.get("aug", 1)) == noise.VERSION:
                    continue
        meta = json.loads((corpus / f"{uid}.json").read_text())
        wav = F.read_wav(corpus / f"{uid}.wav")
        n = F.frame_count(len(wav))
        y = visemes.frame_targets(meta["phones"], n, fps=F.FPS, wav=wav)
        rng = np.random.default_rng(int(hashlib.sha256((uid + str(seed)).encode()).hexdigest()[:8], 16))
        xs = [F.hops(wav, n)]
        for _ in range(copies):
            xs.append(F.hops(noise.augment(wav, rng).astype(np.float32), n))
        np.savez(out, x=np.stack(xs).astype(np.float16), y=y.astype(np.float32), lang=meta.get("lang", "?"), engine=meta.get("engine", "?"),
                 targets=visemes.TARGETS_VERSION, aug=noise.VERSION)
        done += 1
        if done % 200 == 0:
            print(f"features: {done} new utterances", flush=True)
    return items


def load(work, items, real_weight=1.0, quiet_weight=1.0):
    """Per split, (features, targets) pairs; "weights": how often each training utterance is
    drawn per frame (recorded speech `real_weight` times as often as synthesized, the speech-free
    clips `quiet_weight` times)."""
    data = {"train": [], "val": [], "weights": []}
    for uid in items:
        z = np.load(work / f"{uid}.npz")
        # The trunk's columns; the tongue's is tongue.py's.
        data[split_of(uid)].append((z["x"].astype(np.float32), z["y"][:, : len(M.TRUNK)]))
        if split_of(uid) == "train":
            data["weights"].append({"allison": real_weight, "noise": quiet_weight}.get(str(z["engine"]), 1.0))
    return data


def norm_stats(train):
    s = np.zeros(M.N_IN, np.float64)
    s2 = np.zeros(M.N_IN, np.float64)
    n = 0
    for x, _ in train:
        v = np.maximum(x.reshape(-1, M.N_IN), M.FLOOR)
        s += v.sum(0)
        s2 += (v.astype(np.float64) ** 2).sum(0)
        n += len(v)
    mean = s / n
    std = np.sqrt(np.maximum(s2 / n - mean**2, 1e-6))
    # One mean/std per mel band, shared by the 4 frames of a hop.
    mean = mean.reshape(4, 80).mean(0)
    std = np.sqrt((std.reshape(4, 80) ** 2).mean(0))
    return np.tile(mean, 4).astype(np.float32), np.tile(std, 4).astype(np.float32)


def batches(train, weights, rng, batch, length):
    lens = np.array([len(y) for _, y in train]) * np.asarray(weights)
    p = lens / lens.sum()
    while True:
        xb = np.zeros((batch, length, M.N_IN), np.float32)
        yb = np.zeros((batch, length, len(M.TRUNK)), np.float32)
        mb = np.zeros((batch, length), np.float32)
        for b in range(batch):
            x, y = train[rng.choice(len(train), p=p)]
            c = rng.integers(len(x))
            n = len(y)
            # Start at the utterance start half of the time (zero state = before the audio).
            s = 0 if rng.random() < 0.5 or n <= length else int(rng.integers(0, n - length + 1))
            e = min(n, s + length)
            xb[b, : e - s] = x[c, s:e]
            # Past the end: silence (the floor value, or a copy's own noise level), with silent
            # targets: a kiosk hears long stretches of nothing and must keep the mouth still.
            xb[b, e - s :] = M.FLOOR if c == 0 else np.min(x[c, max(0, n - 10):n], axis=0)
            yb[b, : e - s] = y[s:e]
            mb[b, :] = 1.0
        yield xb, yb, mb


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", type=Path, required=True)
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True, help="models/ folder to write the .onnx files to")
    ap.add_argument("--steps", type=int, default=6000)
    ap.add_argument("--copies", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--real-weight", type=float, default=1.0, help="draw recorded speech this many times as often as synthesized")
    ap.add_argument("--quiet-weight", type=float, default=1.0, help="the same for the speech-free clips")
    ap.add_argument("--export-only", action="store_true", help="skip training: export WORK/params.npz")
    args = ap.parse_args()

    import jax
    import jax.numpy as jnp
    import optax

    t0 = time.time()
    items = build_cache(args.corpus, args.work / "feats", args.copies, args.seed)
    data = load(args.work / "feats", items, args.real_weight, args.quiet_weight)
    print(f"features ready in {time.time() - t0:.0f} s: {len(data['train'])} train, {len(data['val'])} val utterances", flush=True)
    mean, std = norm_stats(data["train"])
    if args.export_only:
        z = np.load(args.work / "params.npz")
        p = {k: (z[f"{k}_0"], z[f"{k}_1"]) for k in ["in", *[f"conv{d}" for d in M.DILATIONS], "head", "out"]}
        return finish(p, z["mean"], z["std"], data, items, args, t0)

    rng = np.random.default_rng(args.seed)
    params = jax.tree_util.tree_map(jnp.asarray, M.init(rng))
    w = jnp.asarray(WEIGHTS)

    def loss_fn(p, x, y, m):
        out = jax.nn.sigmoid(M.forward(p, x, mean, std, np_=jnp))
        err = ((out - y) ** 2 * w).sum(-1)
        gap = (out[..., 0] - out[..., 1]) - (y[..., 0] - y[..., 1])
        err = err + 4.0 * gap**2
        return (err * m).sum() / jnp.maximum(m.sum(), 1.0)

    sched = optax.warmup_cosine_decay_schedule(0.0, 2e-3, 300, args.steps, 5e-5)
    opt = optax.chain(optax.clip_by_global_norm(1.0), optax.adamw(sched, weight_decay=1e-4))
    state = opt.init(params)

    @jax.jit
    def step(p, s, x, y, m):
        l, g = jax.value_and_grad(loss_fn)(p, x, y, m)
        u, s = opt.update(g, s, p)
        return optax.apply_updates(p, u), s, l

    val_loss = jax.jit(loss_fn)
    gen = batches(data["train"], data["weights"], rng, 32, 96)
    run = 0.0
    for i in range(1, args.steps + 1):
        x, y, m = next(gen)
        params, state, l = step(params, state, x, y, m)
        run = 0.98 * run + 0.02 * float(l) if i > 1 else float(l)
        if i % 500 == 0 or i == args.steps:
            vl = np.mean([float(val_loss(params, x[c][None], y[None], np.ones((1, len(y)), np.float32)))
                          for x, y in data["val"] for c in (0, 1)])
            print(f"step {i}: train {run:.4f} val {vl:.4f} ({time.time() - t0:.0f} s)", flush=True)

    p = jax.tree_util.tree_map(np.asarray, params)
    np.savez(args.work / "params.npz", **{f"{k}_{j}": v[j] for k, v in p.items() for j in (0, 1)}, mean=mean, std=std)
    finish(p, mean, std, data, items, args, t0)


def finish(p, mean, std, data, items, args, t0):
    args.out.mkdir(parents=True, exist_ok=True)
    summary = summarize(data, items, args)
    float_path = args.out / "audio2motion_float.onnx"
    int8_path = args.out / "audio2motion_int8.onnx"
    doc = "speakface audio-to-motion, trained by models/train/train.py; outputs: " + ",".join(M.TRUNK)
    M.export_onnx(p, mean, std, str(float_path), doc)
    import quantize

    rng2 = np.random.default_rng(7)
    # 64 calibration chunks of 100 frames (the calibrator wants equal shapes), augmented copies
    # included, padded with the floor value.
    calib = []
    for i in rng2.choice(len(data["train"]), 64, replace=False):
        x = data["train"][i][0][int(rng2.integers(len(data["train"][i][0])))][:100]
        calib.append(np.concatenate([x, np.full((100 - len(x), M.N_IN), M.FLOOR, np.float32)]) if len(x) < 100 else x)
    quantize.quantize(str(float_path), calib, str(int8_path))
    summary["check"] = compare(float_path, int8_path, data["val"])
    summary["train_seconds"] = round(time.time() - t0)
    (args.work / "summary.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))


def summarize(data, items, args):
    langs, engines = {}, {}
    for uid in items:
        z = np.load(args.work / "feats" / f"{uid}.npz")
        sec = len(z["y"]) / F.FPS
        langs[str(z["lang"])] = langs.get(str(z["lang"]), 0) + sec / 60
        engines[str(z["engine"])] = engines.get(str(z["engine"]), 0) + sec / 60
    return {
        "utterances": len(items),
        "minutes_by_language": {k: round(v, 1) for k, v in sorted(langs.items())},
        "minutes_by_engine": {k: round(v, 1) for k, v in sorted(engines.items())},
        "augmented_copies": args.copies,
        "real_weight": args.real_weight,
        "quiet_weight": args.quiet_weight,
        "steps": args.steps,
    }


def compare(float_path, int8_path, val):
    import onnxruntime as ort

    f = ort.InferenceSession(str(float_path))
    q = ort.InferenceSession(str(int8_path))
    zero = {f"state{d}": np.zeros((2 * d, M.C), np.float32) for d in M.DILATIONS}
    worst, diffs, mse_f, mse_q, n = 0.0, [], 0.0, 0.0, 0
    for x, y in val:
        a = f.run(None, {"mel": x[0], **zero})[0]
        b = q.run(None, {"mel": x[0], **zero})[0]
        worst = max(worst, float(np.abs(a - b).max()))
        diffs.append(np.abs(a - b).mean())
        mse_f += float(((a - y) ** 2).sum())
        mse_q += float(((b - y) ** 2).sum())
        n += y.size
    return {"int8_vs_float_max_abs": round(worst, 4), "int8_vs_float_mean_abs": round(float(np.mean(diffs)), 5),
            "val_mse_float": round(mse_f / n, 5), "val_mse_int8": round(mse_q / n, 5)}


if __name__ == "__main__":
    main()
