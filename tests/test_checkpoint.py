"""Checkpoints: a resumed run equals an uninterrupted one bit for bit; data only (no pickles);
atomic saves; a killed save's leftovers are tidied and nothing else; clear errors."""
import json
import os
import pickle
import random
import shutil
import sys

import numpy as np
import pytest

import gluon_tricks  # noqa: F401  (restores NumPy aliases before mxnet loads)
import mxnet as mx
from mxnet import autograd, gluon
from mxnet.gluon import nn

from cli import run
from gluon_tricks import atomic, checkpoint
from gluon_tricks.errors import UsageError
from gluon_tricks.lr_scheduler import make_scheduler
from old_checkpoint import PICKLE_PLACES, make_pickled

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

    shutil.copytree(first, os.path.join(root, "epoch-0008"))
    os.remove(os.path.join(root, "epoch-0008", "rng.json"))
    os.symlink(first, os.path.join(root, "epoch-0009"))   # a link is no checkpoint of this run
    assert checkpoint.latest(root) == first
    os.remove(os.path.join(root, "epoch-0009"))

    for top1 in (0.5, 0.6):
        best = checkpoint.save(root, 1, net, trainer, {"best_top1": top1}, name="best")
    assert best == os.path.join(root, "best")
    assert checkpoint.load(best, net, trainer, [mx.cpu()]) == {"best_top1": 0.6}
    assert sorted(os.listdir(root)) == ["best", "epoch-0001", "epoch-0008", "latest"]
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

    with open(os.path.join(path, "optimizer-ctx0.params"), "wb") as f:
        f.write(b"not arrays")
    with pytest.raises(UsageError, match=r"optimizer-ctx0\.params could not be read") as info:
        checkpoint.load(path, net, nag_trainer(net), CTX2)
    assert "\n" not in str(info.value)

    path = checkpoint.save(str(tmp_path), 1, net, trainer, {}, name="other")
    with open(os.path.join(path, "model.params"), "wb") as f:
        f.write(b"garbage")
    with pytest.raises(UsageError, match=r"model\.params could not be read") as info:
        checkpoint.load(path, net, nag_trainer(net), CTX2)
    assert "\n" not in str(info.value)

    os.remove(os.path.join(path, "optimizer-ctx1.params"))
    with pytest.raises(UsageError) as info:
        checkpoint.load(path, net, nag_trainer(net), CTX2)
    assert str(info.value) == "checkpoint %s is incomplete: optimizer-ctx1.params is missing" % path
    with pytest.raises(UsageError, match="incomplete"):
        checkpoint.read_state(path)


def test_a_checkpoint_is_named_arrays_and_json_and_loads_without_pickle(tmp_path, monkeypatch):
    net_a = fp16_net(1, CTX2)
    trainer_a = nag_trainer(net_a, multi_precision=True)
    for step in range(1, 3):
        fp16_step(net_a, trainer_a, CTX2, step)
    path = checkpoint.save(str(tmp_path), 1, net_a, trainer_a, {"epoch": 1})
    assert sorted(os.listdir(path)) == [
        "aux-ctx0.params", "aux-ctx1.params", "checkpoint.json", "model.params",
        "optimizer-ctx0.params", "optimizer-ctx1.params", "optimizer.json", "rng.json",
        "state.json"]
    # float16 weight under NAG multi_precision: slot 0 the momentum, slot 1 the float32 master
    saved = mx.nd.load(os.path.join(path, "optimizer-ctx1.params"))
    assert sorted(saved) == ["weight#0", "weight#1"]
    momentum, master = trainer_a._updaters[1].states[0]
    assert np.array_equal(saved["weight#0"].asnumpy(), momentum.asnumpy())
    assert saved["weight#1"].dtype == np.float32
    assert np.array_equal(saved["weight#1"].asnumpy(), master.asnumpy())
    with open(os.path.join(path, "optimizer.json")) as f:
        counters = json.load(f)
    assert counters["num_update"] == 2 and counters["update_counts"] == [{"weight": 2}] * 2
    assert json.load(open(os.path.join(path, "checkpoint.json")))["format"] == 2

    def no_pickle(*args, **kwargs):
        raise AssertionError("a checkpoint was unpickled")

    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, no_pickle)
    net_b = fp16_net(2, CTX2)
    trainer_b = nag_trainer(net_b, multi_precision=True)
    checkpoint.load(path, net_b, trainer_b, CTX2)
    monkeypatch.undo()
    assert_all_equal(updater_states(trainer_a), updater_states(trainer_b))


