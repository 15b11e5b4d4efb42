#!/usr/bin/env bash
# Table 6, ResNet-50-D (resnet50_v1d), row "+ mixup w/o distill": paper top-1/top-5 79.15 / 94.58.
# Paper §5.5: efficient + cosine + label smoothing + mixup α = 0.2 (§5.4), 200 epochs.
# Environment: DATA_DIR GPUS SAVE_DIR GLUON_TRICKS (see recipes/common.sh).
# Extra arguments go last to `gluon-tricks train` and win (--print-config, --num-epochs 1,
# --cpus 1 --batch-size 8, ...); see recipes/README.md.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"
run_recipe "$@"
