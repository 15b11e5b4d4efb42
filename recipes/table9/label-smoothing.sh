#!/usr/bin/env bash
# Table 9, row "+ smooth": FCN on ADE20K, validation pixAcc / mIoU 78.64 / 38.75
# (backbone ImageNet top-1 78.34). Paper §6.2: stages 3-4 dilated.
# Backbone: ResNet-50-D, + label smoothing (§5.2):
# the best checkpoint of recipes/table6/resnet50d-label-smoothing.sh (resnet50_v1d).
# FCN settings: gluon-tricks segment's defaults, GluonCV's fcn_resnet50_ade run (4 GPUs, batch
# 16, lr 0.01 poly, 50 epochs, crop 480, auxiliary head), single-scale evaluation.
# Environment (all optional): DATA_ROOT (default $HOME/.mxnet/datasets/ade/ADEChallengeData2016),
# BACKBONE_PARAMS (default runs/table6/resnet50d-label-smoothing/checkpoints/best/model.params), GPUS (default 0,1,2,3;
# GPUS= for none, then pass --cpus N), SAVE_DIR (default runs/table9/label-smoothing), GLUON_TRICKS.
# Extra arguments go last to `gluon-tricks segment` and win (--print-config, --multi-scale, ...).
set -euo pipefail

BACKBONE_PARAMS=${BACKBONE_PARAMS:-runs/table6/resnet50d-label-smoothing/checkpoints/best/model.params}
GPUS=${GPUS-0,1,2,3}
exec ${GLUON_TRICKS:-gluon-tricks} segment --backbone resnet50_v1d --backbone-params "$BACKBONE_PARAMS" \
    --data-root "${DATA_ROOT:-$HOME/.mxnet/datasets/ade/ADEChallengeData2016}" ${GPUS:+--gpus "$GPUS"} \
    --save-dir "${SAVE_DIR:-runs/table9/label-smoothing}" "$@"
