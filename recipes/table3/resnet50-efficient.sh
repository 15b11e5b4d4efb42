#!/usr/bin/env bash
# Table 3 "Efficient", ResNet-50: paper top-1/top-5 76.21 / 92.97.
# Paper §3: resnet50_v1, total batch 1024, lr 0.4 (linear scaling 0.1 × 1024/256), FP16 with FP32
# master weights, 5 warmup epochs, zero γ (--last-gamma), no bias decay (--no-wd), ÷10 at epochs
# 30/60/90, 120 epochs.
# Environment: DATA_DIR GPUS SAVE_DIR GLUON_TRICKS (defaults in recipes/common.sh).
# Extra arguments go last to `gluon-tricks train` and win (--print-config, --num-epochs 1,
# --cpus 1 --batch-size 8, ...); see recipes/README.md.
set -euo pipefail

TOTAL_BATCH=1024
LR_PER_256=0.1
FLAGS=(--model resnet50_v1 --num-epochs 120 --lr-mode step --lr-decay-epoch 30,60,90
       --warmup-epochs 5 --dtype float16 --last-gamma --no-wd)

source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"
run_recipe "$@"
