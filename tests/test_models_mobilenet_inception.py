"""MobileNet and Inception-V3 are drop-in replacements for GluonCV's zoo networks: a zoo ``.params``
file loads strictly and gives the same outputs; the networks hybridize, export and resize their head."""
import gluoncv
import mxnet as mx
import numpy as np
import pytest

from gluon_tricks.models import get_model

MOBILENETS = ["mobilenet1.0", "mobilenet0.75", "mobilenet0.5", "mobilenet0.25"]
NAMES = MOBILENETS + ["inceptionv3"]
LIGHT = ["mobilenet0.25", "inceptionv3"]


def _input(name, batch=2, seed=0):
    side = 299 if name == "inceptionv3" else 224
    return mx.nd.array(np.random.RandomState(seed).uniform(-1, 1, (batch, 3, side, side)))


def _randomise_batchnorm(net, seed=1):
    """Give every BN non-trivial statistics and affine parameters, so that a BN wired to the wrong
    conv, or the wrong ε, changes the output."""
    rng = np.random.RandomState(seed)
    for name, param in net._collect_params_with_prefix().items():
        shape = param.shape
        if name.endswith("running_var"):
            param.set_data(mx.nd.array(rng.uniform(0.5, 2.0, shape)))
        elif name.endswith("running_mean"):
            param.set_data(mx.nd.array(rng.normal(0.0, 0.5, shape)))
        elif name.endswith("gamma"):
            param.set_data(mx.nd.array(rng.uniform(0.5, 1.5, shape)))
        elif name.endswith("beta"):
            param.set_data(mx.nd.array(rng.normal(0.0, 0.5, shape)))


def _random_net(net, x):
    """Initialise ``net`` with random weights and BN parameters (deferred shapes resolved on ``x``)."""
    mx.random.seed(0)
    net.initialize(mx.init.Xavier())
    net(x)
    _randomise_batchnorm(net)
    return net


def _shapes(net):
    return {name: param.shape for name, param in net._collect_params_with_prefix().items()}


def _assert_close(actual, expected):
    scale = max(1.0, float(np.abs(expected).max()))
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-5 * scale)


@pytest.fixture(scope="module", params=NAMES)
def zoo_and_ours(request, tmp_path_factory):
    """GluonCV's network with random weights, and ours loaded from its saved ``.params``."""
    name = request.param
    x = _input(name)
    zoo = _random_net(gluoncv.model_zoo.get_model(name), x)
    path = str(tmp_path_factory.mktemp("zoo") / ("%s.params" % name))
    zoo.save_parameters(path)
    ours = get_model(name)
    ours.load_parameters(path)
    return zoo, ours, x


def test_parameter_names_and_shapes_match_gluoncv(zoo_and_ours):
    zoo, ours, _ = zoo_and_ours
    assert _shapes(ours) == _shapes(zoo)


def test_gluoncv_weights_give_gluoncv_outputs(zoo_and_ours):
    zoo, ours, x = zoo_and_ours
    expected = zoo(x).asnumpy()
    assert np.abs(expected).max() > 0
    _assert_close(ours(x).asnumpy(), expected)


@pytest.mark.parametrize("name", LIGHT)
def test_hybridize_and_export(name, tmp_path):
    x = _input(name, batch=1)
    net = _random_net(get_model(name), x)
    imperative = net(x).asnumpy()
    net.hybridize(static_alloc=True, static_shape=True)
    _assert_close(net(x).asnumpy(), imperative)

    prefix = str(tmp_path / name)
    net.export(prefix)
    exported = mx.gluon.SymbolBlock.imports(prefix + "-symbol.json", ["data"], prefix + "-0000.params")
    _assert_close(exported(x).asnumpy(), imperative)


@pytest.mark.parametrize("name", LIGHT)
def test_classes_sets_output_width_and_last_gamma_is_ignored(name):
    net = get_model(name, classes=10, last_gamma=True)
    net.initialize()
    assert net(_input(name, batch=1)).shape == (1, 10)
    gammas = [p.data().asnumpy() for n, p in net._collect_params_with_prefix().items()
              if n.endswith("gamma")]
    assert gammas and all((g == 1).all() for g in gammas)
