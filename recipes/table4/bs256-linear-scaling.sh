#!/usr/bin/env bash
# Table 4, BS=256, row "Linear scaling", ResNet-50 (resnet50_v1): paper top-1/top-5 75.87 / 92.70.
# Cumulative (§3): lr 0.1 (0.1 × 256/256); FP32, ÷10 at epochs 30/60/90, 120 epochs. This row is
# the Table 2 baseline (table2/resnet50-baseline.sh).
# Environment: DATA_DIR GPUS SAVE_DIR GLUON_TRICKS (see recipes/common.sh).
# Extra arguments go last to `gluon-tricks train` and win (--print-config, --num-epochs 1,
# --cpus 1 --batch-size 8, ...); see recipes/README.md.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"
run_recipe "$@"
