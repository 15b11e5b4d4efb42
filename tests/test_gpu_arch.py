"""The GPU-generation check (``gluon_tricks/gpu_arch.py``): the GPU code in ``libmxnet.so``'s
``.nv_fatbin``, its cache, and every command that takes GPUs refusing one it cannot run.

The CLI tests run MXNet's CPU build with the test stand-in for the driver (``stand_in.py``)
reporting one GPU; ``test_cuda_build.py`` does the same with MXNet's CUDA build."""
import glob
import importlib.metadata
import json
import os
import struct
import subprocess

import pytest

from cli import ROOT, one_line_error, run_cli
from gluon_tricks import gpu_arch
from gluon_tricks.gpu_arch import GpuCode, read_gpu_code, runs
from stand_in import build_driver

CUDA_BUILD = glob.glob(os.path.join(ROOT, ".venv-gpu", "lib", "python3*", "site-packages",
                                    "mxnet", "libmxnet.so"))


@pytest.mark.skipif(not CUDA_BUILD, reason="no .venv-gpu (VENV=.venv-gpu bash tools/install.sh "
                                           "--gpu --no-horovod)")
def test_the_pip_cuda_build_has_sass_for_sm50_to_sm86_and_no_ptx():
    assert read_gpu_code(CUDA_BUILD[0]) == GpuCode([50, 60, 70, 80, 86], [])


def test_the_cpu_build_has_no_gpu_code():
    assert read_gpu_code(gpu_arch.library_path()) == GpuCode([], [])


def fat_binary(*entries):
    """One fat binary (header, then per entry a 64-byte header and its payload) of
    ``(kind, arch, payload)`` entries."""
    body = b""
    for kind, arch, payload in entries:
        header = struct.pack("<HHIQ", kind, 0x0101, 64, len(payload))
        header += bytes(28 - len(header)) + struct.pack("<I", arch)
        body += header + bytes(64 - len(header)) + payload
    return struct.pack("<IHHQ", gpu_arch.FATBIN_MAGIC, 1, 16, len(body)) + body


def library_with_fatbin(folder, data):
    """A shared library whose ``.nv_fatbin`` section holds ``data``, compiled with ``cc``."""
    source = folder / "fatbin.c"
    source.write_text('__attribute__((section(".nv_fatbin"), used, aligned(8)))\n'
                      "const unsigned char fatbin[] = {%s};\n" % ",".join(map(str, data)))
    out = folder / "libfatbin.so"
    subprocess.run(["cc", "-shared", "-fPIC", "-o", str(out), str(source)], check=True)
    return str(out)


@pytest.fixture
def hopper_library(tmp_path):
    """SASS for sm_90 in one fat binary, PTX for compute_100 in the next, 8 zero bytes between."""
    build_driver(tmp_path / "cc-check")         # skips without a C compiler
    data = (fat_binary((gpu_arch.SASS, 90, b"\x7fELF" + bytes(28)))
            + bytes(8) + fat_binary((gpu_arch.PTX, 100, b".version 8.7\0" + bytes(3))))
    return library_with_fatbin(tmp_path, data)


def test_sass_runs_on_its_major_at_equal_or_higher_minor_and_ptx_on_anything_newer(hopper_library):
    code = read_gpu_code(hopper_library)
    assert code == GpuCode([90], [100])
    assert runs(code, 9, 0) and runs(code, 10, 0) and runs(code, 12, 0)
    assert not runs(code, 8, 9)
    wheel = GpuCode([50, 60, 70, 80, 86], [])
    assert [c for c in ((5, 0), (5, 2), (6, 1), (7, 0), (7, 5), (8, 0), (8, 6), (8, 9))
            if not runs(wheel, *c)] == []
    assert [c for c in ((3, 7), (9, 0), (10, 0), (12, 0)) if runs(wheel, *c)] == []


def test_the_code_list_is_cached_as_json_keyed_by_size_and_mtime(hopper_library, tmp_path,
                                                                  monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    cache = tmp_path / "cache" / "gluon-tricks" / gpu_arch.CACHE_FILE
    assert gpu_arch.gpu_code(hopper_library) == GpuCode([90], [100])
    data = json.loads(cache.read_text())
    entry = data["libraries"][os.path.realpath(hopper_library)]
    assert entry["size"] == os.path.getsize(hopper_library) and entry["sass"] == [90]
    # The entry is what is used while the file is unchanged ...
    entry["sass"] = [75]
    cache.write_text(json.dumps(data))
    assert gpu_arch.gpu_code(hopper_library) == GpuCode([75], [100])
    # ... and read again once the file's modification time differs.
    stat = os.stat(hopper_library)
    os.utime(hopper_library, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10 ** 9))
    assert gpu_arch.gpu_code(hopper_library) == GpuCode([90], [100])


@pytest.mark.parametrize("content", [
    "__import__('os').system('touch pwned')",
    '{"version": 1, "libraries": {"%(lib)s": {"size": "%(size)s", "mtime_ns": 1, '
    '"sass": ["x"], "ptx": []}}}',
    '{"version": 1, "libraries": {"%(lib)s": {"size": %(size)s, "mtime_ns": %(mtime)s, '
    '"sass": [75], "ptx": [], "pad": "%(pad)s"}}}',
    "[1, 2, 3]",
])
def test_a_malformed_or_oversized_cache_is_ignored_and_rewritten(hopper_library, tmp_path,
                                                                 monkeypatch, content):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    cache = tmp_path / "cache" / "gluon-tricks" / gpu_arch.CACHE_FILE
    cache.parent.mkdir(parents=True)
    stat = os.stat(hopper_library)
    cache.write_text(content % {"lib": os.path.realpath(hopper_library), "size": stat.st_size,
                                "mtime": stat.st_mtime_ns, "pad": "x" * 70000})
    assert gpu_arch.gpu_code(hopper_library) == GpuCode([90], [100])
    assert json.loads(cache.read_text())["libraries"][os.path.realpath(hopper_library)]["sass"] == [90]
    assert not (tmp_path / "pwned").exists()


