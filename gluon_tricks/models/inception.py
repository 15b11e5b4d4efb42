"""Inception-V3 (Szegedy et al., 2016, arXiv:1512.00567, Table 1, Figs. 5-7 and 10), one of the three
networks the paper trains (§2.2 Table 2, §3 Table 3, §5 Table 6).

Layer for layer as GluonCV's ``inceptionv3`` so that zoo ``.params`` files load unchanged. Every
conv is a conv-BN-ReLU unit (bias-free conv, BN with ε = 0.001); an Inception module concatenates
its branches along channels, each branch a sequence of pooling and conv units.
"""
import mxnet
from mxnet.gluon import nn
from mxnet.gluon.contrib.nn import HybridConcurrent

BN_EPSILON = 0.001


def _conv(channels, kernel, strides=1, same=True):
    """Conv-BN-ReLU; ``same`` pads by half the kernel (output keeps the input size at stride 1),
    otherwise the conv is unpadded ("valid")."""
    kernel = kernel if isinstance(kernel, tuple) else (kernel, kernel)
    padding = tuple(k // 2 for k in kernel) if same else 0
    unit = nn.HybridSequential()
    unit.add(nn.Conv2D(channels, kernel, strides, padding, use_bias=False),
             nn.BatchNorm(epsilon=BN_EPSILON),
             nn.Activation("relu"))
    return unit


def _branch(*layers):
    """The layers applied one after the other."""
    seq = nn.HybridSequential()
    seq.add(*layers)
    return seq


def _concat(*branches):
    """The branches applied to the same input, outputs concatenated along channels."""
    block = HybridConcurrent(axis=1)
    block.add(*branches)
    return block


def _avg_pool_branch(channels):
    return _branch(nn.AvgPool2D(3, 1, 1), _conv(channels, 1))


def _max_pool_branch():
    return _branch(nn.MaxPool2D(3, 2))


def _module_35x35(pool_channels):
    """35×35 module: Fig. 5 (5×5 factorised into two 3×3) plus a plain 5×5 branch, as released."""
    return _concat(_branch(_conv(64, 1)),
                   _branch(_conv(48, 1), _conv(64, 5)),
                   _branch(_conv(64, 1), _conv(96, 3), _conv(96, 3)),
                   _avg_pool_branch(pool_channels))


def _reduce_35_to_17():
    """Grid reduction 35×35 → 17×17 (Fig. 10)."""
    return _concat(_branch(_conv(384, 3, strides=2, same=False)),
                   _branch(_conv(64, 1), _conv(96, 3), _conv(96, 3, strides=2, same=False)),
                   _max_pool_branch())


def _module_17x17(channels_7x7):
    """Fig. 6 module with n = 7 (factorised 1×7 / 7×1 convs), at 17×17."""
    c = channels_7x7
    return _concat(_branch(_conv(192, 1)),
                   _branch(_conv(c, 1), _conv(c, (1, 7)), _conv(192, (7, 1))),
                   _branch(_conv(c, 1), _conv(c, (7, 1)), _conv(c, (1, 7)),
                           _conv(c, (7, 1)), _conv(192, (1, 7))),
                   _avg_pool_branch(192))


def _reduce_17_to_8():
    """Grid reduction 17×17 → 8×8 (Fig. 10 pattern, with a 1×7 / 7×1 branch)."""
    return _concat(_branch(_conv(192, 1), _conv(320, 3, strides=2, same=False)),
                   _branch(_conv(192, 1), _conv(192, (1, 7)), _conv(192, (7, 1)),
                           _conv(192, 3, strides=2, same=False)),
                   _max_pool_branch())


def _module_8x8():
    """Fig. 7 module (1×3 and 3×1 convs side by side), at 8×8."""
    def split_1x3_3x1():
        return _concat(_branch(_conv(384, (1, 3))), _branch(_conv(384, (3, 1))))
    return _concat(_branch(_conv(320, 1)),
                   _branch(_branch(_conv(384, 1)), split_1x3_3x1()),
                   _branch(_branch(_conv(448, 1), _conv(384, 3)), split_1x3_3x1()),
                   _avg_pool_branch(192))


class InceptionV3(mxnet.gluon.HybridBlock):
    """Inception-V3 for 299×299 inputs, without the auxiliary classifier."""

    def __init__(self, classes=1000, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.features = nn.HybridSequential()
            self.features.add(_conv(32, 3, strides=2, same=False), _conv(32, 3, same=False),
                              _conv(64, 3), nn.MaxPool2D(3, 2),
                              _conv(80, 1), _conv(192, 3, same=False), nn.MaxPool2D(3, 2),
                              _module_35x35(32), _module_35x35(64), _module_35x35(64),
                              _reduce_35_to_17(),
                              _module_17x17(128), _module_17x17(160), _module_17x17(160),
                              _module_17x17(192),
                              _reduce_17_to_8(),
                              _module_8x8(), _module_8x8(),
                              nn.AvgPool2D(8), nn.Dropout(0.5))
            self.output = nn.Dense(classes)

    def hybrid_forward(self, F, x):
        return self.output(self.features(x))


def inception_v3(classes=1000, last_gamma=False, **kwargs):
    """Inception-V3; ``last_gamma`` is accepted and ignored (the network has no residual blocks,
    so there is no block-final BN to zero-initialise)."""
    return InceptionV3(classes=classes, **kwargs)


MODELS = {"inceptionv3": inception_v3}
