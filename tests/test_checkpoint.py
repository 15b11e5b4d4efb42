"""Checkpoints: a resumed run equals an uninterrupted one bit for bit; atomic saves; clear errors."""
import os
import random
import shutil

import numpy as np
import pytest

import gluon_tricks  # noqa: F401  (restores NumPy aliases before mxnet loads)
import mxnet as mx
from mxnet import autograd, gluon
from mxnet.gluon import nn

from gluon_tricks import checkpoint
from gluon_tricks.errors import UsageError
from gluon_tricks.lr_scheduler import make_scheduler

CTX2 = [mx.cpu(0), mx.cpu(1)]
BATCH = 8


def conv_net(seed, ctx):
    """Conv + BatchNorm + Dense, initialised from MXNet seed ``seed`` on every context."""
    mx.random.seed(seed)
    net = nn.HybridSequential()
    net.add(nn.Conv2D(4, 3, padding=1, in_channels=3), nn.BatchNorm(in_channels=4),
            nn.Activation("relu"), nn.GlobalAvgPool2D(), nn.Dense(5, in_units=4))
    net.initialize(mx.init.Xavier(), ctx=ctx)
    return net


class Scale(gluon.HybridBlock):
    """y = sum(x * w): elementwise ops only, which (unlike FP16 conv/dense) run in FP16 on CPU."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.weight = self.params.get("weight", shape=(3, 4))

    def hybrid_forward(self, F, x, weight):
        return F.broadcast_mul(x, weight.expand_dims(0)).sum(axis=(1, 2))


def fp16_net(seed, ctx):
    mx.random.seed(seed)
    net = Scale()
    net.initialize(mx.init.Normal(1.0), ctx=ctx)
    net.cast("float16")
    return net


def nag_trainer(net, multi_precision=False):
    """The training loop's construction: NAG, warmup + cosine, per-device updates."""
    sched = make_scheduler("cosine", 0.1, iters_per_epoch=4, num_epochs=3, warmup_epochs=1)
    return gluon.Trainer(net.collect_params(), "nag",
                         {"learning_rate": 0.1, "momentum": 0.9, "wd": 1e-4,
                          "multi_precision": multi_precision, "lr_scheduler": sched},
                         kvstore="device", update_on_kvstore=False)


def conv_step(net, trainer, ctx, step):
    """One training step on a batch drawn from RandomState(step), split over ``ctx``."""
    rs = np.random.RandomState(step)
    x = rs.uniform(-1, 1, (BATCH, 3, 6, 6)).astype("float32")
    y = rs.randint(0, 5, BATCH).astype("float32")
    xs = gluon.utils.split_and_load(x, ctx)
    ys = gluon.utils.split_and_load(y, ctx)
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    with autograd.record():
        losses = [loss_fn(net(a), b) for a, b in zip(xs, ys)]
    autograd.backward(losses)
    trainer.step(BATCH)


def fp16_step(net, trainer, ctx, step):
    rs = np.random.RandomState(step)
    x = mx.nd.array(rs.uniform(-1, 1, (BATCH, 3, 4)), dtype="float16")
    xs = gluon.utils.split_and_load(x, ctx)
    with autograd.record():
        losses = [net(x) for x in xs]
    autograd.backward(losses)
    trainer.step(BATCH)


def param_values(net):
    """Every context's copy of every parameter, in definition order, as NumPy arrays."""
    return [[d.asnumpy() for d in p.list_data()] for p in net.collect_params().values()]


def updater_states(trainer):
    """Per context, {index: tuple of NumPy arrays} of the updater states."""
    out = []
    for updater in trainer._updaters:
        states = {}
        for idx, state in updater.states.items():
            parts = state if isinstance(state, tuple) else (state,)
            states[idx] = tuple(None if s is None else s.asnumpy() for s in parts)
        out.append(states)
    return out


