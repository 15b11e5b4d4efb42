#!/usr/bin/env bash
# Table 8, row "+ smooth": Faster R-CNN on VOC 2007+2012 trainval, VOC 2007 test mAP 80.71
# (backbone ImageNet top-1 78.34). Paper §6.1.
# Backbone: ResNet-50-D, + label smoothing (§5.2):
# the best checkpoint of recipes/table6/resnet50d-label-smoothing.sh (resnet50_v1d).
# Detector settings: gluon-tricks detect's defaults, GluonCV's faster_rcnn_resnet50_v1b_voc run
# (4 GPUs, one image each, lr 0.001, 20 epochs, ÷10 at 14) with the paper's linear warmup.
# Environment (all optional): DATA_ROOT (VOCdevkit, default $HOME/.mxnet/datasets/voc),
# BACKBONE_PARAMS (default runs/table6/resnet50d-label-smoothing/checkpoints/best/model.params), GPUS (default 0,1,2,3;
# GPUS= for none, then pass --cpus N), SAVE_DIR (default runs/table8/label-smoothing), GLUON_TRICKS.
# Extra arguments go last to `gluon-tricks detect` and win (--print-config, --num-epochs 1, ...).
set -euo pipefail

BACKBONE_PARAMS=${BACKBONE_PARAMS:-runs/table6/resnet50d-label-smoothing/checkpoints/best/model.params}
GPUS=${GPUS-0,1,2,3}
exec ${GLUON_TRICKS:-gluon-tricks} detect --backbone resnet50_v1d --backbone-params "$BACKBONE_PARAMS" \
    --data-root "${DATA_ROOT:-$HOME/.mxnet/datasets/voc}" ${GPUS:+--gpus "$GPUS"} \
    --save-dir "${SAVE_DIR:-runs/table8/label-smoothing}" "$@"
