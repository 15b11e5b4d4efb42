"""Backbones for the §6 heads: one of our ResNets, dilated or with frozen BatchNorm, with the
weights of an ImageNet classifier (a gluon-tricks checkpoint or run folder, or a GluonCV zoo
file) loaded strictly: every backbone array must be in the file; the classifier is left out."""
import os
from typing import List, NamedTuple

import mxnet as mx

from .. import checkpoint, framework
from ..errors import UsageError, shown
from ..models import resnet
from ..runcore.folder import CHECKPOINTS
from ..weights import load_all_but_classifier, resolve_params

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
    best = os.path.join(path, CHECKPOINTS, checkpoint.BEST_NAME, checkpoint.MODEL_FILE)
    if os.path.isdir(path) and os.path.isfile(best):
        return best
    return resolve_params(path, role="backbone", flag="--backbone-params")


def load(net, name, path, ctx=None):
    """Load the weights of ``path`` into backbone ``net`` (model ``name``) strictly (see
    :func:`~gluon_tricks.weights.load_all_but_classifier`), the classifier left out; returns a
    :class:`Backbone`. ``ctx`` is a list of contexts (default: CPU)."""
    path = resolve(path)
    # Settle the deferred shapes with one small forward, then copy the arrays in.
    ctx = ctx or [mx.cpu()]
    net.initialize(mx.init.Zero(), ctx=ctx, force_reinit=True)
    net(mx.nd.zeros((1, 3, 64, 64), ctx=ctx[0]))
    copied = load_all_but_classifier(net, path, name, "--backbone and --backbone-params",
                                     classifier=False)
    return Backbone(net, path, copied.left_out)


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