def assert_all_equal(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        if isinstance(x, (list, tuple)):
            assert_all_equal(x, y)
        elif isinstance(x, dict):
            assert x.keys() == y.keys()
            assert_all_equal([x[k] for k in sorted(x)], [y[k] for k in sorted(y)])
        elif x is None:
            assert y is None
        else:
            assert x.dtype == y.dtype and np.array_equal(x, y)


def test_resume_is_bit_identical_on_two_devices(tmp_path):
    root = str(tmp_path / "checkpoints")
    net_a = conv_net(1, CTX2)
    trainer_a = nag_trainer(net_a)
    for step in range(1, 5):
        conv_step(net_a, trainer_a, CTX2, step)
    path = checkpoint.save(root, 1, net_a, trainer_a, {"epoch": 1, "num_update": 4})
    for step in range(5, 9):
        conv_step(net_a, trainer_a, CTX2, step)
    running_mean = net_a[1].running_mean.list_data()
    assert not np.array_equal(running_mean[0].asnumpy(), running_mean[1].asnumpy())

    net_b = conv_net(2, CTX2)
    trainer_b = nag_trainer(net_b)
    assert checkpoint.latest(root) == path == os.path.join(root, "epoch-0001")
    state = checkpoint.load(path, net_b, trainer_b, CTX2)
    assert state == checkpoint.read_state(path) == {"epoch": 1, "num_update": 4}
    opt = trainer_b._optimizer
    assert opt.num_update == 4
    assert isinstance(opt.lr_scheduler, type(trainer_a._optimizer.lr_scheduler))
    assert all(u.optimizer is opt for u in trainer_b._updaters)
    assert opt.param_dict == dict(enumerate(trainer_b._params))
    for step in range(5, 9):
        conv_step(net_b, trainer_b, CTX2, step)

    assert_all_equal(param_values(net_a), param_values(net_b))
    states_a, states_b = updater_states(trainer_a), updater_states(trainer_b)
    assert len(states_b) == 2 and all(states_b)
    assert_all_equal(states_a, states_b)
    assert trainer_b._optimizer.num_update == 8
    assert trainer_b.learning_rate == trainer_a.learning_rate


def test_fp16_master_weights_round_trip_per_device(tmp_path):
    root = str(tmp_path / "checkpoints")
    net_a = fp16_net(1, CTX2)
    trainer_a = nag_trainer(net_a, multi_precision=True)
    for step in range(1, 4):
        fp16_step(net_a, trainer_a, CTX2, step)
    # Summed gradients keep the devices' states equal; make device 1's differ so that the
    # test sees which device each restored state comes from.
    for state in trainer_a._updaters[1].states[0]:
        state += 2.0 ** -12
    states_saved = updater_states(trainer_a)
    assert not np.array_equal(states_saved[0][0][1], states_saved[1][0][1])
    momentum, master = states_saved[0][0]
    assert momentum.dtype == master.dtype == np.float32
    weight = net_a.weight.data(CTX2[0]).asnumpy()
    assert weight.dtype == np.float16
    assert not np.array_equal(master, weight.astype(np.float32))  # the master copy has more bits
    path = checkpoint.save(root, 1, net_a, trainer_a, {"epoch": 1})

    net_b = fp16_net(2, CTX2)
    trainer_b = nag_trainer(net_b, multi_precision=True)
    checkpoint.load(path, net_b, trainer_b, CTX2)
    assert_all_equal(states_saved, updater_states(trainer_b))
    for step in range(4, 6):
        fp16_step(net_a, trainer_a, CTX2, step)
        fp16_step(net_b, trainer_b, CTX2, step)
    assert_all_equal(param_values(net_a), param_values(net_b))
    assert_all_equal(updater_states(trainer_a), updater_states(trainer_b))


def test_failed_save_leaves_previous_checkpoint_latest(tmp_path, monkeypatch):
    root = str(tmp_path / "checkpoints")
    net = conv_net(1, [mx.cpu()])
    trainer = nag_trainer(net)
    first = checkpoint.save(root, 1, net, trainer, {"epoch": 1})

    def half_written(filename, *args, **kwargs):
        with open(filename, "wb") as f:
            f.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(net, "save_parameters", half_written)
    with pytest.raises(OSError, match="disk full"):
        checkpoint.save(root, 2, net, trainer, {"epoch": 2})
    monkeypatch.undo()
    assert sorted(os.listdir(root)) == ["epoch-0001", "latest"]
    assert checkpoint.latest(root) == first
    with open(os.path.join(root, "latest")) as f:
        assert f.read() == "epoch-0001\n"

    shutil.copytree(first, os.path.join(root, "epoch-0009.tmp-12345"))
    shutil.copytree(first, os.path.join(root, "epoch-0008"))
    os.remove(os.path.join(root, "epoch-0008", "rng.pkl"))
    assert checkpoint.latest(root) == first

    for top1 in (0.5, 0.6):
        best = checkpoint.save(root, 1, net, trainer, {"best_top1": top1}, name="best")
    assert best == os.path.join(root, "best")
    assert checkpoint.load(best, net, trainer, [mx.cpu()]) == {"best_top1": 0.6}
    assert not [e for e in os.listdir(root) if e.startswith("best.")]
    with open(os.path.join(root, "latest")) as f:
        assert f.read() == "epoch-0001\n"


def test_load_restores_python_and_numpy_rng(tmp_path):
    net = conv_net(1, [mx.cpu()])
    trainer = nag_trainer(net)
    random.seed(7)
    np.random.seed(7)
    path = checkpoint.save(str(tmp_path), 0, net, trainer, {})
    after_save = (random.random(), np.random.rand(3))
    random.seed(99)
    np.random.seed(99)
    checkpoint.load(path, net, trainer, [mx.cpu()])
    after_load = (random.random(), np.random.rand(3))
    assert after_save[0] == after_load[0]
    assert np.array_equal(after_save[1], after_load[1])


def test_resume_on_other_device_ids_keeps_update_count(tmp_path):
    net_a = conv_net(1, [mx.cpu(0)])
    trainer_a = nag_trainer(net_a)
    for step in range(1, 3):
        conv_step(net_a, trainer_a, [mx.cpu(0)], step)
    path = checkpoint.save(str(tmp_path), 1, net_a, trainer_a, {})

    net_b = conv_net(2, [mx.cpu(1)])
    trainer_b = nag_trainer(net_b)
    checkpoint.load(path, net_b, trainer_b, [mx.cpu(1)])
    conv_step(net_b, trainer_b, [mx.cpu(1)], 3)
    assert trainer_b._optimizer.num_update == 3
    assert set(trainer_b._optimizer._all_index_update_counts[1].values()) == {3}


def test_errors_name_the_problem_in_one_line(tmp_path):
    net = conv_net(1, CTX2)
    trainer = nag_trainer(net)
    conv_step(net, trainer, CTX2, 1)
    path = checkpoint.save(str(tmp_path), 1, net, trainer, {})

    single = conv_net(1, [mx.cpu()])
    with pytest.raises(UsageError) as info:
        checkpoint.load(path, single, nag_trainer(single), [mx.cpu()])
    assert str(info.value) == ("checkpoint %s was written with 2 device(s), this run has 1; "
                               "resume with the same --gpus/--cpus" % path)

    with open(os.path.join(path, "trainer-ctx0.states"), "wb") as f:
        f.write(b"not a pickle")
    with pytest.raises(UsageError, match=r"trainer-ctx0\.states could not be read") as info:
        checkpoint.load(path, net, nag_trainer(net), CTX2)
    assert "\n" not in str(info.value)

    with open(os.path.join(path, "model.params"), "wb") as f:
        f.write(b"garbage")
    with pytest.raises(UsageError, match=r"model\.params could not be read") as info:
        checkpoint.load(path, net, nag_trainer(net), CTX2)
    assert "\n" not in str(info.value)

    os.remove(os.path.join(path, "trainer-ctx1.states"))
    with pytest.raises(UsageError) as info:
        checkpoint.load(path, net, nag_trainer(net), CTX2)
    assert str(info.value) == "checkpoint %s is incomplete: trainer-ctx1.states is missing" % path
    assert checkpoint.latest(str(tmp_path)) is None


def test_newest_prune_and_leftovers_of_a_killed_run(tmp_path):
    root = str(tmp_path / "checkpoints")
    net = conv_net(1, [mx.cpu()])
    trainer = nag_trainer(net)
    for epoch in range(1, 6):
        checkpoint.save(root, epoch, net, trainer, {"epoch": epoch})
        checkpoint.prune(root, keep_last=2, keep_every=2)
    assert sorted(os.listdir(root)) == ["epoch-0002", "epoch-0004", "epoch-0005", "latest"]
    best = checkpoint.save(root, 6, net, trainer, {"epoch": 6}, name="best")
    assert checkpoint.newest(root) == best   # best is the newest state: resume takes it
    checkpoint.save(root, 6, net, trainer, {"epoch": 6})
    assert checkpoint.newest(root) == os.path.join(root, "epoch-0006")

    # A kill between "best -> best.old-PID" and "tmp -> best": the old best comes back.
    os.rename(best, best + ".old-999999")
    shutil.copytree(os.path.join(root, "epoch-0004"), os.path.join(root, "epoch-0007.tmp-999999"))
    shutil.copytree(os.path.join(root, "epoch-0004"), os.path.join(root, "epoch-0003.del-999999"))
    assert sorted(checkpoint.remove_stale(root)) == ["best.old-999999", "epoch-0003.del-999999",
                                                     "epoch-0007.tmp-999999"]
    assert sorted(os.listdir(root)) == ["best", "epoch-0002", "epoch-0004", "epoch-0005",
                                        "epoch-0006", "latest"]
    assert checkpoint.read_state(best) == {"epoch": 6}
