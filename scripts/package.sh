#!/usr/bin/env bash
# Builds the Debian package of speakface for one architecture from an already built binary:
#   scripts/package.sh amd64 target/release/speakface            -> target/deb/speakface_VERSION_amd64.deb
#   scripts/package.sh arm64 target/cross/aarch64-unknown-linux-gnu/release/speakface
# Contents: the binary, the systemd unit, sysusers and tmpfiles entries, the example config
# (copied to /etc/speakface/speakface.toml by postinst only when none is there, so install,
# upgrade and purge never touch the operator's config), the models with their manifest, the board
# profiles, the bundled demo portrait and speech, and the licences. postinst creates the user and
# folders and enables nothing: the operator runs `systemctl enable --now speakface`.
set -euo pipefail
cd "$(dirname "$0")/.."
arch=${1:?usage: scripts/package.sh amd64|arm64 BINARY}
bin=${2:?usage: scripts/package.sh amd64|arm64 BINARY}
version=${SPEAKFACE_DEB_VERSION:-$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)}
out=target/deb
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
root=$stage/root
share=$root/usr/share/speakface

install -D -m 0755 "$bin" "$root/usr/bin/speakface"
case "$arch" in
  amd64) strip=strip ;;
  arm64) strip=aarch64-linux-gnu-strip ;;
  *) echo "package: unknown architecture $arch" >&2; exit 1 ;;
