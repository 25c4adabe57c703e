#!/usr/bin/env bash
# Fetches onnxruntime's CPU library, the benches' peer of tract (benches/peers), from its PyPI
# wheel: checks the wheel's sha256 and unpacks libonnxruntime.so.VERSION into
# target/peers/onnxruntime/. Does nothing when it is already there. The product never uses it.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
version=1.22.1   # = ONNXRUNTIME_VERSION in src/lib.rs (the C API that ort 2.0.0-rc.10 speaks)
case "$(uname -m)" in
  x86_64)
    platform=manylinux_2_28_x86_64
    wheel=onnxruntime-$version-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl
    sha256=f6effa1299ac549a05c784d50292e3378dbbf010346ded67400193b09ddc2f04 ;;
  aarch64)
    platform=manylinux_2_28_aarch64
    wheel=onnxruntime-$version-cp311-cp311-manylinux_2_27_aarch64.manylinux_2_28_aarch64.whl
    sha256=7ae7526cf10f93454beb0f751e78e5cb7619e3b92f9fc3bd51aa6f3b7a8977e5 ;;
  *) echo "fetch-onnxruntime: no onnxruntime wheel known for $(uname -m)" >&2; exit 1 ;;
esac
dest=$here/target/peers/onnxruntime
lib=libonnxruntime.so.$version
[ -f "$dest/$lib" ] && exit 0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.11 --platform "$platform" \
  "onnxruntime==$version" -d "$tmp"
echo "$sha256  $tmp/$wheel" | sha256sum -c --quiet -
mkdir -p "$dest"
python3 - "$tmp/$wheel" "onnxruntime/capi/$lib" "$dest/$lib" <<'PY'
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as src, open(sys.argv[3] + ".part", "wb") as out:
    shutil.copyfileobj(src, out)
PY
mv "$dest/$lib.part" "$dest/$lib"
echo "fetch-onnxruntime: $dest/$lib (from $wheel, sha256 checked)"
