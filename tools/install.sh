#!/usr/bin/env bash
# Create ./.venv and install gluon-tricks with everything it uses: MXNet 1.9.1, GluonCV, OpenCV,
# NVIDIA DALI (--data-backend dali-*; a 500 MB wheel, the same in both flavours), the test tools
# and Horovod (built from source against the installed MXNet, ~8 minutes the
# first time; pip caches the wheel afterwards). With --gpu, Horovod (with NCCL) is built only
# where the NVIDIA driver is and HOROVOD_CUDA_HOME names a CUDA 11 toolkit: its CUDA kernels
# need nvcc.
#   bash tools/install.sh            CPU MXNet (mxnet==1.9.1)
#   bash tools/install.sh --gpu      CUDA 11.2 MXNet (mxnet-cu112==1.9.1) and the CUDA 11 runtime
#                                    wheels it links (cuDNN 8, NCCL, ...); only the NVIDIA driver is
#                                    needed besides. gluon_tricks preloads those libraries.
#   bash tools/install.sh --no-horovod
#   bash tools/install.sh --system   into the current Python (PYTHON, default python3), which
#                                    already has MXNet: NGC's MXNet container (Hopper) or an MXNet
#                                    built from source. No venv; MXNet, Horovod, DALI, NumPy and
#                                    CUDA packages there are never replaced (tools/system_install.py).
# Environment: PYTHON (interpreter for the venv, default python3), VENV (default .venv).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = --system ]; then
  [ $# = 1 ] || { echo "install.sh: --system takes no other option" >&2; exit 2; }
  exec "${PYTHON:-python3}" tools/system_install.py
fi

flavor=cpu
horovod=1
for arg in "$@"; do
  case "$arg" in
    --gpu) flavor=gpu ;;
    --no-horovod) horovod=0 ;;
    *) echo "install.sh: unknown option '$arg' (use --gpu and/or --no-horovod, or --system alone)" >&2; exit 2 ;;
  esac
done

venv=${VENV:-.venv}
[ -x "$venv/bin/python" ] || "${PYTHON:-python3}" -m venv "$venv"
pip=("$venv/bin/python" -m pip --disable-pip-version-check)
"${pip[@]}" install -q --upgrade "pip<25" wheel "setuptools<70" "cmake<4"
"${pip[@]}" install -q -c constraints.txt -e ".[$flavor,test,dali]"
driver=1
if [ "$flavor" = gpu ] && ! "$venv/bin/python" -c "import ctypes; ctypes.CDLL('libcuda.so.1')" 2>/dev/null; then
  driver=0
fi
hvd=(HOROVOD_WITH_MXNET=1 HOROVOD_WITHOUT_TENSORFLOW=1 HOROVOD_WITHOUT_PYTORCH=1 HOROVOD_WITH_GLOO=1
     HOROVOD_WITHOUT_MPI=1)
if [ "$horovod" = 0 ]; then
  :
elif [ "$flavor" = cpu ]; then
  echo "install.sh: installing Horovod with MXNet and Gloo (a source build: minutes the first time)" >&2
  env "${hvd[@]}" "${pip[@]}" install -q --no-build-isolation -c constraints.txt -e ".[cpu,horovod]"
elif [ "$driver" = 0 ] || [ -z "${HOROVOD_CUDA_HOME:-}" ]; then
  # Horovod's MXNet part imports mxnet and, for MXNet's CUDA build, compiles CUDA kernels: it
  # needs the driver and the CUDA 11 toolkit (nvcc), which no pip wheel ships.
  echo "install.sh: Horovod skipped: for MXNet's CUDA build it needs the NVIDIA driver and the CUDA 11 toolkit; run this again where both are, with HOROVOD_CUDA_HOME=/usr/local/cuda-11.x" >&2
else
  echo "install.sh: building Horovod with MXNet, Gloo and NCCL against $HOROVOD_CUDA_HOME (minutes)" >&2
  nccl=$("$venv/bin/python" -c "import os, nvidia.nccl as n; print(os.path.dirname(n.__file__))")
  nccl_lib=$(mktemp -d)
  trap 'rm -rf "$nccl_lib"' EXIT
  ln -s "$nccl/lib/libnccl.so.2" "$nccl_lib/libnccl.so"
  # The build imports mxnet directly (the wheels' folders go on the loader path), and pip's cached
  # Horovod wheel may have been built against the CPU MXNet, so it is built afresh.
  env "${hvd[@]}" HOROVOD_GPU_OPERATIONS=NCCL HOROVOD_NCCL_INCLUDE="$nccl/include" \
    HOROVOD_NCCL_LIB="$nccl_lib" HOROVOD_NCCL_LINK=SHARED PIP_NO_CACHE_DIR=1 \
    LD_LIBRARY_PATH="$("$venv/bin/python" -c "import gluon_tricks._compat as c; print(':'.join(c.wheel_library_dirs()))")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
    "${pip[@]}" install -q --no-build-isolation -c constraints.txt -e ".[gpu,horovod]"
fi
if [ "$driver" = 0 ]; then
  # Check that every CUDA 11 library but the driver's loads from the wheels.
  "$venv/bin/python" -c "import ctypes, gluon_tricks._compat as c; [ctypes.CDLL(so) for _, so in c.CUDA_LIBRARIES]"
  echo "install.sh: no NVIDIA driver (libcuda.so.1) on this machine: MXNet's CUDA build is installed but imports only where the driver is" >&2
else
  "$venv/bin/gluon-tricks" --help > /dev/null
fi
echo "install.sh: ready; commands are in $venv/bin (gluon-tricks, python)" >&2
