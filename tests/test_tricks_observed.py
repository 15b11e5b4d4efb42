"""Each trick as the training loop applies it: a real Run (gluon_tricks.classification) on synthetic
batches, watched through MXNet's block hooks, the run's own trainer and metrics.jsonl.

These tests assert what the run did (the γ in the student, the multipliers the trainer used,
the loss the step returned, the inputs the network received, the lr of each update), never only
what the config says. Expected values are written from the paper, not read from the package.
Where a tolerance is used, the nearest plausible wrong formula is computed too and shown to fall
outside it.
"""
import json
import math

import mxnet as mx
import numpy as np
import pytest
from mxnet import autograd

from gluon_tricks.models import get_model
from gluon_tricks.models.resnet import ResidualBlock
from gluon_tricks.precision import apply_update
from gluon_tricks.runcore.metrics import MetricsLog, Progress

from loop import Recorder, log_softmax, make_run

K = 4            # classes of every run here (loop.TINY)


def first_step(run, epoch=0, use_mixup=False):
    """One Run.step on the first batch of ``epoch``; returns (batch, per-device results)."""
    batch = next(run.epoch_batches(epoch))
    return batch, run.step(batch, use_mixup, np.random.RandomState(0))


# -- §3.2 zero γ --------------------------------------------------------------------------------

def residual_blocks(net):
    blocks = []
    net.apply(lambda b: blocks.append(b) if isinstance(b, ResidualBlock) else None)
    return blocks


@pytest.mark.parametrize("model, blocks", [("resnet18_v1b", 8), ("resnet50_v1b", 16)])
def test_zero_gamma_is_in_the_student_at_step_0(tmp_path, model, blocks):
    """--last-gamma: every residual block (basic and bottleneck) holds one all-zero γ, so a block
    with an identity shortcut computes relu(x) before any update; without it, no γ is zero."""
    for last_gamma in (True, False):
        flags = ("--model", model) + (("--last-gamma",) if last_gamma else ())
        run = make_run(tmp_path / str(last_gamma), *flags)
        found = residual_blocks(run.net)
        assert len(found) == blocks
        identity_blocks = 0
        for block in found:
            gammas = [p.data().asnumpy() for p in block.collect_params(".*gamma").values()]
            zero = sum(1 for g in gammas if not g.any())
            assert zero == (1 if last_gamma else 0), (block.name, zero)
            channels = next(p.shape[1] for p in block.collect_params(".*weight").values())
            x = mx.nd.random.normal(shape=(2, channels, 4, 4))
            y = block(x).asnumpy()
            if y.shape == x.shape:
                identity_blocks += 1
                same = np.allclose(y, np.maximum(x.asnumpy(), 0), atol=1e-6)
                assert same == last_gamma, block.name
        assert identity_blocks >= blocks // 2


# -- §3.2 no bias decay -------------------------------------------------------------------------

def _zero_gradient_update(run):
    """Backward a loss that is 0 × the network's output (every gradient exactly 0), then the run's
    own update: only weight decay can move a parameter."""
    x = mx.nd.random.normal(shape=(8, 3, 32, 32))
    with autograd.record():
        loss = (run.net(x) * 0).sum()
    loss.backward()
    assert apply_update(run.trainer, run.params, run.scaler, 8, run.contexts[0])


