"""The networks the paper trains, under GluonCV's model-zoo names (paper §2, §4).

Every network saves and loads parameters under the same structural names as its GluonCV
counterpart, so a zoo ``.params`` file loads with a plain ``net.load_parameters(path)``.
"""
from ..errors import UsageError
from . import inception, mobilenet, resnet
from .init import initialize

_REGISTRY = {}
for _module in (resnet, mobilenet, inception):
    _REGISTRY.update(_module.MODELS)


def list_models():
    """All model names, in a stable order."""
    return sorted(_REGISTRY)


def default_input_size(name):
    """The input side a model is trained at: 299 for Inception-V3, 224 otherwise (paper §2.1)."""
    return 299 if name.startswith("inception") else 224


def get_model(name, classes=1000, last_gamma=False, **kwargs):
    """Build network ``name`` with ``classes`` outputs; ``last_gamma`` zero-initialises the γ of
    each residual block's last BN (paper §3.2, "zero γ"; networks without residual blocks ignore it)."""
    if name not in _REGISTRY:
        raise UsageError("unknown model %r; choose one of: %s" % (name, ", ".join(list_models())))
    if isinstance(classes, bool) or not isinstance(classes, int) or classes < 1:
        raise UsageError("classes must be a positive integer, got %r" % (classes,))
    return _REGISTRY[name](classes=classes, last_gamma=last_gamma, **kwargs)


__all__ = ["get_model", "list_models", "default_input_size", "initialize"]
