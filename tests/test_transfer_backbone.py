"""§6 backbones: dilation and frozen BN as ResNet parameters, strict loading, GluonCV parity."""
import mxnet as mx
import numpy as np
import pytest
from gluoncv.model_zoo import get_model as gluoncv_model

from gluon_tricks.errors import UsageError
from gluon_tricks.models import resnet
from gluon_tricks.transfer import backbone

from gluoncv_parity import randomize


def _gluoncv_stages(net, x):
    """GluonCV resnetv1b's stage-3 and stage-4 feature maps (as FCN's base_forward takes them)."""
    for layer in (net.conv1, net.bn1, net.relu, net.maxpool, net.layer1, net.layer2):
        x = layer(x)
    c3 = net.layer3(x)
    return c3, net.layer4(c3)


@pytest.mark.parametrize("dilated", [False, True])
def test_backbone_features_equal_gluoncv_resnet50_v1b(dilated, tmp_path):
    theirs = gluoncv_model("resnet50_v1b", pretrained=False, dilated=dilated)
    theirs.initialize()
    x = mx.nd.array(np.random.RandomState(0).uniform(-2, 2, (1, 3, 64, 64)))
    theirs(x)
    randomize(theirs, seed=1)
    path = str(tmp_path / "resnet50_v1b.params")
    theirs.save_parameters(path)

    ours = backbone.build("resnet50_v1b", dilated=dilated)
    loaded = backbone.load(ours, "resnet50_v1b", path)
    assert loaded.ignored == ["fc.bias", "fc.weight"]
    c3 = ours.part(1, 3)(x)
    c4 = ours.part(4, 4, stem=False)(c3)
    want3, want4 = _gluoncv_stages(theirs, x)
    assert c3.shape == want3.shape and c4.shape == want4.shape
    assert c4.shape[-1] == (8 if dilated else 2)     # output stride 8 when dilated
    for got, want in ((c3, want3), (c4, want4)):
        scale = max(1.0, float(np.abs(want.asnumpy()).max()))
        np.testing.assert_allclose(got.asnumpy() / scale, want.asnumpy() / scale, atol=1e-5)


def test_dilated_resnet_d_matches_gluoncv_avg_down_with_dilation(tmp_path):
    """D's pooled shortcut in a stride-1 dilated stage is GluonCV's 1×1 identity pool."""
    theirs = gluoncv_model("resnet50_v1d", pretrained=False, dilated=True)
    theirs.initialize()
    x = mx.nd.array(np.random.RandomState(2).uniform(-2, 2, (1, 3, 48, 48)))
    theirs(x)
    randomize(theirs, seed=3)
    path = str(tmp_path / "d.params")
    theirs.save_parameters(path)
    ours = backbone.build("resnet50_v1d", dilated=True)
    backbone.load(ours, "resnet50_v1d", path)
    np.testing.assert_allclose(ours.part()(x).asnumpy(), _gluoncv_stages(theirs, x)[1].asnumpy(),
                               rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", ["resnet18_v1", "resnet18_v1b", "resnet18_v1c", "resnet18_v1d"])
def test_every_variant_dilates_with_stride_1_and_freezes_bn(name):
    net = backbone.build(name, dilated=True, frozen_bn=True)
    net.initialize()
    assert net.part()(mx.nd.zeros((1, 3, 64, 64))).shape == (1, 512, 8, 8)
    assert all(bn._kwargs["use_global_stats"] for bn in _batchnorms(net))
    backbone.freeze_batchnorm(net)
    assert all(p.grad_req == "null" for bn in _batchnorms(net) for p in bn.collect_params().values())


def _batchnorms(block):
    if isinstance(block, mx.gluon.nn.BatchNorm):
        yield block
    for child in block._children.values():
        yield from _batchnorms(child)


def test_block_dilations_follow_gluoncv():
    assert resnet.block_dilations("bottleneck", 2, first=True) == (1,)
    assert resnet.block_dilations("bottleneck", 4, first=True) == (2,)
    assert resnet.block_dilations("bottleneck", 4, first=False) == (4,)
    assert resnet.block_dilations("basic", 2, first=True) == (1, 2)


def test_strict_loading_names_the_file(tmp_path):
    small = backbone.build("resnet18_v1b")
    small.initialize()
    small(mx.nd.zeros((1, 3, 32, 32)))
    path = str(tmp_path / "r18.params")
    small.save_parameters(path)
    with pytest.raises(UsageError, match="r18.params lacks .* array.s. of resnet50_v1b.* check "
                                         "--backbone and --backbone-params"):
        backbone.load(backbone.build("resnet50_v1b"), "resnet50_v1b", path)
    arrays = mx.nd.load(path)
    arrays["layer5.0.conv1.weight"] = mx.nd.zeros((1,))
    mx.nd.save(str(tmp_path / "extra.params"), arrays)
    with pytest.raises(UsageError, match="extra.params has 1 array.s. resnet18_v1b lacks"):
        backbone.load(backbone.build("resnet18_v1b"), "resnet18_v1b", str(tmp_path / "extra.params"))
    with pytest.raises(UsageError, match="not found"):
        backbone.load(backbone.build("resnet18_v1b"), "resnet18_v1b", str(tmp_path / "none"))


def test_a_run_folder_gives_its_best_checkpoint(tmp_path):
    """The recipes' default BACKBONE_PARAMS is a classification run's checkpoints/best; a run
    folder passed whole resolves there too."""
    best = tmp_path / "run" / "checkpoints" / "best"
    best.mkdir(parents=True)
    net = backbone.build("resnet18_v1c")
    net.initialize()
    net(mx.nd.zeros((1, 3, 32, 32)))
    net.save_parameters(str(best / "model.params"))
    assert backbone.resolve(str(tmp_path / "run")) == str(best / "model.params")
    loaded = backbone.load(backbone.build("resnet18_v1c", dilated=True), "resnet18_v1c",
                           str(tmp_path / "run"))
    assert loaded.path == str(best / "model.params")