def test_an_unwritable_cache_folder_costs_only_the_cache(hopper_library, tmp_path, monkeypatch):
    (tmp_path / "file").write_text("a file where the cache folder would go")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "file"))
    assert gpu_arch.gpu_code(hopper_library) == GpuCode([90], [100])


@pytest.fixture(scope="module")
def hopper_driver(tmp_path_factory):
    return build_driver(tmp_path_factory.mktemp("hopper"), "NVIDIA H100 80GB HBM3", (9, 0))


def gpu_cli(driver, tmp_path, *args):
    """The CLI in ``tmp_path`` with the stand-in ``driver``; "OUT" stands for ``tmp_path/out``."""
    args = [tmp_path / "out" if a == "OUT" else a for a in args]
    return run_cli(*args, cwd=tmp_path, env={"LD_LIBRARY_PATH": str(driver),
                                             "XDG_CACHE_HOME": str(tmp_path / "cache")})


TRAIN = ("train", "--data-backend", "synthetic", "--model", "resnet18_v1b", "--input-size", "32",
         "--save-dir", "OUT")


@pytest.mark.parametrize("command", [
    TRAIN + ("--gpus", "0"),
    TRAIN + ("--gpus", "0", "--kvstore", "horovod"),
    TRAIN + ("--num-gpus", "1", "--kvstore", "nccl"),
    ("eval", "--model", "resnet18_v1b", "--params", "missing.params", "--rec", "val.rec",
     "--num-gpus", "1"),
    ("zoo-check", "--models-dir", "zoo", "--rec", "val.rec", "--gpus", "0"),
    ("detect", "--data-root", "voc", "--backbone", "resnet50_v1d", "--backbone-params", "b.params",
     "--gpus", "0", "--save-dir", "OUT"),
    ("segment", "--data-root", "ade", "--backbone", "resnet50_v1d", "--backbone-params",
     "b.params", "--gpus", "0", "--save-dir", "OUT"),
    ("bench", "train", "--rec", "train.rec", "--gpus", "0"),
    ("demo", "--gpus", "0", "--out", "OUT"),
], ids=lambda c: " ".join(c[:2]) + (" horovod" if "horovod" in c else ""))
def test_every_command_that_takes_gpus_refuses_hopper_before_writing(hopper_driver, tmp_path,
                                                                     command):
    line = one_line_error(gpu_cli(hopper_driver, tmp_path, *command), code=2)
    assert line.startswith("gluon-tricks %s: error: GPU 0 (NVIDIA H100 80GB HBM3) is sm_90, "
                           "Hopper, but this MXNet (mxnet 1.9.1) is the CPU build" % command[0])
    assert "NGC's MXNet container" in line and "install.sh --system" in line
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("name,capability,route", [
    ("NVIDIA GeForce RTX 4090", (8, 9), "install MXNet's CUDA build with 'bash tools/install.sh --gpu'"),
    ("Tesla V100-SXM2-16GB", (7, 0), "install MXNet's CUDA build with 'bash tools/install.sh --gpu'"),
    ("NVIDIA B200", (10, 0), "no prebuilt MXNet runs on Blackwell"),
    ("NVIDIA GeForce RTX 5090", (12, 0), "no prebuilt MXNet runs on Blackwell"),
    ("Tesla K80", (3, 7), "no prebuilt MXNet 1.9.1 has GPU code for it"),
])
def test_the_route_follows_the_gpu_generation(tmp_path, name, capability, route):
    driver = build_driver(tmp_path / "driver", name, capability)
    line = one_line_error(gpu_cli(driver, tmp_path, *TRAIN, "--gpus", "0"), code=2)
    assert "GPU 0 (%s) is sm_%d%d" % ((name,) + capability) in line and route in line, line
    assert not (tmp_path / "out").exists()


def test_a_gpu_the_driver_does_not_list_is_left_to_the_visibility_check(hopper_driver, tmp_path):
    line = one_line_error(gpu_cli(hopper_driver, tmp_path, *TRAIN, "--gpus", "1"), code=2)
    assert "asks for GPU 1" in line and "no GPU visible" in line


def test_doctor_on_the_cpu_build(hopper_driver, tmp_path):
    proc = run_cli("doctor", cwd=tmp_path, env={"LD_LIBRARY_PATH": str(tmp_path),
                                                "XDG_CACHE_HOME": str(tmp_path / "cache")})
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.splitlines()
    assert out[1].startswith("MXNet: mxnet 1.9.1, ") and out[1].endswith("mxnet/libmxnet.so")
    assert "  CPU build: no GPU code" in out
    assert "CUDA libraries: none loaded (MXNet's CPU build)" in out
    assert "GPUs: none listed: no NVIDIA driver (libcuda.so.1 is not on the loader's path)" in out
    horovod = "Horovod %s: horovod.mxnet imports; operations: Gloo; CUDA no" % version("horovod")
    assert horovod in out
    dali = [line for line in out if line.startswith("DALI")]
    assert dali in (["DALI: not installed"], ["DALI: nvidia-dali-cuda110 %s; nvidia.dali.plugin."
                                              "mxnet imports" % version("nvidia-dali-cuda110")])
    proc = gpu_cli(hopper_driver, tmp_path, "doctor")
    assert proc.returncode == 1
    assert ("GPU 0: NVIDIA H100 80GB HBM3, sm_90 (Hopper): NOT covered by this MXNet (CPU build); "
            "on Hopper use NGC's MXNet container" in proc.stdout)


def version(name):
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None
