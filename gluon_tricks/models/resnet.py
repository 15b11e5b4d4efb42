"""One ResNet for every variant the paper trains: the B, C and D tweaks are parameters (§4, Fig. 1-2).

* stem: ``"7x7"`` (7×7/2 conv 64) or ``"deep"`` (tweak C: three 3×3 convs 32/2, 32, 64), then
  BN-ReLU and a 3×3/2 max pool;
* ``stride_on``: where a downsampling bottleneck puts its stride in path A, ``"1x1"`` (original
  ResNet) or ``"3x3"`` (tweak B);
* ``shortcut``: path B of a downsampling block, ``"conv"`` (1×1 conv with the stride) or
  ``"avgpool"`` (tweak D: 2×2 average pool, ceil mode, then a 1×1 stride-1 conv);
* ``last_gamma``: zero γ (§3.2), the last BN of every residual block, basic or bottleneck,
  starts at γ = 0;
* ``dilated``: stages 3 and 4 keep stride 1 and dilate their 3×3 convs by 2 and 4 (paper §6.2,
  "dilation network strategy"; GluonCV's ``dilated=True``), an output stride of 8;
* ``frozen_bn``: every BatchNorm uses its running statistics (``use_global_stats``), as the
  detector's backbone does (§6.1; GluonCV's ``use_global_stats=True``).

:meth:`ResNet.part` gives a HybridBlock running some of the stages on the same blocks, for the
heads of §6 (Faster R-CNN's ``features``/``top_features``, FCN's stage-3/stage-4 outputs).

GluonCV stores these networks under two parameter layouts (``features.4.0.body.0.weight`` for
``resnet*_v1``; ``layer1.0.conv1.weight`` for ``v1b/c/d``). The computation here is the same for
both; ``layout`` only decides the names under which parameters are registered, so GluonCV zoo
``.params`` files load unchanged.
"""
from mxnet.gluon import HybridBlock, nn

from .. import framework

DEPTHS = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
    152: ("bottleneck", (3, 8, 36, 3)),
}
STAGE_WIDTHS = (64, 128, 256, 512)
EXPANSION = {"basic": 1, "bottleneck": 4}


def _attach(owner, path, block):
    """Register ``block`` as a direct child of ``owner`` under a dotted GluonCV path (``"body.3"``),
    so ``save_parameters`` writes ``body.3.weight`` exactly as GluonCV's nested containers do."""
    owner.register_child(block, path)
    return block


