#!/usr/bin/env bash
# Table 6, Inception-V3 (inceptionv3), row "Efficient": paper top-1/top-5 77.50 / 93.60.
# Paper §5.5: the efficient setting of §3 (batch 1024, lr 0.4, FP16, 5 warmup epochs, zero γ, no
# bias decay, ÷10 at 30/60/90, 120 epochs). No --last-gamma: Inception-V3 has no residual blocks
# (see table3). Input 299 (the train command's default for inceptionv3).
# Environment: DATA_DIR GPUS SAVE_DIR GLUON_TRICKS (see recipes/common.sh).
# Extra arguments go last to `gluon-tricks train` and win (--print-config, --num-epochs 1,
# --cpus 1 --batch-size 8, ...); see recipes/README.md.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"
run_recipe "$@"
