"""Writes tests/data/audio2motion_reference.json: the model input rows this Python code computes
for assets/speech/short.wav (a few hops, all 320 values) and the float model's outputs for the
whole clip, so the Rust test can check that its features and its int8 model agree with training.

    python3 make_reference.py  (from models/train, with the training venv)"""
import json
from pathlib import Path

import numpy as np
import onnxruntime as ort

import features as F
import model as M

ROOT = Path(__file__).resolve().parents[2]
wav = F.read_wav(ROOT / "assets/speech/short.wav")
n = F.frame_count(len(wav))
x = F.hops(wav, n)
rows = [0, 5, 17, 40, n - 1]
sess = ort.InferenceSession(str(ROOT / "models/audio2motion_float.onnx"))
zero = {f"state{d}": np.zeros((2 * d, M.C), np.float32) for d in M.DILATIONS}
# As the Rust stream: 32 hops of digital silence first (the state of a long silence).
warm = np.full((32, M.N_IN), np.log(1e-10), np.float32)
y = sess.run(None, {"mel": np.concatenate([warm, x]), **zero})[0][32:]
out = {
    "wav": "assets/speech/short.wav",
    "frames": n,
    "rows": rows,
    "hops": [[round(float(v), 4) for v in x[r]] for r in rows],
    "float_outputs": [[round(float(v), 5) for v in row] for row in y],
}
(ROOT / "tests/data/audio2motion_reference.json").write_text(json.dumps(out))
print(f"{n} frames, rows {rows}")
