"""The audio-to-motion network: per 40 ms hop, 4 log-mel frames in, 11 motion channels out
(tongue.py adds a twelfth).

    x  = (max(mel, FLOOR) - mean) / std                  [H, 320]
    h  = relu(x W0 + b0)                                 [H, C]
    for d in DILATIONS:  h = h + relu([h(t-2d), h(t-d), h(t)] Wd + bd)   (causal dilated conv)
    y  = sigmoid(relu(h W5 + b5) W6 + b6)                [H, 11]

Purely causal over hops (the 75 ms look-ahead is in which mel frames a hop reads, see
features.py). The ONNX graph takes a chunk of H hops plus each conv layer's last 2d inputs as
state and returns the new state, so one graph serves both streaming (H = 1, state carried) and a
whole utterance (H = T, zero state): the two give the same numbers.
"""
import numpy as np

OUTPUTS = ["jawOpen", "mouthClose", "mouthFunnel", "mouthPucker", "mouthStretch", "mouthPress",
           "mouthSmile", "mouthUpperUp", "mouthLowerDown", "speech", "emphasis", "tongueUp"]
# What this network's last layer gives: the first eleven. tongueUp comes from a branch that
# tongue.py fits on the trained network's residual features and joins to them.
TRUNK = OUTPUTS[:11]
N_IN = 320
C = 128
HEAD = 64
DILATIONS = (1, 2, 4, 8)
# ln(1e-5): about the mel power of -80 dBFS noise. Digital silence and a quiet room look alike.
FLOOR = float(np.log(1e-5))


def init(rng, n_out=len(TRUNK)):
    def dense(k, n_i, n_o, scale=1.0):
        return (rng.standard_normal((n_i, n_o)).astype(np.float32) * np.float32(scale * np.sqrt(2.0 / n_i)),
                np.zeros(n_o, np.float32))
    p = {"in": dense(0, N_IN, C)}
    for d in DILATIONS:
        p[f"conv{d}"] = dense(0, 3 * C, C, 0.5)
    p["head"] = dense(0, C, HEAD)
    p["out"] = dense(0, HEAD, n_out)
    return p


def forward(p, x, mean, std, np_=np):
    """Whole-sequence forward, x [T, 320] (or [B, T, 320]); np_ is numpy or jax.numpy."""
    x = (np_.maximum(x, FLOOR) - mean) / std
    h = np_.maximum(x @ p["in"][0] + p["in"][1], 0.0)
    for d in DILATIONS:
        pad = [(0, 0)] * (h.ndim - 2) + [(2 * d, 0), (0, 0)]
        hp = np_.pad(h, pad)
        t = h.shape[-2]
        taps = np_.concatenate([hp[..., 0:t, :], hp[..., d:d + t, :], hp[..., 2 * d:2 * d + t, :]], axis=-1)
        w, b = p[f"conv{d}"]
        h = h + np_.maximum(taps @ w + b, 0.0)
    z = np_.maximum(h @ p["head"][0] + p["head"][1], 0.0)
    logits = z @ p["out"][0] + p["out"][1]
    return logits


def sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


def export_onnx(p, mean, std, path, doc=""):
    """Writes the chunked streaming graph (see module doc)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits = [], []

    def const(name, arr):
        inits.append(numpy_helper.from_array(np.asarray(arr), name))
        return name

    def node(op, ins, out, **kw):
        nodes.append(helper.make_node(op, ins, [out], name=out, **kw))
        return out

    H = None  # free chunk length (unnamed: tract plans it from the input shape given at load)
    inputs = [helper.make_tensor_value_info("mel", TensorProto.FLOAT, [H, N_IN])]
    outputs = [helper.make_tensor_value_info("motion", TensorProto.FLOAT, [H, len(TRUNK)])]
    # max(mel, FLOOR) - mean, written as relu(mel - FLOOR) - (mean - FLOOR) (tract's Max
    # wants equal shapes).
    x = node("Sub", ["mel", const("floor", np.full(N_IN, FLOOR, np.float32))], "above_floor")
    x = node("Relu", [x], "floored")
    x = node("Sub", [x, const("mean", (mean - FLOOR).astype(np.float32))], "centred")
    x = node("Mul", [x, const("inv_std", (1.0 / std).astype(np.float32))], "normed")

    def dense(x, key, name, act=True):
        w, b = p[key]
        y = node("MatMul", [x, const(f"{name}_w", np.asarray(w, np.float32))], f"{name}_mm")
        y = node("Add", [y, const(f"{name}_b", np.asarray(b, np.float32))], f"{name}_pre")
        return node("Relu", [y], f"{name}_act") if act else y

    h = dense(x, "in", "in")
    big = const("big", np.array([2**31 - 1], np.int64))
    axis0 = const("axis0", np.array([0], np.int64))
    for d in DILATIONS:
        s_in, s_out = f"state{d}", f"state{d}_out"
        inputs.append(helper.make_tensor_value_info(s_in, TensorProto.FLOAT, [2 * d, C]))
        outputs.append(helper.make_tensor_value_info(s_out, TensorProto.FLOAT, [2 * d, C]))
        cat = node("Concat", [s_in, h], f"hist{d}", axis=0)  # [2d + H, C]
        a = node("Slice", [cat, const(f"z{d}", np.array([0], np.int64)), const(f"m2d{d}", np.array([-2 * d], np.int64)), axis0], f"tap0_{d}")
        b = node("Slice", [cat, const(f"d{d}", np.array([d], np.int64)), const(f"md{d}", np.array([-d], np.int64)), axis0], f"tap1_{d}")
        c = node("Slice", [cat, const(f"two_d{d}", np.array([2 * d], np.int64)), big, axis0], f"tap2_{d}")
        node("Slice", [cat, f"m2d{d}", big, axis0], s_out)
        taps = node("Concat", [a, b, c], f"taps{d}", axis=1)
        y = dense(taps, f"conv{d}", f"conv{d}")
        h = node("Add", [h, y], f"res{d}")
    z = dense(h, "head", "head")
    logits = dense(z, "out", "out", act=False)
    node("Sigmoid", [logits], "motion")
    graph = helper.make_graph(nodes, "speakface_audio2motion", inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="speakface models/train")
    model.ir_version = 8
    model.doc_string = doc
    onnx.checker.check_model(model)
    onnx.save(model, path)
