"""Backbones for the §6 heads: one of our ResNets, dilated or with frozen BatchNorm, with the
weights of an ImageNet classifier (a gluon-tricks checkpoint or run folder, or a GluonCV zoo
file) loaded strictly: every backbone array must be in the file; the classifier is left out."""
import os
from typing import List, NamedTuple

import mxnet as mx

from .. import checkpoint, framework
from ..errors import UsageError, shown
from ..models import resnet
from ..weights import named_arrays, resolve_params

# The ResNets a §6 head can sit on: every variant the paper's Table 8-9 rows use (B, D) and the
# others, at every depth.
BACKBONES = tuple(sorted(resnet.MODELS))


class Backbone(NamedTuple):
    """A loaded backbone: the network, the file its weights came from, the arrays left out."""

    net: resnet.ResNet
    path: str
    ignored: List[str]


def build(name, dilated=False, frozen_bn=False):
    """ResNet ``name`` (e.g. ``resnet50_v1d``) with stages 3-4 dilated and/or BN frozen."""
    if name not in resnet.MODELS:
        raise UsageError("unknown backbone %s; choose one of: %s"
                         % (shown(name, quoted=True), ", ".join(BACKBONES)))
    return resnet.MODELS[name](classes=1000, dilated=dilated, frozen_bn=frozen_bn)


def resolve(path):
    """The ``.params`` file of a classification run: a file, a checkpoint directory or a run
    folder (see :func:`~gluon_tricks.weights.resolve_params`); a run folder's
    ``checkpoints/best/model.params`` (the recipes' default) is taken even without the rest of a
    checkpoint beside it."""
    best = os.path.join(path, "checkpoints", "best", checkpoint.MODEL_FILE)
    if os.path.isdir(path) and os.path.isfile(best):
        return best
    return resolve_params(path, role="backbone", flag="--backbone-params")


def load(net, name, path, ctx=None):
    """Load the weights of ``path`` into backbone ``net`` (model ``name``) strictly; returns a
    :class:`Backbone`. ``ctx`` is a list of contexts (default: CPU).

    Every parameter of ``net`` except its classifier must be in the file with the same shape,
    and the file may hold nothing else but the classifier; anything else is a one-line
    UsageError naming the file.
    """
    path = resolve(path)
    arrays = named_arrays(path)
    head = net.classifier_name + "."
    wanted = {key: p for key, p in framework.structural_params(net).items()
              if not key.startswith(head)}
    ignored = sorted(key for key in arrays if key.startswith(head))
    missing = sorted(set(wanted) - set(arrays))
    extra = sorted(set(arrays) - set(wanted) - set(ignored))
    if missing or extra:
        what = ("lacks %d backbone array(s), e.g. %s" % (len(missing), ", ".join(missing[:3]))
                if missing else "has %d array(s) no %s has, e.g. %s"
                % (len(extra), name, ", ".join(extra[:3])))
        raise UsageError("%s %s: it is not a %s classifier; check --backbone and "
                         "--backbone-params" % (path, what, name))
    # Settle the deferred shapes with one small forward, then copy the arrays in.
    ctx = ctx or [mx.cpu()]
    net.initialize(mx.init.Zero(), ctx=ctx, force_reinit=True)
    net(mx.nd.zeros((1, 3, 64, 64), ctx=ctx[0]))
    for key, param in wanted.items():
        value = arrays[key]
        if tuple(param.shape) != value.shape:
            raise UsageError("%s: %s has shape %s, %s needs %s; check --backbone"
                             % (path, key, value.shape, name, param.shape))
        param.set_data(value.astype(param.dtype))
    return Backbone(net, path, ignored)


def freeze(blocks):
    """Stop the gradients (``grad_req='null'``) of every parameter of ``blocks``."""
    for block in blocks:
        block.collect_params().setattr("grad_req", "null")


def freeze_batchnorm(net):
    """``grad_req='null'`` for γ and β of every BatchNorm under ``net`` (frozen BN, §6.1)."""
    if isinstance(net, mx.gluon.nn.BatchNorm):
        net.collect_params().setattr("grad_req", "null")
    for child in framework.children(net):
        freeze_batchnorm(child)
