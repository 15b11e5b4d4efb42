"""gluon-tricks: "Bag of Tricks for Image Classification with CNNs" (He et al., CVPR 2019) in MXNet Gluon."""
from . import _compat  # noqa: F401  (must run before anything imports mxnet)

__version__ = "0.1.0"
