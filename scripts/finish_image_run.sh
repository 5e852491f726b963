#!/usr/bin/env bash
# The end of a training session in one go (saves the minutes between steps): wait for the joint run to stop,
# run the prior phase from its best validation checkpoint, extend the lineage's learning curve, and export into a
# scratch copy of models/ (measuring all of Kodak and the sample clip). Shipping (retire, copy, manifest, README)
# stays manual. Checkpoints are chosen on the validation set (docs/training.md); Kodak is measured only by the export.
# Run from anywhere; relative paths are taken from the repository's root.
#
#   JOINT=runs/image-o PRIOR=runs/prior-o PREVIOUS=tng-image-v11 NAME=tng-image-v12 MODEL_ID=12 \
#   FLAGS="--context checkerboard --synthesis-residual-blocks --analysis-residual-blocks --synthesis-half-resolution-block" \
#   JOINT_COMMAND="python scripts/train_image.py --run-dir runs/image-o ... --init-weights models/tng-image-v11.safetensors ..." \
#     nohup scripts/finish_image_run.sh > runs/finish.out 2>&1 &
#
# PREVIOUS: the shipped model the joint run started from (its manifest entry gives the lineage's steps so far).
# JOINT_COMMAND: the joint run's command, recorded in the new entry's lineage; JOINT_NOTE (optional) a remark on it
# (e.g. "resumed at its step 2500"). PRIOR_STEPS: prior-phase steps (default 600).
set -euo pipefail
cd "$(dirname "$0")/.."
: "${JOINT:?}" "${PRIOR:?}" "${PREVIOUS:?}" "${NAME:?}" "${MODEL_ID:?}" "${FLAGS:?}" "${JOINT_COMMAND:?}"
PRIOR_STEPS=${PRIOR_STEPS:-600}
while pgrep -f "run-dir $JOINT( |$)" > /dev/null; do sleep 10; done
JOINT_LAST=$(python -c "from pathlib import Path; from tngvideo.zoo import read_metadata; print(read_metadata(Path('$JOINT/best.safetensors'))['step'])")
BEFORE=$(python -c "from tngvideo.zoo import find_entry; print(find_entry(name='$PREVIOUS').details['training']['steps'])")
echo "joint run stopped $(date); best validation at its step $JOINT_LAST (lineage steps before it: $BEFORE)"
PRIOR_COMMAND="python scripts/train_image.py --run-dir $PRIOR $FLAGS --phase prior --crop-size 512 --batch-size 2 \
--steps $PRIOR_STEPS --learning-rate 2e-4 --warmup-steps 1 --eval-every 300 --init-weights $JOINT/best.safetensors"
# shellcheck disable=SC2086  # the command (FLAGS included) is a list of words, recorded as run
$PRIOR_COMMAND
AFTER_JOINT=$((BEFORE + JOINT_LAST))
python scripts/learning_curve.py --after "docs/learning_curves/$PREVIOUS.json" --run "$JOINT/log.jsonl" "$BEFORE" \
  "$JOINT_LAST" --run "$PRIOR/log.jsonl" "$AFTER_JOINT" --out "docs/learning_curves/$NAME"
PRIOR_LAST=$(python -c "from pathlib import Path; from tngvideo.zoo import read_metadata; print(read_metadata(Path('$PRIOR/best.safetensors'))['step'])")
SCRATCH=$(mktemp -d)/models
cp -r models "$SCRATCH"
TNGVIDEO_MODELS="$SCRATCH" python scripts/export_image_model.py "$PRIOR/best.safetensors" --name "$NAME" \
  --model-id "$MODEL_ID" --parent "$PREVIOUS" --learning-curve "docs/learning_curves/$NAME.json" \
  --stage "$(basename "$JOINT")" "$JOINT_LAST" "$JOINT_COMMAND" ${JOINT_NOTE:+"$JOINT_NOTE"} \
  --stage "$(basename "$PRIOR")" "$PRIOR_LAST" "$PRIOR_COMMAND" \
  --out "results/kodak_$NAME"
echo "exported $(date) into $SCRATCH (weights + manifest entry)"