@pytest.mark.parametrize("no_wd", [True, False])
def test_no_bias_decay_as_the_trainer_applies_it(tmp_path, no_wd):
    """wd_mult is 0 on exactly the biases and BN γ/β, and a zero-gradient step leaves them
    unchanged while it shrinks every conv/dense weight by NAG's 1 + momentum times lr·wd
    (without --no-wd, β shrinks too: the test can fail)."""
    lr, wd = 0.5, 0.05
    run = make_run(tmp_path, "--lr", lr, "--wd", wd, *(("--no-wd",) if no_wd else ()))
    trainable = {n: p for n, p in run.net.collect_params().items() if p.grad_req != "null"}
    exempt = {n for n in trainable if n.endswith(("bias", "gamma", "beta"))}
    assert exempt and any(n.endswith("beta") for n in exempt) and any(n.endswith("bias") for n in exempt)
    for name, param in trainable.items():
        expected = 0.0 if (no_wd and name in exempt) else 1.0
        assert param.wd_mult == expected, (name, param.wd_mult)
    for name in exempt:                     # β and biases start at 0, where decay is invisible
        trainable[name].set_data(mx.nd.full(trainable[name].shape, 0.5))
    before = {n: p.data().asnumpy().copy() for n, p in trainable.items()}
    _zero_gradient_update(run)
    shrink = 1 - (1 + 0.9) * lr * wd            # NAG's first step with g = wd·w
    for name, param in trainable.items():
        after = param.data().asnumpy()
        if no_wd and name in exempt:
            assert np.array_equal(after, before[name]), name
        else:
            np.testing.assert_allclose(after, before[name] * shrink, rtol=1e-5, atol=1e-8,
                                       err_msg=name)


# -- §5.2 label smoothing, through the loss the step returns ------------------------------------

def smoothed_targets(labels, eps, style):
    """Eq. 4: on 1−ε, off ε/(K−1) (paper); GluonCV: on 1−ε+ε/K, off ε/K."""
    off = eps / (K - 1) if style == "paper" else eps / K
    on = 1 - eps if style == "paper" else 1 - eps + eps / K
    rows = np.full((len(labels), K), off)
    rows[np.arange(len(labels)), labels.astype(int)] = on
    return rows


def cross_entropy_sum(target, logits):
    return float(-(target * log_softmax(logits.astype(np.float64))).sum())


@pytest.mark.parametrize("flags, style", [
    ((), "paper"), (("--smoothing-style", "gluoncv"), "gluoncv"), (("--preset", "gluoncv"), "gluoncv")])
def test_loss_of_a_step_is_the_smoothed_targets_cross_entropy(tmp_path, flags, style):
    """The loss Run.step returns equals Σ ℓ(smoothed target, logits the net produced) to 1e-5.
    With K = 4 and ε = 0.3 the other style's targets (ε/K vs ε/(K−1)), or no smoothing, give a
    sum that differs by far more than that (asserted below)."""
    eps = 0.3
    run = make_run(tmp_path, "--label-smoothing", eps, *flags)
    seen = Recorder(run.net)
    batch, result = first_step(run)
    logits, labels = seen.outputs[0], batch.label[0].asnumpy()
    observed = float(result[0][0].asscalar())
    expected = cross_entropy_sum(smoothed_targets(labels, eps, style), logits)
    assert observed == pytest.approx(expected, rel=1e-5)
    other = "gluoncv" if style == "paper" else "paper"
    for wrong in (cross_entropy_sum(smoothed_targets(labels, eps, other), logits),
                  cross_entropy_sum(smoothed_targets(labels, 0.0, style), logits)):
        assert abs(wrong - expected) > 100 * 1e-5 * abs(expected)


def test_first_update_moves_the_classifier_bias_by_lr_times_the_mean_gradient(tmp_path):
    """What the step applied: with momentum 0 and wd 0 the classifier bias moves by
    −lr·Σ_i (softmax(z_i) − p_i)/B, p the smoothed target, z the logits the net produced.
    Dividing by the batch, the lr and the smoothing all enter; summing instead of averaging
    (8× off) or ε = 0 moves it by far more than the 1e-4 tolerance."""
    lr, eps = 0.5, 0.3
    run = make_run(tmp_path, "--lr", lr, "--momentum", "0", "--wd", "0", "--label-smoothing", eps)
    bias = next(p for n, p in run.net.collect_params().items()
                if n.endswith("bias") and p.shape == (K,))
    before = bias.data().asnumpy().copy()
    seen = Recorder(run.net)
    batch, _ = first_step(run)
    z, labels = seen.outputs[0].astype(np.float64), batch.label[0].asnumpy()
    gradient = (np.exp(log_softmax(z)) - smoothed_targets(labels, eps, "paper")).mean(axis=0)
    moved = bias.data().asnumpy() - before
    np.testing.assert_allclose(moved, -lr * gradient, rtol=1e-4, atol=1e-7)
    unsmoothed = (np.exp(log_softmax(z)) - smoothed_targets(labels, 0.0, "paper")).mean(axis=0)
    assert np.abs(-lr * unsmoothed - moved).max() > 100 * 1e-4 * np.abs(moved).max()


