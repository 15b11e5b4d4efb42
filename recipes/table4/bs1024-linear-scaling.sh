#!/usr/bin/env bash
# Table 4, BS=1024, row "Linear scaling", ResNet-50 (resnet50_v1): paper top-1/top-5 75.17 / 92.54.
# Cumulative (§3): lr 0.4 (0.1 × 1024/256); FP32, ÷10 at epochs 30/60/90, 120 epochs.
# Environment: DATA_DIR GPUS SAVE_DIR GLUON_TRICKS (see recipes/common.sh).
# Extra arguments go last to `gluon-tricks train` and win (--print-config, --num-epochs 1,
# --cpus 1 --batch-size 8, ...); see recipes/README.md.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"
run_recipe "$@"
