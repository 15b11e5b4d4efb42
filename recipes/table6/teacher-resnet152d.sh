#!/usr/bin/env bash
# Table 6 teacher for the "+ distill w/o mixup" rows: ResNet-152-D (resnet152_v1d) trained with
# cosine decay + label smoothing (§5.5). The paper reports no accuracy for it; the closest GluonCV
# zoo model, ResNet152_v1d, has 80.61 / 95.34 (trained with mixup, see the -mixup recipe).
# Settings: the efficient setting of §3 (batch 1024, lr 0.4, FP16, 5 warmup epochs, zero γ, no
# bias decay) + cosine + label smoothing 0.1, 120 epochs. Its best checkpoint,
# runs/table6/teacher-resnet152d/checkpoints/best/model.params, is the students' default
# TEACHER_PARAMS.
# Environment: DATA_DIR GPUS SAVE_DIR GLUON_TRICKS (see recipes/common.sh).
# Extra arguments go last to `gluon-tricks train` and win (--print-config, --num-epochs 1,
# --cpus 1 --batch-size 8, ...); see recipes/README.md.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"
run_recipe "$@"
