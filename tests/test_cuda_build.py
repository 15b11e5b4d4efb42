"""MXNet's CUDA build (mxnet-cu112) on a machine without a GPU: install, import, CPU training, CLI.

These run in the GPU-flavour virtualenv (``bash tools/install.sh --gpu``; default ``.venv-gpu``
beside the repository, or the interpreter in ``GLUON_TRICKS_GPU_PYTHON``) through subprocesses
whose only extra library folder holds the test stand-in for the driver's ``libcuda.so.1``
(``libcuda_stand_in.c``, compiled here with ``cc``): every driver call answers "no device", so
MXNet sees zero GPUs and runs its CPU operators. What needs a real GPU is listed in README.md.
"""
import glob
import importlib.metadata
import json
import os
import subprocess
import sys
import textwrap

import pytest

from cli import LIMIT, ROOT, one_line_error, run
from stand_in import build_driver, driver_env

GPU_PYTHON = os.environ.get("GLUON_TRICKS_GPU_PYTHON",
                            os.path.join(ROOT, ".venv-gpu", "bin", "python"))

needs_gpu_venv = pytest.mark.skipif(
    not os.path.exists(GPU_PYTHON),
    reason="no GPU-flavour virtualenv at %s (make it with 'VENV=.venv-gpu bash tools/install.sh "
           "--gpu --no-horovod', or set GLUON_TRICKS_GPU_PYTHON)" % GPU_PYTHON)


@pytest.fixture(scope="module")
def driver_dir(tmp_path_factory):
    """A folder holding only the compiled stand-in ``libcuda.so.1`` (no device)."""
    return build_driver(tmp_path_factory.mktemp("stand-in-driver"))


def run_gpu(driver_dir, *args, timeout=LIMIT, **env):
    """Run the GPU venv's python with ARGS; the loader's extra path is the stand-in folder only."""
    return run([GPU_PYTHON, *args], timeout=timeout, env=driver_env(driver_dir, **env))


def cli(driver_dir, *args, **env):
    return run_gpu(driver_dir, "-m", "gluon_tricks", *args, **env)


PROBE = textwrap.dedent("""
    import json, gluon_tricks, mxnet as mx
    features = mx.runtime.Features()
    maps = open("/proc/self/maps").read()
    libs = sorted({line.split()[-1] for line in maps.splitlines()
                   if any(n in line for n in ("libcudnn.so", "libcudart", "libnccl", "libcuda.so",
                                              "libmxnet.so", "libnvrtc.so", "libcublas.so"))})
    try:
        mx.nd.ones((2,), ctx=mx.gpu(0)).wait_to_read()
        gpu_array = "created"
    except mx.base.MXNetError as err:
        gpu_array = str(err)
    print(json.dumps({"cuda": features.is_enabled("CUDA"), "cudnn": features.is_enabled("CUDNN"),
                      "nccl": features.is_enabled("NCCL"), "gpus": mx.context.num_gpus(),
                      "version": mx.__version__, "libs": libs, "gpu_array": gpu_array,
                      "sum": float(mx.nd.ones((3, 4)).sum().asscalar())}))
""")


@needs_gpu_venv
def test_cuda_build_imports_with_wheel_libraries_and_sees_no_gpu(driver_dir):
    proc = run_gpu(driver_dir, "-c", PROBE)
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout.splitlines()[-1])
    assert info["version"] == "1.9.1"
    assert info["cuda"] and info["cudnn"] and info["nccl"]
    assert info["gpus"] == 0 and info["sum"] == 12.0
    assert "requires at least 1 GPU" in info["gpu_array"]
    libs = info["libs"]
    venv = os.path.dirname(os.path.dirname(GPU_PYTHON))
    assert any(p.endswith("mxnet/libmxnet.so") for p in libs)
    # cuDNN 8, the CUDA runtime and NCCL came from the nvidia-*-cu11 wheels, the driver from the
    # stand-in folder: nothing from LD_LIBRARY_PATH but libcuda.so.1.
    for name in ("libcudnn.so.8", "libcudart.so.11.0", "libnccl.so.2", "libnvrtc.so.11.2"):
        found = [p for p in libs if p.endswith("/" + name)]
        assert found and os.path.realpath(found[0]).startswith(os.path.realpath(venv)), (name, libs)
    assert [p for p in libs if p.endswith("libcuda.so.1")] == [str(driver_dir / "libcuda.so.1")]


