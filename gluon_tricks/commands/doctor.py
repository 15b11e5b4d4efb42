"""``gluon-tricks doctor``: what this environment trains with, in one screen: MXNet's build and
the GPU code it carries, the CUDA libraries it loaded and where from, the NVIDIA driver and each
GPU (covered by this build or not, and the route if not), Horovod and its operations, DALI."""
import ctypes
import importlib
import importlib.metadata
import os
import platform
import sys

import mxnet as mx
import numpy as np

from .. import __version__, gpu_arch

NAME = "doctor"
HELP = ("print MXNet's build and GPU code, the CUDA libraries and driver it uses, each GPU and "
        "whether this MXNet runs on it, Horovod and DALI (exit 1 if a GPU is not covered)")

FEATURES = ("CUDA", "CUDNN", "NCCL", "CUDA_RTC", "TENSORRT", "CUTENSOR", "MKLDNN", "OPENCV",
            "DIST_KVSTORE")


def _version(getter, decode):
    """Call a C ``getter`` of a version; its decoded text, or "version unknown"."""
    try:
        value = getter()
    except (AttributeError, OSError):
        return "version unknown"
    return decode(value) if value is not None else "version unknown"


def _int_out(function):
    value = ctypes.c_int()
    return value.value if function(ctypes.byref(value)) == 0 else None


