"""Can this MXNet run on these GPUs? Each GPU's compute capability, asked of the NVIDIA driver,
against the GPU code the installed ``libmxnet.so`` carries (README "On GPUs").

A CUDA build holds its kernels as SASS for some architectures (``sm_XY``: runs on compute
capability X.Z with Z ≥ Y) and possibly PTX (``compute_XY``: compiled by the driver for any
capability ≥ X.Y). Every PyPI ``mxnet-cu*`` 1.9.1 wheel has SASS for sm_50–sm_86 and no PTX, so
Hopper (sm_90) and Blackwell fail inside MXNet's first kernel ("no kernel image is available").
The check runs before anything is written and names the GPU, what the build covers and the
install route for that generation.

The driver is asked through its C API (``cuDeviceGetAttribute``), never through an MXNet kernel.
Reading the code list means walking ``libmxnet.so``'s ``.nv_fatbin`` section (hundreds of MB),
so it is cached as plain JSON under ``$XDG_CACHE_HOME/gluon-tricks`` (default
``~/.cache/gluon-tricks``), keyed by the library's path, size and modification time; an
unreadable or malformed cache is ignored and rewritten.
"""
import collections
import ctypes
import importlib.metadata
import json
import os
import struct

import mxnet as mx

from . import _compat, elf
from .errors import UsageError
from .outputs import write_text

CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75
CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76
CUDA_ERRORS = {100: "no CUDA-capable device (CUDA_ERROR_NO_DEVICE)",
               35: "the driver is older than this CUDA runtime (CUDA_ERROR_INSUFFICIENT_DRIVER)",
               999: "unknown driver error (CUDA_ERROR_UNKNOWN)"}
FATBIN_MAGIC = 0xBA55ED50
_FATBIN = struct.Struct("<IHHQ")            # magic, version, header size, size of its entries
_ENTRY = struct.Struct("<HHIQ")             # kind, version, header size, payload size
_ENTRY_ARCH_AT = 28                         # u32: the architecture, e.g. 86 for sm_86
PTX, SASS = 1, 2
CACHE_FILE = "mxnet-gpu-code.json"
CACHE_VERSION = 1
_CACHE_KEEP = 8                             # libraries remembered (one per MXNet install)
_CACHE_MAX_BYTES = 1 << 16                  # a larger cache file is ignored

Gpu = collections.namedtuple("Gpu", "index name major minor")
GpuCode = collections.namedtuple("GpuCode", "sass ptx")


def sm(major, minor):
    """The architecture number of a compute capability: 9.0 → 90, 12.0 → 120."""
    return major * 10 + minor


def generation(major, minor):
    """The GPU generation of a compute capability (for messages)."""
    if major >= 10:
        return "Blackwell"
    if (major, minor) == (8, 9):
        return "Ada"
    if (major, minor) == (7, 5):
        return "Turing"
    return {3: "Kepler", 5: "Maxwell", 6: "Pascal", 7: "Volta", 8: "Ampere",
            9: "Hopper"}.get(major, "compute capability %d.%d" % (major, minor))


def route(major, minor):
    """What to install for a GPU of this compute capability (the README's table)."""
    if major >= 10:
        return ("no prebuilt MXNet runs on Blackwell: build MXNet 1.9.1 from source with a CUDA "
                "that knows sm_%d (12.8 or newer; not checked here)" % sm(major, minor))
    if major == 9:
        return ("on Hopper use NGC's MXNet container (24.xx) with 'bash tools/install.sh "
                "--system' inside it")
    if major >= 5:
        return "install MXNet's CUDA build with 'bash tools/install.sh --gpu'"
    return "no prebuilt MXNet 1.9.1 has GPU code for it; train on --cpus N"


