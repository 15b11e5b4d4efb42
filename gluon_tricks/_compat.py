"""Make MXNet 1.9.1 importable: NumPy aliases it still uses, and the CUDA 11 libraries of its CUDA build.

This is the one place either is done; the package's ``__init__`` imports it before any module
imports ``mxnet``.

* NumPy 1.24-1.26 removed aliases MXNet uses (``np.bool``, ...); they are restored. On NumPy
  < 1.24 this changes nothing.
* ``mxnet-cu112``'s ``libmxnet.so`` links cuDNN 8, cuBLAS, NCCL, … by soname, and the
  ``nvidia-*-cu11`` wheels of the ``[gpu]`` extra put those in ``site-packages/nvidia/*/lib``,
  where the loader never looks. They are preloaded with ``RTLD_GLOBAL``, dependencies first, so
  that ``import mxnet`` then finds them by soname, all from the wheels or none:
  - only when the ``libmxnet.so`` that ``import mxnet`` will load links CUDA 11 sonames (read
    from its ELF file): MXNet's CPU build, a CUDA 12 build (NGC's container, a source build)
    and anything else get nothing, so a CUDA 12 / cuDNN 9 MXNet never meets a CUDA 11 library;
  - not when the system's loader already finds every one of them that ``libmxnet.so`` links (a
    CUDA 11 install with cuDNN 8 and NCCL): then they all come from the system. A system that
    has only some of them gets all from the wheels (the wheels' copies win by soname), so the
    CUDA 11 libraries of one process always come from one place.
  ``libcuda.so.1`` is the NVIDIA driver's and is never shipped or preloaded.
"""
import ctypes
import functools
import importlib.util
import os
import shutil
import subprocess
import sys

import numpy as np

from . import elf

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


# A libmxnet.so that links this is a CUDA 11 build (NCCL's and NVTX's sonames are the same for
# CUDA 12, so they tell nothing).
CUDA_11_RUNTIME = "libcudart.so.11.0"


def mxnet_library():
    """The ``libmxnet.so`` that ``import mxnet`` will load, found by MXNet's own search
    (``mxnet/libinfo.py``: ``MXNET_LIBRARY_PATH``, ``LD_LIBRARY_PATH``, the package folder, ...)
    without importing MXNet; None if MXNet is not installed."""
    try:
        spec = importlib.util.find_spec("mxnet")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    info = os.path.join(list(spec.submodule_search_locations)[0], "libinfo.py")
    loader = importlib.util.spec_from_file_location("_mxnet_libinfo", info)
    libinfo = importlib.util.module_from_spec(loader)
    try:
        loader.loader.exec_module(libinfo)
        return os.path.realpath(libinfo.find_lib_path()[0])
    except (OSError, RuntimeError, IndexError):
        return None


def loader_finds(soname):
    """True if the dynamic loader would find ``soname`` on its own: in ``LD_LIBRARY_PATH`` or
    in its cache (``ldconfig -p``). Nothing is loaded to find out."""
    folders = [d for d in os.environ.get("LD_LIBRARY_PATH", "").split(os.pathsep) if d]
    return (any(os.path.exists(os.path.join(d, soname)) for d in folders)
            or soname in _loader_cache())


@functools.lru_cache(maxsize=1)
def _loader_cache():
    """The sonames in the loader's cache, as ``ldconfig -p`` lists them (empty if it cannot)."""
    ldconfig = shutil.which("ldconfig") or next(
        (p for p in ("/sbin/ldconfig", "/usr/sbin/ldconfig") if os.path.exists(p)), None)
    try:
        listing = subprocess.run([ldconfig, "-p"], capture_output=True, text=True, timeout=30,
                                 check=False).stdout if ldconfig else ""
    except (OSError, subprocess.SubprocessError):
        listing = ""
    return frozenset(line.split(None, 1)[0] for line in listing.splitlines()[1:] if line.strip())


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
    """Load every library of ``CUDA_LIBRARIES`` from its wheel when MXNet's library links CUDA
    11 and the system does not provide it (see the module's docstring). Returns the paths
    loaded (empty when nothing was)."""
    if "mxnet" in sys.modules:
        return []
    library = mxnet_library()
    links = set(elf.needed(library)) if library else set()
    if CUDA_11_RUNTIME not in links:
        return []
    if all(loader_finds(soname) for _, soname in CUDA_LIBRARIES if soname in links):
        return []
    roots = _wheel_roots()
    loaded = []
    for folder, soname in CUDA_LIBRARIES:
        for root in roots:
            path = os.path.join(root, folder, "lib", soname)
            if os.path.exists(path):
                ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
                loaded.append(path)
                break
    return loaded


preload_cuda_libraries()
