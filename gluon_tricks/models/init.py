"""Weight initialisation: the paper's Xavier scheme (§2.1) or GluonCV's MSRA one."""
import mxnet as mx

INITS = ("xavier", "msra")


def initializer(kind="xavier"):
    """The MXNet initializer for ``kind``.

    ``xavier`` (paper §2.1): conv and dense weights ~ U[-a, a], a = sqrt(6 / (d_in + d_out)), with
    d_in, d_out the fan-in and fan-out (channels × kernel area, as Glorot & Bengio define them for
    convolutions). ``msra`` is GluonCV's train_imagenet.py choice (``MSRAPrelu``). Biases start at
    0 and BN γ = 1, β = 0 either way (those parameters carry their own initializers, which take
    precedence; zero-γ BNs keep γ = 0).
    """
    if kind == "xavier":
        return mx.init.Xavier(rnd_type="uniform", factor_type="avg", magnitude=3)
    if kind == "msra":
        return mx.init.MSRAPrelu()
    raise ValueError("unknown init %r; choose one of: %s" % (kind, ", ".join(INITS)))


def initialize(net, kind="xavier", ctx=None, force_reinit=False):
    """Initialise every parameter of ``net`` on ``ctx`` (a context or list) with :func:`initializer`."""
    net.initialize(initializer(kind), ctx=ctx or mx.cpu(), force_reinit=force_reinit)
    return net
