#!/usr/bin/env bash
# Builds the aarch64-unknown-linux-gnu release binary: target/cross/aarch64-unknown-linux-gnu/release/speakface
set -euo pipefail
cd "$(dirname "$0")/.."
"$(dirname "$0")/sysroot.sh"
source cross/env.sh
cargo build --release --locked --target "$CROSS_TARGET" --target-dir "$CROSS_TARGET_DIR" --bin speakface "$@"
file "$CROSS_TARGET_DIR/$CROSS_TARGET/release/speakface" 2>/dev/null || ls -la "$CROSS_TARGET_DIR/$CROSS_TARGET/release/speakface"
