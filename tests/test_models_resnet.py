"""The one ResNet definition: GluonCV weight parity for every variant, the tweaks, zero γ."""
import mxnet as mx
import numpy as np
import pytest

from gluon_tricks.models import get_model, list_models, resnet
from gluon_tricks.models.init import initialize

from gluoncv_parity import check_parity

RESNETS = sorted(set(resnet.MODELS) - set(resnet.ZOO_MISSING))


@pytest.mark.parametrize("name", RESNETS)
def test_gluoncv_weights_load_strictly_and_agree(name, tmp_path):
    check_parity(name, size=64, tmp_path=tmp_path, batch=1)


def test_small_resnet_d_has_the_deep_stem_and_pooled_shortcut():
    net = get_model("resnet18_v1d", classes=10)
    initialize(net)
    assert net(mx.nd.zeros((2, 3, 64, 64))).shape == (2, 10)
    names = net._collect_params_with_prefix()
    assert "conv1.6.weight" in names and "layer2.0.downsample.1.weight" in names
    assert net._children["layer2.0"]._pool_stride == 2


def test_resnet50_v1d_parameter_count():
    net = get_model("resnet50_v1d")
    initialize(net)
    net(mx.nd.zeros((1, 3, 32, 32)))
    trainable = sum(int(np.prod(p.shape)) for p in net.collect_params().values()
                    if p.grad_req != "null")
    assert trainable == 25576264


def _shapes(name, size=64):
    net = get_model(name, classes=10)
    initialize(net)
    net(mx.nd.zeros((1, 3, size, size)))
    return {k: v.shape for k, v in net._collect_params_with_prefix().items()}


def test_tweak_c_replaces_the_7x7_stem_with_three_3x3_convs():
    b, c = _shapes("resnet50_v1b"), _shapes("resnet50_v1c")
    assert b["conv1.weight"] == (64, 3, 7, 7)
    assert [c["conv1.%d.weight" % i] for i in (0, 3, 6)] == [(32, 3, 3, 3), (32, 32, 3, 3),
                                                             (64, 32, 3, 3)]


def test_tweak_d_puts_an_avgpool_before_a_stride_1_shortcut_conv():
    net = get_model("resnet50_v1d")
    block = net._children["layer2.0"]
    conv = block._children["downsample.1"]
    assert conv._kwargs["stride"] == (1, 1)
    assert block._pool_stride == 2
    assert net._children["layer1.0"]._pool_stride == 0


@pytest.mark.parametrize("name,strided", [("resnet50_v1", "body.0"), ("resnet50_v1b", "conv2")])
def test_tweak_b_moves_the_stride_to_the_3x3_conv(name, strided):
    block = get_model(name)._children["features.5.0" if name.endswith("v1") else "layer2.0"]
    strides = {k: c._kwargs["stride"] for k, c in block._children.items()
               if isinstance(c, mx.gluon.nn.Conv2D) and not k.startswith("downsample")}
    assert [k for k, s in strides.items() if s == (2, 2)] == [strided]


def test_tweak_d_output_differs_from_b_only_through_the_shortcut_pooling():
    """Same weights in resnet50_v1c and v1d: the shortcut's avg-pool changes the output."""
    c = get_model("resnet50_v1c")
    initialize(c)
    x = mx.nd.random.uniform(shape=(1, 3, 64, 64))
    c(x)
    d = get_model("resnet50_v1d")
    d.initialize()
    d(x)
    params_c = c._collect_params_with_prefix()
    for key, param in d._collect_params_with_prefix().items():
        src = key.replace("downsample.1.", "downsample.0.").replace("downsample.2.", "downsample.1.")
        param.set_data(params_c[src].data())
    assert not np.allclose(c(x).asnumpy(), d(x).asnumpy())


@pytest.mark.parametrize("name,last", [("resnet18_v1", "body.4"), ("resnet18_v1b", "bn2"),
                                       ("resnet50_v1", "body.7"), ("resnet50_v1d", "bn3")])
def test_zero_gamma_covers_basic_and_bottleneck_blocks(name, last):
    net = get_model(name, last_gamma=True)
    initialize(net)
    net(mx.nd.zeros((1, 3, 32, 32)))
    params = net._collect_params_with_prefix()
    zero = {k for k, p in params.items() if k.endswith(".gamma") and not p.data().asnumpy().any()}
    blocks = {k.rsplit(".", 2)[0] for k in params if ".0.%s" % last in k or ".1.%s" % last in k}
    expected = {k for k in params if k.endswith("%s.gamma" % last)}
    assert zero == expected and len(zero) >= len(blocks) > 0
    # With γ = 0 every residual block starts as the identity (plus ReLU) on its shortcut.
    off = get_model(name)
    initialize(off)
    off(mx.nd.zeros((1, 3, 32, 32)))
    assert not {k for k, p in off._collect_params_with_prefix().items()
                if k.endswith(".gamma") and not p.data().asnumpy().any()}


def test_xavier_init_bound_and_bn_defaults():
    net = get_model("resnet18_v1b", classes=10)
    initialize(net, "xavier")
    net(mx.nd.zeros((1, 3, 32, 32)))
    params = net._collect_params_with_prefix()
    w = params["layer1.0.conv1.weight"].data().asnumpy()
    fan = 64 * 9
    bound = np.sqrt(6.0 / (fan + fan))
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.9 * bound
    assert abs(w.std() - bound / np.sqrt(3)) < 0.05 * bound
    assert (params["fc.bias"].data().asnumpy() == 0).all()
    assert (params["bn1.gamma"].data().asnumpy() == 1).all()
    assert (params["bn1.beta"].data().asnumpy() == 0).all()


@pytest.mark.parametrize("name", ["resnet18_v1", "resnet50_v1d"])
def test_hybridize_and_export(name, tmp_path):
    net = get_model(name, classes=7)
    initialize(net)
    x = mx.nd.random.uniform(shape=(2, 3, 64, 64))
    eager = net(x).asnumpy()
    net.hybridize(static_alloc=True, static_shape=True)
    np.testing.assert_allclose(net(x).asnumpy(), eager, rtol=1e-5, atol=1e-5)
    net.export(str(tmp_path / name))
    sym = mx.sym.load(str(tmp_path / ("%s-symbol.json" % name)))
    loaded = mx.gluon.SymbolBlock(sym, mx.sym.var("data"))
    loaded.load_parameters(str(tmp_path / ("%s-0000.params" % name)))
    np.testing.assert_allclose(loaded(x).asnumpy(), eager, rtol=1e-5, atol=1e-5)


def test_unknown_model_and_bad_classes_are_usage_errors():
    with pytest.raises(ValueError, match="unknown model 'resnet51'.*resnet50_v1d"):
        get_model("resnet51")
    with pytest.raises(ValueError, match="classes must be a positive integer"):
        get_model("resnet18_v1", classes=0)
    assert "resnet50_v1d" in list_models() and "mobilenet0.25" in list_models()
