"""The training loop end to end through the real CLI, plus its pieces that a run cannot show."""
import json
import os
import shutil

import mxnet as mx
import numpy as np
import pytest

from gluon_tricks.commands.train import config_from_args, configure
from gluon_tricks.cli import OneLineParser
from gluon_tricks.models import get_model, initialize
from gluon_tricks.precision import LossScaler, apply_update, grads_finite
from gluon_tricks.classification import build_network, no_bias_decay

from cli import one_line_error, run_cli

TINY = ["--model", "resnet18_v1b", "--input-size", "32", "--batch-size", "4", "--threads", "1",
        "--batches-per-epoch", "5", "--log-interval", "2"]
ALL_TRICKS = ["--lr-mode", "cosine", "--warmup-epochs", "1", "--last-gamma", "--no-wd",
              "--label-smoothing", "--mixup", "--lr-per-256", "0.1"]


def train(data, save_dir, *extra):
    proc = run_cli("train", "--data-dir", data, "--save-dir", save_dir, *TINY, *extra)
    return proc


def params_of(path):
    return {k: v.asnumpy() for k, v in mx.nd.load(str(path)).items()}


def config(*args):
    parser = OneLineParser()
    configure(parser)
    return config_from_args(parser.parse_args(list(args)))


def test_run_writes_progress_metrics_checkpoints_and_plots(tiny_demo, tmp_path):
    run = tmp_path / "run"
    proc = train(tiny_demo, run, "--num-epochs", "2", "--save-frequency", "1", *ALL_TRICKS)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    progress = [l for l in lines if l.startswith("epoch 1/2 | batch")]
    assert progress and all(k in progress[0] for k in ("img/s", "data wait", "lr", "loss",
                                                       "train-acc", "eta epoch"))
    assert any("val top-1" in l for l in lines) and "run folder" in lines[-1]
    events = [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines()]
    evals = [e for e in events if e["kind"] == "eval"]
    assert [e["epoch"] for e in evals] == [1, 2] and all(0 <= e["top1"] <= 1 for e in evals)
    assert evals[0]["images"] == 24  # every val image once: 3 classes x 8
    assert {"epoch-0001", "epoch-0002", "best"} <= set(os.listdir(run / "checkpoints"))
    assert {"lr.png", "loss.png", "accuracy.png"} <= set(os.listdir(run / "plots"))
    assert json.loads((run / "config.json").read_text())["mixup_alpha"] == 0.2


def test_resume_after_a_crash_is_bit_identical(tiny_demo, tmp_path):
    """Two epochs straight vs. one epoch, a crash, ``--resume DIR`` alone and the second epoch:
    same bits. Two CPU contexts, so every device's optimizer state has to come back."""
    args = ("--num-epochs", "2", "--cpus", "2", *ALL_TRICKS)
    run = tmp_path / "run"
    assert train(tiny_demo, run, *args).returncode == 0
    straight = params_of(run / "checkpoints" / "epoch-0002" / "model.params")
    shutil.rmtree(run / "checkpoints" / "epoch-0002")
    if json.loads((run / "checkpoints" / "best" / "checkpoint.json").read_text())["epoch"] == 2:
        shutil.rmtree(run / "checkpoints" / "best")
    proc = run_cli("train", "--resume", run)
    assert proc.returncode == 0, proc.stderr
    assert "resumed from" in proc.stdout and "epoch 1 done" in proc.stdout
    assert "epoch 1/2 | batch" not in proc.stdout
    resumed = params_of(run / "checkpoints" / "epoch-0002" / "model.params")
    assert straight.keys() == resumed.keys()
    assert all(np.array_equal(straight[k], resumed[k]) for k in straight)


def test_resume_refuses_an_incompatible_config_and_empty_dirs(tiny_demo, tmp_path):
    run = tmp_path / "run"
    assert train(tiny_demo, run, "--num-epochs", "1").returncode == 0
    line = one_line_error(run_cli("train", "--resume", run, "--model", "resnet34_v1b"))
    assert "cannot resume: model (checkpoint: resnet18_v1b, now: resnet34_v1b)" in line
    line = one_line_error(run_cli("train", "--resume", tmp_path / "missing"))
    assert "no such folder" in line
    (tmp_path / "empty").mkdir()
    line = one_line_error(run_cli("train", "--resume", tmp_path / "empty"))
    assert "no run there" in line


def test_divergence_stops_with_one_line_naming_the_last_good_checkpoint(tiny_demo, tmp_path):
    run = tmp_path / "run"
    proc = train(tiny_demo, run, "--num-epochs", "1", "--lr", "1e38", "--wd", "0",
                 "--lr-mode", "cosine")
    line = one_line_error(proc, code=1)
    assert ("loss became nan" in line or "loss became inf" in line) and \
        "Last good checkpoint: none written yet" in line
    assert not os.path.exists(run / "checkpoints")


def test_teacher_problems_are_one_line_errors(tiny_demo, tmp_path):
    line = one_line_error(train(tiny_demo, tmp_path / "r", "--teacher", "resnet18_v1b",
                                "--teacher-params", tmp_path / "missing.params"))
    assert "teacher parameters" in line and "not found" in line
    teacher = get_model("resnet18_v1b", classes=5)
    initialize(teacher)
    teacher(mx.nd.zeros((1, 3, 32, 32)))
    teacher.save_parameters(str(tmp_path / "t.params"))
    line = one_line_error(train(tiny_demo, tmp_path / "r", "--teacher", "resnet18_v1b",
                                "--teacher-params", tmp_path / "t.params"))
    assert "has 5 output classes but the student has 3" in line


