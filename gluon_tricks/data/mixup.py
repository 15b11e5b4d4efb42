"""Mixup, paper §5.4 eq. 7–8: blend pairs of examples and their one-hot labels, λ ~ Beta(α, α).

The targets are plain mixtures of one-hot vectors; label smoothing, if on, is applied by the loss
(``gluon_tricks.loss``), which composes correctly because smoothing is affine in the target.
"""
import mxnet as mx
import numpy as np


PAIRINGS = ("reverse", "random")


def mixup(data, labels, classes, alpha, pairing="reverse", rng=None):
    """Mixed data and soft targets (B, K) float32: x̂ = λx_i + (1−λ)x_j, ŷ = λy_i + (1−λ)y_j.

    One λ ~ Beta(α, α) per call (GluonCV draws one per batch). Example i is paired with j = B−1−i
    (``"reverse"``, GluonCV's choice) or with a random permutation (``"random"``). ``data`` and
    ``labels`` are NDArrays, or equal-length lists of them (one slice per device): the slices
    then share λ and are paired within each slice, so no data crosses devices.
    """
    if not alpha > 0:
        raise ValueError("mixup alpha must be positive, got %r; the paper uses 0.2" % (alpha,))
    if pairing not in PAIRINGS:
        raise ValueError("unknown mixup pairing %r; choose one of: %s" % (pairing, ", ".join(PAIRINGS)))
    rng = rng if rng is not None else np.random
    lam = float(rng.beta(alpha, alpha))
    if isinstance(data, (list, tuple)):
        pairs = [_mix(x, y, classes, lam, pairing, rng) for x, y in zip(data, labels)]
        return [p[0] for p in pairs], [p[1] for p in pairs]
    return _mix(data, labels, classes, lam, pairing, rng)


def _mix(data, labels, classes, lam, pairing, rng):
    size = data.shape[0]
    order = np.arange(size)[::-1] if pairing == "reverse" else rng.permutation(size)
    partner = mx.nd.array(order, ctx=data.context, dtype="int32")
    onehot = mx.nd.one_hot(labels.astype("int32"), classes, dtype="float32")
    mixed = lam * data + (1.0 - lam) * mx.nd.take(data, partner)
    targets = lam * onehot + (1.0 - lam) * mx.nd.take(onehot, partner.as_in_context(labels.context))
    return mixed, targets


def mixup_active(epoch, num_epochs, off_epochs):
    """Whether mixup is on in 0-based ``epoch``: on while epoch < num_epochs − off_epochs.

    So ``off_epochs`` = N trains the last N epochs without mixup, as GluonCV's ``--mixup-off-epoch``.
    """
    return epoch < num_epochs - off_epochs
