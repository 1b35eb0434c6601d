#!/usr/bin/env bash
# The GPU benchmark in one command, on a GPU machine without internet (bench/gpu_run.py says more).
#
#   bench/gpu_fetch_wheels.sh        # first, on a machine with PyPI access (fills bench/wheels/)
#   bench/gpu_run.sh                 # then, on the GPU machine, from the checkout: the quick profile
#   bench/gpu_run.sh --dry-run       # the plan and its estimated seconds, on any machine
#   bench/gpu_run.sh --list          # every chunk; run others by name: bench/gpu_run.sh compile
#   bench/gpu_run.sh --scale tiny    # the quick profile's code on a CPU with tiny weights
#
# GPU_BUDGET_SECONDS (default 480) caps a run: a set of chunks estimated longer is refused,
# and a chunk still running when it is spent is interrupted (its JSON keeps what it measured).
# RESULTS_DIR (default bench/results/<scale>-<UTC time>) receives run.json, <chunk>.json and
# <chunk>.log; PYTHON picks the interpreter (default python3).
set -euo pipefail
cd "$(dirname "$0")/.."
exec "${PYTHON:-python3}" bench/gpu_run.py "$@"
