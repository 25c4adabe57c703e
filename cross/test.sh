#!/usr/bin/env bash
# The aarch64 build tested under qemu-aarch64, and the arm64 package:
#  - the library's unit tests (config, board profiles, audio, resampler, motion, rig, render, TTS
#    refusals, audit, auth), except output::tests (an MP4 round trip needing x264/AAC GStreamer
#    plugins, which the sysroot does not carry);
#  - the model tests (tract runs every face model and the audio-to-motion model on aarch64 and
#    must match the committed references) and the lip-sync tests;
#  - the binary itself (built with the `cuda` feature): `speakface models`, `models --device cuda`
#    (fails cleanly: no CUDA under qemu), `check-config`, `boards`;
#  - scripts/package.sh arm64, checked with dpkg-deb (files, AArch64 binary, glibc it needs).
# The sysroot is Debian 11 (glibc 2.31, GStreamer 1.18), so the qemu runs use those libraries:
# what passes here runs on older systems than the boards' (JetPack 6: glibc 2.35, GStreamer 1.20).
# Not run under qemu (said plainly): the integration tests that need GStreamer's encoder, RTSP and
# ALSA plugins (render, live, control, bad_input, rig_render, package); they run on x86-64.
set -euo pipefail
cd "$(dirname "$0")/.."
cross/sysroot.sh
source cross/env.sh
export SPEAKFACE_CACHE=$CROSS_TARGET_DIR/cache
# One build for the tests and the binary (a separate `cargo build --bin` would resolve features
# without the dev-dependencies and build most crates a second time).
# With tract's CUDA backend (the Jetson profiles ask for inference.device = "cuda"); the CUDA
# libraries load at run time, so the same binary runs on boards without them (on the CPU).
features=(--features cuda)
tests=(--lib --test face_models --test lipsync)
cargo test --release --locked --target "$CROSS_TARGET" --target-dir "$CROSS_TARGET_DIR" "${features[@]}" "${tests[@]}" --no-run
cargo test --release --locked --target "$CROSS_TARGET" --target-dir "$CROSS_TARGET_DIR" "${features[@]}" --lib -- --skip output::tests
# lipsync's onnxruntime comparison needs onnxruntime's aarch64 library: fetched for the host only.
cargo test --release --locked --target "$CROSS_TARGET" --target-dir "$CROSS_TARGET_DIR" "${features[@]}" --test face_models --test lipsync -- --skip tract_streams_the_models_as_onnxruntime_does
bin=$CROSS_TARGET_DIR/$CROSS_TARGET/release/speakface
$QEMU "$bin" models
# No CUDA under qemu: the GPU self-test must fail cleanly, naming the missing driver library.
if cuda=$($QEMU "$bin" models --device cuda 2>&1); then
  echo "cross: models --device cuda succeeded under qemu, without CUDA" >&2; exit 1
fi
grep -q "CUDA driver library not found" <<< "$cuda" || { echo "cross: unexpected CUDA fallback: $cuda" >&2; exit 1; }
$QEMU "$bin" check-config systemd/speakface.toml
boards=$($QEMU "$bin" boards)
grep -q "jetson-orin-nano" <<< "$boards"
deb=$(scripts/package.sh arm64 "$bin")
info=$(dpkg-deb --info "$deb")
contents=$(dpkg-deb --contents "$deb")
grep -q "Architecture: arm64" <<< "$info"
# Built against Debian 11's glibc 2.31: installable on Ubuntu 22.04 / JetPack 6 (glibc 2.35).
need_glibc=$(sed -n 's/.*libc6 (>= \([0-9.]*\)).*/\1/p' <<< "$info")
dpkg --compare-versions "$need_glibc" le 2.35 || { echo "cross: the arm64 package needs glibc $need_glibc, newer than JetPack 6's 2.35" >&2; exit 1; }
for f in ./usr/bin/speakface ./usr/lib/systemd/system/speakface.service ./usr/share/speakface/models/manifest.toml ./usr/share/speakface/board/jetson-orin-nano.toml; do
  grep -q " $f\$" <<< "$contents" || { echo "cross: the arm64 package lacks $f" >&2; exit 1; }
done
# e_machine (bytes 18-19 of the ELF header) is 0xb7: AArch64.
unpacked=$(mktemp -d)
dpkg-deb -x "$deb" "$unpacked"
[ "$(od -An -tx1 -j18 -N2 "$unpacked/usr/bin/speakface" | tr -d ' ')" = "b700" ]
rm -rf "$unpacked"
echo "cross: aarch64 tests passed under qemu; $deb built"
