#!/usr/bin/env bash
# Installs the aarch64 toolchain from Debian's packages and makes the arm64 sysroot
# (target/cross/sysroot) that cross/build.sh links against and qemu runs with. Safe to run again.
set -euo pipefail
source "$(dirname "$0")/env.sh"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
need=()
dpkg --print-foreign-architectures | grep -qx arm64 || { $sudo dpkg --add-architecture arm64; $sudo apt-get update -qq; }
for p in rustc-web cargo-web libstd-rust-web-dev:arm64 gcc-aarch64-linux-gnu qemu-user debootstrap binutils-aarch64-linux-gnu; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "cross: installing ${need[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
if [ ! -f "$SYSROOT/usr/lib/aarch64-linux-gnu/pkgconfig/gstreamer-rtsp-server-1.0.pc" ]; then
  echo "cross: making the arm64 sysroot in $SYSROOT (debootstrap --foreign, no chroot needed)"
  rm -rf "$SYSROOT"
  mkdir -p "$SYSROOT"
  $sudo debootstrap --arch=arm64 --foreign --variant=minbase \
    --include=libgstrtspserver-1.0-dev,libgstreamer-plugins-base1.0-dev,libgstreamer1.0-dev,libasound2-dev,libc6-dev \
    bookworm "$SYSROOT" http://deb.debian.org/debian > "$CROSS_TARGET_DIR/debootstrap.log"
  # The first stage downloads every package but unpacks only the base; unpack the rest here.
  for d in "$SYSROOT"/var/cache/apt/archives/*.deb; do dpkg-deb -x "$d" "$SYSROOT"; done
fi
echo "cross: toolchain $($RUSTC --version), sysroot $(du -sh "$SYSROOT" | cut -f1)"
