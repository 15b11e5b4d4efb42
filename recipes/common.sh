# recipes/common.sh: sourced by every recipe; not meant to be run on its own.
#
# A recipe sets these, then sources this file and calls `run_recipe "$@"`:
#   TOTAL_BATCH   the paper's batch over all devices (256 or 1024)
#   LR_PER_256    learning rate per 256 images; the train command applies the linear scaling
#                 rule (paper §3.1): lr = LR_PER_256 × total batch / 256 (0.1 → 0.1 at 256, 0.4 at 1024)
#   FLAGS         array: the row's own `gluon-tricks train` flags
#   DATASET       imagenet (default) or places365 (only changes the DATA_DIR default)
#   TEACHER_RUN   distillation rows: the table6 teacher recipe whose best checkpoint is the
#                 default TEACHER_PARAMS
#
# Environment a user may set (all optional):
#   DATA_DIR        folder holding train.rec/.idx and val.rec/.idx
#                   (default $HOME/.mxnet/datasets/imagenet/rec, or .../places365/rec)
#   GPUS            GPU ids (default 0,1,2,3,4,5,6,7: the paper's 8 GPUs); GPUS= (empty) trains on
#                   one CPU context
#   SAVE_DIR        run folder (default runs/<table>/<row>, relative to the current directory)
#   TEACHER_PARAMS  distillation rows: teacher weights (default
#                   runs/table6/<teacher recipe>/checkpoints/best/model.params)
#   GLUON_TRICKS    the command to run (default gluon-tricks; e.g. "python -m gluon_tricks")
#
# Devices and batch: the per-device batch is TOTAL_BATCH / number of devices, so the run keeps
# the paper's total batch and learning rate. The devices counted are those of a --gpus/--cpus
# argument when the user passes one (it then replaces GPUS), else GPUS, else one CPU. A user
# --batch-size (images per device) is used as given, and the learning rate then follows the
# linear scaling rule for the resulting total batch; a user --lr replaces LR_PER_256.
# With --kvstore horovod or dist_* the world size multiplies the batch: pass --batch-size there.

# Paper §2.1, shared by every table: NAG (the train command's optimiser) with momentum 0.9,
# Xavier initialisation, the paper's augmentation, step factor ÷10, the paper's label-smoothing
# formula (eq. 4, used by the rows that smooth). Weight decay 1e-4 is GluonCV's default: the
# paper gives none.
PAPER_COMMON=(--init xavier --aug paper --momentum 0.9 --wd 1e-4 --lr-decay 0.1
              --smoothing-style paper)

_recipe_die() {
    echo "$0: $*" >&2
    exit 2
}

# _recipe_flag NAME ARGS...: print the last value given to --NAME (--NAME V or --NAME=V) in ARGS;
# exit status 1 when ARGS has no --NAME.
_recipe_flag() {
    local name=$1 value="" found=1
    shift
    while (($#)); do
        case $1 in
            "--$name")
                found=0
                if (($# >= 2)); then value=$2; shift; else value=""; fi ;;
            "--$name="*)
                found=0
                value=${1#*=} ;;
        esac
        shift
    done
    if ((found == 0)); then printf '%s\n' "$value"; fi
    return $found
}

# _recipe_count_ids "0,1,2" → 3
_recipe_count_ids() {
    local n=0 id
    local IFS=,
    for id in $1; do
        [[ -n ${id//[[:space:]]/} ]] && n=$((n + 1))
    done
    echo "$n"
}

run_recipe() {
    local table row default_data devices value
    row=$(basename "$0" .sh)
    table=$(basename "$(dirname "$0")")
    : "${TOTAL_BATCH:?recipe must set TOTAL_BATCH}" "${LR_PER_256:?recipe must set LR_PER_256}"
    case ${DATASET:-imagenet} in
        imagenet) default_data=$HOME/.mxnet/datasets/imagenet/rec ;;
        places365) default_data=$HOME/.mxnet/datasets/places365/rec ;;
        *) _recipe_die "unknown DATASET ${DATASET} (imagenet or places365)" ;;
    esac
    DATA_DIR=${DATA_DIR:-$default_data}
    GPUS=${GPUS-0,1,2,3,4,5,6,7}
    SAVE_DIR=${SAVE_DIR:-runs/$table/$row}
    GLUON_TRICKS=${GLUON_TRICKS:-gluon-tricks}

    local args=("${FLAGS[@]}" "${PAPER_COMMON[@]}" --data-dir "$DATA_DIR" --save-dir "$SAVE_DIR")
    if [[ -n ${TEACHER_RUN:-} ]]; then
        TEACHER_PARAMS=${TEACHER_PARAMS:-runs/table6/$TEACHER_RUN/checkpoints/best/model.params}
        args+=(--teacher-params "$TEACHER_PARAMS")
    fi

    # Devices: a --gpus/--cpus argument replaces GPUS (the train command refuses both together).
    if value=$(_recipe_flag gpus "$@"); then
        devices=$(_recipe_count_ids "$value")
    elif value=$(_recipe_flag cpus "$@"); then
        devices=$value
    elif [[ -n $GPUS ]]; then
        args+=(--gpus "$GPUS")
        devices=$(_recipe_count_ids "$GPUS")
    else
        devices=1
    fi

    # Per-device batch from the paper's total, unless the user gives --batch-size.
    if ! _recipe_flag batch-size "$@" >/dev/null; then
        if [[ $devices =~ ^[0-9]+$ ]] && ((devices > 0)); then
            if ((TOTAL_BATCH % devices)); then
                _recipe_die "the paper's total batch $TOTAL_BATCH does not divide evenly over $devices devices; use a device count that divides it or pass --batch-size N (images per device)"
            fi
            args+=(--batch-size $((TOTAL_BATCH / devices)))
        fi  # else: a bad --cpus/--gpus value, which the train command reports
    fi

    # Learning rate: the linear scaling rule, unless the user gives --lr.
    if ! _recipe_flag lr "$@" >/dev/null; then
        args+=(--lr-per-256 "$LR_PER_256")
    fi

    local cmd
    read -r -a cmd <<<"$GLUON_TRICKS"
    ((${#cmd[@]})) || _recipe_die "GLUON_TRICKS is empty"
    command -v "${cmd[0]}" >/dev/null ||
        _recipe_die "${cmd[0]} not found; install the package (bash tools/install.sh) or set GLUON_TRICKS=\"python -m gluon_tricks\""
    {
        printf '+'
        local word
        for word in "${cmd[@]}" train "${args[@]}" "$@"; do
            if [[ $word =~ ^[[:alnum:]_./,:=+@%-]+$ ]]; then printf ' %s' "$word"; else printf ' %q' "$word"; fi
        done
        printf '\n'
    } >&2
    exec "${cmd[@]}" train "${args[@]}" "$@"
}