def runs(code, major, minor):
    """True if ``code`` (a GpuCode) has SASS or PTX that a GPU of this capability can run."""
    return (any(arch // 10 == major and arch % 10 <= minor for arch in code.sass)
            or any(arch <= sm(major, minor) for arch in code.ptx))


def describe(code):
    """"sm_50, sm_60 and sm_86, no PTX" (or with PTX for compute_XY)."""
    sass = ["sm_%d" % a for a in code.sass]
    text = ", ".join(sass[:-1]) + " and " + sass[-1] if len(sass) > 1 else "".join(sass) or "no SASS"
    ptx = ", ".join("compute_%d" % a for a in code.ptx)
    return text + (", PTX for " + ptx if ptx else ", no PTX")


# --- the driver -----------------------------------------------------------------------------

def driver_gpus():
    """(problem, [Gpu]) from the NVIDIA driver's ``libcuda.so.1``: problem is None when the
    driver answered, else why there is no list (no driver, no device, ...)."""
    try:
        cuda = ctypes.CDLL("libcuda.so.1")
    except OSError:
        return "no NVIDIA driver (libcuda.so.1 is not on the loader's path)", []
    count, device, value = ctypes.c_int(), ctypes.c_int(), ctypes.c_int()
    name = ctypes.create_string_buffer(256)
    try:
        _call(cuda.cuInit, 0)
        _call(cuda.cuDeviceGetCount, ctypes.byref(count))
        gpus = []
        for index in range(count.value):
            _call(cuda.cuDeviceGet, ctypes.byref(device), index)
            _call(cuda.cuDeviceGetName, name, len(name), device)
            capability = []
            for attribute in (CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR,
                              CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR):
                _call(cuda.cuDeviceGetAttribute, ctypes.byref(value), attribute, device)
                capability.append(value.value)
            gpus.append(Gpu(index, name.value.decode("utf-8", "replace"), *capability))
    except _DriverError as err:
        return str(err), []
    except AttributeError as err:       # a libcuda.so.1 without the driver API's entry points
        return "libcuda.so.1 lacks %s" % err, []
    return None, gpus


def driver_version():
    """"12.4": the CUDA version the driver supports (``cuDriverGetVersion``); None if unknown."""
    value = ctypes.c_int()
    try:
        if ctypes.CDLL("libcuda.so.1").cuDriverGetVersion(ctypes.byref(value)):
            return None
    except (OSError, AttributeError):
        return None
    return "%d.%d" % (value.value // 1000, value.value % 1000 // 10)


class _DriverError(Exception):
    pass


def _call(function, *args):
    code = function(*args)
    if code:
        raise _DriverError("the driver answered %s" % CUDA_ERRORS.get(code, "error %d" % code))


# --- the build ------------------------------------------------------------------------------

def library_path():
    """The ``libmxnet.so`` this process loaded (MXNet's own search, ``MXNET_LIBRARY_PATH`` first)."""
    return _compat.mxnet_library()


def distribution():
    """"mxnet-cu112 1.9.1": the installed distribution of this ``mxnet`` (``mxnet``,
    ``mxnet-cu112``, ...); "MXNet 1.9.1" for a build that pip did not install."""
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"] or ""
        if name.lower().startswith("mxnet") and dist.version == mx.__version__:
            return "%s %s" % (name, dist.version)
    return "MXNet %s" % mx.__version__


def read_gpu_code(path):
    """The architectures of every fat binary in ``path``'s ``.nv_fatbin`` section (SASS and
    PTX); empty for a library without one (the CPU build)."""
    sass, ptx = set(), set()
    with open(path, "rb") as handle:
        offset, size = elf.sections(handle).get(".nv_fatbin", (0, 0))
        end, at = offset + size, offset
        while at + _FATBIN.size <= end:
            handle.seek(at)
            magic, _, header, length = _FATBIN.unpack(handle.read(_FATBIN.size))
            if magic != FATBIN_MAGIC:
                at = _next_fatbin(handle, at + 8, end)
                continue
            entry, last = at + header, min(at + header + length, end)
            while entry + _ENTRY_ARCH_AT + 4 <= last:
                handle.seek(entry)
                raw = handle.read(_ENTRY_ARCH_AT + 4)
                kind, _, entry_header, payload = _ENTRY.unpack_from(raw)
                arch, = struct.unpack_from("<I", raw, _ENTRY_ARCH_AT)
                {SASS: sass, PTX: ptx}.get(kind, set()).add(arch)
                if entry_header < _ENTRY.size:
                    break
                entry += entry_header + payload
            at = at + header + length
    return GpuCode(sorted(sass), sorted(ptx))


def _next_fatbin(handle, at, end, chunk=1 << 20):
    """The next 8-aligned fat-binary header at or after ``at`` (``end`` if none)."""
    magic = struct.pack("<I", FATBIN_MAGIC)
    at = (at + 7) & ~7
    while at < end:
        handle.seek(at)
        block = handle.read(min(chunk, end - at))
        if not block:
            break
        found = block.find(magic)
        while found >= 0 and found % 8:
            found = block.find(magic, found + 1)
        if found >= 0:
            return at + found
        at += len(block)
    return end


def cache_path():
    base = os.environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(base):
        base = os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "gluon-tricks", CACHE_FILE)


def gpu_code(path=None):
    """GpuCode of ``path`` (default: the loaded ``libmxnet.so``), from the cache when its entry
    matches the file's size and modification time, else read and cached."""
    path = os.path.realpath(path or library_path())
    stat = os.stat(path)
    key = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    cache = _load_cache()
    entry = cache.get(path)
    if entry and {k: entry.get(k) for k in key} == key:
        return GpuCode(entry["sass"], entry["ptx"])
    code = read_gpu_code(path)
    cache.pop(path, None)
    cache[path] = dict(key, sass=code.sass, ptx=code.ptx)
    _save_cache(dict(list(cache.items())[-_CACHE_KEEP:]))
    return code


def _load_cache():
    """{library path: entry} of the cache file; {} for anything missing, unreadable, too large
    or not of the expected shape (the file is data: nothing in it is run)."""
    try:
        with open(cache_path(), encoding="utf-8") as handle:
            data = json.loads(handle.read(_CACHE_MAX_BYTES + 1))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("version") != CACHE_VERSION:
        return {}
    libraries = data.get("libraries")
    if not isinstance(libraries, dict):
        return {}
    return {path: entry for path, entry in libraries.items() if _valid_entry(entry)}


def _valid_entry(entry):
    def ints(values):
        return isinstance(values, list) and all(type(v) is int and 0 < v < 10000 for v in values)
    return (isinstance(entry, dict) and type(entry.get("size")) is int
            and type(entry.get("mtime_ns")) is int and ints(entry.get("sass"))
            and ints(entry.get("ptx")))


def _save_cache(libraries):
    """Write the cache if the user's cache folder can take it; a cache that cannot be written
    costs only a re-read next time."""
    path = cache_path()
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        write_text(path, json.dumps({"version": CACHE_VERSION, "libraries": libraries}, indent=1))
    except OSError:
        pass


# --- the check ------------------------------------------------------------------------------

def check(wanted):
    """A one-line UsageError when a GPU of ``wanted`` (device numbers) is one this MXNet
    cannot run; GPUs the driver does not list are left to the visibility check."""
    problem, gpus = driver_gpus()
    listed = {gpu.index: gpu for gpu in gpus}
    asked = [listed[i] for i in wanted if i in listed]
    if problem or not asked:
        return
    cuda = mx.runtime.Features().is_enabled("CUDA")
    code = gpu_code() if cuda else GpuCode([], [])
    for gpu in asked:
        if runs(code, gpu.major, gpu.minor):
            continue
        about = "GPU %d (%s) is sm_%d, %s" % (gpu.index, gpu.name, sm(gpu.major, gpu.minor),
                                             generation(gpu.major, gpu.minor))
        has = ("has GPU code only for %s" % describe(code) if cuda else "is the CPU build")
        raise UsageError("%s, but this MXNet (%s) %s; %s (README: On GPUs)"
                         % (about, distribution(), has, route(gpu.major, gpu.minor)))
