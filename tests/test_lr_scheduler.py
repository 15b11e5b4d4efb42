"""Learning-rate schedules: the paper's formulas, and the k-th lr for the k-th real Trainer.step."""
import math

import numpy as np
import pytest

import gluon_tricks  # noqa: F401  (restores NumPy aliases before mxnet loads)
import mxnet as mx
from mxnet import autograd, gluon

from gluon_tricks import checkpoint
from gluon_tricks.lr_scheduler import lr_curve, make_scheduler

ETA = 0.4


def test_warmup_is_linear_from_eta_over_m_to_eta():
    sched = make_scheduler("cosine", ETA, iters_per_epoch=10, num_epochs=20, warmup_epochs=5)
    m = 50
    assert sched(1) == pytest.approx(ETA / m)
    assert sched(25) == pytest.approx(ETA / 2)
    assert sched(m) == pytest.approx(ETA)
    assert sched(0) == sched(1)


def test_cosine_follows_eq1_after_warmup():
    sched = make_scheduler("cosine", ETA, iters_per_epoch=10, num_epochs=20, warmup_epochs=5)
    m, total = 50, 150
    # approx's rel 1e-6 separates off-by-one: t counted from 1 (k − m for k − m − 1) gives
    # ½(1 + cos(π/150))·η = (1 − 2.2e-4)·η here, and (k − 1)/m in warmup gives 0 at k = 1.
    assert sched(m + 1) == pytest.approx(ETA)  # t = 0
    assert sched(m + 1 + total // 2) == pytest.approx(ETA / 2)  # t = T/2
    assert sched(m + 1 + 30) == pytest.approx(0.5 * (1 + math.cos(math.pi * 30 / total)) * ETA)
    assert 0 < sched(200) < 1e-3 * ETA
    assert sched(201) == sched(10 ** 6) == sched(200)
    curve = lr_curve(sched, 200)
    assert np.all(np.diff(curve[m:]) < 0)


def test_cosine_without_warmup_starts_at_eta():
    sched = make_scheduler("cosine", ETA, iters_per_epoch=4, num_epochs=10)
    assert sched(1) == pytest.approx(ETA)
    assert sched(21) == pytest.approx(ETA / 2)


def test_step_changes_exactly_at_first_update_of_step_epochs():
    sched = make_scheduler("step", ETA, iters_per_epoch=3, num_epochs=120,
                           step_epochs=(30, 60, 90))
    for epoch, lr in ((30, ETA), (60, ETA * 0.1), (90, ETA * 0.01)):
        assert sched(epoch * 3) == pytest.approx(lr)
        assert sched(epoch * 3 + 1) == pytest.approx(lr * 0.1)
    assert sched(1) == pytest.approx(ETA)
    assert sched(360) == pytest.approx(ETA * 1e-3)


def test_step_with_warmup_and_unsorted_epochs():
    sched = make_scheduler("step", ETA, iters_per_epoch=2, num_epochs=10, warmup_epochs=2,
                           step_epochs=(8, 5), step_factor=0.5)
    assert list(lr_curve(sched, 20)) == pytest.approx(
        [ETA / 4, ETA / 2, 3 * ETA / 4, ETA] + [ETA] * 6 + [ETA / 2] * 6 + [ETA / 4] * 4)


def test_poly():
    sched = make_scheduler("poly", ETA, iters_per_epoch=5, num_epochs=10, warmup_epochs=2,
                           power=2)
    m, total = 10, 40
    assert sched(m + 1) == pytest.approx(ETA)
    assert sched(m + 1 + total // 2) == pytest.approx(ETA * 0.25)
    assert sched(50) == pytest.approx(ETA / total ** 2)
    assert sched(51) == sched(50)
    linear = make_scheduler("poly", ETA, iters_per_epoch=5, num_epochs=10, power=1)
    assert linear(11) == pytest.approx(ETA * 0.8)


def test_detectron_warmup_scales_the_step_schedule_from_a_third():
    """detect (§6.1): update k ≤ m at (f + (1 − f)(k − 1)/m)·η, the decay already counted,
    as GluonCV's train_faster_rcnn.py and Detectron multiply the current lr."""
    sched = make_scheduler("step", ETA, iters_per_epoch=100, num_epochs=20, step_epochs=(14, 20),
                           warmup_updates=500, warmup_start=1 / 3)
    assert sched(1) == pytest.approx(ETA / 3)
    assert sched(251) == pytest.approx(ETA * (1 / 3 * 0.5 + 0.5))
    assert sched(500) == pytest.approx(ETA * (1 / 3 + 2 / 3 * 499 / 500))
    assert sched(501) == pytest.approx(ETA)
    assert sched(1400) == pytest.approx(ETA) and sched(1401) == pytest.approx(ETA * 0.1)
    short = make_scheduler("step", ETA, iters_per_epoch=2, num_epochs=4, step_epochs=(1,),
                           warmup_updates=4, warmup_start=0.5)
    assert list(lr_curve(short, 6)) == pytest.approx(
        [ETA * 0.5, ETA * 0.625, ETA * 0.1 * 0.75, ETA * 0.1 * 0.875, ETA * 0.1, ETA * 0.1])
    none = make_scheduler("step", ETA, iters_per_epoch=100, num_epochs=20, step_epochs=(14,),
                          warmup_updates=0, warmup_start=1 / 3)
    assert none(1) == ETA and none(1401) == pytest.approx(ETA * 0.1)


def test_segment_poly_counts_every_update_of_the_run():
    """segment (§6.2, GluonCV's 'poly'): η·(1 − u/N)^0.9 for the (u + 1)-th update of N."""
    sched = make_scheduler("poly", 0.01, iters_per_epoch=10, num_epochs=10, power=0.9)
    assert sched(1) == pytest.approx(0.01)
    assert sched(51) == pytest.approx(0.01 * 0.5 ** 0.9)
    assert sched(100) == pytest.approx(0.01 * 0.01 ** 0.9)


def test_lr_curve_is_the_scheduler_for_k_from_1():
    sched = make_scheduler("cosine", ETA, iters_per_epoch=3, num_epochs=4, warmup_epochs=1)
    curve = lr_curve(sched, 15)
    assert curve.shape == (15,)
    assert curve.tolist() == [sched(k) for k in range(1, 16)]


@pytest.mark.parametrize("kwargs, words", [
    (dict(mode="linear"), ["'linear'", "step, cosine, poly"]),
    (dict(num_epochs=-1), ["num_epochs", "-1"]),
    (dict(warmup_epochs=-2), ["warmup_epochs", "-2"]),
    (dict(warmup_epochs=10), ["warmup_epochs (10)", "num_epochs (10)"]),
    (dict(iters_per_epoch=0), ["iters_per_epoch"]),
    (dict(base_lr=0), ["base_lr"]),
    (dict(mode="step", step_epochs=(3, 0)), ["step epoch 0", "positive integer"]),
    (dict(mode="poly", power=0), ["power"]),
    (dict(warmup_updates=-1), ["warmup_updates", "-1"]),
    (dict(warmup_updates=5, warmup_start=1.0), ["warmup_start", "[0, 1)"]),
])
def test_bad_arguments_raise_one_line_value_error(kwargs, words):
    args = dict(mode="cosine", base_lr=0.1, iters_per_epoch=5, num_epochs=10)
    args.update(kwargs)
    with pytest.raises(ValueError) as info:
        make_scheduler(**args)
    message = str(info.value)
    assert isinstance(info.value, ValueError) and "\n" not in message
    for word in words:
        assert word in message


# --- real training: the lr the optimizer applies at the k-th Trainer.step -----------------

MOMENTUM = 0.9
BATCH = 4


def _tiny(ctxs, update_on_kvstore, **optimizer_params):
    """A Dense(1) net on ``ctxs`` and its NAG trainer on a short warmup + cosine schedule."""
    net = gluon.nn.Dense(1, in_units=3)
    net.initialize(mx.init.Constant(0.5), ctx=ctxs)
    sched = make_scheduler("cosine", 0.2, iters_per_epoch=2, num_epochs=5, warmup_epochs=1)
    params = {"learning_rate": 0.2, "lr_scheduler": sched, "momentum": MOMENTUM}
    params.update(optimizer_params)
    trainer = gluon.Trainer(net.collect_params(), "nag", params, kvstore="device",
                            update_on_kvstore=update_on_kvstore)
    return net, trainer, sched


def _train(net, trainer, ctxs, steps):
    """Run ``steps`` steps; the loss Σ outputs gives every weight the averaged gradient g = 1."""
    reported, weights = [], []
    x = mx.nd.ones((BATCH, 3))
    for _ in range(steps):
        with autograd.record():
            losses = [net(x.as_in_context(ctx)).sum() for ctx in ctxs]
        autograd.backward(losses)
        trainer.step(BATCH * len(ctxs))
        reported.append(trainer.learning_rate)
        copies = [net.weight.data(ctx).asnumpy().astype(np.float64) for ctx in ctxs]
        for copy in copies[1:]:
            np.testing.assert_array_equal(copy, copies[0])
        weights.append(copies[0])
    return reported, weights


def _applied_lrs(start_weight, weights):
    """Invert MXNet's NAG update for g = 1: mom_k = γ·mom_(k-1) + lr_k, Δw_k = −(γ·mom_k + lr_k)."""
    lrs, mom, previous = [], 0.0, start_weight
    for weight in weights:
        delta = float(np.mean(previous - weight))
        lr = (delta - MOMENTUM ** 2 * mom) / (1 + MOMENTUM)
        mom = MOMENTUM * mom + lr
        lrs.append(lr)
        previous = weight
    return lrs


SETUPS = [(1, None), (1, False), (2, True), (2, False)]


@pytest.mark.parametrize("num_ctx, update_on_kvstore", SETUPS)
def test_kth_step_uses_kth_lr_on_any_number_of_devices(num_ctx, update_on_kvstore):
    ctxs = [mx.cpu(i) for i in range(num_ctx)]
    net, trainer, sched = _tiny(ctxs, update_on_kvstore)
    reported, weights = _train(net, trainer, ctxs, 12)
    expected = [sched(k) for k in range(1, 13)]
    assert expected[:3] == pytest.approx([0.1, 0.2, 0.2])
    assert reported == pytest.approx(expected, abs=1e-12)
    assert _applied_lrs(0.5, weights) == pytest.approx(expected, abs=2e-5)


@pytest.mark.parametrize("num_ctx, update_on_kvstore",
                         [setup for setup in SETUPS if not setup[1]])
def test_resume_from_a_checkpoint_continues_at_k_plus_1(tmp_path, num_ctx, update_on_kvstore):
    """Our checkpoints restore every device's per-index update counts, so the next step is
    update K + 1 for the schedule the new trainer was built with."""
    ctxs = [mx.cpu(i) for i in range(num_ctx)]
    net, trainer, _ = _tiny(ctxs, update_on_kvstore)
    full_lrs, full_weights = _train(net, trainer, ctxs, 8)

    net, trainer, _ = _tiny(ctxs, update_on_kvstore)
    first_lrs, _ = _train(net, trainer, ctxs, 3)
    path = checkpoint.save(str(tmp_path), 3, net, trainer, {})

    net, trainer, _ = _tiny(ctxs, update_on_kvstore)
    checkpoint.load(path, net, trainer, ctxs)
    rest_lrs, rest_weights = _train(net, trainer, ctxs, 5)

    assert first_lrs + rest_lrs == pytest.approx(full_lrs, abs=1e-12)
    np.testing.assert_array_equal(rest_weights[-1], full_weights[-1])


def test_resume_with_begin_num_update_continues_at_k_plus_1():
    ctxs = [mx.cpu(0), mx.cpu(1)]
    net, trainer, sched = _tiny(ctxs, False, begin_num_update=3)
    reported, weights = _train(net, trainer, ctxs, 5)
    expected = [sched(k) for k in range(4, 9)]
    assert reported == pytest.approx(expected, abs=1e-12)
    assert _applied_lrs(0.5, weights) == pytest.approx(expected, abs=2e-5)


def test_optimizer_learning_rate_overrides_base_lr():
    net = gluon.nn.Dense(1, in_units=3)
    net.initialize(ctx=mx.cpu())
    sched = make_scheduler("cosine", 0.2, iters_per_epoch=2, num_epochs=5, warmup_epochs=1)
    gluon.Trainer(net.collect_params(), "nag", {"learning_rate": 0.4, "lr_scheduler": sched})
    assert sched(2) == pytest.approx(0.4)


def test_step_epochs_past_the_end_never_fire_and_none_means_constant():
    sched = make_scheduler("step", 0.1, iters_per_epoch=2, num_epochs=3, step_epochs=(2, 30))
    assert [round(sched(k), 6) for k in range(1, 7)] == [0.1, 0.1, 0.1, 0.1, 0.01, 0.01]
    flat = make_scheduler("step", 0.1, iters_per_epoch=2, num_epochs=3)
    assert {flat(k) for k in range(1, 7)} == {0.1}
