#!/usr/bin/env bash
# One GPU lease, used whole: the GPU checks first (alone on the card, so the figures are clean), then the shipped
# translate models trained side by side until a deadline, each brought back as `$OUT/MODEL.tar`.
#
#   scripts/gpu_session.sh SECONDS [MODEL ...]      (default models: street people)
#
# SECONDS is the whole budget of the call: the checks get at most half of it, training what is left minus a margin
# for exporting. Every model starts from its shipped weights (`--init-from`) unless `runs/MODEL` is carried.
# The data sets are made on the CPU cores while the checks run on the GPU.
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
  case $model in
    street) [ -f data/street/dataset.json ] || $PY -m cli.main data street --out data/street --sequences 48 \
              --frames 30 --test-sequences 6 --workers "$(nproc)" > /tmp/data-street.log 2>&1 & ;;
    people) [ -f data/people/dataset.json ] || $PY -m cli.main data people --out data/people \
              > /tmp/data-people.log 2>&1 & ;;
  esac
done

scripts/gpu_check.sh $((BUDGET / 2))
wait   # the data sets

MARGIN=90   # export and packing after the training budget
MINUTES=$($PY -c "print(max(0.5, ($DEADLINE - $SECONDS - $MARGIN) / 60))")
echo "training ${MODELS[*]} for $MINUTES minutes each, side by side"
for model in "${MODELS[@]}"; do
  extra=()
  [ -d "runs/$model/checkpoints" ] || extra=(--init-from "$model")
  case $model in street) extra+=(--lambda-l1 50) ;; people) extra+=(--lr 2e-4) ;; esac
  scripts/gpu_train.sh "$model" "$MINUTES" "${extra[@]}" > "/tmp/train-$model.log" 2>&1 &
done
wait
for model in "${MODELS[@]}"; do tail -3 "/tmp/train-$model.log"; done
mkdir -p "${OUT:-/tmp/gpu-session-out}"
tar -cf "${OUT:-/tmp/gpu-session-out}/logs.tar" -C /tmp $(cd /tmp && ls data-*.log train-*.log 2>/dev/null)
