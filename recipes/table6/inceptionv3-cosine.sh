#!/usr/bin/env bash
# Table 6, Inception-V3 (inceptionv3), row "+ cosine decay": paper top-1/top-5 78.19 / 94.06.
# Paper §5.5: efficient + cosine decay after the warmup (§5.1), 120 epochs. No --last-gamma:
# Inception-V3 has no residual blocks (see table3). Input 299 (the train command's default for
# inceptionv3).
# Environment: DATA_DIR GPUS SAVE_DIR GLUON_TRICKS (defaults in recipes/common.sh).
# Extra arguments go last to `gluon-tricks train` and win (--print-config, --num-epochs 1,
# --cpus 1 --batch-size 8, ...); see recipes/README.md.
set -euo pipefail

TOTAL_BATCH=1024
LR_PER_256=0.1
FLAGS=(--model inceptionv3 --num-epochs 120 --lr-mode cosine --warmup-epochs 5 --dtype float16
       --no-wd)

source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"
run_recipe "$@"
