"""Losses against an independent float64 NumPy implementation of paper eqs. 3, 4 and 6."""
import numpy as np
import pytest

import gluon_tricks  # noqa: F401  (restores NumPy aliases before mxnet loads)
import mxnet as mx
from mxnet import autograd, gluon

from gluon_tricks.loss import DistillationLoss, SoftmaxCrossEntropy, smooth_targets

B, K = 6, 7


def _np_log_softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def _np_softmax(z):
    return np.exp(_np_log_softmax(z))


def _np_smoothed_one_hot(labels, eps, style):
    """Eq. 4 written out: the on/off values of each style, one row per label."""
    off = eps / (K - 1) if style == "paper" else eps / K
    on = 1 - eps if style == "paper" else 1 - eps + eps / K
    rows = np.full((len(labels), K), off)
    rows[np.arange(len(labels)), labels] = on
    return rows


def _np_ce(target, logits):
    return -(target * _np_log_softmax(logits)).sum(axis=-1)


def _case(seed=0, scale=3.0):
    """Random logits, two label vectors and a mixup weight per sample."""
    rng = np.random.RandomState(seed)
    logits = rng.randn(B, K) * scale
    teacher = rng.randn(B, K) * scale
    labels, partners = rng.randint(0, K, B), rng.randint(0, K, B)
    lam = rng.uniform(0, 1, (B, 1))
    return logits, teacher, labels, partners, lam


def _inputs(smooth, style, soft, seed=0):
    """(label NDArray, float64 reference target): hard ids, or a mixup of two one-hots."""
    logits, teacher, labels, partners, lam = _case(seed)
    if not soft:
        return logits, teacher, mx.nd.array(labels), _np_smoothed_one_hot(labels, smooth, style)
    eye = np.eye(K)
    mixed = lam * eye[labels] + (1 - lam) * eye[partners]
    reference = (lam * _np_smoothed_one_hot(labels, smooth, style)
                 + (1 - lam) * _np_smoothed_one_hot(partners, smooth, style))
    return logits, teacher, mx.nd.array(mixed), reference


