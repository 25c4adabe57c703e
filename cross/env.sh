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
# -B: the C start files (crt1.o, crti.o) and libc.so from the sysroot, not the cross compiler's
# own glibc 2.36 ones: a glibc 2.34+ crt1.o leaves the constructors (.init_array: tract's kernel
# registry) to a libc that runs them, which the sysroot's 2.31 does not.
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUSTFLAGS="-C link-arg=--sysroot=$SYSROOT -C link-arg=-B$SYSROOT/usr/lib/aarch64-linux-gnu"
# The sysroot's library folders first, by their full path: qemu-user looks a guest path up in the
# sysroot but falls back to the same path on this machine, which may hold other arm64 libraries.
QEMU="qemu-aarch64 -L $SYSROOT -E LD_LIBRARY_PATH=$SYSROOT/usr/lib/aarch64-linux-gnu:$SYSROOT/lib/aarch64-linux-gnu"
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="$QEMU"
export CC_aarch64_unknown_linux_gnu="aarch64-linux-gnu-gcc --sysroot=$SYSROOT -B$SYSROOT/usr/lib/aarch64-linux-gnu"
export AR_aarch64_unknown_linux_gnu=aarch64-linux-gnu-ar
export PKG_CONFIG_ALLOW_CROSS=1
export PKG_CONFIG_SYSROOT_DIR=$SYSROOT
export PKG_CONFIG_LIBDIR=$SYSROOT/usr/lib/aarch64-linux-gnu/pkgconfig:$SYSROOT/usr/share/pkgconfig
# bindgen (the v4l crate's V4L2 bindings) parses the sysroot's kernel headers for aarch64.
export BINDGEN_EXTRA_CLANG_ARGS_aarch64_unknown_linux_gnu="--sysroot=$SYSROOT"
