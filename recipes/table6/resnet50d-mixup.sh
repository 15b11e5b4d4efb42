#!/usr/bin/env bash
# Table 6, ResNet-50-D (resnet50_v1d), row "+ mixup w/o distill": paper top-1/top-5 79.15 / 94.58.
# Paper §5.5: efficient + cosine + label smoothing + mixup α = 0.2 (§5.4), 200 epochs.
# Environment: DATA_DIR GPUS SAVE_DIR GLUON_TRICKS (defaults in recipes/common.sh).
# Extra arguments go last to `gluon-tricks train` and win (--print-config, --num-epochs 1,
# --cpus 1 --batch-size 8, ...); see recipes/README.md.
set -euo pipefail

TOTAL_BATCH=1024
LR_PER_256=0.1
FLAGS=(--model resnet50_v1d --num-epochs 200 --lr-mode cosine --warmup-epochs 5 --dtype float16
       --last-gamma --no-wd --label-smoothing 0.1 --mixup --mixup-alpha 0.2)

source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"
run_recipe "$@"
