"""The networks the paper trains, under GluonCV's model-zoo names (paper §2, §4).

Every network saves and loads parameters under the same structural names as its GluonCV
counterpart, so a zoo ``.params`` file loads with a plain ``net.load_parameters(path)``.
"""
import contextlib
import io

import mxnet as mx

from ..errors import UsageError, shown
from . import inception, mobilenet, resnet
from .init import initialize

_REGISTRY = {}
for _module in (resnet, mobilenet, inception):
    _REGISTRY.update(_module.MODELS)


def list_models():
    """All model names, in a stable order."""
    return sorted(_REGISTRY)


def default_input_size(name):
    """The input side a model is trained at: 299 for Inception-V3, 224 otherwise (paper §2.1)."""
    return 299 if name.startswith("inception") else 224


def check_model(name, flag="--model"):
    """A one-line UsageError unless ``name`` is a registered network (``flag`` names the option)."""
    if name not in _REGISTRY:
        what = "teacher model" if flag == "--teacher" else "model"
        raise UsageError("unknown %s %s; choose one of: %s"
                         % (what, shown(name, quoted=True), ", ".join(list_models())))


def get_model(name, classes=1000, last_gamma=False, **kwargs):
    """Build network ``name`` with ``classes`` outputs; ``last_gamma`` zero-initialises the γ of
    each residual block's last BN (paper §3.2, "zero γ"; networks without residual blocks ignore it)."""
    check_model(name)
    if isinstance(classes, bool) or not isinstance(classes, int) or classes < 1:
        raise UsageError("classes must be a positive integer, got %s" % shown(classes, quoted=True))
    return _REGISTRY[name](classes=classes, last_gamma=last_gamma, **kwargs)


def infer_shapes(net, input_size, name="model"):
    """Shapes of every argument and internal output of ``net`` for one ``input_size``² image:
    (symbol, {argument: shape}, {internal output: shape}). A size the network cannot take (its
    pooling windows outgrow the feature maps, or a tensor would pass MXNet's 2^31 elements)
    raises a one-line UsageError."""
    sym = net(mx.sym.var("data"))
    internals = sym.get_internals()
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # MXNet prints a banner on failure
            arg_shapes, out_shapes, _ = internals.infer_shape(data=(1, 3, input_size, input_size))
    except Exception as err:     # MXNetError, or a plain Exception past 2^31 elements
        reason = str(err).strip().splitlines()[0].rsplit(": ", 1)[-1]
        how = "large" if "2^31" in reason else "small"
        raise UsageError("input size %d is too %s for %s (%s); use a %s size"
                         % (input_size, how, name, reason, "smaller" if how == "large" else
                            "larger")) from None
    return (sym, dict(zip(internals.list_arguments(), arg_shapes)),
            dict(zip(internals.list_outputs(), out_shapes)))


# The smallest input side: every network here downsamples by 32 before its global pooling.
MIN_INPUT_SIZE = 32


def check_min_input_size(input_size):
    """UsageError when ``--input-size`` is below MIN_INPUT_SIZE."""
    if input_size < MIN_INPUT_SIZE:
        raise UsageError("--input-size must be at least %d pixels, got %d"
                         % (MIN_INPUT_SIZE, input_size))


def check_input_size(name, input_size):
    """UsageError unless model ``name`` accepts ``input_size``² images (Inception-V3 needs 299)."""
    infer_shapes(get_model(name, classes=2), input_size, name)


__all__ = ["get_model", "list_models", "default_input_size", "initialize", "infer_shapes",
           "check_input_size", "check_min_input_size"]
