#!/usr/bin/env bash
# Installs the Debian packages getmusic needs, only those missing.
#   build: gcc, make, clang + libFuzzer/sanitizer runtimes
#   engine: OpenBLAS (the OpenMP build), OpenMP runtime, OpenMPI (data-parallel training), libpng
#   render: FluidSynth + a small General MIDI SoundFont (TimGM6mb; FluidR3 is used when installed)
#   transcribe: libsndfile (audio files; also the studio's Opus tracks), aubio (onsets, pitch, spectra), espeak-ng (a voice for a test)
#   dev/bench/tests: python3-torch (the PyTorch reference, the converter),
#                    python3-mido (the reference MIDI reader we compare against)
#   musicxml: libxml2 (MusicXML), libzip (compressed .mxl); musescore3 (the real client in the tests)
#   studio: libmicrohttpd (its HTTP server); chromium + nodejs/npm for its browser test
#           (`npm ci` then installs playwright-core from package-lock.json)
set -euo pipefail
pkgs="build-essential clang libclang-rt-14-dev libomp-dev libopenblas-openmp-dev libpng-dev libfluidsynth-dev timgm6mb-soundfont openmpi-bin libopenmpi-dev python3-numpy python3-torch python3-mido libsndfile1-dev libaubio-dev espeak-ng libmicrohttpd-dev chromium libxml2-dev libzip-dev musescore3"
# node and npm: Debian's, unless some other node (e.g. NodeSource's, whose nodejs holds npm) is there
command -v node >/dev/null || pkgs="$pkgs nodejs"
command -v npm >/dev/null || pkgs="$pkgs npm"
need=""
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need="$need $p"
done
[ -z "$need" ] && exit 0
echo "installing:$need" >&2
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq $need >/dev/null