# -- §5.4 mixup, seen in the inputs the network received ----------------------------------------

def mixing(received, data):
    """For each row i of ``received``: (partner j, λ) with received[i] = λ·data[i] + (1−λ)·data[j]
    to 1e-5 (j = i for an unmixed row), found by least squares over every candidate j."""
    found = []
    for i, r in enumerate(received.reshape(len(received), -1)):
        x = data.reshape(len(data), -1)
        if np.allclose(r, x[i], atol=1e-6):
            found.append((i, 1.0))
            continue
        best = None
        for j in range(len(x)):
            if j == i:
                continue
            basis = np.stack([x[i], x[j]], axis=1)
            coef, *_ = np.linalg.lstsq(basis, r, rcond=None)
            error = np.abs(basis @ coef - r).max()
            if best is None or error < best[0]:
                best = (error, j, coef)
        error, j, coef = best
        assert error < 1e-4 and abs(coef.sum() - 1) < 1e-4, (i, error, coef)
        found.append((j, float(coef[0])))
    return found


def test_mixup_is_on_then_off_for_the_last_epochs(tmp_path):
    """--mixup-off-epoch 1 of 3 epochs: in epochs 1-2 every input the network received is a blend
    λx_i + (1−λ)x_j of two batch images with one λ per batch; in epoch 3 it is the batch itself."""
    run = make_run(tmp_path, "--mixup", "--mixup-alpha", "1", "--mixup-off-epoch", "1",
                   "--log-interval", "1")
    seen = Recorder(run.net)
    progress = Progress(3, run.iters, every=1)
    with MetricsLog(str(tmp_path / "run")) as log:
        for epoch in range(3):
            start = len(seen.inputs)
            run.train_epoch(epoch, progress, log)
            received = seen.inputs[start:]
            assert len(received) == run.iters
            data = next(run.epoch_batches(epoch)).data[0].asnumpy()
            for inputs in received:
                pairs = mixing(inputs, data)
                if epoch < 2:
                    lams = {round(lam, 4) for i, (j, lam) in enumerate(pairs) if j != i}
                    assert len(lams) == 1 and 0 < lams.pop() < 1, pairs
                else:
                    assert np.array_equal(inputs, data)


@pytest.mark.parametrize("flags, pairing", [
    ((), "random"), (("--mixup-pairing", "reverse"), "reverse"), (("--preset", "gluoncv"), "reverse")])
def test_mixup_pairing_order(tmp_path, flags, pairing):
    """The paper pairs random examples (§5.4); GluonCV blends each with the reversed batch."""
    run = make_run(tmp_path, "--mixup", "--mixup-alpha", "1", "--batch-size", "16", *flags)
    seen = Recorder(run.net)
    batch, _ = first_step(run, use_mixup=True)
    pairs = mixing(seen.inputs[0], batch.data[0].asnumpy())
    partners = [j for j, _ in pairs]
    assert sorted(partners) == list(range(16))            # a permutation of the batch
    assert sum(1 for i, j in enumerate(partners) if i != j) >= 8     # and it mixed
    reverse = list(range(15, -1, -1))
    assert (partners == reverse) == (pairing == "reverse"), partners


def test_mixup_on_two_devices_pairs_within_each_slice_with_one_lambda(tmp_path):
    """--cpus 2: each device receives a blend of images of its own slice (no data crosses
    devices), and both slices share the batch's one λ."""
    run = make_run(tmp_path, "--mixup", "--mixup-alpha", "1", "--cpus", "2", "--batch-size", "4")
    seen = Recorder(run.net)
    batch, _ = first_step(run, use_mixup=True)
    data = batch.data[0].asnumpy()
    assert len(seen.inputs) == 2 and data.shape[0] == 8
    lams = set()
    for device, received in enumerate(seen.inputs):
        pairs = mixing(received, data[4 * device:4 * device + 4])
        assert sorted(j for j, _ in pairs) == list(range(4))
        lams |= {round(lam, 4) for i, (j, lam) in enumerate(pairs) if j != i}
    assert len(lams) == 1 and 0 < lams.pop() < 1


