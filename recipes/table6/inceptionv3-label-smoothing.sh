#!/usr/bin/env bash
# Table 6, Inception-V3 (inceptionv3), row "+ label smoothing": paper top-1/top-5 78.40 / 94.13.
# Paper §5.5: efficient + cosine + label smoothing ε = 0.1 (§5.2), 120 epochs. No --last-gamma:
# Inception-V3 has no residual blocks (see table3). Input 299 (the train command's default for
# inceptionv3).
# Environment: DATA_DIR GPUS SAVE_DIR GLUON_TRICKS (see recipes/common.sh).
# Extra arguments go last to `gluon-tricks train` and win (--print-config, --num-epochs 1,
# --cpus 1 --batch-size 8, ...); see recipes/README.md.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"
run_recipe "$@"