esac
command -v "$strip" >/dev/null && "$strip" --strip-debug "$root/usr/bin/speakface"
# speakface(1): the unit's Documentation= names it.
install -d "$root/usr/share/man/man1"
gzip -9n < docs/speakface.1 > "$root/usr/share/man/man1/speakface.1.gz"
chmod 0644 "$root/usr/share/man/man1/speakface.1.gz"
install -D -m 0644 systemd/speakface.service "$root/usr/lib/systemd/system/speakface.service"
install -D -m 0644 systemd/speakface.sysusers "$root/usr/lib/sysusers.d/speakface.conf"
install -D -m 0644 systemd/speakface.tmpfiles "$root/usr/lib/tmpfiles.d/speakface.conf"
install -D -m 0644 systemd/speakface.toml "$share/speakface.toml"
install -D -m 0644 systemd/consent.toml "$share/consent.toml"
install -d "$share/models" "$share/board" "$share/assets/portraits" "$share/assets/speech"
install -m 0644 models/manifest.toml models/*.onnx "$share/models/"
install -m 0644 board/*.toml "$share/board/"
install -m 0644 assets/portraits/default.jpg "$share/assets/portraits/"
install -m 0644 assets/speech/demo.wav "$share/assets/speech/"
doc=$root/usr/share/doc/speakface
install -D -m 0644 README.md "$doc/README.md"
install -m 0644 assets/ASSETS.toml "$doc/ASSETS.toml"
install -m 0644 models/README.md "$doc/MODELS.md"
cp -r assets/licences "$doc/licences"
cat > "$doc/copyright" <<TXT
speakface: Apache-2.0 (the program).
Models: see MODELS.md and /usr/share/speakface/models/manifest.toml (mediapipe models: Apache-2.0).
Bundled portrait and speech: see ASSETS.toml and licences/.
TXT

install -d "$root/DEBIAN"
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
# The oldest glibc the binary runs on: the newest symbol version it needs (2.31 for the aarch64
# build against Debian 11, so it installs on Ubuntu 22.04 / JetPack 6 as well).
glibc=$(readelf -V -W "$root/usr/bin/speakface" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -1)
[ -n "$glibc" ] || { echo "package: cannot read the glibc versions the binary needs" >&2; exit 1; }
cat > "$root/DEBIAN/control" <<TXT
Package: speakface
Version: $version
Architecture: $arch
Maintainer: speakface developers <speakface@localhost>
Installed-Size: $size
Depends: libc6 (>= $glibc), libgcc-s1, libasound2, libglib2.0-0, libgstreamer1.0-0 (>= 1.18), libgstreamer-plugins-base1.0-0 (>= 1.18), libgstrtspserver-1.0-0 (>= 1.18), gstreamer1.0-plugins-base, gstreamer1.0-plugins-good, gstreamer1.0-plugins-bad, gstreamer1.0-plugins-ugly, gstreamer1.0-libav
Recommends: systemd, espeak-ng, alsa-utils
Section: video
Priority: optional
Homepage: https://localhost/speakface
Description: talking portrait from live speech, offline, for edge boards
 speakface turns one still portrait plus live speech (ALSA, WAV files or text through
 an offline TTS engine) into a talking-head video in real time: lip sync, blinks, gaze,
 head motion, emotion. Outputs to a display, RTSP, MP4 segments and V4L2. Runs as a
 systemd service with a watchdog and an authenticated control API.
TXT

cat > "$root/DEBIAN/postinst" <<'SH'
#!/bin/sh
# Creates the user and folders and, only when there is none, the config. Enables nothing.
set -e
root="${DPKG_ROOT:-}"
if [ "$1" = configure ]; then
  if command -v systemd-sysusers >/dev/null 2>&1; then
    systemd-sysusers ${root:+--root="$root"} speakface.conf
  elif ! getent passwd speakface >/dev/null; then
    adduser --system --group --home /var/lib/speakface --no-create-home speakface
  fi
  if command -v systemd-tmpfiles >/dev/null 2>&1; then
    systemd-tmpfiles ${root:+--root="$root"} --create speakface.conf || true
  fi
  mkdir -p "$root/etc/speakface"
  # The consent allowlist (only the bundled demo portrait), only when there is none.
  if [ ! -e "$root/etc/speakface/consent.toml" ]; then
    cp "$root/usr/share/speakface/consent.toml" "$root/etc/speakface/consent.toml"
    chmod 0664 "$root/etc/speakface/consent.toml"
  fi
  if [ ! -e "$root/etc/speakface/speakface.toml" ]; then
    cp "$root/usr/share/speakface/speakface.toml" "$root/etc/speakface/speakface.toml"
    chmod 0660 "$root/etc/speakface/speakface.toml"
    # The group by number from the (possibly scratch) root's own database.
    gid=$(awk -F: '$1 == "speakface" { print $3 }' "$root/etc/group" 2>/dev/null)
    [ -n "$gid" ] && chgrp "$gid" "$root/etc/speakface/speakface.toml" || true
  fi
  if [ -z "$root" ] && [ -d /run/systemd/system ]; then
    systemctl daemon-reload || true
    if systemctl is-active --quiet speakface; then
      systemctl try-restart speakface || true
    else
      echo "speakface: installed; start it with: systemctl enable --now speakface"
    fi
  fi
fi
exit 0
SH
cat > "$root/DEBIAN/prerm" <<'SH'
#!/bin/sh
set -e
if [ "$1" = remove ] && [ -z "${DPKG_ROOT:-}" ] && [ -d /run/systemd/system ]; then
  systemctl stop speakface || true
fi
exit 0
SH
cat > "$root/DEBIAN/postrm" <<'SH'
#!/bin/sh
# The operator's config (/etc/speakface) and the daemon's records (/var/lib/speakface: uploaded
# portraits, audit log, API token, recordings) stay, even on purge; only the cache goes.
set -e
root="${DPKG_ROOT:-}"
if [ "$1" = purge ]; then
  rm -rf "$root/var/cache/speakface"
  echo "speakface: kept /etc/speakface and /var/lib/speakface; remove them by hand if they are no longer wanted"
fi
if [ -z "$root" ] && [ -d /run/systemd/system ]; then
  systemctl daemon-reload || true
fi
exit 0
SH
chmod 0755 "$root/DEBIAN/postinst" "$root/DEBIAN/prerm" "$root/DEBIAN/postrm"
mkdir -p "$out"
deb="$out/speakface_${version}_${arch}.deb"
dpkg-deb --root-owner-group --build "$root" "$deb" >/dev/null
echo "$deb"
