"""Parameter and multiply-accumulate counts read off a network's symbolic graph (paper Table 5).

The paper's "FLOPs" are multiply-accumulates of the convolution and fully-connected layers; they
are counted here from the graph MXNet actually runs (``net(sym.var('data'))``, the same trace
``hybridize`` caches), not from a hand-written table.
"""
import contextlib
import io
import json
from collections import namedtuple

import mxnet as mx
import numpy as np

from .errors import UsageError
from .models import get_model

Cost = namedtuple("Cost", "model input_size params macs")


def count(net, input_size, name="model"):
    """Trainable parameters and MACs of one ``input_size``² image through ``net``."""
    sym = net(mx.sym.var("data"))
    internals = sym.get_internals()
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # MXNet prints a banner on failure
            arg_shapes, out_shapes, _ = internals.infer_shape(data=(1, 3, input_size, input_size))
    except mx.base.MXNetError as err:
        reason = str(err).strip().splitlines()[0].rsplit(": ", 1)[-1]
        raise UsageError("input size %d is too small for %s (%s); use a larger --size"
                         % (input_size, name, reason)) from None
    arg_shape = dict(zip(internals.list_arguments(), arg_shapes))
    out_shape = dict(zip(internals.list_outputs(), out_shapes))
    nodes = json.loads(sym.tojson())["nodes"]
    macs = 0
    for node in nodes:
        if node["op"] not in ("Convolution", "FullyConnected"):
            continue
        weight = arg_shape[nodes[node["inputs"][1][0]]["name"]]
        out = out_shape[node["name"] + "_output"]
        macs += int(np.prod(out)) * int(np.prod(weight[1:]))
    params = sum(int(np.prod(shape)) for arg, shape in arg_shape.items() if arg != "data")
    return Cost(name, input_size, params, macs)


def model_cost(name, input_size, classes=1000):
    """:func:`count` for the registered model ``name``."""
    return count(get_model(name, classes=classes), input_size, name)
