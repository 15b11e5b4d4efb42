#!/usr/bin/env bash
# CI's stand-in for NVIDIA's NGC MXNet container (README "On GPUs"), as far as a machine without
# a GPU goes. A Python 3.10 virtualenv (.venv-ngc; the container has Python 3.10) first gets what
# the container ships, installed before gluon-tricks as there:
#   MXNet 1.9.1       the CPU build here (the container's is NVIDIA's CUDA 12.4 / cuDNN 9 build)
#   NumPy < 1.24      MXNet 1.9.1 from PyPI imports only with it (np.bool); NGC's release notes
#                     do not name the container's NumPy
#   Horovod 0.28.1    built from source against that MXNet, with Gloo (the container's: NCCL, MPI)
#   DALI 1.34.0       nvidia-dali-cuda110, the newest real DALI wheel on the index, with its MXNet
#                     plugin (24.05/24.06 ship DALI 1.37.1 for CUDA 12)
# Then, with that virtualenv as the current Python, the README's command for the container
# (SYSTEM_COMMAND, default: bash tools/install.sh --system); then the pip freeze of MXNet,
# Horovod, DALI, NumPy and CUDA packages must equal the one before; then gluon-tricks doctor,
# a short training on the CPU (one process, then two Horovod ranks), eval of it, and a short demo.
# Environment: PYTHON (a Python 3.10; default: python3.10, else pyenv's), VENV (default .venv-ngc).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
system_command=${SYSTEM_COMMAND:-bash tools/install.sh --system}
venv=${VENV:-.venv-ngc}
marker=$venv/.made-by-simulate_ngc
say() { echo "simulate_ngc.sh: $*" >&2; }

python=${PYTHON:-}
if [ -z "$python" ]; then
  if python3.10 -c "" 2>/dev/null; then
    python=python3.10
  else
    python=$(ls -d "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.10*/bin/python3.10 2>/dev/null | tail -1)
  fi
fi
[ -n "$python" ] && "$python" -c "import sys; assert sys.version_info[:2] == (3, 10)" 2>/dev/null || {
  say "no Python 3.10 found (the container's); install one or pass PYTHON=/path/to/python3.10"; exit 2; }
if [ -e "$venv" ] && [ ! -e "$marker" ]; then
  say "$venv exists and was not made by this script; move it away or pass VENV=another-folder"; exit 2
fi

start=$SECONDS
rm -rf "$venv"
"$python" -m venv "$venv"
touch "$marker"
pip=("$venv/bin/python" -m pip --disable-pip-version-check --quiet)
"${pip[@]}" install --upgrade "pip<25" wheel "setuptools<70" "cmake<4"
say "the container's contents: MXNet 1.9.1, NumPy < 1.24, Horovod 0.28.1 (a source build: minutes the first time), DALI"
"${pip[@]}" install -c constraints.txt mxnet==1.9.1 numpy
# Horovod's own dependencies first: its setup_requires would fetch them outside pip's resolver.
"${pip[@]}" install -c constraints.txt cffi cloudpickle psutil pyyaml packaging
env HOROVOD_WITH_MXNET=1 HOROVOD_WITHOUT_TENSORFLOW=1 HOROVOD_WITHOUT_PYTORCH=1 HOROVOD_WITH_GLOO=1 \
  HOROVOD_WITHOUT_MPI=1 "${pip[@]}" install --no-build-isolation -c constraints.txt horovod
"${pip[@]}" install nvidia-dali-cuda110==1.34.0
say "container made in $((SECONDS - start)) s"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$venv/bin/python" tools/system_install.py --freeze > "$work/before.txt"
(
  # As in the container: the stand-in's python3 is the current Python (PYTHON named the one
  # that made the virtualenv, not the one to install into).
  unset PYTHON
  export VIRTUAL_ENV=$repo/$venv PATH=$repo/$venv/bin:$PATH
  hash -r
  eval "$system_command"
)
"$venv/bin/python" tools/system_install.py --freeze > "$work/after.txt"
if ! diff "$work/before.txt" "$work/after.txt" >&2; then
  say "the --system install changed the packages above"; exit 1
fi
say "pip freeze of MXNet, Horovod, DALI, NumPy and CUDA packages unchanged: $(paste -sd' ' "$work/before.txt")"

cd "$work"
bin=$repo/$venv/bin
"$bin/gluon-tricks" doctor
"$bin/gluon-tricks" make-demo-data data --classes 3 --train-per-class 16 --val-per-class 8 --threads 2
tiny=(--model resnet18_v1b --input-size 32 --batch-size 8 --threads 1 --num-epochs 2 --batches-per-epoch 3)
"$bin/gluon-tricks" train --data-dir data --save-dir run --cpus 2 "${tiny[@]}"
"$bin/horovodrun" --gloo -np 2 -H localhost:2 "$bin/gluon-tricks" train --kvstore horovod --cpus 1 \
  --data-dir data --save-dir hvd-run "${tiny[@]}"
"$bin/gluon-tricks" eval run
"$bin/gluon-tricks" demo --out demo --epochs 1 --train-per-class 24 --val-per-class 8 --input-size 32 \
  --batch-size 16 --threads 2
say "done in $((SECONDS - start)) s"
