#!/usr/bin/env bash
# Sets up and runs every test: unit tests, integration tests through real GStreamer pipelines,
# real models and real speech, and the model conformance tests.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
"$here/scripts/setup.sh"
cd "$here"
# Tests run the optimized build: the renderer and the models are slow unoptimized, and sharing
# the release profile with the binary halves the build time.
cargo test --release --all-targets "$@"
