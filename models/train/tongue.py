"""Adds the tongueUp output to the trained audio-to-motion model without touching its other
eleven outputs: a small branch (128 -> 64 relu -> 1 sigmoid) on the frozen network's last
residual features (`res8`, the input of its head layer), fitted to the tongue targets of
visemes.py, its output joined to the eleven as a twelfth column.

    python3 tongue.py --corpus DIR --work DIR --models ../    (after train.py, or on its output)

The branch is float in both graphs (it costs 8 k multiply-adds a hop); every other output of
either model is bit for bit what it was, so the held-out lip-sync figures still hold. Prints how
well the branch separates the frames whose target is up from those whose target is down, on the
validation utterances (train.py's split) the fit never saw."""
import argparse
import json
import time
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

import model as M
import train as T
import visemes as V


HIDDEN = 64
FEATURE = "res8"


def with_hidden_output(path):
    """The graph at `path` with `res8` (the last residual features, float) as an output."""
    m = onnx.load(path)
    if not any(o.name == FEATURE for o in m.graph.output):
        m.graph.output.append(onnx.helper.make_tensor_value_info(FEATURE, onnx.TensorProto.FLOAT, [None, M.C]))
    return m.SerializeToString()


def hidden(session, x):
    zero = {f"state{d}": np.zeros((2 * d, M.C), np.float32) for d in M.DILATIONS}
    return session.run([FEATURE], {"mel": x.astype(np.float32), **zero})[0]


def fit(z, y, steps=8000, seed=1):
    """Least squares through a sigmoid (as train.py's loss), Adam on minibatches."""
    import jax
    import jax.numpy as jnp
    import optax

    rng = np.random.default_rng(seed)
    p = {"w1": jnp.asarray(rng.standard_normal((z.shape[1], HIDDEN)).astype(np.float32) * np.sqrt(2.0 / z.shape[1])),
         "b1": jnp.zeros(HIDDEN), "w2": jnp.asarray(rng.standard_normal(HIDDEN).astype(np.float32) * 0.1), "b2": jnp.asarray(-2.0)}

    def loss(p, x, t):
        h = jax.nn.relu(x @ p["w1"] + p["b1"])
        out = jax.nn.sigmoid(h @ p["w2"] + p["b2"])
        return ((out - t) ** 2).mean() + 1e-5 * (p["w1"] ** 2).sum()

    opt = optax.adam(optax.cosine_decay_schedule(3e-3, steps, 0.02))
    state = opt.init(p)

    @jax.jit
    def step(p, s, x, t):
        l, g = jax.value_and_grad(loss)(p, x, t)
        u, s = opt.update(g, s, p)
        return optax.apply_updates(p, u), s, l

    for i in range(steps):
        b = rng.integers(0, len(y), 4096)
        p, state, _ = step(p, state, jnp.asarray(z[b]), jnp.asarray(y[b]))
    return {k: np.asarray(v, np.float32) for k, v in p.items()}


def predict(p, z):
    h = np.maximum(z @ p["w1"] + p["b1"], 0.0)
    return 1.0 / (1.0 + np.exp(-(h @ p["w2"] + p["b2"])))


def separation(pred, y, speech):
    up = y > 0.5
    down = (y < 0.1) & (speech > 0.5)
    return {
        "frames_up": int(up.sum()),
        "mean_when_up": round(float(pred[up].mean()), 3),
        "mean_when_down_in_speech": round(float(pred[down].mean()), 3),
        "mean_in_silence": round(float(pred[speech < 0.5].mean()), 3),
        "up_frames_above_0.4": round(float((pred[up] > 0.4).mean()), 3),
        "down_frames_above_0.4": round(float((pred[down] > 0.4).mean()), 3),
        "correlation": round(float(np.corrcoef(pred, y)[0, 1]), 3),
        "mse": round(float(((pred - y) ** 2).mean()), 5),
    }


def add_branch(path, p):
    """Writes the branch into the graph at `path`: the old sigmoid's output becomes `lips`, and
    `motion` is it joined with the branch's column."""
    from onnx import helper

    m = onnx.load(path)
    g = m.graph
    out = next(o for o in g.output if o.name == "motion")
    if out.type.tensor_type.shape.dim[1].dim_value != len(M.OUTPUTS) - 1:
        raise SystemExit(f"{path}: motion has {out.type.tensor_type.shape.dim[1].dim_value} columns, expected {len(M.OUTPUTS) - 1}")
    for n in g.node:
        if list(n.output) == ["motion"]:
            n.output[0] = "lips"
            n.name = "lips"
    g.initializer.extend([numpy_helper.from_array(p["w1"], "tongue_w1"), numpy_helper.from_array(p["b1"], "tongue_b1"),
                          numpy_helper.from_array(p["w2"].reshape(HIDDEN, 1), "tongue_w2"),
                          numpy_helper.from_array(p["b2"].reshape(1), "tongue_b2")])
    for op, ins, o, kw in [("MatMul", [FEATURE, "tongue_w1"], "tongue_mm", {}), ("Add", ["tongue_mm", "tongue_b1"], "tongue_pre", {}),
                           ("Relu", ["tongue_pre"], "tongue_act", {}), ("MatMul", ["tongue_act", "tongue_w2"], "tongue_mm2", {}),
                           ("Add", ["tongue_mm2", "tongue_b2"], "tongue_logit", {}), ("Sigmoid", ["tongue_logit"], "tongue", {}),
                           ("Concat", ["lips", "tongue"], "motion", {"axis": 1})]:
        g.node.append(helper.make_node(op, ins, [o], name=o, **kw))
    out.type.tensor_type.shape.dim[1].dim_value = len(M.OUTPUTS)
    m.doc_string = m.doc_string.split("; outputs:")[0] + "; outputs: " + ",".join(M.OUTPUTS) + \
        " (tongueUp from a branch on the frozen network, models/train/tongue.py)"
    onnx.checker.check_model(m)
    onnx.save(m, path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", type=Path, required=True)
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--models", type=Path, required=True)
    ap.add_argument("--copies", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    import onnxruntime as ort

    t0 = time.time()
    items = T.build_cache(args.corpus, args.work / "feats", args.copies, args.seed)
    int8_path = args.models / "audio2motion_int8.onnx"
    float_path = args.models / "audio2motion_float.onnx"
    # The features the product's model computes: the int8 graph's residual stream.
    sess = ort.InferenceSession(with_hidden_output(int8_path))
    split = {"train": ([], [], []), "val": ([], [], [])}
    for uid in items:
        z = np.load(args.work / "feats" / f"{uid}.npz")
        y = z["y"]
        if y.shape[1] <= V.TONGUE:
            raise SystemExit(f"{uid}: cached targets have no tongue column; delete {args.work / 'feats'}")
        zs, ys, ss = split[T.split_of(uid)]
        for c in range(len(z["x"])):
            zs.append(hidden(sess, z["x"][c]))
            ys.append(y[:, V.TONGUE])
            ss.append(y[:, 9])
    zt, yt, st = (np.concatenate(a) for a in split["train"])
    zv, yv, sv = (np.concatenate(a) for a in split["val"])
    print(f"features of {len(yt)} training and {len(yv)} validation frames in {time.time() - t0:.0f} s", flush=True)
    p = fit(zt, yt)
    report = {"train": separation(predict(p, zt), yt, st), "val": separation(predict(p, zv), yv, sv)}
    add_branch(str(float_path), p)
    add_branch(str(int8_path), p)
    report["seconds"] = round(time.time() - t0)
    (args.work / "tongue.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
