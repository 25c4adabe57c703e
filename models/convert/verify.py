#!/usr/bin/env python3
"""Checks the converted ONNX models against mediapipe's TFLite originals and prints the pre/post-
processing conventions applied to a real photograph.

1. Runs mediapipe's face pipeline on the photograph with the ONNX models (onnxruntime): face
   detection on the whole image, face landmarks on the face crop derived from the detection, iris
   landmarks on the two eye crops derived from the landmarks (mediapipe's own crop rules, see
   `pipeline`). Prints the decoded face box, key points, nose tip and iris centres in image pixels.
2. Feeds exactly those crops, and a deterministic synthetic input, to the TFLite interpreter
   (ai-edge-litert) and to onnxruntime; prints max |TFLite - ONNX| per output.
3. Writes models/testdata/face_landmark_reference.json: per model, the synthetic input's definition
   and onnxruntime's first 16 values ("first"), sum and max |value| of each output, so a Rust test can rebuild
   the input and check tract against it.

    python3 models/convert/verify.py [--wheel mediapipe-0.10.14-...whl] [--image astronaut.png]

Without --wheel the mediapipe wheel is fetched with `pip download`; without --image the photograph is
skimage/data/astronaut.png from the scikit-image 0.22.0 wheel (also `pip download`).
"""
import argparse
import glob
import json
import math
import os
import subprocess
import sys
import tempfile
import zipfile

import numpy as np
import onnxruntime as ort
from ai_edge_litert.interpreter import Interpreter
from PIL import Image

from convert_mediapipe import MODELS, fetch_wheel

HERE = os.path.dirname(os.path.abspath(__file__))
# Input value range of each model (mediapipe's ImageToTensorCalculator options in its graphs).
RANGES = {"face_detection": (-1.0, 1.0), "face_landmark": (0.0, 1.0), "iris_landmark": (0.0, 1.0)}
SYNTHETIC = ("value at NHWC index (0, y, x, c) = lo + (hi - lo) * (((7*x + 13*y + 29*c) % 256) / 255), "
             "[lo, hi] = input_range")


def synthetic(shape, lo, hi):
    _, h, w, c = shape
    y, x, ch = np.meshgrid(np.arange(h), np.arange(w), np.arange(c), indexing="ij")
    v = ((7 * x + 13 * y + 29 * ch) % 256) / 255.0
    return (lo + (hi - lo) * v).astype(np.float32)[None]


def fetch_astronaut(dest):
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "scikit-image==0.22.0", "--only-binary=:all:",
                    "--python-version", "3.11", "--platform", "manylinux_2_17_x86_64", "-d", dest], check=True)
    wheel = glob.glob(os.path.join(dest, "scikit_image-*.whl"))[0]
    with zipfile.ZipFile(wheel) as z:
        return z.extract("skimage/data/astronaut.png", dest)


# -- mediapipe's face pipeline, as configured in its graphs (face_detection_short_range, ------------
# -- face_detection_front_detection_to_roi, face_landmark_cpu, iris_landmark_*) -----------------------

def ssd_anchors():
    """SsdAnchorsCalculator: 128x128 input, strides [8, 16, 16, 16], 2 anchors per layer and cell
    (aspect 1 + interpolated), layers of equal stride merged, offset 0.5, fixed anchor size 1."""
    anchors = []
    for stride, per_cell in ((8, 2), (16, 6)):
        n = 128 // stride
        for y in range(n):
            for x in range(n):
                anchors += [((x + 0.5) / n, (y + 0.5) / n)] * per_cell
    return np.array(anchors, dtype=np.float64)          # [896, 2] (x_center, y_center)


