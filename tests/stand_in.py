"""The test-only stand-in for the NVIDIA driver's ``libcuda.so.1`` (``libcuda_stand_in.c``):
compiled into a folder of its own, which a subprocess then gets as its only extra library path."""
import os
import shutil
import subprocess

import pytest

SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "libcuda_stand_in.c")


def build_driver(folder, name=None, capability=None):
    """Compile ``folder/libcuda.so.1``: no device, or one GPU called ``name`` of compute
    capability ``(major, minor)``. Returns ``folder``."""
    if shutil.which("cc") is None:
        pytest.skip("no C compiler 'cc' to build the libcuda.so.1 stand-in")
    defines = []
    if name:
        defines = ['-DSTAND_IN_NAME="%s"' % name, "-DSTAND_IN_MAJOR=%d" % capability[0],
                   "-DSTAND_IN_MINOR=%d" % capability[1]]
    os.makedirs(folder, exist_ok=True)
    subprocess.run(["cc", "-shared", "-fPIC"] + defines
                   + ["-o", os.path.join(str(folder), "libcuda.so.1"), SOURCE], check=True)
    return folder


def driver_env(folder, **extra):
    """Variables for :func:`cli.run`: ``folder`` as the loader's only extra path, no preload,
    and ``extra``."""
    return dict(LD_LIBRARY_PATH=str(folder), LD_PRELOAD=None, **extra)
