# Sourced by cross/build.sh and cross/test.sh: the aarch64 toolchain from Debian's packages.
# Debian's rustc-web (bookworm-security, 1.96) ships the aarch64 standard library as
# libstd-rust-web-dev:arm64; gcc-aarch64-linux-gnu links; the arm64 -dev packages (multiarch)
# give pkg-config what the ALSA and GStreamer -sys crates link against; qemu-user runs the result.
export RUSTC=/usr/bin/rustc
export RUSTDOC=/usr/bin/rustdoc
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64 -L /usr/aarch64-linux-gnu"
export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc
export CXX_aarch64_unknown_linux_gnu=aarch64-linux-gnu-g++
export AR_aarch64_unknown_linux_gnu=aarch64-linux-gnu-ar
export PKG_CONFIG_ALLOW_CROSS=1
export PKG_CONFIG_aarch64_unknown_linux_gnu="pkg-config"
export PKG_CONFIG_PATH_aarch64_unknown_linux_gnu=""
export PKG_CONFIG_LIBDIR_aarch64_unknown_linux_gnu=/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig
export PKG_CONFIG_SYSROOT_DIR_aarch64_unknown_linux_gnu=/
CROSS_TARGET=aarch64-unknown-linux-gnu
CROSS_TARGET_DIR=target/cross