def decode_detections(reg, cls, min_score=0.5, iou=0.3):
    """TensorsToDetectionsCalculator + weighted NonMaxSuppression. Returns [(score, box[4], kps[6,2])],
    box = (xmin, ymin, xmax, ymax), all normalised to the 128x128 input."""
    a = ssd_anchors()
    reg = reg.reshape(896, 16).astype(np.float64)
    score = 1 / (1 + np.exp(-np.clip(cls.reshape(896).astype(np.float64), -100, 100)))
    cx = reg[:, 0] / 128 + a[:, 0]
    cy = reg[:, 1] / 128 + a[:, 1]
    w, h = reg[:, 2] / 128, reg[:, 3] / 128
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], 1)
    kps = reg[:, 4:].reshape(896, 6, 2) / 128 + a[:, None, :]
    order = [i for i in np.argsort(-score) if score[i] >= min_score]
    out = []
    while order:
        def overlap(j, i=order[0]):
            ix = max(0, min(boxes[i, 2], boxes[j, 2]) - max(boxes[i, 0], boxes[j, 0]))
            iy = max(0, min(boxes[i, 3], boxes[j, 3]) - max(boxes[i, 1], boxes[j, 1]))
            inter = ix * iy
            area = lambda k: (boxes[k, 2] - boxes[k, 0]) * (boxes[k, 3] - boxes[k, 1])
            return inter / (area(i) + area(j) - inter)
        group = [j for j in order if overlap(j) > iou]
        rest = [j for j in order if overlap(j) <= iou]
        wts = score[group] / score[group].sum()
        out.append((float(score[order[0]]), (boxes[group] * wts[:, None]).sum(0), (kps[group] * wts[:, None, None]).sum(0)))
        order = rest
    return out


def rect_from_points(p0, p1, cx, cy, w, h, scale, img_w, img_h):
    """DetectionsToRects (rotation so that p0->p1 is horizontal) + RectTransformation (scale,
    square_long). Everything in pixels; returns (cx, cy, side, angle_radians)."""
    angle = -math.atan2(-(p1[1] - p0[1]), p1[0] - p0[0])    # target angle 0
    angle = angle - 2 * math.pi * math.floor((angle + math.pi) / (2 * math.pi))
    return cx, cy, max(w, h) * scale, angle


def crop(img, rect, size, flip=False, border="replicate"):
    """ImageToTensorCalculator on CPU (OpenCV warpPerspective, INTER_LINEAR): crop pixel (u, v)
    samples the image at pixel position centre + R(angle) * ((u/size - 0.5) * side, (v/size - 0.5) *
    side), pixel centres at integer positions, no half-pixel shift. Returns the crop (float32 0..1,
    HWC) and a function mapping crop coordinates (0..size, what the landmark models output) back to
    image pixels. border: "zero" (face detection, BORDER_ZERO) or "replicate" (the default)."""
    cx, cy, side, ang = rect
    c, s = math.cos(ang), math.sin(ang)

    def to_image(u, v):
        du, dv = (u / size - 0.5) * side, (v / size - 0.5) * side
        if flip:
            du = -du
        return cx + c * du - s * dv, cy + s * du + c * dv

    a = np.asarray(img, dtype=np.float32) / 255.0
    h, w = a.shape[:2]
    v, u = np.meshgrid(np.arange(size, dtype=np.float64), np.arange(size, dtype=np.float64), indexing="ij")
    x, y = to_image(u, v)
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    fx, fy = (x - x0)[..., None], (y - y0)[..., None]

    def px(yy, xx):
        inside = ((xx >= 0) & (xx < w) & (yy >= 0) & (yy < h))[..., None]
        val = a[np.clip(yy, 0, h - 1), np.clip(xx, 0, w - 1)]
        return val if border == "replicate" else np.where(inside, val, 0.0)

    out = ((1 - fy) * ((1 - fx) * px(y0, x0) + fx * px(y0, x0 + 1))
           + fy * ((1 - fx) * px(y0 + 1, x0) + fx * px(y0 + 1, x0 + 1)))
    return out.astype(np.float32), to_image


