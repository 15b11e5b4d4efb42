"""FP16 training support (paper §3.2, "low-precision training"): loss scaling and overflow checks.

The network runs in float16 with float32 master weights (MXNet's ``multi_precision``); the loss is
multiplied by a scale before backward so small gradients survive float16, and the update divides
it out again. Dynamic scaling skips any step whose reduced gradients hold inf/NaN, halves the
scale, and doubles it after ``window`` clean steps in a row.
"""
import mxnet as mx

from .errors import UsageError

# Training/evaluation dtypes: float16 means FP16 with float32 master weights (§3.2).
DTYPES = ("float32", "float16")


def check_device(dtype, devices):
    """UsageError when ``dtype`` is float16 and ``devices`` (a devices text, see devices.py) are
    not GPUs: MXNet has no FP16 convolutions or matrix products on the CPU."""
    if dtype == "float16" and not devices.startswith("gpu"):
        raise UsageError("--dtype float16 needs a GPU (MXNet has no FP16 convolutions on the "
                         "CPU); pass --gpus 0 or use --dtype float32")


class LossScaler:
    """Static (``mode`` a number) or dynamic (``mode="dynamic"``) loss scaling."""

    def __init__(self, mode="dynamic", init_scale=2.0 ** 16, window=2000, factor=2.0,
                 min_scale=1.0):
        self.dynamic = mode == "dynamic"
        self.scale = init_scale if self.dynamic else float(mode)
        self.window, self.factor, self.min_scale = window, factor, min_scale
        self.clean_steps = 0
        self.skipped = 0

    def update(self, finite):
        """Record whether this step's gradients were finite; return True if it may be applied."""
        if finite:
            self.clean_steps += 1
            if self.dynamic and self.clean_steps >= self.window:
                self.scale *= self.factor
                self.clean_steps = 0
            return True
        self.skipped += 1
        self.clean_steps = 0
        if self.dynamic:
            self.scale = max(self.scale / self.factor, self.min_scale)
        return False

    def state_dict(self):
        return {"scale": self.scale, "clean_steps": self.clean_steps, "skipped": self.skipped}

    def load_state_dict(self, state):
        self.scale = state["scale"]
        self.clean_steps = state["clean_steps"]
        self.skipped = state["skipped"]


def grads_finite(params, ctx):
    """True if every gradient of ``params`` on ``ctx`` is finite.

    One device-side reduction per gradient dtype (``multi_all_finite`` takes a single dtype, and
    an FP16 network keeps its BatchNorm parameters, hence their gradients, in float32).
    """
    by_dtype = {}
    for p in params:
        if p.grad_req != "null":
            grad = p.grad(ctx)
            by_dtype.setdefault(grad.dtype, []).append(grad)
    flags = [mx.nd.multi_all_finite(*grads, num_arrays=len(grads), init_output=True)
             for grads in by_dtype.values()]
    return all(bool(f.asscalar()) for f in flags)


def apply_update(trainer, params, scaler, batch_size, ctx):
    """Reduce gradients across devices/workers, then update unless FP16 gradients overflowed.

    The reduced gradients are the same on every worker, so all of them skip the same steps.
    ``batch_size`` is what the update divides by; the loss scale is divided out with it.
    Returns True if the parameters were updated.
    """
    trainer.allreduce_grads()
    scale = 1.0
    if scaler is not None:
        scale = scaler.scale
        if not scaler.update(grads_finite(params, ctx)):
            return False
    trainer.update(batch_size * scale)
    return True
