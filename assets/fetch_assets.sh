#!/usr/bin/env bash
# Re-creates every bundled asset from the registry packages it came from, with the same
# processing, so their provenance can be checked. Not run by CI (the assets are committed).
# Needs: pip, apt-get download (Debian bookworm lists), python3, ffmpeg, sox, imagemagick.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"

# Portraits: scikit-image 0.22.0's bundled sample data.
pip download -q --no-deps scikit-image==0.22.0 --only-binary=:all: --python-version 3.11 \
    --platform manylinux_2_17_x86_64 -d .
unzip -q -o scikit_image-0.22.0-*.whl 'skimage/data/astronaut.png' 'skimage/data/coffee.png'
convert skimage/data/astronaut.png -quality 92 "$here/portraits/default.jpg"
convert skimage/data/coffee.png -quality 90 "$here/portraits/no_face.jpg"
convert "$here/portraits/default.jpg" -paint 4 -modulate 100,80 -quality 90 "$here/portraits/oil_paint_filter.jpg"
# Head-and-shoulders close-up of the same photo (face ~38% of the height), upscaled 2x.
convert skimage/data/astronaut.png -crop 256x320+97+0 +repage -filter Lanczos -resize 512x640 \
    -quality 92 "$here/portraits/closeup.jpg"

# Painting: Leonardo's Mona Lisa from GCompris's "paintings" jigsaw activity, reassembled from its
# 12 pieces at the positions the activity's board file (board14_0.qml) gives them.
apt-get download gcompris-qt-data=3.1-2 >/dev/null
dpkg-deb -x gcompris-qt-data_3.1-2_all.deb gc
cat > rcc.py <<'PY'
# Minimal Qt resource (.rcc) extractor: header, tree of 14/22-byte nodes, names, data blobs.
import os, struct, sys, zlib
d = open(sys.argv[1], "rb").read(); out = sys.argv[2]
assert d[:4] == b"qres"
ver, tree, data, names = struct.unpack(">IIII", d[4:20])
size = 14 if ver == 1 else 22
def name(off):
    n = struct.unpack(">H", d[names + off:names + off + 2])[0]
    return d[names + off + 6:names + off + 6 + 2 * n].decode("utf-16-be")
def walk(i, path):
    base = tree + i * size
    noff, flags = struct.unpack(">IH", d[base:base + 6])
    p = os.path.join(path, name(noff) if i else "")
    if flags & 2:
        count, first = struct.unpack(">II", d[base + 6:base + 14])
        for c in range(count):
            walk(first + c, p)
    else:
        doff = struct.unpack(">I", d[base + 10:base + 14])[0]
        n = struct.unpack(">I", d[data + doff:data + doff + 4])[0]
        blob = d[data + doff + 4:data + doff + 4 + n]
        if flags & 1:
            blob = zlib.decompress(blob[4:])
        os.makedirs(os.path.dirname(os.path.join(out, p)), exist_ok=True)
        open(os.path.join(out, p), "wb").write(blob)
walk(0, "")
PY
python3 rcc.py gc/usr/share/gcompris-qt/rcc/paintings.rcc rcc
( cd rcc/gcompris/src/activities/paintings/resource && python3 - <<'PY'
# Each piece's x, y in the board file are its centre as fractions of the 702x515 board.
import re, subprocess
q = open("board/board14_0.qml").read()
args = ["convert", "-size", "702x515", "xc:none"]
for f, x, y in re.findall(r'"pixmapfile" : "(image/MonaLisa_\w+\.webp)",\s*"x" : "([\d.]+)",\s*"y" : "([\d.]+)"', q):
    w, h = map(int, subprocess.check_output(["identify", "-format", "%w %h", f]).split())
    args += [f, "-geometry", "+%d+%d" % (round(float(x) * 702 - w / 2), round(float(y) * 515 - h / 2)), "-composite"]
subprocess.check_call(args + ["-trim", "+repage", "mona_raw.png"])
PY
)
# 322x500 reassembled; fill the 3 single-pixel gaps where pieces meet, crop head and shoulders.
convert rcc/gcompris/src/activities/paintings/resource/mona_raw.png \
    \( rcc/gcompris/src/activities/paintings/resource/mona_raw.png -roll +1+0 \) -compose DstOver -composite \
    -alpha off -crop 264x330+28+5 +repage -filter Lanczos -resize 512x640 -quality 92 "$here/portraits/painting.jpg"

