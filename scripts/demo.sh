#!/usr/bin/env bash
# Sets up and renders the demo: the bundled portrait speaking the bundled speech.
# Writes speakface-demo.mp4 and speakface-demo.png (a contact sheet) in the current folder.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
"$here/scripts/setup.sh"
cargo build --release --manifest-path "$here/Cargo.toml"
"$here/target/release/speakface" render --out speakface-demo.mp4 --preview speakface-demo.png "$@"