# -- §3.1 warmup, §5.1 step and cosine: the lr of every update ----------------------------------

def paper_lr(k, base, iters, epochs, warmup, mode, decay_epochs=(), factor=0.1):
    """The lr of update k (1-based): k·η/m during warmup (§3.1), then η·factor^(boundaries passed)
    or ½(1 + cos(tπ/T))·η with t = k − m − 1 counted from 0 and T = N − m (eq. 1)."""
    m, total = warmup * iters, epochs * iters
    if k <= m:
        return k * base / m
    if mode == "step":
        return base * factor ** sum(1 for e in decay_epochs if k > e * iters)
    return 0.5 * (1 + math.cos(math.pi * (k - m - 1) / (total - m))) * base


@pytest.mark.parametrize("mode", ["step", "cosine"])
def test_lr_of_every_update_in_metrics_jsonl(tmp_path, mode):
    """Three epochs of three updates, one warmup epoch: the lr logged for each update equals the
    paper's formula to 1e-9. Off by one update (k−1 for k, or t from 1) the lr of the first
    warmup update is 0 and the first cosine one is ½(1 + cos(π/6))·η ≈ 0.93η: far outside."""
    base = 0.4
    run = make_run(tmp_path, "--lr", base, "--lr-mode", mode, "--warmup-epochs", "1",
                   "--lr-decay-epoch", "2", "--batches-per-epoch", "3", "--log-interval", "1")
    progress = Progress(3, run.iters, every=1)
    with MetricsLog(str(tmp_path / "run")) as log:
        for epoch in range(3):
            run.train_epoch(epoch, progress, log)
    events = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    logged = [e["lr"] for e in events if e["kind"] == "train"]
    assert len(logged) == 9
    expected = [paper_lr(k, base, 3, 3, 1, mode, (2,)) for k in range(1, 10)]
    assert logged == pytest.approx(expected, rel=1e-9)
    wrong = [paper_lr(k - 1, base, 3, 3, 1, mode, (2,)) if k > 1 else 0.0 for k in range(1, 10)]
    assert wrong != pytest.approx(expected, rel=1e-3)
    if mode == "cosine":
        assert len(set(logged[3:])) == 6        # it decays: not a constant (step without epochs)


# -- §5.3 distillation: the teacher's logits in the loss ----------------------------------------

def save_teacher(path, seed):
    mx.random.seed(seed)
    teacher = get_model("resnet18_v1b", classes=K)
    teacher.initialize(mx.init.Xavier(magnitude=6))
    teacher(mx.nd.zeros((1, 3, 32, 32)))
    teacher.save_parameters(str(path))
    return path


def eq6(student, labels, teacher, temperature, eps, style, hard_weight):
    """Eq. 6 summed over the batch: hard = ℓ(p, softmax(z)), soft = T²·ℓ(softmax(r/T), softmax(z/T))."""
    hard = -(smoothed_targets(labels, eps, style) * log_softmax(student)).sum()
    prob = np.exp(log_softmax(teacher / temperature))
    soft = temperature ** 2 * -(prob * log_softmax(student / temperature)).sum()
    if hard_weight is None:
        return hard + soft, hard, soft
    return (1 - hard_weight) * soft + hard_weight * hard, hard, soft


@pytest.mark.parametrize("flags, hard_weight, style", [
    ((), None, "paper"), (("--hard-weight", "0.3"), 0.3, "paper"),
    (("--preset", "gluoncv"), 0.5, "gluoncv")])
