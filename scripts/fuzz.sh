#!/usr/bin/env bash
# Fuzzes what the daemon reads from outside — the config parser (file, SIGHUP, PUT /v1/config),
# the WAV reader (POST /v1/speech, TTS output) and the portrait decoder (PUT /v1/portrait) —
# with cargo-fuzz (libFuzzer + AddressSanitizer) for SECONDS per target (default 30).
# Stable Rust serves: RUSTC_BOOTSTRAP=1 lets it take the -Z flags cargo-fuzz passes.
# The corpus grows in a temporary folder, seeded from fuzz/seeds/; a crash leaves its input in
# fuzz/artifacts/TARGET/ and fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-30}
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz"
  cargo install cargo-fuzz --version 0.13.2 --locked --quiet
fi
export RUSTC_BOOTSTRAP=1
corpus=$(mktemp -d)
trap 'rm -rf "$corpus"' EXIT
cd fuzz
cargo fuzz build -O
for t in config wav portrait; do
  mkdir -p "$corpus/$t"
  status=0
  cargo fuzz run -O "$t" "$corpus/$t" "seeds/$t" -- -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 \
    > "$corpus/$t.log" 2>&1 || status=$?
  # libFuzzer's progress lines stay in the log; show the summary, or the tail on a failure.
  if [ "$status" -ne 0 ]; then
    tail -n 40 "$corpus/$t.log" >&2
    echo "fuzz: target $t failed (exit $status); the input is in fuzz/artifacts/$t/" >&2
    exit 1
  fi
  grep -E "^Done" "$corpus/$t.log" || true
  echo "fuzz: $t ok ($secs s)"
done
