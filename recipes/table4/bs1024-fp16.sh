#!/usr/bin/env bash
# Table 4, BS=1024, row "+ FP16", ResNet-50 (resnet50_v1): paper top-1/top-5 76.21 / 92.97.
# Cumulative (§3): lr 0.4 (0.1 × 1024/256), 5 warmup epochs, zero γ, no bias decay, FP16; FP16
# with FP32 master weights, ÷10 at epochs 30/60/90, 120 epochs. This row is the Table 3 efficient
# ResNet-50 (table3/resnet50-efficient.sh).
# Environment: DATA_DIR GPUS SAVE_DIR GLUON_TRICKS (see recipes/common.sh).
# Extra arguments go last to `gluon-tricks train` and win (--print-config, --num-epochs 1,
# --cpus 1 --batch-size 8, ...); see recipes/README.md.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"
run_recipe "$@"
