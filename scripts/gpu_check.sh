#!/usr/bin/env bash
# The GPU check of issue 28 (BENCHMARKS.md, "CUDA against CPU"). Run by hand; CI never runs it
# (CI has no GPU). Two steps:
#
#   scripts/gpu_check.sh bundle   on the build machine (x86-64, scripts/setup.sh done): builds
#       `speakface` and scripts/gpu_check/ (the models on the CPU and on CUDA, compared and timed)
#       with `--features cuda`, and packs them into .gpu/ with what a GPU machine without
#       GStreamer needs: the GStreamer libraries and the plugins `speakface bench` uses (x264enc,
#       opusenc, the RTSP server and viewer; not gst-libav, whose libraries are too large to
#       carry, so the bench's viewer counts the frames it receives instead of decoding them),
#       gst-plugin-scanner, and CUDA 12's libcudart (from the nvidia-cuda-runtime-cu12
#       wheel; see below). glibc, libstdc++ and the CUDA 13 libraries come from the GPU machine.
#       All of it in .gpu/bundle.tar.gz (about 30 MB; `echo /.gpu/ >> .git/info/exclude` keeps it
#       out of git). CARGO_TARGET_DIR is honoured.
#
#   scripts/gpu_check.sh run      on the GPU machine, in the repository root with .gpu/ in it:
#       unpacks the bundle into /tmp/speakface-gpu, prints the machine and the CUDA libraries it
#       has, then runs `speakface models --device cuda` and `--device cpu`, gpu_check,
#       `speakface bench` with inference.device "cuda" and then "cpu" back to back, `speakface
#       bench --stages`, and a GPU bilinear warp of a 512x512 frame through PyTorch where
#       python3 has torch. Everything goes to $OUT/log (OUT defaults to ./gpu-out), the figures
#       also to $OUT/*.json. About 2.5 minutes on an H200 machine, half of it the first CUDA use
#       compiling tract-cuda's kernels.
#
# Why CUDA 12's libcudart: tract-cuda 0.23.9 is built for the CUDA 12.2 API (feature cuda-12020)
# and calls cudaGetDeviceProperties_v2, which CUDA 13's libcudart.so.13 no longer exports. The
# CUDA 13 builds of libcublas and libnvrtc export every name it calls (nm on the PyPI wheels
# nvidia-cublas 13.10.0.20 and nvidia-cuda-nvrtc 13.5.37), cuDNN 9 has one API for both, and the
# fields it reads from cudaDeviceProp (name, major, minor, totalGlobalMem) sit at the same
# offsets in both layouts. cudarc tries libcudart.so, libcublas.so, libnvrtc.so, libcudnn.so
# first, so a folder of links with those names, first on LD_LIBRARY_PATH, picks each library.
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
G=/tmp/speakface-gpu

