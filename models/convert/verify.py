#!/usr/bin/env python3
"""Checks the converted ONNX models against the original TFLite models: both run on the same real
photograph (resized to each model's input), outputs compared element by element. Also writes
models/testdata/reference_outputs.json, which the Rust test tests/face_models.rs uses to check that
tract gives the same numbers as onnxruntime on a deterministic input.

    python3 models/convert/verify.py --wheel mediapipe-0.10.14-...whl --image PHOTO.png [--models models/]
"""
import argparse
import json
import os
import zipfile

import numpy as np
import onnxruntime as ort
from ai_edge_litert.interpreter import Interpreter
from PIL import Image

from convert_mediapipe import MODELS

# Input value range of each model (mediapipe's graphs: detection [-1, 1], landmark models [0, 1]).
RANGES = {"face_detection": (-1.0, 1.0), "face_landmark": (0.0, 1.0), "iris_landmark": (0.0, 1.0)}


def synthetic(shape, lo, hi):
    """The deterministic input the Rust test rebuilds: value(y, x, c) = ((7x + 13y + 29c) mod 256)/255."""
    _, h, w, c = shape
    y, x, ch = np.meshgrid(np.arange(h), np.arange(w), np.arange(c), indexing="ij")
    v = ((7 * x + 13 * y + 29 * ch) % 256) / 255.0
    return (lo + (hi - lo) * v).astype(np.float32)[None]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--wheel", required=True)
    ap.add_argument("--image", required=True)
    ap.add_argument("--models", default=os.path.join(os.path.dirname(__file__), ".."))
    args = ap.parse_args()
    photo = Image.open(args.image).convert("RGB")
    reference = {}
    with zipfile.ZipFile(args.wheel) as z:
        for name, inner, out_file, out_names in MODELS:
            tfl = Interpreter(model_content=z.read(inner))
            tfl.allocate_tensors()
            shape = tfl.get_input_details()[0]["shape"].tolist()
            lo, hi = RANGES[name]
            img = np.asarray(photo.resize((shape[2], shape[1]), Image.BILINEAR), dtype=np.float32) / 255.0
            x = (lo + (hi - lo) * img)[None].astype(np.float32)
            sess = ort.InferenceSession(os.path.join(args.models, out_file), providers=["CPUExecutionProvider"])
            worst = []
            for inp in (x, synthetic(shape, lo, hi)):
                tfl.set_tensor(tfl.get_input_details()[0]["index"], inp)
                tfl.invoke()
                t_out = [tfl.get_tensor(d["index"]) for d in tfl.get_output_details()]
                o_out = sess.run(out_names, {"input": inp})
                # Match outputs by shape (TFLite's output order is its own).
                for o in o_out:
                    t = next(t for t in t_out if t.shape == o.shape)
                    worst.append(float(np.abs(t - o).max() / max(1e-6, float(np.abs(t).max()))))
            syn = sess.run(out_names, {"input": synthetic(shape, lo, hi)})
            reference[name] = {
                "file": out_file, "input_shape": shape, "input_range": [lo, hi],
                "outputs": {n: {"shape": list(o.shape), "first": o.reshape(-1)[:16].tolist(),
                                "sum": float(o.astype(np.float64).sum()),
                                "abs_max": float(np.abs(o).max())} for n, o in zip(out_names, syn)},
            }
            print(f"{name}: onnxruntime vs TFLite, photo and synthetic input: max |diff| / max |output| = {max(worst):.2e}")
    os.makedirs(os.path.join(args.models, "testdata"), exist_ok=True)
    with open(os.path.join(args.models, "testdata", "reference_outputs.json"), "w") as f:
        json.dump(reference, f, indent=1)


if __name__ == "__main__":
    main()
