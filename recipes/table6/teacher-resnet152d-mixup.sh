#!/usr/bin/env bash
# Table 6 teacher for the "+ distill w/ mixup" rows: ResNet-152-D (resnet152_v1d) trained with
# cosine decay + label smoothing + mixup (§5.5: "we train the teacher model with mixup as well").
# The paper reports no accuracy for it; the closest GluonCV zoo model, ResNet152_v1d, has 80.61 /
# 95.34. Settings: the paper's efficient setting (batch 1024, lr 0.4, FP16, 5 warmup epochs, zero
# γ, no bias decay) + cosine + label smoothing 0.1 + mixup α = 0.2, 200 epochs. The paper does not
# give the teacher's batch/lr/precision; GluonCV's published ResNet152_v1d mixup run used lr 0.1
# with 32 images per GPU (total 256) in FP32: to follow it, pass --lr 0.1 --batch-size 32 --dtype
# float32. Its best checkpoint,
# runs/table6/teacher-resnet152d-mixup/checkpoints/best/model.params, is the distill-mixup
# students' default TEACHER_PARAMS.
# Environment: DATA_DIR GPUS SAVE_DIR GLUON_TRICKS (see recipes/common.sh).
# Extra arguments go last to `gluon-tricks train` and win (--print-config, --num-epochs 1,
# --cpus 1 --batch-size 8, ...); see recipes/README.md.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"
run_recipe "$@"