# Speech: Allison Smith's Asterisk prompts, 16 kHz G.722 edition.
apt-get download asterisk-core-sounds-en-g722=1.6.1-1 >/dev/null
dpkg-deb -x asterisk-core-sounds-en-g722_1.6.1-1_all.deb g
s=g/usr/share/asterisk/sounds/en_US_f_Allison
for n in vm-newuser auth-thankyou agent-loginok; do
    ffmpeg -loglevel error -y -f g722 -i "$s/$n.g722" -ar 16000 -ac 1 -c:a pcm_s16le "$n.wav"
done
# -D: no dither, so the output is byte-for-byte reproducible and padded silence is exact zeros.
trim="silence 1 0.03 0.3% reverse silence 1 0.03 0.3% reverse"
sox -D vm-newuser.wav a.wav $trim
sox -D auth-thankyou.wav b.wav $trim
sox -D agent-loginok.wav c.wav $trim
sox -D a.wav -p pad 0.15 0.9 | sox -D - b.wav -b 16 "$here/speech/demo.wav" pad 0 0.3 norm -3
sox -D c.wav -b 16 "$here/speech/short.wav" pad 0.1 1.2 norm -3
sox -D b.wav -b 16 -r 44100 -c 2 "$here/speech/stereo44k.wav" pad 0.1 0.3 norm -3 rate -v 44100
# A voice no model here was trained on: a LibriVox reader (public domain), from the pocketsphinx
# 5.0.4 source package's test data (PyPI sdist, its index sha256 checked).
curl -sSfL -o ps.tar.gz "https://files.pythonhosted.org/packages/ce/89/23e37c19bf30f0570088b7c4b548a666ca94331a6aa5a59b34402becc2d5/pocketsphinx-5.0.4.tar.gz"
echo "17d2971e998490def9554b6ba41886708422af5b4ae888723b1b077aab0fe8d4  ps.tar.gz" | sha256sum -c --quiet
tar xzf ps.tar.gz pocketsphinx-5.0.4/test/data/librivox/sense_and_sensibility_01_austen_64kb-0890.wav
cp pocketsphinx-5.0.4/test/data/librivox/sense_and_sensibility_01_austen_64kb-0890.wav "$here/speech/heldout_librivox.wav"
# Gallery portraits (assets/portraits/gallery/): head and shoulders, at most 512 px on the long side.
g="$here/portraits/gallery"
mkdir -p "$g"
# Old public-domain photographs and an engraving from Gramps's example family tree.
apt-get download gramps=5.1.5-1 >/dev/null
dpkg-deb -x gramps_5.1.5-1_all.deb gramps
e=gramps/usr/share/doc/gramps/example/gramps
convert "$e/654px-Aksel_Andersson.jpg" -crop 372x465+88+4 +repage -strip -quality 88 "$g/bearded.jpg"
convert "$e/E_W_Dahlgren.jpg" -crop 429x536+164+25 +repage -filter Lanczos -resize 410x512 -strip -quality 88 \
    "$g/moustache_sepia.jpg"
convert "$e/Alimehemet.jpg" -crop 254x318+100+63 +repage -strip -quality 88 "$g/engraving.jpg"
# US government portraits (public domain) from face_recognition's test images; Grace Hopper from matplotlib.
pip download -q --no-deps face_recognition==1.3.0 --no-binary=:all: -d .
tar xzf face_recognition-1.3.0.tar.gz face_recognition-1.3.0/tests/test_images/obama.jpg \
    face_recognition-1.3.0/tests/test_images/biden.jpg
t=face_recognition-1.3.0/tests/test_images
convert "$t/obama.jpg" -crop 616x770+184+0 +repage -filter Lanczos -resize 410x512 -strip -quality 88 "$g/smile_teeth.jpg"
convert "$t/biden.jpg" -crop 708x885+213+38 +repage -filter Lanczos -resize 410x512 -strip -quality 88 "$g/closed_lips.jpg"
pip download -q --no-deps matplotlib==3.7.2 --only-binary=:all: --python-version 3.11 \
    --platform manylinux_2_17_x86_64 -d .
