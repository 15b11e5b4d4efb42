"""Gradient accumulation (--accumulate N): N micro-batches per device, one update dividing by
the whole batch; the resolved config, the update count, the schedule and exact resume."""
import json
import shutil

import mxnet as mx
import numpy as np
import pytest

from gluon_tricks.config import build
from gluon_tricks.distributed import Distribution
from gluon_tricks.lr_scheduler import scheduler_from_config
from gluon_tricks.precision import LossScaler
from gluon_tricks.classification import Run, accumulate_gradients, optimizer_params

from cli import run_cli
from test_train import ALL_TRICKS, TINY, params_of

IMAGES = 8          # images per update in every comparison
CLASSES = 3


def bn_free_run(tmp_path, accumulate, devices="cpu:2"):
    """A Run of ``accumulate`` micro-batches per update whose network is a small conv net
    without BatchNorm (so micro-batches cannot differ from one batch), same weights each time."""
    cfg = build(dict(model="resnet18_v1b", input_size=32, classes=CLASSES, devices=devices,
                     batch_size=IMAGES // 2 // accumulate, accumulate=accumulate,
                     data_backend="synthetic", aug="paper-decoder", batches_per_epoch=4,
                     num_epochs=1, lr=0.5, save_dir=str(tmp_path / ("acc%d" % accumulate))),
                env={})
    run = Run(cfg, Distribution(cfg))
    net = mx.gluon.nn.HybridSequential()
    net.add(mx.gluon.nn.Conv2D(4, 3, in_channels=3, activation="relu"),
            mx.gluon.nn.GlobalAvgPool2D(), mx.gluon.nn.Dense(CLASSES, in_units=4))
    mx.random.seed(7)
    net.initialize(mx.init.Xavier(), ctx=run.contexts)
    if accumulate > 1:
        accumulate_gradients(net)
    net.hybridize(static_alloc=True, static_shape=True)
    run.net = net
    run.params = [p for p in net.collect_params().values() if p.grad_req != "null"]
    run.trainer = run.dist.make_trainer(net.collect_params(), cfg.optimizer,
                                        optimizer_params(cfg, run.scheduler))
    return run


def batches(count, poison=None):
    rng = np.random.RandomState(3)
    out = []
    for i in range(count):
        data = rng.standard_normal((IMAGES, 3, 8, 8)).astype(np.float32)
        if i == poison:
            data[5, 0, 0, 0] = np.inf
        out.append(mx.io.DataBatch(data=[mx.nd.array(data)],
                                   label=[mx.nd.array(rng.randint(0, CLASSES, IMAGES))], pad=0))
    return out


def weights(run):
    return [p.data(c).asnumpy() for p in run.params for c in run.contexts]


