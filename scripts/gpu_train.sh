#!/usr/bin/env bash
# Train one shipped translate model on a GPU for a bounded number of minutes and bring the result back, small.
#
#   scripts/gpu_train.sh MODEL MINUTES [extra v2v train flags...]      MODEL: street | edges | people
#
# Made for the device tool (`run`): the working tree is there, $OUT comes back (few files, each under 16 MiB). The
# data set is made on the spot when it is missing (`scripts/gpu_data.sh`). `runs/MODEL` is continued when it is there
# (carry it); extra flags go to `v2v train`, e.g. `--init-from MODEL` to start the generator from the shipped weights.
# Training stops cleanly when the budget is spent (`--max-minutes`: the step in progress finishes, a checkpoint is
# written). The latest checkpoint is then exported as a served model would be (fp16 generator, sha256, card with the
# whole training) and `$OUT/MODEL.tar` holds it with the run's log and last samples:
#
#   mkdir -p runs/gpu-MODEL && tar -xf MODEL.tar -C runs/gpu-MODEL     # manifest.json, MODEL.safetensors, log...
#   v2v train ... --init-from MODEL --manifest runs/gpu-MODEL/manifest.json    # continue on any machine
#
# With FULL_CHECKPOINT=1 the whole latest checkpoint (all networks and optimisers, fp32) is packed too, for
# `--resume` elsewhere; it is several times larger than the generator.
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

case $MODEL in
  street)
    ARGS=(vid2vid --data data/street --preset vid2vid-street-small --size 128x256 --steps 20000 --batch 8
          --clip-frames 4 --max-clip-frames 8 --clip-double-every 4000) ;;
  edges)
    ARGS=(vid2vid --data data/edges --preset vid2vid-edges-small --size 192x256 --steps 20000 --batch 8
          --clip-frames 4 --max-clip-frames 8 --clip-double-every 4000) ;;
  people)
    # the served card's reference rule; a run's export records its own config, so train with it
    ARGS=(fs_vid2vid --data data/people --preset fs_vid2vid-people-small --size 256x128 --steps 20000 --batch 8
          --references 4 --min-references 1 --clip-frames 4 --max-clip-frames 8 --clip-double-every 4000
          --config '{"reference_choice": "nearest_label"}') ;;
  *) echo "unknown MODEL $MODEL (street, edges or people)" >&2; exit 2 ;;
esac

scripts/gpu_data.sh "$MODEL"
RUN=${RUN_DIR:-runs/$MODEL}   # RUN_DIR: another run folder (tests)
$PY -m cli.main train "${ARGS[@]}" --out "$RUN" --workers 4 --checkpoint-every 500 --sample-every 500 \
  --max-minutes "$MINUTES" --resume --quiet "$@"

latest=$(ls "$RUN"/checkpoints/step_*.json | sort | tail -1)
PACK=$(mktemp -d)
cp checkpoints/manifest.json "$PACK/manifest.json"   # the export replaces this model's card, keeps the others
$PY -m cli.main export "$RUN" --name "$MODEL" --checkpoint "$latest" --checkpoints-dir "$PACK" \
  --manifest "$PACK/manifest.json"
cp "$RUN/log.jsonl" "$PACK/"
if [ -d "$RUN/samples" ]; then
  mkdir -p "$PACK/samples"
  ls "$RUN"/samples/* | sort | tail -4 | xargs -r cp -t "$PACK/samples/"
fi
[ "${FULL_CHECKPOINT:-0}" = 1 ] && mkdir -p "$PACK/checkpoints" && cp "${latest%.json}".* "$PACK/checkpoints/"
mkdir -p "$OUT"
tar -cf "$OUT/$MODEL.tar" -C "$PACK" .
echo "brought back: $latest as $OUT/$MODEL.tar ($(du -h "$OUT/$MODEL.tar" | cut -f1))"
