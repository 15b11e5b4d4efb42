#!/usr/bin/env bash
# Tables 8-9 "B-standard" backbone (not a Table 2 row): ResNet-50-B trained with the baseline
# procedure of §2.1; the paper reports its ImageNet top-1 as 76.14 (Table 8).
# resnet50_v1b (stride 2 on the 3×3 conv of path A), 8 GPUs, total batch 256, lr 0.1, NAG,
# ÷10 at epochs 30/60/90, 120 epochs, FP32, Xavier init, the paper's augmentation, no warmup.
# Weight decay 1e-4 is GluonCV's default (the paper gives none).
# Environment: DATA_DIR GPUS SAVE_DIR GLUON_TRICKS (see recipes/common.sh).
# Extra arguments go last to `gluon-tricks train` and win (--print-config, --num-epochs 1,
# --cpus 1 --batch-size 8, ...); see recipes/README.md.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"
run_recipe "$@"
