#!/usr/bin/env bash
# Table 6, MobileNet (mobilenet1.0), row "+ cosine decay": paper top-1/top-5 72.83 / 91.00.
# Paper §5.5: efficient + cosine decay after the warmup (§5.1), 120 epochs. No --last-gamma:
# MobileNet has no residual blocks (see table3).
# Environment: DATA_DIR GPUS SAVE_DIR GLUON_TRICKS (see recipes/common.sh).
# Extra arguments go last to `gluon-tricks train` and win (--print-config, --num-epochs 1,
# --cpus 1 --batch-size 8, ...); see recipes/README.md.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"
run_recipe "$@"