def _cudnn(v):      # cuDNN 8: major·1000 + minor·100 + patch; cuDNN 9: major·10000 + minor·100 + patch
    return "%d.%d.%d" % ((v // 10000, v % 10000 // 100, v % 100) if v >= 90000
                         else (v // 1000, v % 1000 // 100, v % 100))


def _nccl(v):       # NCCL ≥ 2.9: major·10000 + minor·100 + patch
    return "%d.%d.%d" % ((v // 10000, v % 10000 // 100, v % 100) if v >= 20900
                         else (v // 1000, v % 1000 // 100, v % 100))


def _cublas(lib):
    parts = [ctypes.c_int() for _ in range(3)]
    if any(lib.cublasGetProperty(i, ctypes.byref(p)) for i, p in enumerate(parts)):
        return None
    return "%d.%d.%d" % tuple(p.value for p in parts)


def _nvrtc(lib):
    major, minor = ctypes.c_int(), ctypes.c_int()
    return None if lib.nvrtcVersion(ctypes.byref(major), ctypes.byref(minor)) else \
        "%d.%d" % (major.value, minor.value)


# soname prefix: (what it is, its version from the loaded library)
LIBRARIES = (
    ("libcudart.so", "CUDA runtime",
     lambda lib: _version(lambda: _int_out(lib.cudaRuntimeGetVersion),
                          lambda v: "%d.%d" % (v // 1000, v % 1000 // 10))),
    ("libcudnn.so", "cuDNN", lambda lib: _version(lib.cudnnGetVersion, _cudnn)),
    ("libnccl.so", "NCCL", lambda lib: _version(lambda: _int_out(lib.ncclGetVersion), _nccl)),
    ("libcublas.so", "cuBLAS", lambda lib: _version(lambda: _cublas(lib), str)),
    ("libnvrtc.so", "NVRTC", lambda lib: _version(lambda: _nvrtc(lib), str)),
    ("libcuda.so", "NVIDIA driver",
     lambda lib: _version(gpu_arch.driver_version, lambda v: "CUDA %s" % v)),
)


def loaded_libraries():
    """[(soname prefix, path)] of the CUDA libraries mapped into this process, in LIBRARIES order."""
    with open("/proc/self/maps") as maps:
        paths = {line.split(None, 5)[-1].strip() for line in maps if "/" in line}
    found = []
    for prefix, _, _ in LIBRARIES:
        found += sorted((prefix, p) for p in paths if os.path.basename(p).startswith(prefix))
    return found


def where(path):
    return "pip wheel" if "%snvidia%s" % (os.sep, os.sep) in path and "-packages" in path \
        else "system"


def mxnet_lines():
    features = mx.runtime.Features()
    yield "MXNet: %s, %s" % (gpu_arch.distribution(), gpu_arch.library_path())
    yield "  features: %s" % " ".join(f for f in FEATURES if f in features and features[f].enabled)
    if not features.is_enabled("CUDA"):
        yield "  CPU build: no GPU code"
        return
    yield "  GPU code: %s" % gpu_arch.describe(gpu_arch.gpu_code())


def library_lines():
    libraries = loaded_libraries()
    if not libraries:
        yield "CUDA libraries: none loaded (MXNet's CPU build)"
        return
    yield "CUDA libraries loaded with MXNet:"
    describe = {prefix: (what, version) for prefix, what, version in LIBRARIES}
    for prefix, path in libraries:
        what, version = describe[prefix]
        yield "  %-22s %-14s %-16s %-9s %s" % (os.path.basename(path), what,
                                               version(ctypes.CDLL(path)), where(path), path)


def gpu_lines():
    """The driver's GPUs and whether this MXNet runs on each; the second value is True when
    one is not covered."""
    problem, gpus = gpu_arch.driver_gpus()
    if problem:
        return ["GPUs: none listed: %s" % problem], False
    cuda = mx.runtime.Features().is_enabled("CUDA")
    code = gpu_arch.gpu_code() if cuda else gpu_arch.GpuCode([], [])
    lines, uncovered = ["GPUs (NVIDIA driver, CUDA %s):" % (gpu_arch.driver_version() or "?")], False
    for gpu in gpus:
        about = "  GPU %d: %s, sm_%d (%s)" % (gpu.index, gpu.name, gpu_arch.sm(gpu.major, gpu.minor),
                                            gpu_arch.generation(gpu.major, gpu.minor))
        if gpu_arch.runs(code, gpu.major, gpu.minor):
            lines.append(about + ": covered by this MXNet")
        else:
            uncovered = True
            lines.append("%s: NOT covered by this MXNet%s; %s" % (
                about, "" if cuda else " (CPU build)", gpu_arch.route(gpu.major, gpu.minor)))
    return lines, uncovered


def _first_line(err):
    return ("%s: %s" % (type(err).__name__, err)).splitlines()[0]


def horovod_line():
    try:
        version = importlib.metadata.version("horovod")
    except importlib.metadata.PackageNotFoundError:
        return "Horovod: not installed (--kvstore horovod needs it; bash tools/install.sh builds it)"
    try:
        hvd = importlib.import_module("horovod.mxnet")
    except Exception as err:  # a foreign import may fail any way: report it in one line
        return "Horovod %s: horovod.mxnet does not import: %s" % (version, _first_line(err))
    operations = [name for name, built in (("MPI", hvd.mpi_built()), ("Gloo", hvd.gloo_built()),
                                           ("NCCL", hvd.nccl_built()), ("DDL", hvd.ddl_built()),
                                           ("oneCCL", hvd.ccl_built())) if built]
    return "Horovod %s: horovod.mxnet imports; operations: %s; CUDA %s" % (
        version, ", ".join(operations) or "none", "yes" if hvd.cuda_built() else "no")


def dali_line():
    dists = sorted("%s %s" % (d.metadata["Name"], d.version) for d in importlib.metadata.distributions()
                   if (d.metadata["Name"] or "").lower().startswith("nvidia-dali"))
    if not dists:
        return "DALI: not installed"
    try:
        importlib.import_module("nvidia.dali.plugin.mxnet")
    except Exception as err:  # as for Horovod
        return "DALI: %s; nvidia.dali.plugin.mxnet does not import: %s" % (", ".join(dists),
                                                                          _first_line(err))
    return "DALI: %s; nvidia.dali.plugin.mxnet imports" % ", ".join(dists)


def configure(parser):
    del parser


def run(args):
    del args
    print("gluon-tricks %s, Python %s, NumPy %s, %s" % (__version__, platform.python_version(),
                                                       np.__version__, sys.executable))
    for line in mxnet_lines():
        print(line)
    for line in library_lines():
        print(line)
    lines, uncovered = gpu_lines()
    for line in lines + [horovod_line(), dali_line()]:
        print(line)
    return 1 if uncovered else 0
