#!/usr/bin/env bash
# Trains the audio-to-motion model end to end and evaluates it on real speech:
#   bash models/train/run.sh            (about 25 minutes on 2 CPU cores, 40 with the held-out
#                                        table; not part of CI)
# Writes models/audio2motion_{float,int8}.onnx, tests/data/audio2motion_reference.json and
# prints the training summary and the real-speech figures. Update models/manifest.toml's sha256
# lines (printed at the end) and models/README.md's figures with what it prints.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
work="${SPEAKFACE_TRAIN_WORK:-$root/target/train}"
venv="$work/venv"
command -v espeak-ng >/dev/null && command -v flite >/dev/null || { sudo -n true 2>/dev/null && S=sudo || S=; $S apt-get install -y espeak-ng libespeak-ng1 flite ffmpeg; }
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install -q -r "$here/requirements.txt"
cd "$here"
"$venv/bin/python" visemes.py --selftest
"$venv/bin/python" espeak_corpus.py --out "$work/corpus" --minutes 60 --seed 1
# A second synthesizer (Flite's five voices) and speech-free noise labelled silence.
"$venv/bin/python" flite_corpus.py --out "$work/corpus" --minutes 25 --seed 1
"$venv/bin/python" quiet_corpus.py --out "$work/corpus" --minutes 6 --seed 1
# Recorded speech: Allison Smith's Asterisk prompts aligned by pocketsphinx, less the 40 that
# eval_real.py scores (apt-get download of two Debian packages).
"$venv/bin/python" real_corpus.py --out "$work/corpus" --data "$work/eval/allison"
"$venv/bin/python" train.py --corpus "$work/corpus" --work "$work" --out "$root/models" --steps 6000 --copies 3 --real-weight 3 --quiet-weight 2
# The tongue: a branch on the trained network's residual features (its other outputs unchanged).
"$venv/bin/python" tongue.py --corpus "$work/corpus" --work "$work" --models "$root/models"
"$venv/bin/python" make_reference.py
(cd "$root" && cargo build --release)
for mode in model heuristic; do
  "$venv/bin/python" eval_real.py --bin "$root/target/release/speakface" --data "$work/eval/allison" --lipsync "$mode"
done
# Voices no training script reads, four languages, measured on the rendered video.
bash "$here/eval_heldout.sh"
sha256sum "$root"/models/audio2motion_*.onnx