def test_distillation_loss_uses_the_teachers_logits(tmp_path, flags, hard_weight, style):
    """The step's loss is eq. 6 (or GluonCV's (1−h)·T²·soft + h·hard) of the logits the student and
    the teacher produced, to 1e-5; a different teacher gives a different loss. With T = 2, ε = 0.3
    and K = 4 the hard and soft terms are of one size, so dropping T², the teacher, the weighting
    or ε/(K−1) moves the sum by far more than the tolerance (asserted)."""
    eps, temperature = 0.3, 2.0
    losses = []
    for seed in (1, 2):
        params = save_teacher(tmp_path / ("teacher%d.params" % seed), seed)
        run = make_run(tmp_path / str(seed), "--teacher", "resnet18_v1b", "--teacher-params", params,
                       "--temperature", temperature, "--label-smoothing", eps, *flags)
        student, teacher = Recorder(run.net), Recorder(run.teacher)
        batch, result = first_step(run)
        z = student.outputs[0].astype(np.float64)
        r = teacher.outputs[0].astype(np.float64)
        labels = batch.label[0].asnumpy()
        observed = float(result[0][0].asscalar())
        expected, hard, soft = eq6(z, labels, r, temperature, eps, style, hard_weight)
        assert observed == pytest.approx(expected, rel=1e-5)
        other = "gluoncv" if style == "paper" else "paper"
        other_weighting = 0.5 * soft + 0.5 * hard if hard_weight is None else hard + soft
        wrong_smoothing = eq6(z, labels, r, temperature, eps, other, hard_weight)[0]
        for wrong in (hard, soft, hard + soft / temperature ** 2, other_weighting, wrong_smoothing):
            assert abs(wrong - expected) > 30 * 1e-5 * abs(expected), wrong
        losses.append(observed)
    assert abs(losses[0] - losses[1]) > 1e-3 * abs(losses[0])


# -- §3.2 FP16 with float32 master weights, as far as a CPU goes --------------------------------

class StopForward(Exception):
    pass


def test_fp16_run_feeds_float16_and_keeps_float32_master_weights(tmp_path):
    """--dtype float16: the network gets float16 inputs (seen by a pre-hook that stops the
    forward, since MXNet has no FP16 convolution on CPU); conv weights are float16, BN stays
    float32; and 20 updates each below half a float16 ULP still move the float16 weights by
    their float32 sum, which only master weights do (without them every update rounds away).
    The loss scale (128) is divided out of each update."""
    lr, scale, steps = 1e-4, 128.0, 20
    run = make_run(tmp_path, "--dtype", "float16", "--loss-scale", scale, "--lr", lr,
                   "--momentum", "0", "--wd", "0")
    dtypes = []

    def stop(block, inputs):
        dtypes.append(inputs[0].dtype)
        raise StopForward

    handle = run.net.register_forward_pre_hook(stop)
    with pytest.raises(StopForward):
        first_step(run)
    handle.detach()
    assert dtypes == [np.float16]
    convs = [p for p in run.params if len(p.shape) == 4]
    assert convs and all(np.dtype(p.dtype) == np.float16 for p in convs)
    assert all(np.dtype(p.dtype) == np.float32 for n, p in run.net.collect_params().items() if "batchnorm" in n
               or n.endswith(("gamma", "beta")))
    weight = max(convs, key=lambda p: p.data().size)
    before = weight.data().asnumpy().astype(np.float32)
    for _ in range(steps):                      # gradient of Σ w·1 is 1 for every parameter
        with autograd.record():
            total = mx.nd.add_n(*[p.data().astype("float32").sum() for p in run.params])
        total.backward()
        assert apply_update(run.trainer, run.params, run.scaler, 1, run.contexts[0])
    step = lr * 1.0 / scale                      # 7.8e-7 per update
    after = weight.data().asnumpy()
    ulp = np.spacing(np.abs(before).astype(np.float16)).astype(np.float32)
    # where one update rounds away in float16 but the 20 together are 1.5 ULPs or more
    fine = (ulp > 2 * step) & (steps * step >= 1.5 * ulp)
    assert fine.sum() > 1000
    expected = (before - steps * step).astype(np.float16)
    moved = after[fine] != before[fine].astype(np.float16)
    assert moved.mean() > 0.5
    assert np.abs(after[fine].astype(np.float32) - expected[fine].astype(np.float32)).max() \
        <= ulp[fine].max()