STYLES = ["paper", "gluoncv"]


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("soft", [False, True])
@pytest.mark.parametrize("smooth", [0.1, 0.4])
def test_smooth_targets_match_eq4_and_compose_with_mixup(style, soft, smooth):
    _, _, label, reference = _inputs(smooth, style, soft)
    targets = smooth_targets(label, K, smooth, style)
    assert targets.dtype == np.float32 and targets.shape == (B, K)
    np.testing.assert_allclose(targets.asnumpy(), reference, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(targets.asnumpy().sum(axis=1), 1, rtol=1e-6)


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("soft", [False, True])
def test_cross_entropy_matches_numpy(style, soft):
    logits, _, label, reference = _inputs(0.1, style, soft)
    loss = SoftmaxCrossEntropy(K, smoothing=0.1, style=style)
    out = loss(mx.nd.array(logits), label)
    assert out.shape == (B,) and out.dtype == np.float32
    np.testing.assert_allclose(out.asnumpy(), _np_ce(reference, logits), rtol=1e-5)


def test_paper_and_gluoncv_styles_differ():
    logits, _, label, _ = _inputs(0.1, "paper", False)
    paper = SoftmaxCrossEntropy(K, 0.1, "paper")(mx.nd.array(logits), label).asnumpy()
    gluoncv = SoftmaxCrossEntropy(K, 0.1, "gluoncv")(mx.nd.array(logits), label).asnumpy()
    assert np.abs(paper - gluoncv).max() > 1e-3


@pytest.mark.parametrize("style", STYLES)
def test_no_smoothing_equals_gluon_softmax_cross_entropy(style):
    logits, _, labels, _, _ = _case()
    pred, label = mx.nd.array(logits), mx.nd.array(labels)
    ours = SoftmaxCrossEntropy(K, smoothing=0.0, style=style)(pred, label)
    theirs = gluon.loss.SoftmaxCrossEntropyLoss()(pred, label)
    np.testing.assert_allclose(ours.asnumpy(), theirs.asnumpy(), rtol=1e-6)


@pytest.mark.parametrize("soft", [False, True])
def test_float16_logits_are_computed_in_float32(soft):
    logits, _, label, reference = _inputs(0.1, "paper", soft, seed=1)
    rounded = logits.astype(np.float16)
    loss = SoftmaxCrossEntropy(K, smoothing=0.1)
    label16 = label if soft else label.astype("float16")  # rounding soft targets would move ℓ
    out16 = loss(mx.nd.array(rounded, dtype="float16"), label16)
    out32 = loss(mx.nd.array(logits), label)
    assert out16.dtype == np.float32
    # float32 arithmetic on the rounded logits: far closer than float16 arithmetic would get
    np.testing.assert_allclose(out16.asnumpy(), _np_ce(reference, rounded.astype(np.float64)),
                               rtol=1e-5)
    # and within what rounding the logits to float16 can move the loss (|Δℓ| ≤ 2·max|Δz|)
    bound = 2 * np.abs(rounded - logits).max()
    np.testing.assert_allclose(out16.asnumpy(), out32.asnumpy(), rtol=0, atol=bound)


def _np_distillation(target, logits, teacher, temperature, hard_weight):
    hard = _np_ce(target, logits)
    soft = temperature ** 2 * _np_ce(_np_softmax(teacher / temperature), logits / temperature)
    if hard_weight is None:
        return hard + soft
    return (1 - hard_weight) * soft + hard_weight * hard


@pytest.mark.parametrize("hard_weight", [None, 0.5, 0.2])
@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("soft", [False, True])
@pytest.mark.parametrize("temperature", [20.0, 2.0])
def test_distillation_matches_eq6(hard_weight, style, soft, temperature):
    logits, teacher, label, reference = _inputs(0.1, style, soft)
    loss = DistillationLoss(K, temperature=temperature, hard_weight=hard_weight,
                            smoothing=0.1, style=style)
    out = loss(mx.nd.array(logits), label, mx.nd.array(teacher))
    assert out.shape == (B,) and out.dtype == np.float32
    expected = _np_distillation(reference, logits, teacher, temperature, hard_weight)
    # float32 rounding is ≤ 1.5e-6 of the total here (measured), hence rtol 4e-6. At T = 20 the
    # total is ~99 % T²·soft: those cases pin the T² factor (T instead of T² is off by 95 %), but
    # the other style's smoothing (ε/K for ε/(K−1)) moves them by less than float32 resolves. At
    # T = 2 it moves the total by > 10 × rtol, asserted, so the smoothing inside eq. 6 is pinned.
    rtol = 4e-6
    np.testing.assert_allclose(out.asnumpy(), expected, rtol=rtol)
    if temperature == 2.0:
        other = "gluoncv" if style == "paper" else "paper"
        wrong = _np_distillation(_inputs(0.1, other, soft)[3], logits, teacher, temperature,
                                 hard_weight)
        assert (np.abs(wrong - expected) / np.abs(expected)).max() > 10 * rtol


def test_distillation_float16_inputs():
    logits, teacher, label, reference = _inputs(0.1, "paper", True, seed=2)
    logits16, teacher16 = logits.astype(np.float16), teacher.astype(np.float16)
    loss = DistillationLoss(K, temperature=20.0, smoothing=0.1)
    out = loss(mx.nd.array(logits16, dtype="float16"), label,
               mx.nd.array(teacher16, dtype="float16"))
    assert out.dtype == np.float32
    expected = _np_distillation(reference, logits16.astype(np.float64),
                                teacher16.astype(np.float64), 20.0, None)
    np.testing.assert_allclose(out.asnumpy(), expected, rtol=1e-4)


@pytest.mark.parametrize("hybridize", [False, True])
def test_gradients_flow_to_student_only(hybridize):
    logits, teacher, label, reference = _inputs(0.1, "paper", False)
    temperature = 4.0
    loss = DistillationLoss(K, temperature=temperature, smoothing=0.1)
    if hybridize:
        loss.hybridize()
    pred, teach = mx.nd.array(logits), mx.nd.array(teacher)
    pred.attach_grad()
    teach.attach_grad()
    with autograd.record():
        out = loss(pred, label, teach)
    out.backward()
    assert not teach.grad.asnumpy().any()
    # d/dz of eq. 6: (softmax(z) − p) + T·(softmax(z/T) − softmax(r/T))
    expected = (_np_softmax(logits) - reference + temperature
                * (_np_softmax(logits / temperature) - _np_softmax(teacher / temperature)))
    np.testing.assert_allclose(pred.grad.asnumpy(), expected, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("soft", [False, True])
def test_hybridized_equals_imperative(soft):
    logits, teacher, label, _ = _inputs(0.1, "gluoncv", soft)
    pred, teach = mx.nd.array(logits), mx.nd.array(teacher)
    for make, args in ((lambda: SoftmaxCrossEntropy(K, 0.1, "gluoncv"), (pred, label)),
                       (lambda: DistillationLoss(K, 20.0, 0.5, 0.1, "gluoncv"),
                        (pred, label, teach))):
        imperative, hybrid = make(), make()
        hybrid.hybridize()
        expected = imperative(*args).asnumpy()
        for _ in range(2):  # first call builds the graph, second runs the cached one
            np.testing.assert_allclose(hybrid(*args).asnumpy(), expected, rtol=1e-6)
    out16 = hybrid(pred.astype("float16"), label, teach.astype("float16"))
    assert out16.dtype == np.float32


@pytest.mark.parametrize("make, words", [
    (lambda: SoftmaxCrossEntropy(K, 0.1, style="inception"), ["'inception'", "paper, gluoncv"]),
    (lambda: SoftmaxCrossEntropy(K, smoothing=1.0), ["smoothing", "[0, 1)"]),
    (lambda: SoftmaxCrossEntropy(K, smoothing=-0.1), ["smoothing"]),
    (lambda: SoftmaxCrossEntropy(1), ["classes", ">= 2"]),
    (lambda: DistillationLoss(K, temperature=0), ["temperature"]),
    (lambda: DistillationLoss(K, hard_weight=1.5), ["hard_weight", "[0, 1]"]),
    (lambda: smooth_targets(mx.nd.array([0, 1]), K, 0.1, "other"), ["'other'"]),
])
def test_bad_arguments_raise_value_error(make, words):
    with pytest.raises(ValueError) as info:
        make()
    for word in words:
        assert word in str(info.value)