unzip -q -o matplotlib-3.7.2-*.whl 'matplotlib/mpl-data/sample_data/grace_hopper.jpg'
convert matplotlib/mpl-data/sample_data/grace_hopper.jpg -crop 424x530+52+15 +repage -filter Lanczos \
    -resize 410x512 -strip -quality 88 "$g/elderly.jpg"
# Paintings from GCompris (gcompris-qt-data was unpacked above): Louis Braille's portrait kept at its own low
# resolution; Van Gogh's Portrait of Pere Tanguy upscaled 2x with a plain triangle filter, so it stays soft.
for r in louis-braille details; do python3 rcc.py "gc/usr/share/gcompris-qt/rcc/$r.rcc" rcc; done
a=rcc/gcompris/src/activities
convert "$a/louis-braille/resource/louis.webp" -crop 164x205+45+24 +repage -strip -quality 88 "$g/lowres.jpg"
convert "$a/details/resource/image/PortraitOfPereTanguy_background.webp" -crop 147x184+123+63 +repage \
    -filter Triangle -resize 200% -strip -quality 88 "$g/painting_2.jpg"
# Painted game portraits: a Wesnoth dwarf (transparent PNG, flattened on a plain background) and a Naev
# character (a genuinely low-resolution 200x150 drawing, kept small).
apt-get download wesnoth-1.16-data=1:1.16.9-1 >/dev/null
dpkg-deb --fsys-tarfile wesnoth-1.16-data_1%3a1.16.9-1_all.deb | tar x \
    ./usr/share/games/wesnoth/1.16/data/core/images/portraits/dwarves/thunderer.png
convert usr/share/games/wesnoth/1.16/data/core/images/portraits/dwarves/thunderer.png -background '#c8c0b0' \
    -flatten -crop 154x193+165+50 +repage -filter Triangle -resize 200% -strip -quality 88 "$g/game_dwarf.jpg"
dpkg-deb --fsys-tarfile wesnoth-1.16-data_1%3a1.16.9-1_all.deb | tar x \
    ./usr/share/games/wesnoth/1.16/data/core/images/portraits/dwarves/runemaster.png
convert usr/share/games/wesnoth/1.16/data/core/images/portraits/dwarves/runemaster.png -background '#c8c0b0' \
    -flatten -crop 144x180+95+44 +repage -filter Triangle -resize 200% -strip -quality 88 "$g/game_elder.jpg"
apt-get download naev-data=0.8.2-1 >/dev/null
dpkg-deb --fsys-tarfile naev-data_0.8.2-1_all.deb | tar x ./usr/share/naev/dat/gfx/portraits/dvaered/dv_civilian_m1.png
convert usr/share/naev/dat/gfx/portraits/dvaered/dv_civilian_m1.png -background black -flatten \
    -crop 126x150+37+0 +repage -strip -quality 88 "$g/drawing_dark_skin.jpg"
# A public-domain Openclipart caricature (cartoon drawing) of G. F. Handel.
apt-get download openclipart-png=1:0.18+dfsg-19 >/dev/null
dpkg-deb --fsys-tarfile openclipart-png_1%3a0.18+dfsg-19_all.deb | tar x \
    ./usr/share/openclipart/png/people/handel_ganson.png ./usr/share/openclipart/png/people/boy_astrid_graeber_.png
convert usr/share/openclipart/png/people/handel_ganson.png -background white -flatten -crop 415x472+0+9 +repage \
    -strip -quality 88 "$g/cartoon.jpg"
# A public-domain Openclipart manga-style drawing of a boy's head (120x133), padded to head-and-shoulders framing.
convert usr/share/openclipart/png/people/boy_astrid_graeber_.png -background white -flatten -gravity center \
    -extent 150x180 -strip -quality 88 "$g/child_drawing.jpg"
# Compare with the checksums recorded in ASSETS.toml.
python3 - "$here" <<'PY'
import hashlib, sys, tomllib
here = sys.argv[1]
bad = 0
for a in tomllib.load(open(f"{here}/ASSETS.toml", "rb"))["asset"]:
    got = hashlib.sha256(open(f"{here}/{a['path']}", "rb").read()).hexdigest()
    ok = got == a["sha256"]
    bad += not ok
    print(("OK      " if ok else "DIFFERS ") + a["path"] + ("" if ok else f"  {got}"))
sys.exit(1 if bad else 0)
PY
