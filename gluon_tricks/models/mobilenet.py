"""MobileNet (Howard et al., 2017, arXiv:1704.04861, Table 1), one of the three networks the paper
trains (§2.2 Table 2, §3 Table 3, §5 Table 6).

Layer for layer as GluonCV's ``mobilenet*`` so that zoo ``.params`` files load unchanged:
``features`` holds conv-BN-ReLU triples, then global average pooling; ``output`` is the classifier.
"""
import mxnet
from mxnet.gluon import nn

STEM_CHANNELS = 32

# (pointwise output channels, depthwise stride) of the 13 depthwise-separable blocks; each block's
# depthwise conv keeps the channels of its input.
SEPARABLE_BLOCKS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
                    (512, 1), (512, 1), (512, 1), (512, 1), (512, 1),
                    (1024, 2), (1024, 1))


def _add_conv_bn_relu(seq, channels, kernel, stride=1, groups=1):
    """Append a bias-free ``kernel``×``kernel`` conv (same padding), BN and ReLU to ``seq``."""
    seq.add(nn.Conv2D(channels, kernel, stride, kernel // 2, groups=groups, use_bias=False),
            nn.BatchNorm(),
            nn.Activation("relu"))


class MobileNet(mxnet.gluon.HybridBlock):
    """MobileNet v1 with width multiplier ``multiplier`` (every layer's channels scaled, rounded down)."""

    def __init__(self, multiplier=1.0, classes=1000, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.features = nn.HybridSequential()
            channels = int(STEM_CHANNELS * multiplier)
            _add_conv_bn_relu(self.features, channels, 3, stride=2)
            for out_channels, stride in SEPARABLE_BLOCKS:
                _add_conv_bn_relu(self.features, channels, 3, stride, groups=channels)
                channels = int(out_channels * multiplier)
                _add_conv_bn_relu(self.features, channels, 1)
            self.features.add(nn.GlobalAvgPool2D(), nn.Flatten())
            self.output = nn.Dense(classes)

    def hybrid_forward(self, F, x):
        return self.output(self.features(x))


def _factory(multiplier):
    def build(classes=1000, last_gamma=False, **kwargs):
        """MobileNet at this width; ``last_gamma`` is accepted and ignored (MobileNet has no
        residual blocks, so there is no block-final BN to zero-initialise)."""
        return MobileNet(multiplier, classes=classes, **kwargs)
    return build


MODELS = {"mobilenet%s" % name: _factory(multiplier)
          for name, multiplier in (("1.0", 1.0), ("0.75", 0.75), ("0.5", 0.5), ("0.25", 0.25))}
