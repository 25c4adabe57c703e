#!/usr/bin/env bash
# Installs what speakface needs to build, run and test on Debian 12 / Ubuntu: system packages
# (GStreamer with its plugins, ALSA headers, libclang for the V4L2 bindings, espeak-ng, ffmpeg and
# g++ for tests, OpenCV for a benchmark peer, QEMU and kernel headers for the device VM), the
# Python environment of the tests' outside yardstick (mediapipe), and checks for a Rust toolchain.
# Safe to run again: it only asks apt for what is missing.
set -euo pipefail

packages=(
  # build
  pkg-config libasound2-dev libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev
  libgstrtspserver-1.0-dev
  # run: x264enc (ugly), avenc_aac (libav), mp4mux (good), h264parse (bad)
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
  gstreamer1.0-plugins-ugly gstreamer1.0-libav gstreamer1.0-tools alsa-utils
  # POST /v1/say: offline text to speech
  espeak-ng
  # tests (g++: libFuzzer for scripts/fuzz.sh)
  ffmpeg systemd g++
  # systemd-analyze verify checks the unit's man page with man
  man-db
  # the display output test: a virtual X server, ximagesink
  xvfb gstreamer1.0-x
  # cargo bench peers (benches/peers): OpenCV's remap; pip fetches onnxruntime's wheel
  libopencv-imgproc-dev python3-pip
  # tests/face_look.rs: a Python venv with mediapipe (the outside yardstick)
  python3-venv
  # the v4l crate (camera snapshots) generates its bindings with libclang
  libclang-dev
)
# tests/devices.rs: a QEMU VM with Debian's kernel, v4l2loopback built against its headers and a
# virtio GPU (tests/vm/prepare.sh). Debian amd64 only; elsewhere that test says it did not run.
if [ "$(dpkg --print-architecture)" = amd64 ] && apt-cache show linux-headers-amd64 >/dev/null 2>&1; then
  packages+=(qemu-system-x86 linux-headers-amd64 cpio)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: cargo not found; install Rust (rustup, or Debian's cargo) — rust-version is in Cargo.toml" >&2
  exit 1
fi
# tests/face_look.rs: the outside yardstick (mediapipe's face mesh in Python, tests/measure).
here=$(cd "$(dirname "$0")/.." && pwd)
venv="$here/target/measure-venv"
if ! "$venv/bin/python" -c "import mediapipe, numpy, PIL" >/dev/null 2>&1; then
  echo "setup: making $venv (mediapipe for tests/face_look.rs)"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "mediapipe==0.10.14" "numpy<2" pillow
fi
echo "setup: system packages present, $(cargo --version)"
