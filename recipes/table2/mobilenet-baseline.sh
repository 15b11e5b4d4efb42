#!/usr/bin/env bash
# Table 2 / Table 3 "Baseline", MobileNet: paper top-1/top-5 69.03 / 88.71.
# Paper §2.1: mobilenet1.0, 8 GPUs, total batch 256, lr 0.1, NAG, ÷10 at epochs 30/60/90, 120
# epochs, FP32, Xavier init, the paper's augmentation, no warmup. Weight decay 1e-4 is GluonCV's
# default (the paper gives none).
# Environment: DATA_DIR GPUS SAVE_DIR GLUON_TRICKS (see recipes/common.sh).
# Extra arguments go last to `gluon-tricks train` and win (--print-config, --num-epochs 1,
# --cpus 1 --batch-size 8, ...); see recipes/README.md.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"
run_recipe "$@"