def test_distillation_run_trains(tiny_demo, tmp_path):
    teacher = get_model("resnet18_v1", classes=3)
    initialize(teacher)
    teacher(mx.nd.zeros((1, 3, 32, 32)))
    teacher.save_parameters(str(tmp_path / "t.params"))
    proc = train(tiny_demo, tmp_path / "r", "--num-epochs", "1", "--teacher", "resnet18_v1",
                 "--teacher-params", tmp_path / "t.params", "--temperature", "20",
                 "--label-smoothing")
    assert proc.returncode == 0, proc.stderr


def test_no_bias_decay_exempts_exactly_biases_and_bn_affine():
    net = get_model("resnet18_v1", classes=4)
    initialize(net)
    net(mx.nd.zeros((1, 3, 32, 32)))
    exempt = set(no_bias_decay(net))
    trainable = {n: p for n, p in net.collect_params().items() if p.grad_req != "null"}
    assert exempt == {n for n in trainable if n.endswith(("bias", "gamma", "beta"))}
    assert all(trainable[n].wd_mult == 0.0 for n in exempt)
    assert all(trainable[n].wd_mult == 1.0 for n in set(trainable) - exempt)
    assert all(n.endswith("weight") for n in set(trainable) - exempt)
    assert any(n.endswith("gamma") for n in exempt) and any(n.endswith("bias") for n in exempt)


def test_fp16_network_keeps_bn_in_fp32_and_updates_fp32_master_weights():
    cfg = config("--model", "resnet18_v1b", "--classes", "4", "--input-size", "32",
                 "--dtype", "float16", "--no-wd")
    net = build_network(cfg, [mx.cpu()])
    params = net._collect_params_with_prefix()
    dtype = {k: np.dtype(p.dtype) for k, p in params.items()}
    assert dtype["conv1.weight"] == np.float16 and dtype["fc.weight"] == np.float16
    assert dtype["bn1.gamma"] == np.float32 and dtype["bn1.running_var"] == np.float32
    trainable = [p for p in net.collect_params().values() if p.grad_req != "null"]
    trainer = mx.gluon.Trainer(net.collect_params(), "nag",
                               {"learning_rate": 0.1, "momentum": 0.9, "multi_precision": True})
    for p in trainable:  # hand-set gradients: MXNet has no FP16 convolution on CPU to backprop
        p.grad()[:] = 0.01
        p.data()._fresh_grad = True
    before = params["fc.weight"].data().astype("float32").asnumpy()
    assert apply_update(trainer, trainable, LossScaler(128.0), 1, mx.cpu())
    index = trainer._param2idx[params["fc.weight"].name]
    master = trainer._updaters[0].states[index][1]  # (momentum, float32 master copy)
    assert master.dtype == np.float32
    np.testing.assert_allclose(master.asnumpy(), before - 0.1 * 0.01 / 128 * 1.9, rtol=1e-3, atol=1e-6)


def _backward(net, contexts):
    """Fresh gradients of a sum loss on every context (what the training loop produces)."""
    with mx.autograd.record():
        losses = [net(mx.nd.ones((2, 2), ctx=c)).sum() for c in contexts]
    mx.autograd.backward(losses)


def test_overflowing_gradients_skip_the_step_and_shrink_the_scale():
    contexts = [mx.cpu(0), mx.cpu(1)]
    net = mx.gluon.nn.Dense(3, in_units=2)
    net.initialize(ctx=contexts)
    params = list(net.collect_params().values())
    trainer = mx.gluon.Trainer(params, "nag", {"learning_rate": 0.1}, kvstore="device",
                               update_on_kvstore=False)
    before = net.weight.data(mx.cpu(0)).asnumpy()
    _backward(net, contexts)
    net.weight.list_grad()[1][0, 0] = np.inf
    scaler = LossScaler("dynamic", init_scale=1024.0)
    assert not apply_update(trainer, params, scaler, 4, mx.cpu(0))
    assert scaler.scale == 512.0 and scaler.skipped == 1
    assert np.array_equal(net.weight.data(mx.cpu(0)).asnumpy(), before)
    _backward(net, contexts)
    assert grads_finite(params, mx.cpu(0))
    assert apply_update(trainer, params, scaler, 4, mx.cpu(0))
    after = [net.weight.data(c).asnumpy() for c in contexts]
    assert not np.array_equal(after[0], before) and np.array_equal(after[0], after[1])


def test_dynamic_scale_grows_after_a_clean_window_and_static_never_moves():
    scaler = LossScaler("dynamic", init_scale=8.0, window=3)
    for _ in range(3):
        assert scaler.update(True)
    assert scaler.scale == 16.0
    static = LossScaler("64")
    assert not static.update(False) and static.scale == 64.0 and static.skipped == 1


def test_three_epochs_with_all_tricks_learn_well_above_chance(tmp_path):
    """Issue's acceptance run, scaled: resnet18_v1d, 64 px, every trick, 3 epochs on demo data."""
    from gluon_tricks.datasets.demo import make_demo_data
    data = tmp_path / "demo"
    make_demo_data(str(data))
    proc = run_cli("train", "--data-dir", data, "--save-dir", tmp_path / "run", "--model",
                   "resnet18_v1d", "--input-size", "64", "--batch-size", "32", "--num-epochs", "3",
                   "--lr-mode", "cosine", "--warmup-epochs", "1", "--lr-per-256", "0.8",
                   "--last-gamma", "--no-wd", "--label-smoothing", "--mixup", "--mixup-off-epoch",
                   "1", "--threads", "2", "--log-interval", "10")
    assert proc.returncode == 0, proc.stderr
    evals = [json.loads(l) for l in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    top1 = max(e["top1"] for e in evals if e["kind"] == "eval")
    assert top1 > 0.3, top1  # chance is 0.1; about 0.5 measured
