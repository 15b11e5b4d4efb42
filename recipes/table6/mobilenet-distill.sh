#!/usr/bin/env bash
# Table 6, MobileNet (mobilenet1.0), row "+ distill w/o mixup": paper top-1/top-5 71.97 / 90.89.
# Paper §5.5: efficient + cosine + label smoothing + distillation (§5.3) from a ResNet-152-D
# teacher trained with cosine + label smoothing (table6/teacher-resnet152d.sh), T = 20, loss eq. 6
# unweighted, 120 epochs. No --last-gamma: MobileNet has no residual blocks (see table3).
# Environment: DATA_DIR GPUS SAVE_DIR GLUON_TRICKS TEACHER_PARAMS (defaults in recipes/common.sh).
# Extra arguments go last to `gluon-tricks train` and win (--print-config, --num-epochs 1,
# --cpus 1 --batch-size 8, ...); see recipes/README.md.
set -euo pipefail

# Default TEACHER_PARAMS: runs/table6/teacher-resnet152d/checkpoints/best/model.params.
TEACHER_RUN=teacher-resnet152d
TOTAL_BATCH=1024
LR_PER_256=0.1
FLAGS=(--model mobilenet1.0 --num-epochs 120 --lr-mode cosine --warmup-epochs 5 --dtype float16
       --no-wd --label-smoothing 0.1 --teacher resnet152_v1d --temperature 20)

source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"
run_recipe "$@"
