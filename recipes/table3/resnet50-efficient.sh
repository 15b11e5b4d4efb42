#!/usr/bin/env bash
# Table 3 "Efficient", ResNet-50: paper top-1/top-5 76.21 / 92.97.
# Paper §3: resnet50_v1, total batch 1024, lr 0.4 (linear scaling 0.1 × 1024/256), FP16 with FP32
# master weights, 5 warmup epochs, zero γ (--last-gamma), no bias decay (--no-wd), ÷10 at epochs
# 30/60/90, 120 epochs.
# Environment: DATA_DIR GPUS SAVE_DIR GLUON_TRICKS (see recipes/common.sh).
# Extra arguments go last to `gluon-tricks train` and win (--print-config, --num-epochs 1,
# --cpus 1 --batch-size 8, ...); see recipes/README.md.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"
run_recipe "$@"