@needs_gpu_venv
def test_plain_import_mxnet_first_needs_the_package_or_the_library_path(driver_dir):
    """``import mxnet`` before ``gluon_tricks`` cannot find the wheels' libraries (README says
    what to do); importing ``gluon_tricks`` first is what makes them loadable."""
    proc = run_gpu(driver_dir, "-c", "import mxnet")
    assert proc.returncode != 0 and "cannot open shared object file" in proc.stderr


def train_tiny(driver_dir, data, run, backend):
    """A tiny ResNet-18 trained for one epoch on two CPU contexts by the CUDA build's CLI."""
    return cli(driver_dir, "train", "--data-dir", data, "--save-dir", run, "--model",
               "resnet18_v1b", "--input-size", "32", "--batch-size", "4", "--cpus", "2",
               "--threads", "1", "--num-epochs", "1", "--batches-per-epoch", "3",
               "--log-interval", "1", "--data-backend", backend)


@pytest.fixture(scope="module")
def trained(driver_dir, tmp_path_factory):
    """Demo data made and a tiny run trained on it through DALI on the CPU (dali-cpu, the
    default), all by the CUDA build's CLI."""
    tmp = tmp_path_factory.mktemp("cuda-build-run")
    data, run = tmp / "data", tmp / "run"
    proc = cli(driver_dir, "make-demo-data", data, "--classes", "3", "--train-per-class", "8",
               "--val-per-class", "4", "--threads", "1")
    assert proc.returncode == 0, proc.stderr
    return data, run, train_tiny(driver_dir, data, run, "dali-cpu")


def check_trained(run, proc):
    assert proc.returncode == 0, proc.stderr
    assert "epoch 1/1 | batch 3/3" in proc.stdout and "val top-1" in proc.stdout
    assert (run / "checkpoints" / "epoch-0001" / "model.params").exists()


@needs_gpu_venv
def test_training_on_cpu_contexts_through_dali(trained):
    _, run, proc = trained
    check_trained(run, proc)


@needs_gpu_venv
def test_training_on_cpu_contexts_through_image_record_iter(driver_dir, trained, tmp_path):
    data, _, _ = trained
    check_trained(tmp_path / "run", train_tiny(driver_dir, data, tmp_path / "run", "rec"))


@needs_gpu_venv
def test_eval_and_export_of_the_run(driver_dir, trained, tmp_path):
    data, run, _ = trained
    proc = cli(driver_dir, "eval", "--model", "resnet18_v1b", "--params", run, "--rec",
               data / "val.rec", "--input-size", "32", "--batch-size", "4")
    assert proc.returncode == 0, proc.stderr
    assert "top-1" in proc.stdout and "12 images" in proc.stdout.replace(",", "")
    proc = cli(driver_dir, "export", "--model", "resnet18_v1b", "--params", run, "--out",
               tmp_path / "r18", "--input-size", "32")
    assert proc.returncode == 0, proc.stderr
    for suffix in ("-symbol.json", "-0000.params", ".onnx"):
        assert (tmp_path / ("r18" + suffix)).stat().st_size > 0


@needs_gpu_venv
def test_train_on_a_gpu_that_is_not_there_is_one_line(driver_dir, tmp_path):
    proc = cli(driver_dir, "train", "--data-backend", "synthetic", "--gpus", "0", "--model",
               "resnet18_v1b", "--input-size", "32", "--save-dir", tmp_path / "run")
    line = one_line_error(proc, code=2)
    assert "no GPU visible" in line and "nvidia-smi" in line


def test_cpu_build_loads_no_cuda_library():
    """With MXNet's CPU build the preload does nothing (run in this test's own interpreter)."""
    try:
        importlib.metadata.distribution("mxnet-cu112")
        pytest.skip("this interpreter has MXNet's CUDA build")
    except importlib.metadata.PackageNotFoundError:
        pass
    code = ("import gluon_tricks, mxnet; maps = open('/proc/self/maps').read(); "
            "print(any(n in maps for n in ('libcudart', 'libcudnn', 'libnccl')))")
    proc = run([sys.executable, "-c", code])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"


@pytest.fixture(scope="module")
def hopper(tmp_path_factory):
    """The stand-in driver reporting one Hopper GPU (compute capability 9.0)."""
    return build_driver(tmp_path_factory.mktemp("hopper"), "NVIDIA H100 80GB HBM3", (9, 0))


