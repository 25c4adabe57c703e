#!/usr/bin/env bash
# The gallery a person checks (issue 22): every gallery portrait (assets/portraits/gallery and
# the bundled photo and painting) in the ten fixed poses (rest, aa, ee, oo, mm, ff, ll,
# blink, head turned 20°, smile), one PNG sheet each with 2× crops of the mouth and the eyes.
#   scripts/gallery.sh [OUT]    full sheets into OUT (default target/gallery)
#   scripts/gallery.sh --docs   the small sheets committed under docs/gallery (needs ImageMagick)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
cargo build --release --quiet
bin="$here/target/release/speakface"
if [ "${1:-}" = --docs ]; then
  command -v convert >/dev/null || { echo "gallery: --docs needs ImageMagick's convert (apt-get install imagemagick)" >&2; exit 1; }
  tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
  "$bin" gallery --shrink 4 --out "$tmp" assets/portraits/gallery/{moustache_sepia,smile_teeth,elderly,game_dwarf,drawing_dark_skin,closed_lips}.jpg assets/portraits/painting.jpg >/dev/null
  mkdir -p docs/gallery
  for f in "$tmp"/*.png; do
    # 256 colours without dithering: a third of the bytes, and no dither noise to misread as grain.
    convert "$f" -dither None -colors 256 "PNG8:docs/gallery/$(basename "$f")"
  done
  ls -l docs/gallery
else
  out=${1:-target/gallery}
  "$bin" gallery --out "$out" assets/portraits/gallery/*.jpg assets/portraits/default.jpg assets/portraits/painting.jpg
fi
