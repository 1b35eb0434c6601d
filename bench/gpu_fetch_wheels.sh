#!/usr/bin/env bash
# Fetch the wheels the GPU benchmark needs into bench/wheels/, on a machine with PyPI access.
#
# The GPU machine has no internet. It has Python 3.12 with torch 2.11 (CUDA 13), transformers
# 5.17, accelerate, peft, safetensors, huggingface-hub, numpy, pillow, but no diffusers,
# pydantic or torchao. Copy the checkout with bench/wheels/ over (about 13 MB of wheels) and
# run bench/gpu_run.sh there.
#
#   bench/gpu_fetch_wheels.sh                    # Python 3.12, linux x86_64
#   PYTHON_VERSION=3.11 bench/gpu_fetch_wheels.sh
#
# Only what that machine lacks, each wheel without its dependencies (`--no-deps`), so pip
# never drags in a torch wheel: gpu_run.sh installs exactly these files, also without
# dependency resolution, into a folder of their own (`pip install --no-deps --target`), so
# nothing installed there is replaced; the rest of what diffusers needs is already there.
# Versions are the ones the tiny-scale test runs with here.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON_VERSION="${PYTHON_VERSION:-3.12}"
DEST=bench/wheels
mkdir -p "$DEST"

PACKAGES=(
  "diffusers==0.42.1"
  # the machine has a peft of its own; this one is the version diffusers' LoRA loading was
  # tested with here (the Lightning adapter is loaded before the first row)
  "peft==0.21.2"
  # this project's engine schema (pydantic) and what pydantic needs beyond the standard library
  "pydantic==2.14.4" "pydantic-core==2.50.5" "annotated-types==0.8.0" "typing-inspection==0.4.5"
  "typing-extensions==4.16.0"
  # only the quantization chunks (fp8, int8wo) install it; 0.18 needs torch >= 2.11
  "torchao==0.18.0"
)

PIP="${PIP:-python3 -m pip}"
for package in "${PACKAGES[@]}"; do
  $PIP download --quiet --no-deps --only-binary=:all: \
    --python-version "$PYTHON_VERSION" --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
    --platform manylinux_2_24_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform linux_x86_64 --platform any \
    --dest "$DEST" "$package"
  echo "fetched $package"
done
du -sh "$DEST" | cut -f1 | xargs echo "bench/wheels holds $(ls -1 "$DEST" | wc -l) wheels,"
