#!/usr/bin/env bash
# Create ./.venv and install gluon-tricks with everything it uses: MXNet 1.9.1, GluonCV, OpenCV,
# the test tools and Horovod (built from source against the installed MXNet, ~8 minutes the
# first time; pip caches the wheel afterwards).
#   bash tools/install.sh            CPU MXNet (mxnet==1.9.1)
#   bash tools/install.sh --gpu      CUDA 11.2 MXNet (mxnet-cu112==1.9.1) and the CUDA 11 runtime
#                                    wheels it links (cuDNN 8, NCCL, ...); only the NVIDIA driver is
#                                    needed besides. gluon_tricks preloads those libraries.
#   bash tools/install.sh --no-horovod
# Environment: PYTHON (interpreter for the venv, default python3), VENV (default .venv).
set -euo pipefail
cd "$(dirname "$0")/.."

flavor=cpu
horovod=1
for arg in "$@"; do
  case "$arg" in
    --gpu) flavor=gpu ;;
    --no-horovod) horovod=0 ;;
    *) echo "install.sh: unknown option '$arg' (use --gpu and/or --no-horovod)" >&2; exit 2 ;;
  esac
done

venv=${VENV:-.venv}
[ -x "$venv/bin/python" ] || "${PYTHON:-python3}" -m venv "$venv"
pip=("$venv/bin/python" -m pip --disable-pip-version-check)
"${pip[@]}" install -q --upgrade "pip<25" wheel "setuptools<70" "cmake<4"
"${pip[@]}" install -q -c constraints.txt -e ".[$flavor,test]"
driver=1
if [ "$flavor" = gpu ] && ! "$venv/bin/python" -c "import ctypes; ctypes.CDLL('libcuda.so.1')" 2>/dev/null; then
  driver=0
fi
if [ "$horovod" = 1 ] && [ "$driver" = 0 ]; then
  echo "install.sh: no NVIDIA driver (libcuda.so.1) here, so MXNet's CUDA build cannot be imported and Horovod, which is built against it, was skipped; run this again where the driver is" >&2
elif [ "$horovod" = 1 ]; then
  echo "install.sh: installing Horovod with MXNet and Gloo (a source build: minutes the first time)" >&2
  build_env=()
  if [ "$flavor" = gpu ]; then
    # Horovod's build imports mxnet directly, so the CUDA wheels' folders go on the loader path,
    # and pip's cached Horovod wheel may have been built against the CPU MXNet: build afresh.
    build_env=(LD_LIBRARY_PATH="$("$venv/bin/python" -c "import gluon_tricks._compat as c; print(':'.join(c.wheel_library_dirs()))")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
               PIP_NO_CACHE_DIR=1)
  fi
  env "${build_env[@]}" HOROVOD_WITH_MXNET=1 HOROVOD_WITHOUT_TENSORFLOW=1 HOROVOD_WITHOUT_PYTORCH=1 \
    HOROVOD_WITH_GLOO=1 HOROVOD_WITHOUT_MPI=1 \
    "${pip[@]}" install -q --no-build-isolation -c constraints.txt -e ".[$flavor,horovod]"
fi
if [ "$driver" = 0 ]; then
  # Check that every CUDA 11 library but the driver's loads from the wheels.
  "$venv/bin/python" -c "import ctypes, gluon_tricks._compat as c; [ctypes.CDLL(so) for _, so in c.CUDA_LIBRARIES]"
  echo "install.sh: no NVIDIA driver (libcuda.so.1) on this machine: MXNet's CUDA build is installed but imports only where the driver is" >&2
else
  "$venv/bin/gluon-tricks" --help > /dev/null
fi
echo "install.sh: ready; commands are in $venv/bin (gluon-tricks, python)" >&2
