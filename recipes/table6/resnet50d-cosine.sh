#!/usr/bin/env bash
# Table 6, ResNet-50-D (resnet50_v1d), row "+ cosine decay": paper top-1/top-5 77.91 / 93.81.
# Paper §5.5: efficient + cosine decay after the warmup (§5.1), 120 epochs.
# Environment: DATA_DIR GPUS SAVE_DIR GLUON_TRICKS (see recipes/common.sh).
# Extra arguments go last to `gluon-tricks train` and win (--print-config, --num-epochs 1,
# --cpus 1 --batch-size 8, ...); see recipes/README.md.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"
run_recipe "$@"
