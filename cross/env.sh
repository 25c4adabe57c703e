# Sourced by cross/build.sh and cross/test.sh: the aarch64 toolchain, from Debian's packages only.
# - Rust: Debian's rustc-web (bookworm-security, 1.96) ships the aarch64 standard library as
#   libstd-rust-web-dev:arm64 (co-installable); rustup's toolchain has no aarch64 std here and
#   none can be fetched.
# - C: gcc-aarch64-linux-gnu links against an arm64 sysroot made by `debootstrap --foreign`
#   (cross/sysroot.sh): Debian 12's arm64 -dev packages of gst-plugins-base and gst-rtsp-server
#   cannot be installed beside the amd64 ones (multiarch conflicts), a sysroot has no such limit.
# - qemu-aarch64 runs the binaries and tests with that sysroot as its library root.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CROSS_TARGET=aarch64-unknown-linux-gnu
CROSS_TARGET_DIR=$here/target/cross
SYSROOT=$CROSS_TARGET_DIR/sysroot
export RUSTC=/usr/bin/rustc
export RUSTDOC=/usr/bin/rustdoc
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUSTFLAGS="-C link-arg=--sysroot=$SYSROOT"
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64 -L $SYSROOT"
export CC_aarch64_unknown_linux_gnu="aarch64-linux-gnu-gcc --sysroot=$SYSROOT"
export AR_aarch64_unknown_linux_gnu=aarch64-linux-gnu-ar
export PKG_CONFIG_ALLOW_CROSS=1
export PKG_CONFIG_SYSROOT_DIR=$SYSROOT
export PKG_CONFIG_LIBDIR=$SYSROOT/usr/lib/aarch64-linux-gnu/pkgconfig:$SYSROOT/usr/share/pkgconfig
