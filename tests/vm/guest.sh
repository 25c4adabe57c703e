#!/bin/bash
# Runs inside the device-test VM (tests/devices.rs boots it; tests/vm/init calls this with the
# shared output folder as $1). Loads the real kernel drivers, drives speakface against them and
# leaves everything the host test checks in $1: files named after each step, with exit codes.
# It checks nothing itself: the assertions are in tests/devices.rs.
set -u
out=$1
repo=$(cat "$out/repo")
bin=$(cat "$out/bin")
kmods="$repo/target/vm/kernel"
export GST_REGISTRY=/tmp/gst-registry.bin XDG_CACHE_HOME=/tmp/cache SPEAKFACE_LOG=info
mkdir -p /tmp/home /tmp/sf
step() { echo "guest: $*"; echo "$(date +%T) $*" >>"$out/steps.log"; }
# run NAME CMD…: runs CMD, its output in $out/NAME.txt, its exit status in $out/NAME.rc.
run() { local name=$1; shift; "$@" >"$out/$name.txt" 2>&1; echo $? >"$out/$name.rc"; }
api() { curl -s -m 120 -o "$out/$1.json" -w '%{http_code}' -H "Authorization: Bearer $(cat /tmp/sf/token)" "${@:2}" >"$out/$1.code"; }

step "loading drivers"
run modprobe-v4l2 modprobe -d "$kmods" v4l2loopback devices=2 video_nr=10,11 card_label=speakface-camera,speakface-out
run modprobe-gpu modprobe -d "$kmods" virtio_gpu
udevadm settle 2>/dev/null || sleep 1
ls -l /dev/video* /dev/dri >"$out/devices.txt" 2>&1

step "GStreamer's plugin registry (the first scan is slow under emulation)"
gst-inspect-1.0 >/dev/null 2>&1

step "a camera: the painting fed into /dev/video10 by GStreamer"
gst-launch-1.0 -q filesrc location="$repo/assets/portraits/painting.jpg" ! jpegdec ! videoconvert ! videoscale \
  ! video/x-raw,format=YUY2,width=640,height=480,pixel-aspect-ratio=1/1 ! imagefreeze \
  ! video/x-raw,framerate=10/1 ! identity drop-allocation=true ! v4l2sink device=/dev/video10 >"$out/camera-feed.txt" 2>&1 &
feed=$!
for _ in $(seq 1 60); do
  "$bin" camera --device /dev/video10 --list 2>/dev/null | grep -q YUYV && break
  sleep 1
done
run camera-list "$bin" camera --device /dev/video10 --list
run camera-still "$bin" camera --device /dev/video10 --out "$out/camera-still.png" --check-face
run camera-output-only "$bin" camera --device /dev/video11 --out /tmp/none.png
run camera-missing "$bin" camera --device /dev/video99 --out /tmp/none.png

step "the daemon: display (auto = kmssink on the virtio GPU), V4L2 output to /dev/video11, camera portraits"
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >/tmp/sf/token
cp "$repo/systemd/consent.toml" /tmp/sf/consent.toml
cat >/tmp/sf/speakface.toml <<EOF
[portrait]
image = "$repo/assets/portraits/default.jpg"
[audio]
source = "file"
files = ["$repo/assets/speech/demo.wav"]
[output.rtsp]
enabled = false
[output.display]
enabled = true
sink = "auto"
[output.v4l2]
enabled = true
device = "/dev/video11"
[api]
listen = "127.0.0.1:8089"
token_file = "/tmp/sf/token"
[daemon]
state_dir = "/tmp/sf/state"
[consent]
allowlist = "/tmp/sf/consent.toml"
[camera]
device = "/dev/video10"
width = 640
height = 480
skip_frames = 3
EOF
cp /tmp/sf/speakface.toml "$out/speakface.toml"
"$bin" run --config /tmp/sf/speakface.toml >"$out/daemon.log" 2>&1 &
daemon=$!
for _ in $(seq 1 240); do
  api status-start -m 5 http://127.0.0.1:8089/v1/status
  grep -q '"state":"animating"' "$out/status-start.json" 2>/dev/null && break
  kill -0 $daemon 2>/dev/null || break
  sleep 1
done
step "daemon up: $(cat "$out/status-start.code")"

step "reading the virtual camera output back"
run v4l2-read gst-launch-1.0 -q v4l2src device=/dev/video11 num-buffers=40 ! videoconvert ! video/x-raw,format=RGB \
  ! pngenc compression-level=1 ! multifilesink location="$out/v4l2-%02d.png"

step "the screen: the host takes screenshots now"
touch "$out/display-ready"
for _ in $(seq 1 120); do [ -e "$out/display-done" ] && break; sleep 1; done

step "a config change that rebuilds the outputs while a program reads the virtual camera"
gst-launch-1.0 -q v4l2src device=/dev/video11 ! fakesink >/dev/null 2>&1 &
reader=$!
sleep 3
sed 's/^\[output.rtsp\]/[video]\nbitrate_kbps = 1500\n[output.rtsp]/' /tmp/sf/speakface.toml >/tmp/sf/new.toml
api config-put -X PUT -H 'Content-Type: application/toml' --data-binary @/tmp/sf/new.toml http://127.0.0.1:8089/v1/config
sleep 3
kill $reader 2>/dev/null
wait $reader 2>/dev/null
api status-rebuilt http://127.0.0.1:8089/v1/status

step "camera portrait through the API"
api camera-no-consent -X POST http://127.0.0.1:8089/v1/portrait/camera
api camera-ok -X POST -H 'Content-Type: application/json' \
  -d '{"consent_by": "the visitor in front of the kiosk", "name": "camera test"}' http://127.0.0.1:8089/v1/portrait/camera
api status-camera http://127.0.0.1:8089/v1/status
cp /tmp/sf/consent.toml "$out/consent-after.toml"
cp /tmp/sf/speakface.toml "$out/speakface-after.toml"
# The output may run seconds behind under emulation (11 fps, a backlog of frames): read it in
# rounds for about 30 s and let the host look for the new portrait among them, rather than read
# once right after the reply and hope.
for r in 0 1 2 3 4 5 6 7; do
  run v4l2-read-camera-$r gst-launch-1.0 -q v4l2src device=/dev/video11 num-buffers=3 ! videoconvert ! video/x-raw,format=RGB \
    ! pngenc compression-level=1 ! multifilesink location="$out/v4l2-camera-$r-%02d.png"
  sleep 3
done

step "the camera goes away: the request fails, the avatar goes on"
kill $feed
wait $feed 2>/dev/null
sleep 1
api camera-gone -X POST -H 'Content-Type: application/json' -d '{"consent_by": "nobody"}' http://127.0.0.1:8089/v1/portrait/camera
cp /tmp/sf/consent.toml "$out/consent-gone.toml"
api status-end http://127.0.0.1:8089/v1/status

step "stopping the daemon"
kill -TERM $daemon
wait $daemon
echo $? >"$out/daemon.rc"
cp /tmp/sf/state/audit.log "$out/audit.log" 2>/dev/null
step "done"
touch "$out/finished"