@pytest.fixture(scope="module")
def ampere(tmp_path_factory):
    """The stand-in driver reporting one Ampere GPU (compute capability 8.0)."""
    return build_driver(tmp_path_factory.mktemp("ampere"), "NVIDIA A100-SXM4-80GB", (8, 0))


SYNTHETIC_GPU_RUN = ("train", "--data-backend", "synthetic", "--gpus", "0", "--model",
                     "resnet18_v1b", "--input-size", "32")


@needs_gpu_venv
def test_train_on_hopper_is_refused_with_the_container_route(hopper, tmp_path):
    """sm_90 is not among the wheel's SASS and there is no PTX: one line naming the GPU, what
    the build has and NGC's container, before the run folder exists; the code list is cached
    as JSON in the user's cache folder."""
    cache = tmp_path / "cache"
    proc = cli(hopper, *SYNTHETIC_GPU_RUN, "--save-dir", tmp_path / "run", XDG_CACHE_HOME=cache)
    line = one_line_error(proc, code=2)
    for text in ("GPU 0 (NVIDIA H100 80GB HBM3) is sm_90, Hopper", "this MXNet (mxnet-cu112 1.9.1)",
                 "sm_50, sm_60, sm_70, sm_80 and sm_86, no PTX", "NGC's MXNet container",
                 "bash tools/install.sh --system"):
        assert text in line, line
    assert not (tmp_path / "run").exists()
    with open(cache / "gluon-tricks" / "mxnet-gpu-code.json") as handle:
        (library, entry), = json.load(handle)["libraries"].items()
    assert library.endswith("mxnet/libmxnet.so") and os.path.getsize(library) == entry["size"]
    assert (entry["sass"], entry["ptx"]) == ([50, 60, 70, 80, 86], [])


@needs_gpu_venv
def test_ampere_passes_the_check_and_then_finds_no_usable_gpu(ampere, tmp_path):
    """sm_80 is covered, so the generation check lets it through; the stand-in is no real
    driver, so MXNet's own count then finds no GPU, as without the check."""
    proc = cli(ampere, *SYNTHETIC_GPU_RUN, "--save-dir", tmp_path / "run",
               XDG_CACHE_HOME=tmp_path / "cache")
    line = one_line_error(proc, code=2)
    assert "no GPU visible" in line and "sm_" not in line
    assert not (tmp_path / "run").exists()


def pinned(name):
    """The version constraints.txt pins for ``name`` (e.g. nvidia-cudnn-cu11 → "8.9.6.50")."""
    with open(os.path.join(ROOT, "constraints.txt")) as handle:
        return next(line.split("==")[1].strip() for line in handle if line.startswith(name + "=="))