def test_plain_sgd_on_part_of_the_network_without_a_schedule(tmp_path):
    """The §6 tasks' case: SGD over a subset of the parameters, lr set before every step; with
    momentum 0 SGD keeps no state at all."""
    for momentum in (0.9, 0.0):
        nets, trainers = [], []
        for seed in (1, 2):
            net = conv_net(seed, CTX2)
            trainers.append(gluon.Trainer(net[4].collect_params(), "sgd",
                                          {"learning_rate": 0.1, "momentum": momentum},
                                          update_on_kvstore=False))
            nets.append(net)
        for step in range(1, 3):
            trainers[0].set_learning_rate(0.1 / step)
            conv_step(nets[0], trainers[0], CTX2, step)
        path = checkpoint.save(str(tmp_path / str(momentum)), 1, nets[0], trainers[0], {})
        keys = sorted(mx.nd.load(os.path.join(path, "optimizer-ctx0.params")) or [])
        assert keys == (["4.bias", "4.weight"] if momentum else [])
        checkpoint.load(path, nets[1], trainers[1], CTX2)
        assert trainers[1].learning_rate == 0.05
        for step in range(3, 5):
            for net, trainer in zip(nets, trainers):
                conv_step(net, trainer, CTX2, step)
        assert_all_equal(param_values(nets[0]), param_values(nets[1]))
        assert_all_equal(updater_states(trainers[0]), updater_states(trainers[1]))


@pytest.mark.filterwarnings("ignore:Accumulating with float16")
def test_a_state_that_does_not_fit_and_a_damaged_rng_are_one_line_errors(tmp_path):
    net = fp16_net(1, [mx.cpu()])
    trainer = nag_trainer(net, multi_precision=True)
    fp16_step(net, trainer, [mx.cpu()], 1)
    path = checkpoint.save(str(tmp_path), 1, net, trainer, {})
    plain = fp16_net(1, [mx.cpu()])      # the same network with momentum only: one slot
    sgd = gluon.Trainer(plain.collect_params(), "sgd", {"momentum": 0.9}, update_on_kvstore=False)
    with pytest.raises(UsageError) as info:
        checkpoint.load(path, plain, sgd, [mx.cpu()])
    assert str(info.value) == ("checkpoint %s: optimizer-ctx0.params does not match this network "
                               "(parameters weight)" % path)
    random.seed(5)
    expected = random.random()
    with open(os.path.join(path, "rng.json")) as f:
        rng = json.load(f)
    rng["numpy"]["key"] = rng["numpy"]["key"][:10]
    with open(os.path.join(path, "rng.json"), "w") as f:
        json.dump(rng, f)
    random.seed(5)
    with pytest.raises(UsageError, match=r"rng\.json could not be read \(not a list of 624 "):
        checkpoint.load(path, net, nag_trainer(net, multi_precision=True), [mx.cpu()])
    assert random.random() == expected     # nothing was changed


@pytest.mark.parametrize("place", PICKLE_PLACES)
def test_the_pickled_format_is_refused_without_unpickling(tmp_path, place):
    net = conv_net(1, CTX2)
    trainer = nag_trainer(net)
    conv_step(net, trainer, CTX2, 1)
    marker = tmp_path / "marker"
    path = make_pickled(checkpoint.save(str(tmp_path / "ckpt"), 1, net, trainer, {"epoch": 1}),
                        {place: str(marker)})
    assert checkpoint.latest(str(tmp_path / "ckpt")) == path      # its weights stay usable
    with pytest.raises(UsageError) as info:
        checkpoint.load(path, net, nag_trainer(net), CTX2)
    assert not marker.exists()
    assert str(info.value) == (
        "checkpoint %s is in the old format whose rng.pkl and trainer-ctx*.states are Python "
        "pickles, which can run any code when loaded, so it is not read; start a new run from its "
        "weights instead: --pretrained %s/model.params (its optimizer state and step count are "
        "not carried over)" % (path, path))


