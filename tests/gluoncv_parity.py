"""Shared check: a randomly initialised GluonCV zoo net, saved and loaded strictly into ours,
gives the same outputs."""
import mxnet as mx
import numpy as np
from gluoncv.model_zoo import get_model as gluoncv_model

from gluon_tricks.models import get_model


def randomize(net, seed):
    """Give every parameter, BN statistics included, random values so a mismatch shows."""
    rng = np.random.RandomState(seed)
    for name, param in net.collect_params().items():
        shape = param.shape
        if name.endswith(("running_var", "gamma")):
            value = rng.uniform(0.5, 1.5, shape)
        elif name.endswith(("running_mean", "beta", "bias")):
            value = rng.uniform(-0.2, 0.2, shape)
        else:
            fan_in = max(1, int(np.prod(shape[1:])))
            value = rng.normal(0, np.sqrt(2.0 / fan_in), shape)
        param.set_data(mx.nd.array(value))


def check_parity(name, size, tmp_path, batch=2, seed=0):
    """Save GluonCV's ``name`` with random weights, load it into ours; outputs must agree to 1e-5."""
    theirs = gluoncv_model(name)
    theirs.initialize()
    x = mx.nd.array(np.random.RandomState(seed).uniform(-2, 2, (batch, 3, size, size)))
    theirs(x)
    randomize(theirs, seed)
    path = str(tmp_path / ("%s.params" % name))
    theirs.save_parameters(path)

    ours = get_model(name)
    ours.load_parameters(path)
    theirs_shapes = {k: v.shape for k, v in theirs._collect_params_with_prefix().items()}
    ours_shapes = {k: v.shape for k, v in ours._collect_params_with_prefix().items()}
    assert ours_shapes == theirs_shapes
    expected = theirs(x).asnumpy()
    got = ours(x).asnumpy()
    scale = max(1.0, float(np.abs(expected).max()))
    np.testing.assert_allclose(got / scale, expected / scale, rtol=1e-5, atol=1e-5)
    return ours