@needs_gpu_venv
def test_doctor_on_the_cuda_build(hopper, ampere, tmp_path):
    """The build, its GPU code, the CUDA libraries and where they came from, each GPU."""
    proc = cli(hopper, "doctor", XDG_CACHE_HOME=tmp_path)
    assert proc.returncode == 1, proc.stderr      # a GPU this MXNet cannot run
    out = proc.stdout
    assert "MXNet: mxnet-cu112 1.9.1" in out and "features: CUDA CUDNN NCCL" in out
    assert "GPU code: sm_50, sm_60, sm_70, sm_80 and sm_86, no PTX" in out
    for soname, what, package in (("libcudnn.so.8", "cuDNN", "nvidia-cudnn-cu11"),
                                  ("libnccl.so.2", "NCCL", "nvidia-nccl-cu11"),
                                  ("libcublas.so.11", "cuBLAS", "nvidia-cublas-cu11")):
        line = next(line for line in out.splitlines() if line.strip().startswith(soname))
        version = ".".join(pinned(package).split(".")[:3])
        assert what in line and version in line and "pip wheel" in line, line
    driver = next(line for line in out.splitlines() if line.strip().startswith("libcuda.so.1"))
    assert "system" in driver and str(hopper) in driver
    assert ("GPU 0: NVIDIA H100 80GB HBM3, sm_90 (Hopper): NOT covered by this MXNet; on Hopper "
            "use NGC's MXNet container" in out)
    proc = cli(ampere, "doctor", XDG_CACHE_HOME=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "GPU 0: NVIDIA A100-SXM4-80GB, sm_80 (Ampere): covered by this MXNet" in proc.stdout


MAPPED = textwrap.dedent("""
    import json, sys
    CUDA = ("libcudart", "libcudnn", "libnccl", "libcublas", "libnvrtc", "libcufft", "libcurand",
            "libcusolver", "libnvToolsExt")
    def mapped():
        return sorted({line.split()[-1] for line in open("/proc/self/maps")
                       if any(name in line for name in CUDA)})
    import gluon_tricks
    before = mapped()
    if sys.argv[1:] == ["mxnet"]:
        import mxnet
    print(json.dumps({"before": before, "after": mapped()}))
""")


def wheel_library(soname):
    """The path of ``soname`` in the GPU venv's nvidia-*-cu11 wheels."""
    venv = os.path.dirname(os.path.dirname(GPU_PYTHON))
    found = [p for p in glob.glob(os.path.join(venv, "lib", "python3*", "site-packages", "nvidia",
                                               "*", "lib", soname))]
    assert found, soname
    return found[0]


def system_folder(folder, sonames):
    """A folder of hard links to the wheels' ``sonames``: a "system" CUDA 11 install whose files
    show under its own paths in /proc/self/maps."""
    folder.mkdir()
    for soname in sonames:
        try:
            os.link(wheel_library(soname), folder / soname)
        except OSError as err:
            pytest.skip("cannot hard-link the wheels' libraries into %s: %s" % (folder, err))
    return folder


def mapped(library_path, *args, **env):
    """The CUDA libraries mapped after ``import gluon_tricks`` and at the end, in the GPU venv
    with ``library_path`` as LD_LIBRARY_PATH."""
    proc = run_gpu(library_path, "-c", MAPPED, *args, **env)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.splitlines()[-1])


@needs_gpu_venv
def test_a_system_cuda_11_that_has_every_library_mxnet_links_is_used_alone(driver_dir, tmp_path):
    from gluon_tricks._compat import CUDA_LIBRARIES
    system = system_folder(tmp_path / "system", [soname for _, soname in CUDA_LIBRARIES])
    seen = mapped("%s:%s" % (system, driver_dir), "mxnet")
    assert seen["before"] == []
    assert seen["after"] and all(p.startswith(str(system)) for p in seen["after"]), seen


@needs_gpu_venv
def test_a_partial_system_cuda_is_not_mixed_with_the_wheels(driver_dir, tmp_path):
    """The system has the CUDA 11 runtime but not cuDNN 8: every library comes from the wheels,
    the runtime too."""
    system = system_folder(tmp_path / "system", ["libcudart.so.11.0"])
    seen = mapped("%s:%s" % (system, driver_dir), "mxnet")
    assert not [p for p in seen["after"] if p.startswith(str(system))], seen
    assert any(p.endswith("/nvidia/cuda_runtime/lib/libcudart.so.11.0") for p in seen["after"])


@needs_gpu_venv
def test_a_cuda_12_build_gets_nothing_from_the_cuda_11_wheels(driver_dir, tmp_path):
    """A libmxnet.so that links the CUDA 12 runtime and cuDNN 9 (as NGC's container's does),
    in an environment that also holds mxnet-cu112 and the nvidia-*-cu11 wheels: importing
    gluon_tricks loads none of them."""
    for soname in ("libcudart.so.12", "libcudnn.so.9"):
        source = tmp_path / "empty.c"
        source.write_text("int stand_in_%s;\n" % soname.split(".")[0])
        subprocess.run(["cc", "-shared", "-fPIC", "-Wl,-soname," + soname, "-o",
                        str(tmp_path / soname), str(source)], check=True)
    (tmp_path / "mxnet.c").write_text("int stand_in_mxnet;\n")
    subprocess.run(["cc", "-shared", "-fPIC", "-o", str(tmp_path / "libmxnet.so"),
                    str(tmp_path / "mxnet.c"), "-Wl,--no-as-needed", "-L%s" % tmp_path,
                    "-l:libcudart.so.12", "-l:libcudnn.so.9"], check=True)
    from gluon_tricks.elf import needed
    assert {"libcudart.so.12", "libcudnn.so.9"} <= set(needed(str(tmp_path / "libmxnet.so")))
    seen = mapped(driver_dir, MXNET_LIBRARY_PATH=tmp_path / "libmxnet.so")
    assert seen == {"before": [], "after": []}
