#!/usr/bin/env bash
# Table 5, ResNet-50-B: paper top-1/top-5 76.66 / 93.28.
# Paper §4: resnet50_v1b (stride 2 on the 3×3 conv of path A) in the efficient setting of §3:
# total batch 1024, lr 0.4, FP16, 5 warmup epochs, zero γ, no bias decay, ÷10 at 30/60/90, 120
# epochs.
# Environment: DATA_DIR GPUS SAVE_DIR GLUON_TRICKS (see recipes/common.sh).
# Extra arguments go last to `gluon-tricks train` and win (--print-config, --num-epochs 1,
# --cpus 1 --batch-size 8, ...); see recipes/README.md.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"
run_recipe "$@"
