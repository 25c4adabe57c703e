#!/usr/bin/env bash
# The held-out lip-sync table (models/README.md): real voices in four languages that no training
# script reads, rendered on three portraits by the rules and the model, measured on the video.
#   bash models/train/eval_heldout.sh [eval_heldout.py options, e.g. --modes model]
# About 15 minutes on 2 CPU cores (24 renders of ~30 s of speech and their face-mesh passes).
# Needs: apt-get download (Debian lists), ffmpeg, espeak-ng; makes target/measure-venv
# (mediapipe, pocketsphinx, scipy) and target/heldout (the voices, their alignments, the renders).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
venv="$root/target/measure-venv"
command -v espeak-ng >/dev/null && command -v ffmpeg >/dev/null || { sudo -n true 2>/dev/null && S=sudo || S=; $S apt-get install -y espeak-ng libespeak-ng1 ffmpeg; }
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -c "import mediapipe, pocketsphinx, scipy, PIL" 2>/dev/null ||
  "$venv/bin/pip" install -q "mediapipe==0.10.14" "numpy<2" pillow "pocketsphinx==5.0.4" "scipy<1.14"
(cd "$root" && cargo build --release -q)
data="${SPEAKFACE_HELDOUT:-$root/target/heldout}"
cd "$root/models/train"
"$venv/bin/python" heldout_data.py --data "$data" --seconds 30 --check-alignment
rm -f "$data/results.jsonl"
"$venv/bin/python" eval_heldout.py --bin "$root/target/release/speakface" --data "$data" --out "$data/results.jsonl" --markdown "$@" 2>/dev/null | grep -v '^{'
