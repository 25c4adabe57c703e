#!/usr/bin/env python3
"""Landmarks of a portrait from mediapipe's own Python pipeline (FaceMesh, refine_landmarks=True),
written in speakface's landmarks-file format. Used to check the Rust face analysis against the
reference implementation (tests/face_models.rs) and to hand-make landmark files for portraits the
detector cannot handle. Needs `pip install mediapipe==0.10.14` (not needed at run time).

    python3 models/convert/reference_landmarks.py IMAGE OUT.json
"""
import json
import sys

import cv2
import mediapipe as mp
import numpy as np


def main(image_path, out_path):
    bgr = cv2.imread(image_path, cv2.IMREAD_COLOR)
    if bgr is None:
        sys.exit(f"cannot read {image_path}")
    h, w = bgr.shape[:2]
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    with mp.solutions.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1, refine_landmarks=True,
                                         min_detection_confidence=0.5) as mesh:
        res = mesh.process(rgb)
    if not res.multi_face_landmarks:
        sys.exit(f"no face found in {image_path}")
    lm = res.multi_face_landmarks[0].landmark
    # mediapipe normalises x by width, y by height and z by width.
    pts = [[p.x * w, p.y * h, p.z * w] for p in lm]
    irises = []
    # Refined mesh: 468-472 iris of the subject's right eye? 468 is the centre of one iris, 473 the other.
    for c in (468, 473):
        centre = np.array(pts[c][:2])
        ring = np.array([pts[c + k][:2] for k in range(1, 5)])
        irises.append({"center": centre.tolist(), "radius": float(np.linalg.norm(ring - centre, axis=1).mean())})
    # speakface order: the subject's right eye (image left) first.
    irises.sort(key=lambda i: i["center"][0])
    out = {"image_width": w, "image_height": h, "landmarks": pts[:468], "irises": irises,
           "score": 1.0, "source": f"mediapipe {mp.__version__} FaceMesh (reference)"}
    with open(out_path, "w") as f:
        json.dump(out, f)
    print(f"{out_path}: 468 landmarks, irises at {[tuple(round(v) for v in i['center']) for i in irises]}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
