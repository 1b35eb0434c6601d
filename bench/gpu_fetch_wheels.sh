#!/usr/bin/env bash
# Fetch the wheels the GPU benchmark needs into bench/wheels/, on a machine with PyPI access.
#
# The GPU machine has no internet; it has Python 3.11, torch 2.11 (CUDA), transformers 5.17
# and peft, but no diffusers or torchao. Copy the whole checkout (bench/wheels/ included)
# over and run bench/gpu_run.sh there.
#
#   bench/gpu_fetch_wheels.sh                # Python 3.11, linux x86_64
#   TORCHAO_VERSION=0.17.0 bench/gpu_fetch_wheels.sh
#
# Wheels are fetched one by one without their dependencies (`--no-deps`), so pip never
# drags in a torch wheel; the list below is every dependency the bench imports that the
# GPU machine may lack. gpu_run.sh installs them with dependency resolution against what is
# already installed there, from this folder only.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON_VERSION="${PYTHON_VERSION:-3.11}"
# torchao releases follow torch releases; 0.18 is the one tested here with torch 2.13 (CPU).
# Its int8/FP8 paths used by the bench are pure Python on torch ops.
TORCHAO_VERSION="${TORCHAO_VERSION:-0.18.0}"
DEST=bench/wheels
mkdir -p "$DEST"

PACKAGES=(
  "diffusers==0.42.1"
  "torchao==${TORCHAO_VERSION}"
  "peft>=0.21"
  "safetensors>=0.8"
  "accelerate>=1.15"
  # diffusers' own dependencies
  huggingface-hub hf-xet importlib-metadata zipp filelock regex requests urllib3 idna certifi
  charset-normalizer pillow numpy pyyaml psutil packaging tqdm fsspec typing-extensions
  # this project's light dependencies (the engine package imports pydantic; the CLI the rest)
  "pydantic>=2.14" pydantic-core annotated-types typing-inspection "pydantic-settings>=2.16"
  python-dotenv "httpx>=0.28" httpcore h11 anyio sniffio "typer>=0.29" click "rich>=14"
  markdown-it-py mdurl pygments shellingham
)

PIP="${PIP:-python3 -m pip}"
for package in "${PACKAGES[@]}"; do
  $PIP download --quiet --no-deps --only-binary=:all: \
    --python-version "$PYTHON_VERSION" --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform linux_x86_64 --platform any \
    --dest "$DEST" "$package"
  echo "fetched $package"
done
ls -1 "$DEST" | wc -l | xargs echo "wheels in $DEST:"
