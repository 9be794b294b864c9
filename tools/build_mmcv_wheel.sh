#!/usr/bin/env bash
# Build, once, a CPU wheel of full mmcv (compiled mmcv.ops) for the torch installed in
# a venv, and cache it outside the repo; print the wheel's path.
#
#   tools/build_mmcv_wheel.sh PYTHON [CACHE_DIR]     (default ~/.cache/samcam-wheels)
#
# Why: `import mmseg.models` needs mmcv.ops, and OpenMMLab publishes mmcv wheels only
# for a few torch/CUDA pairs (download.openmmlab.com/mmcv/dist/...). On a GPU cluster
# install theirs, or `mim install "mmcv>=2.0.0rc4,<2.2.0"`. Elsewhere (CI, CPU
# machines, newer torch) this builds the same package from PyPI's sdist: 35 CPU-minutes
# (about 18 minutes on 2 idle cores). The wheel links against this torch's C++ ABI,
# so the cache is keyed by torch version and Python tag.
set -euo pipefail

PYTHON=${1:?usage: $0 PYTHON [CACHE_DIR]}
CACHE=${2:-${HOME}/.cache/samcam-wheels}
MMCV_VERSION=2.1.0

key=$("$PYTHON" -c 'import sys, torch; print("torch%s-cp%d%d" % ((torch.__version__.split("+")[0],) + sys.version_info[:2]))')
dest="$CACHE/mmcv-$MMCV_VERSION-$key"
for wheel in "$dest"/mmcv-"$MMCV_VERSION"-*.whl; do
    if [ -f "$wheel" ]; then
        echo "$wheel"
        exit 0
    fi
done

echo "building mmcv $MMCV_VERSION with CPU ops for $key (about 35 CPU-minutes, ~18 min on 2 idle cores; cached in $dest)" >&2
work=$(mktemp -d "${TMPDIR:-/tmp}/samcam-mmcv.XXXXXX")
trap 'rm -rf "$work"' EXIT

# ninja compiles in parallel; mmcv's setup.py imports pkg_resources (gone in setuptools 81).
"$PYTHON" -m pip install -q ninja "setuptools<81" >&2
"$PYTHON" -m pip download -q --no-deps --no-build-isolation --no-binary :all: "mmcv==$MMCV_VERSION" -d "$work" >&2
tar -xzf "$work/mmcv-$MMCV_VERSION.tar.gz" -C "$work"
src="$work/mmcv-$MMCV_VERSION"

# mmcv 2.1.0 passes -std=c++17, which overrides torch's own flag; torch builds whose
# headers demand C++20 (ATen.h says so) fail on it. The sources compile as C++20.
aten="$("$PYTHON" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "include", "ATen", "ATen.h"))')"
if grep -q "C++20 or later" "$aten" 2>/dev/null; then
    sed -i "s/-std=c++17/-std=c++20/g" "$src/setup.py"
    echo "patched mmcv's setup.py: -std=c++17 -> -std=c++20 (torch's headers need C++20)" >&2
fi

MMCV_WITH_OPS=1 FORCE_CUDA=0 MAX_JOBS="${MAX_JOBS:-$(nproc)}" \
    "$PYTHON" -m pip wheel -q --no-build-isolation --no-deps "$src" -w "$work/wheel" >&2

# Publish atomically: a concurrent or interrupted build never leaves a half wheel.
mkdir -p "$CACHE"
staged="$CACHE/.staging-$$"
rm -rf "$staged"
mv "$work/wheel" "$staged"
if ! mv -T "$staged" "$dest" 2>/dev/null; then
    rm -rf "$staged"  # another build got there first; use its wheel
fi
ls "$dest"/mmcv-"$MMCV_VERSION"-*.whl
