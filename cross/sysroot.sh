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
# The sysroot is Debian 11 (bullseye: glibc 2.31, GStreamer 1.18), the oldest base the binary is
# meant for: what links against it runs on Debian 11/12, Ubuntu 22.04 and so JetPack 6 (glibc
# 2.35, GStreamer 1.20) and Raspberry Pi OS. The mirror is the one apt here already uses.
SUITE=bullseye
mirror=$(sed -n 's/^URIs: *\([^ ]*\).*/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | grep -v security | head -1)
[ -n "$mirror" ] || mirror=$(awk '$1=="deb" && $3 !~ /security/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null)
[ -n "$mirror" ] || { echo "cross: no Debian mirror found in apt's sources" >&2; exit 1; }
if [ "$(cat "$SYSROOT/.suite" 2>/dev/null)" != "$SUITE" ] || [ ! -f "$SYSROOT/usr/lib/aarch64-linux-gnu/pkgconfig/gstreamer-rtsp-server-1.0.pc" ]; then
  echo "cross: making the arm64 $SUITE sysroot in $SYSROOT (debootstrap --foreign, no chroot needed)"
  rm -rf "$SYSROOT"
  mkdir -p "$SYSROOT"
  $sudo debootstrap --arch=arm64 --foreign --variant=minbase \
    --include=libgstrtspserver-1.0-dev,libgstreamer-plugins-base1.0-dev,libgstreamer1.0-dev,libasound2-dev,libc6-dev \
    "$SUITE" "$SYSROOT" "$mirror" > "$CROSS_TARGET_DIR/debootstrap.log"
  # The first stage downloads every package but unpacks only the base; unpack the rest here.
  for d in "$SYSROOT"/var/cache/apt/archives/*.deb; do dpkg-deb -x "$d" "$SYSROOT"; done
  # Absolute links (libpthread.so -> /lib/aarch64-linux-gnu/libpthread.so.0) would resolve on
  # this machine, not in the sysroot: make each one relative, inside the sysroot.
  find "$SYSROOT" -type l -lname '/*' -print0 | while IFS= read -r -d '' l; do
    ln -sfn "$(realpath -m -s --relative-to="$(dirname "$l")" "$SYSROOT$(readlink "$l")")" "$l"
  done
  echo "$SUITE" > "$SYSROOT/.suite"
fi
echo "cross: toolchain $($RUSTC --version), $SUITE sysroot $(du -sh "$SYSROOT" | cut -f1)"