bundle() {
    set -e
    local tgt=${CARGO_TARGET_DIR:-$here/target}
    G=$(mktemp -d)
    cargo build --release --features cuda --bin speakface
    # Its own crate, built against this checkout's lock file so that it shares the build above.
    cp -f Cargo.lock scripts/gpu_check/Cargo.lock
    (cd scripts/gpu_check && CARGO_TARGET_DIR=$tgt cargo build --release --features cuda)
    rm -f scripts/gpu_check/Cargo.lock
    mkdir -p "$G/bin" "$G/lib" "$G/gst-plugins" "$G/libexec"
    cp "$tgt/release/speakface" "$tgt/release/gpu_check" "$G/bin/"
    strip "$G/bin/"*
    local gst=/usr/lib/x86_64-linux-gnu/gstreamer-1.0
    local p
    for p in app coreelements videoconvertscale x264 videoparsersbad audioconvert audioresample opus \
        rtp rtpmanager rtsp udp playback typefindfunctions wavparse; do
        cp "$gst/libgst$p.so" "$G/gst-plugins/"
    done
    cp /usr/lib/x86_64-linux-gnu/gstreamer1.0/gstreamer-1.0/gst-plugin-scanner "$G/libexec/"
    # Every library these need, under the name they ask for; not glibc, libstdc++ or libgcc_s
    # (the GPU machine's own are newer, and its CUDA libraries need its libstdc++).
    local f name path
    for f in "$G"/bin/* "$G"/gst-plugins/* "$G"/libexec/*; do
        ldd "$f" | awk '$2 == "=>" && $3 ~ /^\// {print $1, $3}'
    done | sort -u | while read -r name path; do
        case $name in
            libc.so*|libm.so*|libpthread.so*|libdl.so*|librt.so*|ld-linux*|libstdc++.so*|libgcc_s.so*|libresolv.so*|libutil.so*) ;;
            *) cp -L "$path" "$G/lib/$name" ;;
        esac
    done
    strip --strip-unneeded "$G"/lib/* "$G"/gst-plugins/* "$G"/libexec/*
    local whl
    whl=$(mktemp -d)
    python3 -m pip download --quiet --no-deps --only-binary=:all: --platform manylinux2014_x86_64 \
        --python-version 3.12 -d "$whl" nvidia-cuda-runtime-cu12==12.9.79
    unzip -q -o "$whl"/nvidia_cuda_runtime_cu12-*.whl 'nvidia/cuda_runtime/lib/libcudart.so.12' -d "$whl"
    cp "$whl/nvidia/cuda_runtime/lib/libcudart.so.12" "$G/lib/"
    rm -rf "$whl"
    # Everything resolves inside the bundle, but for the libraries the GPU machine brings.
    local missing
    missing=$(for f in "$G"/bin/* "$G"/gst-plugins/* "$G"/libexec/* "$G"/lib/*; do
        LD_LIBRARY_PATH=$G/lib ldd "$f" | awk '$2 == "=>" {print $1, $3}'
    done | sort -u | grep -vE "^(libc|libm|libpthread|libdl|librt|ld-linux-x86-64|libstdc\+\+|libgcc_s|libresolv|libutil)\.so|$G/lib/" || true)
    if [ -n "$missing" ]; then
        echo "bundle: not in the bundle: $missing" >&2
        exit 1
    fi
    rm -rf "$here/.gpu"
    mkdir -p "$here/.gpu"
    tar -czf "$here/.gpu/bundle.tar.gz" -C "$G" .
    rm -rf "$G"
    du -sh "$here/.gpu"
    echo "bundle: .gpu/bundle.tar.gz ready; carry .gpu to the GPU machine and run scripts/gpu_check.sh run there"
}

# The first file matching NAME under the usual places of the CUDA toolkit, the driver and the
# Python wheels (nvidia-*), in that order.
find_lib() {
    local roots=(/usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib /usr/local/nvidia/lib64
        /usr/local/nvidia/lib /usr/lib/x86_64-linux-gnu)
    local sp
    for sp in $(env -u LD_LIBRARY_PATH python3 -c 'import site; print(" ".join(site.getsitepackages()))' 2>/dev/null); do
        roots+=("$sp/nvidia")
    done
    local hit
    hit=$(find "${roots[@]}" -name "$1" 2>/dev/null | head -n 1)
    [ -z "$hit" ] && hit=$(timeout 20 find / \( -path /proc -o -path /sys \) -prune -o -name "$1" -print 2>/dev/null | head -n 1)
    echo "$hit"
}

run_all() {
    local out=$1
    echo "== machine $(date -u +%FT%TZ)"
    uname -a
    grep -m1 'model name' /proc/cpuinfo
    echo "cores: $(nproc)"
    free -g | head -2
    nvidia-smi
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm,power.limit --format=csv
    echo "== CUDA libraries here"
    { ldconfig -p 2>/dev/null || /sbin/ldconfig -p; } | grep -E 'cuda|cublas|nvrtc|cudnn'
    timeout 20 find / \( -path /proc -o -path /sys \) -prune -o \( -name 'libcublas*' -o -name 'libnvrtc*' -o -name 'libcudnn.so*' -o -name 'libcudart*' \) -print 2>/dev/null | head -n 40
    ls -d /usr/local/cuda*/include /usr/local/cuda/include/cccl/cuda/std/cstdint 2>/dev/null
    nvcc --version 2>/dev/null | tail -n 2
    rm -rf "$G"
    mkdir -p "$G"
    tar -xzf "$here/.gpu/bundle.tar.gz" -C "$G" || { echo "no bundle: run scripts/gpu_check.sh bundle first"; return 1; }
    # The bench's daemon checks the bundled portrait against the shipped consent allowlist, which
    # a binary outside the source tree finds as PREFIX/share/speakface/consent.toml.
    mkdir -p "$G/share/speakface"
    cp "$here/systemd/consent.toml" "$G/share/speakface/"

    local cublas nvrtc cudnn links=/tmp/speakface-cuda-links
    cublas=$(find_lib 'libcublas.so.13*')
    nvrtc=$(find_lib 'libnvrtc.so.13*')
    cudnn=$(find_lib 'libcudnn.so.9*')
    echo "using: cublas $cublas, nvrtc $nvrtc, cudnn $cudnn, cudart $G/lib/libcudart.so.12"
    ls -laL $cublas $nvrtc $cudnn 2>&1
    rm -rf "$links"
    mkdir -p "$links"
    ln -s "$G/lib/libcudart.so.12" "$links/libcudart.so"
    [ -n "$cublas" ] && ln -s "$cublas" "$links/libcublas.so"
    [ -n "$nvrtc" ] && ln -s "$nvrtc" "$links/libnvrtc.so"
    [ -n "$cudnn" ] && ln -s "$cudnn" "$links/libcudnn.so"
    local dirs="" l
    for l in "$cublas" "$nvrtc" "$cudnn"; do
        [ -n "$l" ] && dirs="$dirs:$(dirname "$l")"
    done
    # tract-cuda compiles its kernels with NVRTC against the toolkit's headers (cuda_fp16.h, CCCL).
    if [ ! -e /usr/local/cuda/include/cuda_fp16.h ] && [ -z "${CUDA_HOME:-}" ]; then
        local h
        h=$(find_lib cuda_fp16.h)
        [ -z "$h" ] && h=$(find /usr /opt -name cuda_fp16.h 2>/dev/null | head -n 1)
        [ -n "$h" ] && export CUDA_HOME=$(dirname "$(dirname "$h")")
    fi
    echo "CUDA_HOME=${CUDA_HOME:-/usr/local/cuda (default)}"

    export LD_LIBRARY_PATH="$links:$G/lib$dirs:/usr/local/nvidia/lib64:/usr/local/nvidia/lib"
    export GST_PLUGIN_SYSTEM_PATH_1_0=$G/gst-plugins GST_PLUGIN_PATH_1_0=$G/gst-plugins
    export GST_PLUGIN_SCANNER_1_0=$G/libexec/gst-plugin-scanner GST_PLUGIN_SCANNER=$G/libexec/gst-plugin-scanner
    export GST_REGISTRY_1_0=/tmp/speakface-gst-registry.bin GST_REGISTRY=/tmp/speakface-gst-registry.bin
    export SPEAKFACE_MODELS=$here/models SPEAKFACE_ASSETS=$here/assets
    # tract-cuda's compiled kernels: a fresh cache, so the first CUDA use below includes compiling them.
    export XDG_CACHE_HOME=/tmp/speakface-gpu-cache
    rm -rf "$XDG_CACHE_HOME"
    local sf=$G/bin/speakface

    echo "== speakface models --device cuda"
    local TIMEFORMAT="wall %R s"
    time RUST_BACKTRACE=1 timeout 120 "$sf" models --device cuda
    echo "rc $?"
    echo "== speakface models --device cpu"
    time timeout 60 "$sf" models --device cpu
    echo "rc $?"

    echo "== gpu_check (models on the CPU, then CUDA, in one process)"
    timeout 180 "$G/bin/gpu_check" --runs 20 --json "$out/gpu_check.json"
    local rc=$?
    echo "rc $rc"
    # 1: an output beyond its bound; 2: CUDA refused, the self-test's bound included. Once more
    # without TF32 (cuBLAS and cuDNN may use it for float32 on Ampere and later), to tell.
    if [ "$rc" = 1 ] || [ "$rc" = 2 ]; then
        echo "== gpu_check again with NVIDIA_TF32_OVERRIDE=0 (no TF32 in cuBLAS and cuDNN)"
        NVIDIA_TF32_OVERRIDE=0 timeout 180 "$G/bin/gpu_check" --runs 5 --json "$out/gpu_check_no_tf32.json"
        echo "rc $?"
    fi

    # The bench's daemon takes the board profile's inference.device: a profile for this machine
    # that differs only in that key, one folder per device.
    local dev
    for dev in cuda cpu; do
        mkdir -p "/tmp/speakface-boards-$dev"
        sed "s/^device = \"cpu\"/device = \"$dev\"/" "$here/board/x86-dev.toml" > "/tmp/speakface-boards-$dev/x86.toml"
    done
    grep -n 'device = ' /tmp/speakface-boards-cuda/x86.toml
    for dev in cuda cpu; do
        echo "== speakface bench --seconds 20, inference.device = \"$dev\""
        (sleep 18; echo "-- nvidia-smi during the $dev bench:"; nvidia-smi --query-compute-apps=pid,process_name,used_memory --format=csv) &
        local smi=$!
        SPEAKFACE_BOARDS=/tmp/speakface-boards-$dev timeout 100 "$sf" bench --seconds 20 --json > "$out/bench_$dev.json"
        echo "rc $?"
        wait "$smi"
        cat "$out/bench_$dev.json"
    done

    echo "== speakface bench --stages (CPU stages of this host)"
    timeout 60 "$sf" bench --stages
    echo "rc $?"

    echo "== GPU warp: 512x512 RGB bilinear remap through PyTorch (upload, grid_sample, download)"
    env -u LD_LIBRARY_PATH timeout 90 python3 - <<'PY' | tee "$out/warp.json"
import json, math, statistics, time
try:
    import torch
    import torch.nn.functional as F
except Exception as e:
    print(json.dumps({"error": f"no torch: {e}"})); raise SystemExit
assert torch.cuda.is_available()
dev, W, H = "cuda", 512, 512
g = torch.Generator().manual_seed(1)
img = (torch.rand(H, W, 3, generator=g) * 255).to(torch.uint8)  # random, never zeros
ys, xs = torch.meshgrid(torch.arange(H, dtype=torch.float32), torch.arange(W, dtype=torch.float32), indexing="ij")
# The regression reference's map (src/bench.rs Reference::map), pixel centres at integers.
sx, sy = xs + 3 * torch.sin(ys / 40), ys + 2 * torch.cos(xs / 50)
grid = torch.stack([sx / (W - 1) * 2 - 1, sy / (H - 1) * 2 - 1], -1)[None]
def warp(x, grid):
    f = x.permute(2, 0, 1)[None].float()
    o = F.grid_sample(f, grid, mode="bilinear", padding_mode="border", align_corners=True)
    return o[0].permute(1, 2, 0).round().clamp(0, 255).to(torch.uint8)
ref = warp(img, grid)
grid_d = grid.to(dev)
pin_in, pin_out = img.pin_memory(), torch.empty_like(img).pin_memory()
def frame_pinned():
    pin_out.copy_(warp(pin_in.to(dev, non_blocking=True), grid_d), non_blocking=True)
    torch.cuda.synchronize()
    return pin_out
def frame_pageable():
    return warp(img.to(dev), grid_d).cpu()
img_d = img.to(dev)
def timed(fn, n=300, warm=30):
    for _ in range(warm): fn()
    t = []
    for _ in range(n):
        t0 = time.perf_counter(); fn(); t.append((time.perf_counter() - t0) * 1000)
    t.sort()
    return {"median_ms": statistics.median(t), "p99_ms": t[int(0.99 * (len(t) - 1))]}
res = {"gpu": torch.cuda.get_device_name(0), "torch": torch.__version__}
res["max_diff_vs_cpu_grey_levels"] = int((frame_pinned().int() - ref.int()).abs().max())
res["pinned_upload_warp_download"] = timed(frame_pinned)
res["pageable_upload_warp_download"] = timed(frame_pageable)
s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
for _ in range(30): warp(img_d, grid_d)
k = []
for _ in range(300):
    s.record(); warp(img_d, grid_d); e.record(); e.synchronize(); k.append(s.elapsed_time(e))
res["warp_on_device_only_median_ms"] = statistics.median(k)
res["cpu_torch_grid_sample_one_thread"] = (torch.set_num_threads(1), timed(lambda: warp(img, grid), n=50, warm=5))[1]
print(json.dumps(res, indent=1))
PY
    echo "rc $?"
    nvidia-smi --query-gpu=name,clocks.sm,temperature.gpu,power.draw --format=csv
    echo "== gpu_check.sh run: done $(date -u +%FT%TZ)"
}

case ${1:-} in
    bundle) bundle ;;
    run)
        out=${OUT:-$here/gpu-out}
        mkdir -p "$out"
        run_all "$out" 2>&1 | tee -a "$out/log"
        ;;
    *) echo "usage: scripts/gpu_check.sh bundle | run" >&2; exit 2 ;;
esac