def _leave_staging(root, name, then):
    """Start a staging folder for ``name`` in ``root`` in a child process, run ``then`` (code
    using ``stage``) and exit without any clean-up, as a kill would."""
    code = ("import os\nfrom gluon_tricks import atomic\n"
            "writing = atomic.staging(%r, %r)\nstage = writing.__enter__()\n%s\nos._exit(0)\n" % (root, name, then))
    proc = run([sys.executable, "-c", code])
    assert proc.returncode == 0, proc.stderr


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

    # Killed: between "best -> staging/previous" and publishing the new best; while writing
    # epoch 7; while pruning epoch 4. A live writer's staging folder (this process) stays.
    _leave_staging(root, "best", "atomic.rename_noreplace(%r, os.path.join(stage, 'previous'))"
                   % best)
    _leave_staging(root, "epoch-0007", "import shutil; shutil.copytree(%r, os.path.join(stage, "
                   "'epoch-0007'))" % os.path.join(root, "epoch-0005"))
    _leave_staging(root, "epoch-0004", "os.rename(%r, os.path.join(stage, 'epoch-0004'))"
                   % os.path.join(root, "epoch-0004"))
    live = atomic.staging(root, "epoch-0008")
    live_path = live.__enter__()
    # Killed right after creating a staging folder (no marker yet, or an empty one), or right
    # after its discard removed the marker: empty of anyone's data, so removed too.
    caught = [".epoch-0009.gluon-tricks-00000000000a", ".best.gluon-tricks-00000000000b",
              ".latest.gluon-tricks-00000000000c"]
    for name in caught:
        os.mkdir(os.path.join(root, name))
    open(os.path.join(root, caught[1], atomic.MARKER_FILE), "w").close()
    # A user's files named like the old leftovers, or like ours but without the marker.
    users = ["photos.old-2019", "thesis.tex.tmp-99999", "epoch-0003.del-1",
             ".best.gluon-tricks-0123456789ab"]
    for name in users[:2] + users[3:]:
        os.mkdir(os.path.join(root, name))
        with open(os.path.join(root, name, "mine.txt"), "w") as f:
            f.write("mine")
    with open(os.path.join(root, users[2]), "w") as f:
        f.write("mine")
    assert not os.path.exists(best)
    removed = checkpoint.remove_leftovers(root)
    assert len(removed) == 6 and set(caught) < set(removed)
    assert all(name.startswith((".epoch-000", ".best.", ".latest.")) for name in removed)
    assert sorted(os.listdir(root)) == sorted(
        ["best", "epoch-0002", "epoch-0005", "epoch-0006", "latest", os.path.basename(live_path)]
        + users)
    assert checkpoint.read_state(best) == {"epoch": 6}
    live.__exit__(None, None, None)
    assert not os.path.exists(live_path)


def test_checkpoints_within_an_epoch_order_after_their_epoch_and_roll(tmp_path):
    """``epoch-0003-batch-000004``: 2 epochs and 4 batches done. It is newer than epoch 2 and
    older than epoch 3; only the newest one within an epoch is kept, and an epoch checkpoint
    overtakes them."""
    root = str(tmp_path / "checkpoints")
    net = conv_net(1, [mx.cpu()])
    trainer = nag_trainer(net)
    checkpoint.save(root, 2, net, trainer, {"epoch": 2})
    first = checkpoint.save(root, 2, net, trainer, {"epoch": 2, "batch": 1}, batch=1)
    assert os.path.basename(first) == "epoch-0003-batch-000001"
    assert checkpoint.position(first) == (2, 1) and checkpoint.newest(root) == first
    second = checkpoint.save(root, 2, net, trainer, {"epoch": 2, "batch": 4}, batch=4)
    checkpoint.prune_within(root)
    assert checkpoint.newest(root) == second and not os.path.exists(first)
    assert checkpoint.latest(root) == os.path.join(root, "epoch-0002")   # --checkpoint latest
    best = checkpoint.save(root, 2, net, trainer, {"epoch": 2}, name="best")
    assert checkpoint.newest(root) == second != best
    checkpoint.save(root, 3, net, trainer, {"epoch": 3})
    assert checkpoint.newest(root) == os.path.join(root, "epoch-0003")
    checkpoint.prune_within(root)
    assert sorted(os.listdir(root)) == ["best", "epoch-0002", "epoch-0003", "latest"]
