"""Classification losses of the paper: cross entropy with label smoothing (§5.2) and distillation (§5.3).

Both blocks cast their inputs to float32 (FP16 training, §3.2, keeps the loss in full precision)
and return one loss per sample, shape (batch,). Labels are either integer class ids, shape
(batch,), or soft targets, shape (batch, classes), e.g. from mixup (§5.4).
"""
import mxnet as mx


STYLES = ("paper", "gluoncv")


def _check_smoothing(classes, eps, style):
    if isinstance(classes, bool) or not isinstance(classes, int) or classes < 2:
        raise ValueError("classes must be an integer >= 2, got %r" % (classes,))
    if not 0 <= eps < 1:
        raise ValueError("label smoothing must be in [0, 1), got %r" % (eps,))
    if style not in STYLES:
        raise ValueError("unknown label smoothing style %r; choose one of: %s"
                         % (style, ", ".join(STYLES)))


def _smooth(target, classes, eps, style):
    """Smooth a float target distribution y of shape (B, K); the one place the rule lives.

    "paper" (eq. 4): on-target 1−ε, off-target ε/(K−1), i.e. y·(1−ε) + (1−y)·ε/(K−1).
    "gluoncv": on-target 1−ε+ε/K, off-target ε/K, i.e. y·(1−ε) + ε/K.
    Both are affine in y, so smoothing a mixup of one-hots equals mixing the smoothed one-hots.
    """
    if style == "paper":
        return target * (1 - eps) + (1 - target) * (eps / (classes - 1))
    return target * (1 - eps) + eps / classes


def _as_target(label, classes):
    """(B,) class ids become float32 one-hot rows; (B, K) soft targets pass through."""
    if isinstance(label, mx.nd.NDArray) and label.ndim == 1:
        return mx.nd.one_hot(label, classes, dtype="float32")
    return label


def smooth_targets(labels_or_soft, classes, eps, style="paper"):
    """Float32 (B, K) smoothed targets from class ids (B,) or soft targets (B, K) (NDArray)."""
    _check_smoothing(classes, eps, style)
    return _smooth(_as_target(labels_or_soft, classes).astype("float32"), classes, eps, style)


def _cross_entropy(F, target, logits):
    """ℓ(p, softmax(z)) = −Σ_i p_i·log softmax(z)_i per sample (paper eq. 3 with p, q as meant)."""
    return -F.sum(target * F.log_softmax(logits, axis=-1), axis=-1)


class SoftmaxCrossEntropy(mx.gluon.HybridBlock):
    """Cross entropy against label-smoothed targets (paper §5.2, eq. 4; ``smoothing`` = ε).

    Call as ``loss(logits, labels)``. Hard labels are one-hot encoded before entering the
    hybridizable graph, since a symbolic graph cannot branch on the rank of its input.
    """

    def __init__(self, classes, smoothing=0.0, style="paper", **kwargs):
        super().__init__(**kwargs)
        _check_smoothing(classes, smoothing, style)
        self._classes, self._eps, self._style = classes, smoothing, style

    def forward(self, pred, label, *args):
        return super().forward(pred, _as_target(label, self._classes), *args)

    def hybrid_forward(self, F, pred, target):
        target = _smooth(F.cast(target, "float32"), self._classes, self._eps, self._style)
        return _cross_entropy(F, target, F.cast(pred, "float32"))


class DistillationLoss(SoftmaxCrossEntropy):
    """Knowledge distillation (paper §5.3, eq. 6): ℓ(p, softmax(z)) + T²·ℓ(softmax(r/T), softmax(z/T)).

    Call as ``loss(student_logits, labels, teacher_logits)``; p is the (smoothed, possibly mixed)
    target. With ``hard_weight`` = h the terms are weighted as GluonCV does:
    (1 − h)·T²·soft + h·hard. The teacher logits get no gradient.
    """

    def __init__(self, classes, temperature=20.0, hard_weight=None, smoothing=0.0,
                 style="paper", **kwargs):
        super().__init__(classes, smoothing, style, **kwargs)
        if not temperature > 0:
            raise ValueError("distillation temperature must be > 0, got %r" % (temperature,))
        if hard_weight is not None and not 0 <= hard_weight <= 1:
            raise ValueError("hard_weight must be in [0, 1] or None (paper eq. 6), got %r"
                             % (hard_weight,))
        self._temperature, self._hard_weight = temperature, hard_weight

    def hybrid_forward(self, F, pred, target, teacher):
        hard = super().hybrid_forward(F, pred, target)
        t = self._temperature
        teacher_prob = F.softmax(F.stop_gradient(F.cast(teacher, "float32")) / t, axis=-1)
        soft = t * t * _cross_entropy(F, teacher_prob, F.cast(pred, "float32") / t)
        if self._hard_weight is None:
            return hard + soft
        return (1 - self._hard_weight) * soft + self._hard_weight * hard
