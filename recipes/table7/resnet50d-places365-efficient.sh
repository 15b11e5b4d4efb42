#!/usr/bin/env bash
# Table 7, "ResNet-50-D Efficient" on MIT Places365-Standard: paper val top-1/top-5 56.34 / 86.87,
# test 57.18 / 87.28. Paper §5.5: resnet50_v1d, 365 classes, the efficient setting of §3 (batch
# 1024, lr 0.4, FP16, 5 warmup epochs, zero γ, no bias decay, ÷10 at 30/60/90, 120 epochs), as on
# ImageNet. DATA_DIR defaults to $HOME/.mxnet/datasets/places365/rec (gluon-tricks prepare
# places365).
# Environment: DATA_DIR GPUS SAVE_DIR GLUON_TRICKS (see recipes/common.sh).
# Extra arguments go last to `gluon-tricks train` and win (--print-config, --num-epochs 1,
# --cpus 1 --batch-size 8, ...); see recipes/README.md.
set -euo pipefail

DATASET=places365
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"
run_recipe "$@"
