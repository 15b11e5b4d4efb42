# recipes/common.sh: sourced by every recipe; not meant to be run on its own.
#
# Each recipe is one row of the paper's tables, defined once in Python (gluon_tricks/recipes.py;
# `gluon-tricks recipes` lists them). A script documents the environment and runs
#   gluon-tricks train --recipe <table>/<row> [environment as flags] "$@"
# The train command splits the paper's total batch over the devices (unless --batch-size is
# given) and applies the linear scaling rule lr = 0.1 × total batch / 256 (unless --lr is given);
# arguments given to the script go last and win.
#
# Environment a user may set (all optional):
#   DATA_DIR        folder holding train.rec/.idx and val.rec/.idx
#                   (default $HOME/.mxnet/datasets/imagenet/rec; Table 7: .../places365/rec)
#   GPUS            GPU ids (default 0,1,2,3,4,5,6,7: the paper's 8 GPUs); GPUS= (empty) trains on
#                   one CPU context; a --gpus/--cpus/--num-gpus argument replaces it
#   MAX_DEVICE_BATCH  most images a device holds at once: a larger share of the paper's total
#                   batch is accumulated over micro-batches (--max-device-batch; same total batch)
#   SAVE_DIR        run folder (default runs/<table>/<row>, relative to the current directory)
#   TEACHER_PARAMS  distillation rows: teacher weights (default
#                   runs/table6/<teacher row>/checkpoints/best/model.params)
#   GLUON_TRICKS    the command to run (default gluon-tricks; e.g. "python -m gluon_tricks")

run_recipe() {
    local row cmd args=()
    row=$(basename "$(dirname "$0")")/$(basename "$0" .sh)
    args+=(--data-dir "${DATA_DIR:-$HOME/.mxnet/datasets/${DATASET:-imagenet}/rec}")
    [[ -n ${SAVE_DIR:-} ]] && args+=(--save-dir "$SAVE_DIR")
    if [[ -n ${GPUS+set} ]]; then
        if [[ -n $GPUS ]]; then args+=(--gpus "$GPUS"); else args+=(--cpus 1); fi
    fi
    [[ -n ${MAX_DEVICE_BATCH:-} ]] && args+=(--max-device-batch "$MAX_DEVICE_BATCH")
    [[ $row == *distill* && -n ${TEACHER_PARAMS:-} ]] && args+=(--teacher-params "$TEACHER_PARAMS")
    read -r -a cmd <<<"${GLUON_TRICKS:-gluon-tricks}"
    if ((${#cmd[@]} == 0)) || ! command -v "${cmd[0]}" >/dev/null; then
        echo "$0: ${cmd[0]:-GLUON_TRICKS} not found; install the package (bash tools/install.sh) or set GLUON_TRICKS=\"python -m gluon_tricks\"" >&2
        exit 2
    fi
    exec "${cmd[@]}" train --recipe "$row" "${args[@]}" "$@"
}
