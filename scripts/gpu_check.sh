#!/usr/bin/env bash
# The GPU checks of the project in one bounded script: CUDA tests, serving figures at the papers' sizes, the
# reduced-precision quality gate. Made for the device tool (`run`): the working tree is there, $OUT comes back.
#
#   scripts/gpu_check.sh [SECONDS]        -> $OUT/gpu-check.tar (JSON + Markdown + logs), within about SECONDS
#
# Uses the repository's venv when there is one, else `python3` (the GPU image's PyTorch) with the tree on PYTHONPATH.
# PRESETS (default: all three, the largest last) and BENCH_ARGS (e.g. "--compile") choose the serving benchmark's
# cases; QUICK=1 skips the tests and the quality gate. Each step has its own time limit and a failure does not
# stop the next one; `status.txt` says how each ended.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=python3
[ -x .venv/bin/python ] && PY=.venv/bin/python
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/gpu-check-out}
DEADLINE=$((SECONDS + ${1:-400}))
REPORT=$(mktemp -d)

step() {  # step NAME SECONDS COMMAND...: run with a limit, log to REPORT/NAME.log, record the exit status
  local name=$1 limit=$2; shift 2
  local started=$SECONDS
  timeout "$limit" "$@" > "$REPORT/$name.log" 2>&1
  local rc=$?
  echo "$name rc=$rc seconds=$((SECONDS - started))" | tee -a "$REPORT/status.txt"
}

{ nvidia-smi; $PY -c "import torch; print(torch.__version__, torch.version.cuda, torch.cuda.get_device_name(0))"; } \
  > "$REPORT/environment.txt" 2>&1
left() { echo $((DEADLINE - SECONDS > 10 ? DEADLINE - SECONDS : 10)); }
if [ "${QUICK:-0}" != 1 ]; then
  step cuda-tests 60 $PY -m pytest -q -p no:cacheprovider -m gpu tests/workers/test_autocast.py
  step bench-precision 60 $PY -m benchmarks.bench_precision --device cuda --out "$REPORT/precision.json" \
    --markdown "$REPORT/precision.md"
fi
# One process per preset, the largest last: a preset cut off by the deadline loses only its own figures.
for preset in ${PRESETS:-fs_vid2vid-pose-256 vid2vid-cityscapes-1024 vid2vid-cityscapes-2048}; do
  # shellcheck disable=SC2086  # BENCH_ARGS: several flags
  step "bench-gpu-$preset" "$(left)" $PY -m benchmarks.bench_gpu --device cuda --presets "$preset" ${BENCH_ARGS:-} \
    --out "$REPORT/gpu-$preset.json" --markdown "$REPORT/gpu-$preset.md"
done
mkdir -p "$OUT"
tar -cf "$OUT/gpu-check.tar" -C "$REPORT" .
echo "results: $OUT/gpu-check.tar"
