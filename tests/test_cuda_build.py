"""MXNet's CUDA build (mxnet-cu112) on a machine without a GPU: install, import, CPU training, CLI.

These run in the GPU-flavour virtualenv (``bash tools/install.sh --gpu``; default ``.venv-gpu``
beside the repository, or the interpreter in ``GLUON_TRICKS_GPU_PYTHON``) through subprocesses
whose only extra library folder holds the test stand-in for the driver's ``libcuda.so.1``
(``libcuda_stand_in.c``, compiled here with ``cc``): every driver call answers "no device", so
MXNet sees zero GPUs and runs its CPU operators. What needs a real GPU is listed in README.md.
"""
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from cli import ROOT, one_line_error

GPU_PYTHON = os.environ.get("GLUON_TRICKS_GPU_PYTHON",
                            os.path.join(ROOT, ".venv-gpu", "bin", "python"))
STAND_IN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "libcuda_stand_in.c")

needs_gpu_venv = pytest.mark.skipif(
    not os.path.exists(GPU_PYTHON),
    reason="no GPU-flavour virtualenv at %s (make it with 'VENV=.venv-gpu bash tools/install.sh "
           "--gpu --no-horovod', or set GLUON_TRICKS_GPU_PYTHON)" % GPU_PYTHON)


@pytest.fixture(scope="module")
def driver_dir(tmp_path_factory):
    """A folder holding only the compiled stand-in ``libcuda.so.1``."""
    if shutil.which("cc") is None:
        pytest.skip("no C compiler 'cc' to build the libcuda.so.1 stand-in")
    out = tmp_path_factory.mktemp("stand-in-driver")
    subprocess.run(["cc", "-shared", "-fPIC", "-o", str(out / "libcuda.so.1"), STAND_IN],
                   check=True)
    return out


def run_gpu(driver_dir, *args, timeout=900):
    """Run the GPU venv's python with ARGS; the loader's extra path is the stand-in folder only."""
    env = {k: v for k, v in os.environ.items() if k not in ("LD_LIBRARY_PATH", "LD_PRELOAD")}
    env.update(LD_LIBRARY_PATH=str(driver_dir), PYTHONPATH=ROOT)
    return subprocess.run([GPU_PYTHON] + [str(a) for a in args], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=ROOT)


def cli(driver_dir, *args):
    return run_gpu(driver_dir, "-m", "gluon_tricks", *args)


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
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=ROOT), timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"