@pytest.mark.parametrize("accumulate", [2, 4])
def test_micro_batches_without_batchnorm_update_like_one_batch(tmp_path, accumulate):
    """Three updates through Run.step: N micro-batches of 8/N images (over 2 devices) give the
    weights of one batch of 8, and the same loss sums; the second and third updates would
    differ if the summed gradients were not zeroed after each update."""
    whole, accumulated = bn_free_run(tmp_path, 1), bn_free_run(tmp_path, accumulate)
    assert accumulated.local_batch == whole.local_batch == IMAGES
    assert accumulated.micro_batch == IMAGES // accumulate
    rng = np.random.RandomState(0)
    for batch in batches(3):
        loss_whole = sum(l.asscalar() for l, _ in whole.step(batch, False, rng))
        loss_acc = sum(l.asscalar() for l, _ in accumulated.step(batch, False, rng))
        assert loss_acc == pytest.approx(loss_whole, rel=1e-5)
    assert accumulated.trainer._optimizer.num_update == 3
    for a, b in zip(weights(whole), weights(accumulated)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert not np.allclose(weights(whole)[0], weights(bn_free_run(tmp_path, 1))[0])


def test_an_overflowing_sum_skips_the_update_and_discards_the_gradients(tmp_path):
    """FP16 loss scaling: an inf in one micro-batch makes the summed gradients overflow; the
    update is skipped, the scale halves and nothing of that sum reaches the next update."""
    clean, poisoned = bn_free_run(tmp_path, 1), bn_free_run(tmp_path, 2)
    clean.scaler = LossScaler("dynamic", init_scale=1024.0)
    poisoned.scaler = LossScaler("dynamic", init_scale=1024.0)
    rng = np.random.RandomState(0)
    bad, good = batches(2, poison=0)
    before = weights(poisoned)
    poisoned.step(bad, False, rng)
    assert poisoned.scaler.skipped == 1 and poisoned.scaler.scale == 512.0
    assert all(np.array_equal(a, b) for a, b in zip(before, weights(poisoned)))
    assert all(not g.asnumpy().any() for p in poisoned.params for g in p.list_grad())
    clean.step(good, False, rng)
    poisoned.step(good, False, rng)
    for a, b in zip(weights(clean), weights(poisoned)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def print_config(*args, env=None):
    proc = run_cli("train", "--print-config", *args, env=env)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.parametrize("args, batch, steps, total", [
    (["--batch-size", "32", "--accumulate", "4", "--cpus", "2"], 32, 4, 256),
    (["--batch-size", "1024", "--max-device-batch", "96"], 64, 16, 1024),
    (["--batch-size", "512", "--max-device-batch", "128", "--accumulate", "2", "--gpus", "0,1"],
     128, 8, 2048),
    (["--batch-size", "64", "--max-device-batch", "128", "--accumulate", "3"], 64, 3, 192),
])
def test_resolved_batch_and_linear_scaling_use_the_whole_batch(args, batch, steps, total):
    cfg = print_config("--lr-per-256", "0.1", *args)
    assert (cfg["batch_size"], cfg["accumulate"], cfg["total_batch_size"]) == (batch, steps, total)
    assert cfg["lr"] == pytest.approx(0.1 * total / 256)


def test_workers_multiply_the_accumulated_batch():
    cfg = build(dict(batch_size=32, accumulate=4, kvstore="horovod", lr_per_256=0.1,
                     num_training_samples=4096), env={"HOROVOD_SIZE": "2"})
    assert cfg.total_batch_size == 32 * 4 * 2 and cfg.batches_per_epoch == 4096 // 256
    assert cfg.lr == pytest.approx(0.1)


def test_updates_and_schedule_count_whole_batches_with_batchnorm(tiny_demo, tmp_path):
    """resnet18_v1b (BatchNorm) on the 48-image tiny set, 4 images × 2 micro-batches × 2 CPUs:
    3 updates an epoch, the warmup/cosine schedule over updates, img/s over images."""
    run = tmp_path / "run"
    proc = run_cli("train", "--data-dir", tiny_demo, "--save-dir", run, "--model", "resnet18_v1b",
                   "--input-size", "32", "--batch-size", "4", "--accumulate", "2", "--cpus", "2",
                   "--threads", "1", "--log-interval", "1", "--num-epochs", "2",
                   "--warmup-epochs", "1", "--lr-mode", "cosine", "--lr-per-256", "0.1")
    assert proc.returncode == 0, proc.stderr
    assert "2 epochs of 3 steps, total batch 16" in proc.stdout
    assert "epoch 2/2 | batch 3/3" in proc.stdout and "batch 4/" not in proc.stdout
    config = json.loads((run / "config.json").read_text())
    events = [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines()]
    train = [e for e in events if e["kind"] == "train"]
    assert [e["step"] for e in train] == [1, 2, 3, 4, 5, 6]
    schedule = scheduler_from_config(config, 3)
    assert [e["lr"] for e in train] == pytest.approx([schedule(k) for k in range(1, 7)])
    assert train[2]["lr"] == pytest.approx(0.1 * 16 / 256)      # warmup ends after 3 updates
    state = json.loads((run / "checkpoints" / "epoch-0002" / "state.json").read_text())
    assert state["num_update"] == 6


def test_resume_with_accumulation_is_bit_identical(tiny_demo, tmp_path):
    """Two epochs straight vs. one, a crash, --resume and the second: same bits, with two
    micro-batches per update on two CPU contexts and every trick (mixup per micro-batch)."""
    args = ("--num-epochs", "2", "--save-frequency", "1", "--cpus", "2", "--batch-size", "2",
            "--accumulate", "2", "--batches-per-epoch", "3", *ALL_TRICKS)

    def train(save_dir, *extra):
        return run_cli("train", "--data-dir", tiny_demo, "--save-dir", save_dir, *TINY, *args,
                       *extra)

    run = tmp_path / "run"
    assert train(run).returncode == 0
    straight = params_of(run / "checkpoints" / "epoch-0002" / "model.params")
    shutil.rmtree(run / "checkpoints" / "epoch-0002")
    if json.loads((run / "checkpoints" / "best" / "checkpoint.json").read_text())["epoch"] == 2:
        shutil.rmtree(run / "checkpoints" / "best")
    proc = run_cli("train", "--resume", run)
    assert proc.returncode == 0, proc.stderr
    assert "resumed from" in proc.stdout and "epoch 1/2 | batch" not in proc.stdout
    resumed = params_of(run / "checkpoints" / "epoch-0002" / "model.params")
    assert straight.keys() == resumed.keys()
    assert all(np.array_equal(straight[k], resumed[k]) for k in straight)
