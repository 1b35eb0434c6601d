#!/usr/bin/env bash
# The GPU benchmark in one command, on a GPU machine without internet.
#
#   bench/gpu_fetch_wheels.sh      # first, on a machine with PyPI access (fills bench/wheels/)
#   bench/gpu_run.sh               # then, on the GPU machine, from the checkout's root
#   bench/gpu_run.sh base lightning    # only some chunks (names below)
#
# Installs the fetched wheels (no index: only bench/wheels/), then runs the sweep as
# chunks of at most 9 minutes each (CHUNK_SECONDS), one JSON per chunk under
# bench/results/<device>-<date>/ with the device name, the date and, per configuration,
# s_per_cfg_step, end-to-end seconds and peak GPU memory. A chunk that fails or runs out
# of time is reported and the next one runs. Print the table for docs/performance.md with
#   python bench/gpu_summary.py bench/results/<device>-<date>
#
# The project is run from src/ (PYTHONPATH), not installed: the GPU machine's torch 2.11
# and transformers 5.17 stay as they are.
set -uo pipefail
cd "$(dirname "$0")/.."

CHUNK_SECONDS="${CHUNK_SECONDS:-540}"
PYTHON="${PYTHON:-python3}"

if [ -d bench/wheels ] && [ -z "${SKIP_INSTALL:-}" ]; then
  $PYTHON -m pip install --quiet --no-index --find-links bench/wheels \
    diffusers torchao safetensors accelerate peft pydantic pydantic-settings httpx typer rich \
    || { echo "installing the wheels failed (see above)"; exit 1; }
fi
export PYTHONPATH="$PWD/src:$PWD/bench${PYTHONPATH:+:$PYTHONPATH}"

DEVICE_SLUG="$($PYTHON -c 'import torch; print(torch.cuda.get_device_name(0).replace(" ", "-"))' 2>/dev/null)" \
  || { echo "torch sees no CUDA device"; exit 1; }
OUT="bench/results/${DEVICE_SLUG}-$(date -u +%Y%m%d)"
mkdir -p "$OUT"
echo "device $DEVICE_SLUG; results in $OUT; each chunk at most ${CHUNK_SECONDS} s"

COMMON=(--scale full --sizes 1024 --repeats 1)
# name | arguments (40 steps with true CFG unless the chunk says otherwise)
CHUNKS=(
  "base|--levels none regular high --references 1 2"
  "lightning|--no-base --lightning-steps 4 8 --references 1 2"
  "attention-cudnn|--levels none --references 1 2 --attention-backend _native_cudnn"
  "attention-flash|--levels none --references 1 2 --attention-backend _native_flash"
  "compile|--compile --levels none regular --references 1 --lightning-steps 8"
  "fp8|--quantize fp8 --levels none --references 1 --lightning-steps 8"
  "int8wo|--quantize int8wo --levels none --references 1"
  "group-offload|--group-offload --levels none --references 1 --steps 10 --warmup-steps 2"
)

wanted=("$@")
failed=()
for chunk in "${CHUNKS[@]}"; do
  name="${chunk%%|*}"
  arguments="${chunk#*|}"
  if [ "${#wanted[@]}" -gt 0 ] && [[ ! " ${wanted[*]} " == *" $name "* ]]; then
    continue
  fi
  echo "=== $name: $arguments"
  started=$(date +%s)
  # shellcheck disable=SC2086
  timeout --signal=INT --kill-after=30 "$CHUNK_SECONDS" \
    $PYTHON bench/gpu_engine.py "${COMMON[@]}" $arguments --label "$name" --json "$OUT/$name.json" \
    2>&1 | tee "$OUT/$name.log"
  status=${PIPESTATUS[0]}
  echo "=== $name: exit $status after $(( $(date +%s) - started )) s"
  [ "$status" -eq 0 ] || failed+=("$name")
done

if [ "${#failed[@]}" -gt 0 ]; then
  echo "chunks that failed or timed out: ${failed[*]} (logs in $OUT)"
fi
$PYTHON bench/gpu_summary.py "$OUT" || true
[ "${#failed[@]}" -eq 0 ]
