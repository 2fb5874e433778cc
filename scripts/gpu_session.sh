#!/usr/bin/env bash
# One GPU lease, used whole: the GPU checks first (alone on the card, so the figures are clean), then the shipped
# translate models trained side by side until a deadline, each brought back as `$OUT/MODEL.tar`.
#
#   scripts/gpu_session.sh SECONDS [MODEL ...]      (default models: street people)
#
# SECONDS is the whole budget of the call: the checks get at most half of it, training what is left minus a margin
# for exporting. Every model starts from its shipped weights (`--init-from`) unless `runs/MODEL` is carried.
# The data sets are made on the CPU cores while the checks run on the GPU.
#
# On this workplace's device tool (2026-12-04: H200, its image's python3 with torch 2.11, no fastapi, pydantic, redis,
# rq or av): download cp312 wheels of pydantic, pydantic-core, annotated-types, typing-inspection,
# pydantic-settings, python-dotenv, redis, rq and croniter into .whl/ (ignored; av is too big to carry with the
# 57 MB tree, and nothing here writes video), carry ".whl", and run
#   python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site;
#   mkdir -p /tmp/site/av && : > /tmp/site/av/__init__.py; scripts/gpu_session.sh 525 2>&1 | tee $OUT/session.log
# (timeout_s 600). That call took 7.6 minutes of device time with start-up: checks 1.5 min, training 5.6 min.
set -uo pipefail
cd "$(dirname "$0")/.."
BUDGET=${1:?SECONDS: the whole budget of the call}
shift
MODELS=("$@")
[ $# -eq 0 ] && MODELS=(street people)
DEADLINE=$((SECONDS + BUDGET))
PY=python3
[ -x .venv/bin/python ] && PY=.venv/bin/python
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1

for model in "${MODELS[@]}"; do   # the data sets, on the CPU, beside the checks
  scripts/gpu_data.sh "$model" > "/tmp/data-$model.log" 2>&1 &
done

scripts/gpu_check.sh $((BUDGET / 2))
wait   # the data sets

MARGIN=90   # export and packing after the training budget
MINUTES=$($PY -c "print(max(0.5, ($DEADLINE - $SECONDS - $MARGIN) / 60))")
echo "training ${MODELS[*]} for $MINUTES minutes each, side by side"
for model in "${MODELS[@]}"; do
  extra=()
  [ -d "runs/$model/checkpoints" ] || extra=(--init-from "$model")
  # people: 6-frame clips from the start, so its previous-frame path learns (4-frame clips left it above
  # temporal-off in warping error after the 2026-12-04 lease)
  case $model in street) extra+=(--lambda-l1 50) ;; people) extra+=(--lr 2e-4 --clip-frames 6) ;; esac
  scripts/gpu_train.sh "$model" "$MINUTES" "${extra[@]}" > "/tmp/train-$model.log" 2>&1 &
done
wait
for model in "${MODELS[@]}"; do tail -3 "/tmp/train-$model.log"; done
mkdir -p "${OUT:-/tmp/gpu-session-out}"
tar -cf "${OUT:-/tmp/gpu-session-out}/logs.tar" -C /tmp $(cd /tmp && ls data-*.log train-*.log 2>/dev/null)
