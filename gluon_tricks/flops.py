"""Parameter and multiply-accumulate counts read off a network's symbolic graph (paper Table 5).

The paper's "FLOPs" are multiply-accumulates of the convolution and fully-connected layers; they
are counted here from the graph MXNet actually runs (``net(sym.var('data'))``, the same trace
``hybridize`` caches), not from a hand-written table.
"""
import json
from collections import namedtuple

import numpy as np

from .models import get_model, infer_shapes

Cost = namedtuple("Cost", "model input_size params macs")


def count(net, input_size, name="model"):
    """Trainable parameters and MACs of one ``input_size``² image through ``net``."""
    sym, arg_shape, out_shape = infer_shapes(net, input_size, name)
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
