"""Load a network from a ``.params`` file: a GluonCV model-zoo file or one of our checkpoints.

Our networks save under GluonCV's structural names, so both kinds load with a plain
``net.load_parameters(path)``. Used by ``eval``, ``export``, the distillation teacher (§5.3),
fine-tuning (``train --pretrained``) and the backbones of the §6 heads.
"""
import os
from typing import List, NamedTuple, Optional

import mxnet as mx

from . import checkpoint, framework, runconfig
from .errors import UsageError, shown
from .models import (check_input_size, check_min_input_size, check_model, default_input_size,
                     get_model)
from .runcore.folder import CHECKPOINTS
from .zoo import zoo_model

# The classifier in GluonCV's structural names: ``fc`` (ResNet v1b/c/d), ``output`` (ResNet v1,
# MobileNet, Inception-V3). Its weight's rows are the number of classes.
CLASSIFIERS = ("fc", "output")
CLASSIFIER_WEIGHTS = tuple(name + ".weight" for name in CLASSIFIERS)


DEFAULT_CHECKPOINT = "best"


def checkpoint_names(root):
    """Names of the complete checkpoints under ``root`` (``best``, ``epoch-0003``, ...), sorted;
    ``latest`` is added when an epoch checkpoint exists."""
    names = []
    for entry in sorted(os.listdir(root)):
        try:
            checkpoint.read_state(os.path.join(root, entry))
        except UsageError:
            continue
        names.append(entry)
    return names + (["latest"] if checkpoint.latest(root) else [])


def resolve_params(path, role="model", flag="--params", checkpoint_name=None):
    """The ``.params`` file ``path`` names: the file itself, a checkpoint directory's
    model.params, or checkpoint ``checkpoint_name`` (default ``best``; ``latest`` is the newest
    epoch) of a run folder or of its ``checkpoints`` folder."""
    if checkpoint_name and (os.path.isfile(path)
                            or os.path.isfile(os.path.join(path, checkpoint.MODEL_FILE))):
        raise UsageError("--checkpoint picks a checkpoint of a run folder, but %s is a single "
                         "checkpoint; leave --checkpoint out" % path)
    if os.path.isfile(path):
        return path
    if not os.path.isdir(path):
        raise UsageError("%s parameters %s not found; pass a GluonCV zoo file, a checkpoint's "
                         "model.params or a run folder with %s" % (role, path, flag))
    if os.path.isfile(os.path.join(path, checkpoint.MODEL_FILE)):
        return os.path.join(path, checkpoint.MODEL_FILE)
    root = os.path.join(path, CHECKPOINTS)
    root = root if os.path.isdir(root) else path
    names = checkpoint_names(root)
    if not names:
        raise UsageError("%s holds no %s and no complete checkpoint; pass a .params file, a "
                         "checkpoint directory or a run folder with %s"
                         % (path, checkpoint.MODEL_FILE, flag))
    name = checkpoint_name or DEFAULT_CHECKPOINT
    if name not in names:
        raise UsageError("%s has no complete checkpoint %s; choose one of %s with --checkpoint "
                         "NAME (or pass its folder %s)"
                         % (path, shown(name, quoted=True), ", ".join(names),
                            os.path.join(root, names[0])))
    folder = checkpoint.latest(root) if name == "latest" else os.path.join(root, name)
    return os.path.join(folder, checkpoint.MODEL_FILE)


def run_config(path, params):
    """The training config of weights ``params`` found from ``path``: the run folder's
    config.json, else the config its checkpoint's state.json stores; None for other files."""
    config = runconfig.read(path) if os.path.isdir(path) else None
    if config is not None:
        return config
    try:
        return checkpoint.read_state(os.path.dirname(params)).get("config")
    except UsageError:
        return None


class Source(NamedTuple):
    """Weights to load and what they are: network, class count (None: the file's classifier),
    input side, and the training config when they come from one of our runs."""

    params: str
    model: str
    classes: Optional[int]
    input_size: int
    config: Optional[dict]


