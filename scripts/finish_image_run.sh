#!/usr/bin/env bash
# The end of a training session in one go (saves the minutes between steps): wait for the joint run to stop,
# run the prior phase from its best probe, extend the lineage's learning curve, and export into a scratch copy of
# models/ (measuring all of Kodak and the sample clip). Shipping (retire, copy, manifest, README) stays manual.
#
#   JOINT=/work/runs/image-j PRIOR=/work/runs/prior-j BEFORE=80900 PREVIOUS=tng-image-v6 NAME=tng-image-v7 MODEL_ID=7 \
#   HISTORY=/work/runs/history_v7.txt FLAGS="--context checkerboard --synthesis-residual-blocks" \
#     nohup scripts/finish_image_run.sh > /work/runs/finish.out 2>&1 &
#
# BEFORE: lineage steps of the joint run's starting weights. HISTORY: a file with the new manifest history text,
# in which {JOINT_LAST} becomes the joint run's best step and {LINEAGE_TOTAL} the new lineage total.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${JOINT:?}" "${PRIOR:?}" "${BEFORE:?}" "${PREVIOUS:?}" "${NAME:?}" "${MODEL_ID:?}" "${HISTORY:?}" "${FLAGS:?}"
PRIOR_STEPS=${PRIOR_STEPS:-600}
while pgrep -f "run-dir $JOINT( |$)" > /dev/null; do sleep 10; done
JOINT_LAST=$(python -c "from pathlib import Path; from tngvideo.zoo import read_metadata; print(read_metadata(Path('$JOINT/best.safetensors'))['step'])")
echo "joint run stopped $(date); best probe at its step $JOINT_LAST"
# shellcheck disable=SC2086  # FLAGS is a list of options
python scripts/train_image.py --run-dir "$PRIOR" $FLAGS --phase prior --crop-size 512 --batch-size 2 \
  --steps "$PRIOR_STEPS" --learning-rate 2e-4 --warmup-steps 1 --eval-every 300 --init-weights "$JOINT/best.safetensors"
AFTER_JOINT=$((BEFORE + JOINT_LAST))
python scripts/learning_curve.py --after "docs/learning_curves/$PREVIOUS.json" --run "$JOINT/log.jsonl" "$BEFORE" \
  "$JOINT_LAST" --run "$PRIOR/log.jsonl" "$AFTER_JOINT" --out "docs/learning_curves/$NAME"
SCRATCH=$(mktemp -d)/models
cp -r models "$SCRATCH"
TNGVIDEO_MODELS="$SCRATCH" python scripts/export_image_model.py "$PRIOR/best.safetensors" --name "$NAME" \
  --model-id "$MODEL_ID" --steps-before "$AFTER_JOINT" --learning-curve "docs/learning_curves/$NAME.json" \
  --history "$(sed -e "s/{JOINT_LAST}/$JOINT_LAST/g; s/{LINEAGE_TOTAL}/$((AFTER_JOINT + PRIOR_STEPS))/g" "$HISTORY")" \
  --out "results/kodak_$NAME"
echo "exported $(date) into $SCRATCH (weights + manifest entry)"