def _conv(channels, kernel, stride=1, bias=False, dilation=1):
    return nn.Conv2D(channels, kernel, strides=stride, padding=dilation * (kernel // 2),
                     dilation=dilation, use_bias=bias)


def block_dilations(kind, stage_dilation, first):
    """Dilations of a block's 3×3 convs in a stage dilated by ``stage_dilation`` (1, 2 or 4).

    GluonCV's dilated ResNet (resnetv1b.py ``_make_layer``) gives the first block of a dilated
    stage half the stage's dilation (at least 1) in its first 3×3 conv, the rest the full one;
    a basic block's second 3×3 conv always takes the stage's dilation.
    """
    head = max(1, stage_dilation // 2) if first else stage_dilation
    return (head, stage_dilation) if kind == "basic" else (head,)


class ResidualBlock(HybridBlock):
    """A basic (two 3×3) or bottleneck (1×1, 3×3, 1×1) residual block with an optional shortcut
    projection; ``relu(path_a(x) + path_b(x))`` (paper Fig. 1-2)."""

    def __init__(self, kind, in_channels, width, stride, stride_on="3x3", shortcut="conv",
                 last_gamma=False, layout="v1b", bias_1x1=False, dilations=None, frozen_bn=False):
        super().__init__(prefix="")
        out_channels = width * EXPANSION[kind]
        if kind == "basic":
            specs = [(width, 3, stride), (width, 3, 1)]
        else:
            strided = 0 if stride_on == "1x1" else 1
            specs = [(width, 1, 1), (width, 3, 1), (out_channels, 1, 1)]
            specs[strided] = specs[strided][:2] + (stride,)
        dilations = list(dilations or (1,) * sum(1 for spec in specs if spec[1] == 3))
        self._path_a = []
        for i, (channels, kernel, conv_stride) in enumerate(specs):
            last = i == len(specs) - 1
            conv = _conv(channels, kernel, conv_stride, bias=bias_1x1 and kernel == 1,
                         dilation=dilations.pop(0) if kernel == 3 else 1)
            bn = nn.BatchNorm(gamma_initializer="zeros" if last and last_gamma else "ones",
                              use_global_stats=frozen_bn)
            if layout == "v1":
                conv_name, bn_name = "body.%d" % (3 * i), "body.%d" % (3 * i + 1)
            else:
                conv_name, bn_name = "conv%d" % (i + 1), "bn%d" % (i + 1)
            self._path_a.append((_attach(self, conv_name, conv), _attach(self, bn_name, bn)))

        self._pool_stride = 0
        self._path_b = None
        if stride != 1 or in_channels != out_channels:
            first = 0
            if shortcut == "avgpool":
                self._pool_stride = stride if stride > 1 else 0
                first, stride = 1, 1
            conv = _attach(self, "downsample.%d" % first, _conv(out_channels, 1, stride))
            bn = _attach(self, "downsample.%d" % (first + 1),
                         nn.BatchNorm(use_global_stats=frozen_bn))
            self._path_b = (conv, bn)

    def hybrid_forward(self, F, x):
        out = x
        for i, (conv, bn) in enumerate(self._path_a):
            out = bn(conv(out))
            if i < len(self._path_a) - 1:
                out = F.Activation(out, act_type="relu")
        short = x
        if self._pool_stride:
            short = F.Pooling(short, kernel=(self._pool_stride,) * 2, stride=(self._pool_stride,) * 2,
                              pool_type="avg", pooling_convention="full",
                              count_include_pad=False)
        if self._path_b is not None:
            conv, bn = self._path_b
            short = bn(conv(short))
        return F.Activation(out + short, act_type="relu")


def _stem_forward(F, stem, x):
    """The stem's conv-BN-ReLU layers, then the 3×3/2 max pool."""
    for conv, bn in stem:
        x = F.Activation(bn(conv(x)), act_type="relu")
    return F.Pooling(x, kernel=(3, 3), stride=(2, 2), pad=(1, 1), pool_type="max")


class ResNet(HybridBlock):
    """ResNet-``depth`` with the paper's tweaks as parameters (see the module docstring)."""

    def __init__(self, depth, classes=1000, stem="7x7", stride_on="3x3", shortcut="conv",
                 last_gamma=False, layout="v1b", stem_width=32, dilated=False, frozen_bn=False,
                 **kwargs):
        super().__init__(**kwargs)
        if depth not in DEPTHS:
            raise ValueError("ResNet depth must be one of %s, got %r" % (sorted(DEPTHS), depth))
        if layout == "v1" and (stem, shortcut) != ("7x7", "conv"):
            raise ValueError("the v1 layout only holds the 7x7 stem and conv shortcut")
        kind, counts = DEPTHS[depth]
        v1 = layout == "v1"
        self._names = {}
        self.stage_channels = tuple(width * EXPANSION[kind] for width in STAGE_WIDTHS)
        with self.name_scope():
            self._stem = []
            if stem == "deep":
                widths = (stem_width, stem_width, 2 * stem_width)
                for i, (width, stride) in enumerate(zip(widths, (2, 1, 1))):
                    bn_name = "conv1.%d" % (3 * i + 1) if i < 2 else "bn1"
                    self._stem.append((self._add("conv1.%d" % (3 * i), _conv(width, 3, stride)),
                                       self._add(bn_name, nn.BatchNorm(use_global_stats=frozen_bn))))
            else:
                conv = nn.Conv2D(64, 7, strides=2, padding=3, use_bias=False)
                self._stem.append((self._add("features.0" if v1 else "conv1", conv),
                                   self._add("features.1" if v1 else "bn1",
                                             nn.BatchNorm(use_global_stats=frozen_bn))))

            self._stages = []
            in_channels = widths[-1] if stem == "deep" else 64
            for s, (width, count) in enumerate(zip(STAGE_WIDTHS, counts)):
                stage = "features.%d" % (s + 4) if v1 else "layer%d" % (s + 1)
                dilation = 2 ** (s - 1) if dilated and s >= 2 else 1
                blocks = []
                for b in range(count):
                    stride = 2 if s and not b and dilation == 1 else 1
                    block = ResidualBlock(kind, in_channels, width, stride,
                                          stride_on=stride_on, shortcut=shortcut,
                                          last_gamma=last_gamma, layout=layout,
                                          bias_1x1=v1 and kind == "bottleneck",
                                          dilations=block_dilations(kind, dilation, b == 0),
                                          frozen_bn=frozen_bn)
                    blocks.append(self._add("%s.%d" % (stage, b), block))
                    in_channels = width * EXPANSION[kind]
                self._stages.append(blocks)
            self._fc_name = "output" if v1 else "fc"
            _attach(self, self._fc_name, nn.Dense(classes, in_units=in_channels))

    def _add(self, path, block):
        """Attach ``block`` at ``path`` and remember the path for :meth:`part`."""
        self._names[id(block)] = path
        return _attach(self, path, block)

    def part(self, first_stage=1, last_stage=4, stem=True):
        """A HybridBlock running the stem (if ``stem``) and stages ``first_stage``..``last_stage``
        (1-based) on this network's own blocks, registered under the same structural names."""
        stem_blocks = self._stem if stem else []
        blocks = [b for stage in self._stages[first_stage - 1:last_stage] for b in stage]
        return ResNetPart([(self._names[id(c)], c, self._names[id(n)], n) for c, n in stem_blocks],
                          [(self._names[id(b)], b) for b in blocks])

    def hybrid_forward(self, F, x):
        x = _stem_forward(F, self._stem, x)
        for stage in self._stages:
            for block in stage:
                x = block(x)
        x = F.Pooling(x, kernel=(1, 1), global_pool=True, pool_type="avg")
        return framework.child(self, self._fc_name)(F.Flatten(x))


class ResNetPart(HybridBlock):
    """Some consecutive parts of a :class:`ResNet` (see :meth:`ResNet.part`), sharing its blocks."""

    def __init__(self, stem, blocks):
        super().__init__(prefix="")
        self._stem = [(_attach(self, cn, conv), _attach(self, bn_name, bn))
                      for cn, conv, bn_name, bn in stem]
        self._blocks = [_attach(self, name, block) for name, block in blocks]

    def hybrid_forward(self, F, x):
        if self._stem:
            x = _stem_forward(F, self._stem, x)
        for block in self._blocks:
            x = block(x)
        return x


# GluonCV zoo name suffix -> constructor arguments (v1 = original ResNet, b/c/d = paper §4.1 tweaks).
VARIANTS = {
    "v1": dict(layout="v1", stem="7x7", stride_on="1x1", shortcut="conv"),
    "v1b": dict(layout="v1b", stem="7x7", stride_on="3x3", shortcut="conv"),
    "v1c": dict(layout="v1b", stem="deep", stride_on="3x3", shortcut="conv"),
    "v1d": dict(layout="v1b", stem="deep", stride_on="3x3", shortcut="avgpool"),
}


def _factory(depth, variant):
    def build(classes=1000, last_gamma=False, **kwargs):
        return ResNet(depth, classes=classes, last_gamma=last_gamma, **VARIANTS[variant], **kwargs)
    build.__doc__ = "ResNet-%d, GluonCV variant %s." % (depth, variant)
    return build


# Every variant at every depth. GluonCV's zoo has v1c/v1d only at depths 50-152; the 18/34-layer
# C and D nets (small, quick ResNet-D for the demo and tests) have no zoo counterpart.
MODELS = {"resnet%d_%s" % (depth, variant): _factory(depth, variant)
          for variant in VARIANTS for depth in DEPTHS}
ZOO_MISSING = ("resnet18_v1c", "resnet34_v1c", "resnet18_v1d", "resnet34_v1d")

__all__ = ["ResNet", "ResNetPart", "ResidualBlock", "block_dilations", "MODELS", "VARIANTS", "ZOO_MISSING"]