def find_source(path, model=None, classes=0, input_size=0, checkpoint_name=None):
    """A :class:`Source` for ``path`` (zoo file, checkpoint, run folder). The network, class
    count and input size come from the run's config, or the network from a zoo file name
    (``resnet50_v1d-117a384e.params``); ``model``/``classes`` given must agree with them, and
    ``input_size`` (0: the run's, else the network's default) may change the side."""
    if model:                                # a bad name or size is reported before files
        checked_input_size(model, classes, input_size)
    params = resolve_params(path, checkpoint_name=checkpoint_name)
    config = run_config(path, params)
    known, origin = ((config["model"], "its training config") if config else
                     (zoo_model(os.path.basename(params)), "its GluonCV zoo file name"))
    if model and known and model != known:
        raise UsageError("--model %s does not match %s: %s says %s; leave --model out"
                         % (model, path, origin, known))
    model = model or known
    if not model:
        raise UsageError("cannot tell which network %s holds (not a zoo name like "
                         "resnet50_v1d-117a384e.params, no run config beside it); pass --model "
                         "NAME" % params)
    if config and classes and classes != config["classes"]:
        raise UsageError("--classes %d does not match %s: the run trained %d classes; leave "
                         "--classes out" % (classes, path, config["classes"]))
    classes = classes or (config["classes"] if config else 0)
    size = checked_input_size(model, classes, input_size or (config or {}).get("input_size", 0))
    return Source(params, model, classes or None, size, config)


def read_params(path):
    """The arrays of a ``.params`` file by name; a file MXNet cannot read is a UsageError."""
    try:
        return mx.nd.load(path)
    except mx.base.MXNetError as err:
        raise UsageError("%s is not an MXNet .params file (%s)"
                         % (path, _reason(err))) from None


def named_arrays(path):
    """The arrays of a ``.params`` file by parameter name (an export's ``arg:``/``aux:`` prefixes
    dropped); a file of unnamed arrays is a UsageError."""
    arrays = read_params(path)
    if not isinstance(arrays, dict):
        raise UsageError("%s holds unnamed arrays, not network parameters" % path)
    return {key.split(":", 1)[-1]: value for key, value in arrays.items()}


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


def is_classifier(name):
    """True for a structural parameter name of the classifier (``fc.weight``, ``output.bias``)."""
    return name.split(".", 1)[0] in CLASSIFIERS


class Copied(NamedTuple):
    """What :func:`load_all_but_classifier` copied: whether the classifier came too, and the
    file's classifier arrays it left out."""

    classifier: bool
    left_out: List[str]


def load_all_but_classifier(net, path, name, check="--model and --pretrained", classifier=True):
    """Copy the arrays of ``path`` into the initialised ``net`` (model ``name``) strictly: every
    parameter but the classifier must be in the file with its shape, and the file holds nothing
    else, or a one-line UsageError names the file and the options to ``check``. With
    ``classifier``, the classifier is copied too when the file's has the same shape; otherwise it
    keeps its initial values. Used by fine-tuning (``--pretrained``) and the §6 backbones."""
    arrays = named_arrays(path)
    params = framework.structural_params(net)
    body = {key: p for key, p in params.items() if not is_classifier(key)}
    head = {key: p for key, p in params.items() if is_classifier(key)}
    theirs = sorted(key for key in arrays if is_classifier(key))
    missing = sorted(set(body) - set(arrays))
    extra = sorted(key for key in arrays if key not in body and not is_classifier(key))
    wrong = sorted(key for key in set(body) & set(arrays)
                   if tuple(body[key].shape) != arrays[key].shape)
    for problem, keys in (("lacks %d array(s) of %s", missing), ("has %d array(s) %s lacks", extra),
                          ("has %d array(s) shaped unlike %s's", wrong)):
        if keys:
            raise UsageError("%s %s, e.g. %s: it does not hold %s parameters; check %s"
                             % (path, problem % (len(keys), name), ", ".join(keys[:3]), name,
                                check))
    fits = (classifier and set(head) == set(theirs)
            and all(tuple(p.shape) == arrays[key].shape for key, p in head.items()))
    for key, param in (params if fits else body).items():
        param.set_data(arrays[key].astype(param.dtype))
    return Copied(bool(fits), [] if fits else theirs)


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
    check_min_input_size(size)
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
