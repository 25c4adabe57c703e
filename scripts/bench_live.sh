#!/usr/bin/env bash
# Live daemon benchmark: sustained frame rate, audio-in -> frame-out latency and CPU use of
# `speakface run` at 512x512, 25 fps, x264, speech looped from the bundled WAV, with one RTSP
# viewer decoding the stream in a separate process (the viewer's CPU is not counted).
# Usage: scripts/bench_live.sh [seconds]   (default 60). Prints the stats lines and a summary.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
cargo build --release --quiet
dir=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$dir/bench.toml" <<TOML
[audio]
source = "file"
files = ["$PWD/assets/speech/demo.wav"]
[output.rtsp]
listen = "127.0.0.1:$port"
TOML
SPEAKFACE_STATS_S=10 SPEAKFACE_CACHE="$dir/cache" ./target/release/speakface run --config "$dir/bench.toml" 2> "$dir/log" &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -rf "$dir"' EXIT
for _ in $(seq 100); do grep -q "live: running" "$dir/log" 2>/dev/null && break; sleep 0.2; done
gst-launch-1.0 -q rtspsrc location="rtsp://127.0.0.1:$port/avatar" protocols=tcp latency=100 \
  ! rtph264depay ! avdec_h264 ! fakesink sync=false > /dev/null 2>&1 &
viewer=$!
sleep 5
ticks=$(getconf CLK_TCK)
cpu0=$(awk '{print $14+$15}' /proc/$pid/stat); t0=$(date +%s.%N)
sleep "$secs"
cpu1=$(awk '{print $14+$15}' /proc/$pid/stat); t1=$(date +%s.%N)
kill $viewer 2>/dev/null || true
grep "stats:" "$dir/log" | tail -n $((secs / 10)) | sed 's/^speakface: info: //'
python3 - "$cpu0" "$cpu1" "$t0" "$t1" "$ticks" "$(nproc)" <<'PY'
import sys
c0, c1, t0, t1, hz, n = map(float, sys.argv[1:])
cores = (c1 - c0) / hz / (t1 - t0)
print(f"daemon CPU: {cores:.2f} cores of {int(n)} ({cores / n * 100:.0f} % of the machine) over {t1 - t0:.0f} s")
PY
