#!/usr/bin/env bash
# Sets up and runs every test: unit tests, integration tests through real GStreamer pipelines,
# real models and real speech, and the model conformance tests; then fuzzes the parsers briefly,
# and builds for aarch64 and runs those tests under qemu (cross/).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
"$here/scripts/setup.sh"
cd "$here"
# onnxruntime's library from its PyPI wheel: the peer the benches and a lip-sync test hold tract to.
"$here/benches/peers/fetch-onnxruntime.sh"
# The VM that tests/devices.rs boots for the kernel devices this machine lacks (V4L2, DRM).
"$here/tests/vm/prepare.sh"
# Tests run the optimized build: the renderer and the models are slow unoptimized, and sharing
# the release profile with the binary halves the build time.
# With tract's CUDA backend built in (issue 8): this machine has no CUDA, so the tests exercise the
# fallback to the CPU; everything else behaves as in the default build.
cargo test --release --all-targets --features cuda "$@"
# Speed regression check (issue 9): each stage timed against a fixed reference computation in the
# same run; fails if a stage's ratio is more than 25 % above the committed baseline.
"$here/target/release/speakface" bench --stages --check "$here/benches/baseline.json"
# Brief fuzzing of the config and upload parsers (SPEAKFACE_FUZZ_S=0 skips it).
fuzz_s=${SPEAKFACE_FUZZ_S:-30}
if [ "$fuzz_s" -gt 0 ]; then
  "$here/scripts/fuzz.sh" "$fuzz_s"
fi
# The aarch64 build, its tests under qemu, and the arm64 package (SPEAKFACE_CROSS=0 skips it).
if [ "${SPEAKFACE_CROSS:-1}" != 0 ]; then
  "$here/cross/test.sh"
fi
