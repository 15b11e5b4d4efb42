#!/usr/bin/env bash
# Table 6, MobileNet (mobilenet1.0), row "+ mixup w/o distill": paper top-1/top-5 73.28 / 91.30.
# Paper §5.5: efficient + cosine + label smoothing + mixup α = 0.2 (§5.4), 200 epochs. No
# --last-gamma: MobileNet has no residual blocks (see table3).
# Environment: DATA_DIR GPUS SAVE_DIR GLUON_TRICKS (defaults in recipes/common.sh).
# Extra arguments go last to `gluon-tricks train` and win (--print-config, --num-epochs 1,
# --cpus 1 --batch-size 8, ...); see recipes/README.md.
set -euo pipefail

TOTAL_BATCH=1024
LR_PER_256=0.1
FLAGS=(--model mobilenet1.0 --num-epochs 200 --lr-mode cosine --warmup-epochs 5 --dtype float16
       --no-wd --label-smoothing 0.1 --mixup --mixup-alpha 0.2)

source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"
run_recipe "$@"
