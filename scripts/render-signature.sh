#!/usr/bin/env bash
# Pixel-exact comparison of two speakface builds (issue 21: a refactor must not change a render).
# Renders the bundled demo and two held-back cases (another portrait and speech, emotion, gaze,
# seed, intensity; the rules mouth at 30 fps and 384 px) with each binary and compares the
# SHA-256 of every frame as handed to the encoder (SPEAKFACE_FRAME_DIGEST) and the motion CSV.
# The encoded MP4s are not compared: x264's output is not bit-reproducible from run to run.
# Usage: scripts/render-signature.sh OLD_BINARY NEW_BINARY
set -euo pipefail
old=$1 new=$2
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The watermark carries the minute of the render: off, so two runs can be compared bit for bit.
printf '[provenance]\nwatermark = false\n' > "$work/nowm.toml"
cases=(
  "demo|"
  "held|--portrait $here/assets/portraits/painting.jpg --audio $here/assets/speech/stereo44k.wav --emotion happy:0.6 --gaze 10,-5 --seed 3 --intensity 0.7"
  "rules|--portrait $here/assets/portraits/closeup.jpg --audio $here/assets/speech/short.wav --lipsync heuristic --emotion sad --gaze free --fps 30 --width 384 --height 384"
)
status=0
for c in "${cases[@]}"; do
  name=${c%%|*} args=${c#*|}
  for side in old new; do
    bin=${!side}
    # shellcheck disable=SC2086
    SPEAKFACE_FRAME_DIGEST="$work/$name.$side.frames" "$bin" render -q --config "$work/nowm.toml" $args \
      --out "$work/$name.$side.mp4" --motion-out "$work/$name.$side.csv"
  done
  frames=$(wc -l < "$work/$name.old.frames")
  if cmp -s "$work/$name.old.frames" "$work/$name.new.frames" && cmp -s "$work/$name.old.csv" "$work/$name.new.csv"; then
    echo "$name: identical ($frames frames, sha256 of all: $(sha256sum < "$work/$name.new.frames" | cut -c1-16))"
  else
    echo "$name: DIFFERENT"
    status=1
  fi
done
exit $status