def pipeline(photo, sessions):
    """Returns the model inputs used and a dict of decoded results in image pixels."""
    W, H = photo.size
    side = max(W, H)              # keep_aspect_ratio: the whole image, letterboxed (zeros) to a square
    det_crop, _ = crop(photo, (W / 2, H / 2, side, 0.0), 128, border="zero")
    det_in = (det_crop * 2.0 - 1.0)[None]
    reg, cls = sessions["face_detection"].run(["regressors", "classificators"], {"input": det_in})
    dets = decode_detections(reg, cls)
    if not dets:
        raise SystemExit("no face detected")
    score, box, kps = dets[0]
    to_px = lambda x, y: (W / 2 + (x - 0.5) * side, H / 2 + (y - 0.5) * side)
    bx0, by0 = to_px(box[0], box[1])
    bx1, by1 = to_px(box[2], box[3])
    kp_px = [to_px(*k) for k in kps]
    res = {"detection_score": score, "detections": len(dets), "box_px": (bx0, by0, bx1, by1), "keypoints_px": kp_px,
           "raw_logit_max": float(cls.max())}
    # face_detection_front_detection_to_roi: rotation from key point 0 to 1, scale 1.5, square.
    face_rect = rect_from_points(kp_px[0], kp_px[1], (bx0 + bx1) / 2, (by0 + by1) / 2, bx1 - bx0, by1 - by0, 1.5, W, H)
    lm_crop, lm_to_image = crop(photo, face_rect, 192)
    lm_in = lm_crop[None]
    lms, flag = sessions["face_landmark"].run(["landmarks", "face_flag"], {"input": lm_in})
    pts = lms.reshape(468, 3)
    img_pts = np.array([lm_to_image(x, y) + (z / 192 * face_rect[2],) for x, y, z in pts])
    res.update(face_rect=face_rect, landmarks_crop=pts, landmarks_px=img_pts,
               face_presence=float(1 / (1 + math.exp(-float(flag.reshape(-1)[0])))), face_flag_logit=float(flag.reshape(-1)[0]))
    # iris_landmark_left_and_right: eye corners 33/133 fed as is, 362/263 flipped horizontally;
    # iris_landmark_landmarks_to_roi: rotation corner->corner, scale 2.3, square.
    iris_inputs = {}
    # The model's eye has its outer corner on the crop's left (mesh 33, contour point 0) and inner corner
    # on the right (mesh 133, contour point 8): the image-left eye of an unmirrored photo (subject's right
    # eye). The other eye (mesh 263 outer, 362 inner) is mirrored so that it looks the same.
    for eye, (a, b), flip in (("mesh33_133", (33, 133), False), ("mesh362_263", (362, 263), True)):
        p0, p1 = img_pts[a][:2], img_pts[b][:2]
        xs, ys = [p0[0], p1[0]], [p0[1], p1[1]]
        rect = rect_from_points(p0, p1, (min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2, max(xs) - min(xs), max(ys) - min(ys), 2.3, W, H)
        eye_crop, eye_to_image = crop(photo, rect, 64, flip=flip)
        iris_inputs[eye] = eye_crop[None]
        contour, iris = sessions["iris_landmark"].run(["eye_contours", "iris"], {"input": eye_crop[None]})
        c = contour.reshape(71, 3)
        i5 = iris.reshape(5, 3)
        res[eye] = {"flip": flip, "iris_crop": i5, "contour_crop": c,
                    "iris_px": np.array([eye_to_image(x, y) for x, y, _ in i5]),
                    "contour_px": np.array([eye_to_image(x, y) for x, y, _ in c]),
                    "corners_mesh_px": (p1, p0) if flip else (p0, p1)}   # (outer, inner)
    return {"face_detection": det_in, "face_landmark": lm_in, "iris_landmark": iris_inputs}, res


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--wheel", help="mediapipe wheel (default: pip download)")
    ap.add_argument("--image", help="face photograph (default: astronaut.png from the scikit-image wheel)")
    ap.add_argument("--models", default=os.path.join(HERE, ".."))
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="speakface-verify-")
    wheel = args.wheel or fetch_wheel(tmp)
    image = args.image or fetch_astronaut(tmp)
    photo = Image.open(image).convert("RGB")
    print(f"photo {image}: {photo.size[0]}x{photo.size[1]}")

    sessions, tflites, names = {}, {}, {}
    with zipfile.ZipFile(wheel) as z:
        for name, inner, out_file, out_names in MODELS:
            sessions[name] = ort.InferenceSession(os.path.join(args.models, out_file), providers=["CPUExecutionProvider"])
            tflites[name] = Interpreter(model_content=z.read(inner))
            tflites[name].allocate_tensors()
            names[name] = out_names
    inputs, res = pipeline(photo, sessions)

    print("\n== TFLite interpreter vs onnxruntime, max |diff| per output (max |output| in brackets)")
    reference = {"input_definition": SYNTHETIC, "runtime": f"onnxruntime {ort.__version__}"}
    for name, inner, out_file, out_names in MODELS:
        tfl, sess = tflites[name], sessions[name]
        shape = tfl.get_input_details()[0]["shape"].tolist()
        lo, hi = RANGES[name]
        real = inputs[name]
        cases = list(real.items()) if isinstance(real, dict) else [("photo", real)]
        cases.append(("synthetic", synthetic(shape, lo, hi)))
        for label, x in cases:
            tfl.set_tensor(tfl.get_input_details()[0]["index"], x)
            tfl.invoke()
            t_out = {d["name"]: tfl.get_tensor(d["index"]) for d in tfl.get_output_details()}
            o_out = sess.run(out_names, {"input": x})
            # TFLite output k is ONNX output k (same order; names differ, shapes must agree).
            figures = []
            for (tname, t), n, o in zip(t_out.items(), out_names, o_out):
                assert t.shape == o.shape, (name, tname, t.shape, o.shape)
                figures.append(f"{n} {float(np.abs(t - o).max()):.2e} [{float(np.abs(t).max()):.3g}]")
            print(f"{name:15s} {label:12s} " + ", ".join(figures))
        syn = sess.run(out_names, {"input": synthetic(shape, lo, hi)})
        reference[name] = {
            "file": out_file, "input": "input", "input_shape": shape, "input_range": [lo, hi],
            "outputs": {n: {"shape": list(o.shape), "first": [float(v) for v in o.reshape(-1)[:16]],
                            "sum": float(o.astype(np.float64).sum()), "abs_max": float(np.abs(o).max())}
                        for n, o in zip(out_names, syn)},
        }
    out_dir = os.path.join(args.models, "testdata")
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "face_landmark_reference.json"), "w") as f:
        json.dump(reference, f, indent=1)
        f.write("\n")

    print("\n== Pipeline on the photo (ONNX models), image pixels")
    f = lambda p: "(" + ", ".join(f"{v:.1f}" for v in p) + ")"
    print(f"face_detection: {res['detections']} face(s) after NMS; best score {res['detection_score']:.4f}; "
          f"box xmin,ymin,xmax,ymax = {f(res['box_px'])}")
    print("  key points (0 right eye, 1 left eye, 2 nose tip, 3 mouth, 4 right ear, 5 left ear; subject's sides): "
          + " ".join(f(k) for k in res["keypoints_px"]))
    fr = res["face_rect"]
    print(f"face_landmark ROI: centre ({fr[0]:.1f}, {fr[1]:.1f}), side {fr[2]:.1f}, rotation {math.degrees(fr[3]):.2f} deg")
    print(f"face_landmark: face presence sigmoid({res['face_flag_logit']:.2f}) = {res['face_presence']:.4f}; "
          f"crop coords range x {res['landmarks_crop'][:, 0].min():.1f}..{res['landmarks_crop'][:, 0].max():.1f}, "
          f"z {res['landmarks_crop'][:, 2].min():.1f}..{res['landmarks_crop'][:, 2].max():.1f}")
    lp = res["landmarks_px"]
    for i, what in ((1, "nose tip"), (33, "eye corner 33"), (133, "eye corner 133"), (263, "eye corner 263"),
                    (362, "eye corner 362"), (13, "upper lip 13"), (152, "chin 152")):
        print(f"  landmark {i:3d} ({what}): crop {f(res['landmarks_crop'][i])} -> image {f(lp[i])}")
    for eye in ("mesh33_133", "mesh362_263"):
        e = res[eye]
        err = np.mean([np.linalg.norm(e["contour_px"][k] - c) for k, c in zip((0, 8), e["corners_mesh_px"])])
        print(f"iris_landmark {eye} (flipped={e['flip']}): iris centre crop {f(e['iris_crop'][0])} -> image "
              f"{f(e['iris_px'][0])}; contour points 0/8 vs mesh outer/inner corners: {err:.2f} px")


if __name__ == "__main__":
    main()
