"""Make MXNet 1.9.1 importable: NumPy aliases it still uses, and the CUDA 11 libraries of its CUDA build.

This is the one place either is done; the package's ``__init__`` imports it before any module
imports ``mxnet``.

* NumPy 1.24-1.26 (Python 3.12) removed aliases MXNet uses; they are restored. On NumPy < 1.24
  this changes nothing.
* ``mxnet-cu112``'s ``libmxnet.so`` links cuDNN 8, cuBLAS, NCCL, … by soname, and the
  ``nvidia-*-cu11`` wheels of the ``[gpu]`` extra put those in ``site-packages/nvidia/*/lib``,
  where the loader never looks. Each one that the system cannot load already (a system CUDA 11
  install wins) is preloaded from the wheel with ``RTLD_GLOBAL``, dependencies first, so that
  ``import mxnet`` then finds it by soname. With the CPU build (``mxnet``) nothing is loaded.
  ``libcuda.so.1`` is the NVIDIA driver's and is never shipped or preloaded.
"""
import ctypes
import importlib.metadata
import importlib.util
import os
import sys

import numpy as np

_REMOVED_ALIASES = {"bool": bool, "int": int, "float": float, "complex": complex,
                    "object": object, "str": str}

for _name, _type in _REMOVED_ALIASES.items():
    if _name not in np.__dict__:
        setattr(np, _name, _type)

# (wheel folder under site-packages/nvidia, soname), each after the libraries it links.
CUDA_LIBRARIES = (
    ("cuda_runtime", "libcudart.so.11.0"),
    ("cuda_nvrtc", "libnvrtc.so.11.2"),
    ("nvtx", "libnvToolsExt.so.1"),
    ("cublas", "libcublasLt.so.11"),
    ("cublas", "libcublas.so.11"),
    ("cufft", "libcufft.so.10"),
    ("curand", "libcurand.so.10"),
    ("cusolver", "libcusolver.so.11"),
    ("nccl", "libnccl.so.2"),
    ("cudnn", "libcudnn_ops_infer.so.8"),
    ("cudnn", "libcudnn_ops_train.so.8"),
    ("cudnn", "libcudnn_cnn_infer.so.8"),
    ("cudnn", "libcudnn_cnn_train.so.8"),
    ("cudnn", "libcudnn_adv_infer.so.8"),
    ("cudnn", "libcudnn_adv_train.so.8"),
    ("cudnn", "libcudnn.so.8"),
)


def _cuda_build_installed():
    try:
        importlib.metadata.distribution("mxnet-cu112")
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def _wheel_roots():
    """The ``site-packages/nvidia`` folders (a namespace package, so possibly several)."""
    try:
        spec = importlib.util.find_spec("nvidia")
    except (ImportError, ValueError):
        return []
    return list(spec.submodule_search_locations or []) if spec else []


def wheel_library_dirs():
    """The wheels' library folders of ``CUDA_LIBRARIES`` that exist here: what to put on
    ``LD_LIBRARY_PATH`` for a process that imports ``mxnet`` without this module (e.g. a build)."""
    dirs = []
    for root in _wheel_roots():
        for folder in dict.fromkeys(folder for folder, _ in CUDA_LIBRARIES):
            path = os.path.join(root, folder, "lib")
            if os.path.isdir(path) and path not in dirs:
                dirs.append(path)
    return dirs


def preload_cuda_libraries():
    """Load each CUDA 11 library of ``CUDA_LIBRARIES``: from the system if it has it, else from
    its wheel. Returns the paths loaded from wheels (empty for the CPU build)."""
    if "mxnet" in sys.modules or not _cuda_build_installed():
        return []
    roots = _wheel_roots()
    loaded = []
    for folder, soname in CUDA_LIBRARIES:
        try:
            ctypes.CDLL(soname, mode=ctypes.RTLD_GLOBAL)
            continue
        except OSError:
            pass
        for root in roots:
            path = os.path.join(root, folder, "lib", soname)
            if os.path.exists(path):
                ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
                loaded.append(path)
                break
    return loaded


preload_cuda_libraries()
