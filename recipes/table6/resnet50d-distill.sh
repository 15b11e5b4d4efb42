#!/usr/bin/env bash
# Table 6, ResNet-50-D (resnet50_v1d), row "+ distill w/o mixup": paper top-1/top-5 78.67 / 94.36.
# Paper §5.5: efficient + cosine + label smoothing + distillation (§5.3) from a ResNet-152-D
# teacher trained with cosine + label smoothing (table6/teacher-resnet152d.sh), T = 20, loss eq. 6
# unweighted, 120 epochs.
# Environment: DATA_DIR GPUS SAVE_DIR GLUON_TRICKS TEACHER_PARAMS (see recipes/common.sh).
# Extra arguments go last to `gluon-tricks train` and win (--print-config, --num-epochs 1,
# --cpus 1 --batch-size 8, ...); see recipes/README.md.
set -euo pipefail

# Default TEACHER_PARAMS: runs/table6/teacher-resnet152d/checkpoints/best/model.params.
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"
run_recipe "$@"
