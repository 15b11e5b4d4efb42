"""The devices a command runs on: ``--gpus 0,1`` / ``--cpus N`` / ``--num-gpus N`` as one
canonical text ("gpu:0,1" or "cpu:N"), its MXNet contexts, and a one-line error for GPUs that
this MXNet cannot run on (``gpu_arch``) or cannot see."""
import mxnet as mx

from . import gpu_arch
from .errors import UsageError

DEFAULT = "cpu:1"


def gpus_text(ids):
    """``--gpus`` ids → canonical text; ids must be distinct device numbers."""
    ids = [g.strip() for g in str(ids).split(",") if g.strip()]
    if not all(g.isdigit() for g in ids) or len(set(ids)) != len(ids):
        raise UsageError("--gpus takes distinct device numbers like 0,1,2,3, got %r" % ",".join(ids))
    return "gpu:" + ",".join(ids) if ids else DEFAULT


def parse(text):
    """(canonical text, device count) of a devices text ("gpu:0,1", "cpu:2")."""
    kind, _, spec = str(text).partition(":")
    if kind == "gpu":
        canonical = gpus_text(spec)
        return canonical, len(canonical.split(":")[1].split(","))
    if kind == "cpu" and spec.isdigit() and int(spec) >= 1:
        return "cpu:%d" % int(spec), int(spec)
    raise UsageError("--cpus must be ≥ 1, got %s" % spec if kind == "cpu" else
                     "devices %r are neither gpu:IDS nor cpu:N" % text)


def contexts(text):
    """The MXNet contexts of a devices text."""
    kind, spec = parse(text)[0].split(":")
    if kind == "gpu":
        return [mx.gpu(int(i)) for i in spec.split(",")]
    return [mx.cpu(i) for i in range(int(spec))]


def check_gpus(ctxs):
    """A one-line error when ``ctxs`` ask for GPUs this MXNet has no code for or cannot see.
    Every command that takes ``--gpus``/``--num-gpus`` comes here before it writes anything."""
    wanted = [c.device_id for c in ctxs if c.device_type == "gpu"]
    if not wanted:
        return
    gpu_arch.check(wanted)
    try:
        available = mx.context.num_gpus()
    except mx.base.MXNetError:
        available = 0
    if max(wanted) >= available:
        if mx.runtime.Features().is_enabled("CUDA"):
            fix = "check nvidia-smi and CUDA_VISIBLE_DEVICES, or train on --cpus N"
        else:
            fix = "install the GPU build (bash tools/install.sh --gpu) or train on --cpus N"
        raise UsageError("--gpus %s asks for GPU %d but MXNet sees %d GPU(s) here (no GPU "
                         "visible); %s" % (",".join(map(str, wanted)), max(wanted), available, fix))


def usable_contexts(text):
    """(contexts, canonical text) of a devices text, after checking the GPUs exist."""
    canonical, _ = parse(text)
    ctxs = contexts(canonical)
    check_gpus(ctxs)
    return ctxs, canonical
