#!/usr/bin/env bash
# Prepares the virtual machine that tests/devices.rs boots to test speakface against real kernel
# devices this build machine does not have: a V4L2 camera and a V4L2 virtual-camera output
# (v4l2loopback, built here from Debian's v4l2loopback-dkms source) and a DRM display (QEMU's
# virtio-gpu, for kmssink). The VM runs Debian's own kernel and this machine's root file system,
# shared read-only over 9p, so it runs the very binary and GStreamer that the other tests use.
#
# Writes target/vm/: kernel/ (vmlinuz and modules, v4l2loopback.ko among them) and initrd.gz.
# Needs (scripts/setup.sh installs them): qemu-system-x86, linux-headers-amd64, cpio.
# Debian amd64 only: elsewhere it says so and exits 0; tests/devices.rs then reports the test as
# not run (and fails under CI=true).
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
out="$here/target/vm"

if [ "$(dpkg --print-architecture 2>/dev/null)" != amd64 ] || ! apt-cache show linux-image-amd64 >/dev/null 2>&1; then
  echo "vm: not a Debian amd64 machine (no linux-image-amd64 in apt); the device VM is not prepared"
  exit 0
fi
# The kernel ABI the headers were installed for (linux-headers-amd64 follows linux-image-amd64).
kver=$(dpkg-query -W -f='${Depends}' linux-headers-amd64 | sed -n 's/.*linux-headers-\([^ ,]*\).*/\1/p')
[ -n "$kver" ] && [ -d "/usr/src/linux-headers-$kver" ] || { echo "vm: linux-headers-amd64 is not installed (scripts/setup.sh)" >&2; exit 1; }
if [ -f "$out/ready" ] && [ "$(cat "$out/ready")" = "$kver $(sha256sum "$here/tests/vm/init" | cut -c1-16)" ]; then
  echo "vm: target/vm is ready (kernel $kver)"
  exit 0
fi
rm -rf "$out"
mkdir -p "$out/debs" "$out/kernel" "$out/initrd/bin" "$out/initrd/mods"
cd "$out/debs"
# apt-get download runs as the _apt user where it can; a root-owned folder only draws a warning.
apt-get download -q "linux-image-$kver" busybox-static v4l2loopback-dkms 2>&1 | grep -v '^W: Download is performed unsandboxed' || true
for d in *.deb; do dpkg-deb -x "$d" "$out/x-${d%%_*}"; done
mv "$out/x-linux-image-$kver/boot" "$out/x-linux-image-$kver/lib" "$out/kernel/"
cp "$out/kernel/boot/vmlinuz-$kver" "$out/vmlinuz"

# v4l2loopback against the installed headers of the same kernel.
src=$(echo "$out"/x-v4l2loopback-dkms/usr/src/v4l2loopback-*)
make -s -C "/usr/src/linux-headers-$kver" M="$src" modules >"$out/v4l2loopback-build.log" 2>&1 ||
  { tail -20 "$out/v4l2loopback-build.log" >&2; echo "vm: v4l2loopback did not build" >&2; exit 1; }
mkdir -p "$out/kernel/lib/modules/$kver/extra"
cp "$src/v4l2loopback.ko" "$out/kernel/lib/modules/$kver/extra/"
depmod -b "$out/kernel" "$kver"

# The initramfs: busybox, the modules to mount the shared root, and tests/vm/init.
cp "$out/x-busybox-static/bin/busybox" "$out/initrd/bin/"
n=0
for m in virtio_pci 9pnet_virtio 9p; do
  modprobe -d "$out/kernel" -S "$kver" --show-depends "$m" | awk '$1 == "insmod" {print $2}'
done | awk '!seen[$0]++' | while read -r ko; do
  n=$((n + 1))
  cp "$ko" "$out/initrd/mods/$(printf %02d "$n")-$(basename "$ko")"
done
cp "$here/tests/vm/init" "$out/initrd/init"
chmod +x "$out/initrd/init"
(cd "$out/initrd" && find . | cpio -o -H newc --quiet | gzip -1) >"$out/initrd.gz"
rm -rf "$out"/x-* "$out/debs" "$out/initrd"
echo "$kver $(sha256sum "$here/tests/vm/init" | cut -c1-16)" >"$out/ready"
echo "vm: target/vm ready (kernel $kver, v4l2loopback $(basename "$src"))"
