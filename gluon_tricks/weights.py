"""Load a network from a ``.params`` file: a GluonCV model-zoo file or one of our checkpoints.

Our networks save under GluonCV's structural names, so both kinds load with a plain
``net.load_parameters(path)``. Used by ``eval``, ``export`` and the distillation teacher (§5.3).
"""
import os
from typing import NamedTuple

import mxnet as mx

from . import checkpoint
from .errors import UsageError
from .models import check_input_size, check_model, default_input_size, get_model

# The classifier's weight in GluonCV's structural names: ``fc`` (ResNet v1b/c/d), ``output``
# (ResNet v1, MobileNet, Inception-V3). Its rows are the number of classes.
CLASSIFIER_WEIGHTS = ("fc.weight", "output.weight")


def resolve_params(path, role="model", flag="--params"):
    """The ``.params`` file ``path`` names: the file itself, a checkpoint directory's
    model.params, or the newest epoch checkpoint of a run folder or its ``checkpoints`` folder."""
    if os.path.isfile(path):
        return path
    if not os.path.isdir(path):
        raise UsageError("%s parameters %s not found; pass a GluonCV zoo file or a checkpoint's "
                         "model.params with %s" % (role, path, flag))
    if os.path.isfile(os.path.join(path, checkpoint.MODEL_FILE)):
        return os.path.join(path, checkpoint.MODEL_FILE)
    for root in (os.path.join(path, "checkpoints"), path):
        newest = checkpoint.latest(root)
        if newest is not None:
            return os.path.join(newest, checkpoint.MODEL_FILE)
    raise UsageError("%s holds no %s and no complete epoch checkpoint; pass a .params file, a "
                     "checkpoint directory or a run folder with %s"
                     % (path, checkpoint.MODEL_FILE, flag))


def read_params(path):
    """The arrays of a ``.params`` file by name; a file MXNet cannot read is a UsageError."""
    try:
        return mx.nd.load(path)
    except mx.base.MXNetError as err:
        raise UsageError("%s is not an MXNet .params file (%s)"
                         % (path, _reason(err))) from None


def classifier_classes(path):
    """Rows of the classifier weight stored in ``path`` (the class count), or None if absent."""
    arrays = read_params(path)
    if not isinstance(arrays, dict):
        return None
    for name, array in arrays.items():
        if name.split(":")[-1] in CLASSIFIER_WEIGHTS:
            return array.shape[0]
    return None


def load_params(net, path, name, ctx=None, model_flag="--model"):
    """``net.load_parameters(path)`` with a one-line UsageError naming the file and model
    ``name`` when the file does not fit the network (missing, extra or misshapen arrays).

    Arrays take the network's dtype, so a checkpoint of an FP16 run (§3.2) loads too.
    """
    try:
        net.load_parameters(path, ctx=ctx or mx.cpu(), cast_dtype=True, dtype_source="current")
    except (AssertionError, mx.base.MXNetError) as err:
        raise UsageError("%s does not hold %s parameters (%s); check %s"
                         % (path, name, _reason(err), model_flag)) from None
    return net


class Loaded(NamedTuple):
    """A network with its weights, the ``.params`` file they came from and its class count."""

    net: mx.gluon.HybridBlock
    path: str
    classes: int


def load_model(name, path, classes=None, ctx=None):
    """Network ``name`` with the weights of ``path`` (a file, checkpoint dir or run folder), as
    a :class:`Loaded`. The class count comes from the file's classifier; ``classes``, if given,
    must agree.
    """
    path = resolve_params(path)
    found = classifier_classes(path)
    if classes and found and classes != found:
        raise UsageError("--classes %d does not match %s: its classifier has %d output classes; "
                         "leave --classes out to use the file's" % (classes, path, found))
    classes = classes or found
    if not classes:
        raise UsageError("%s has no classifier weight (%s) to take the class count from; it does "
                         "not hold %s parameters, check --model and --params"
                         % (path, " or ".join(CLASSIFIER_WEIGHTS), name))
    net = get_model(name, classes=classes)
    return Loaded(load_params(net, path, name, ctx), path, classes)


def checked_input_size(model, classes, input_size):
    """Validate ``--model``, ``--classes`` and ``--input-size`` of a command that loads weights;
    returns the input size (the model's default when 0)."""
    check_model(model)
    if classes < 0:
        raise UsageError("--classes must be a positive integer, got %d" % classes)
    size = input_size or default_input_size(model)
    if size < 32:
        raise UsageError("--input-size must be at least 32 pixels, got %d" % size)
    check_input_size(model, size)
    return size


def _reason(err):
    """The gist of an MXNet error in one line: the message after MXNet's C++ trace, without the
    list of every name in the file that a missing parameter adds."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    lines = [line for line in lines if not line.startswith(("Traceback", "File "))]
    if not lines:
        return type(err).__name__
    return lines[-1].replace("MXNetError: ", "").split(", which contains parameters")[0]
