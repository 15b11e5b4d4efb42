"""``--data-backend dali-cpu`` (NVIDIA DALI, paper §2.1 steps 1–3) through the real pipeline:
each epoch a permutation of the whole set, every image its own crop and flip, batches that can
be reproduced from any batch on, sharding over workers, the layout of ``dali-gpu``'s
per-device batches (on CPU contexts), validation beside ``rec``'s, and the one-line errors.
The crop and flip distributions are measured in ``test_augment_measured.py``."""
import collections
import sys

import cv2
import mxnet as mx
import numpy as np
import pytest

from _records import write_rec
from cli import ROOT, one_line_error, run, run_cli
from loop import make_run

from gluon_tricks.data import dali, sampling
from gluon_tricks.data.recorditer import DeviceBatch, split_to_contexts, val_iter
from gluon_tricks.data.recordfile import FRAME_HEADER, IMAGE_HEADER, read_idx, undecodable_records
from gluon_tricks.errors import UsageError
from gluon_tricks.classification import micro_batches

CLASSES = 10


@pytest.fixture(scope="module")
def sorted_records(tmp_path_factory):
    """200 random JPEGs (several sizes), 20 per class, written class by class."""
    folder = tmp_path_factory.mktemp("sorted")
    rng = np.random.RandomState(0)
    images, labels = [], []
    for label in range(CLASSES):
        for _ in range(20):
            size = (int(rng.randint(40, 120)), int(rng.randint(40, 120)))
            images.append(cv2.resize(rng.randint(0, 256, (4, 4, 3)).astype(np.uint8), size))
            labels.append(label)
    return write_rec(folder, len(images), images=images, labels=labels)


def labels_of(batches):
    return np.concatenate([b.label[0].asnumpy() for b in batches]).astype(int)


def epoch(rec, idx, number, batch_size=20, **kwargs):
    return dali.train_iter(rec, idx, batch_size, 32, "dali-cpu", threads=1, seed=7,
                           epoch=number, **kwargs)


# -- the order of an epoch -------------------------------------------------------------------

def test_every_epoch_is_a_permutation_of_the_whole_set(sorted_records):
    """On a class-sorted file the first batches already hold a uniform sample of the classes
    (a shuffle buffer smaller than the file would show the first classes only); every record
    is read exactly once per epoch; epochs differ; an epoch is reproducible."""
    first = labels_of(epoch(*sorted_records, 0))
    assert len(first) == 200
    assert collections.Counter(first) == {c: 20 for c in range(CLASSES)}
    start = collections.Counter(first[:40])             # two batches of 20
    assert len(start) >= 8 and max(start.values()) <= 12, start
    second = labels_of(epoch(*sorted_records, 1))
    assert not np.array_equal(first, second)
    assert np.array_equal(first, labels_of(epoch(*sorted_records, 0)))


def test_two_workers_read_every_record_once_per_epoch(tmp_path):
    """Record i carries label i, so the labels name the records each worker read."""
    rec, idx = write_rec(tmp_path, 48, classes=48)
    for number in range(3):
        parts = [labels_of(epoch(rec, idx, number, batch_size=8, num_parts=2, part_index=r))
                 for r in range(2)]
        assert [len(p) for p in parts] == [24, 24]
        assert sorted(np.concatenate(parts)) == list(range(48))


def test_left_over_records_change_every_epoch(tmp_path):
    """With N not a multiple of the batch, each epoch leaves out a different random few."""
    rec, idx = write_rec(tmp_path, 50, classes=50)
    left = [frozenset(set(range(50)) - set(labels_of(epoch(rec, idx, n, batch_size=8))))
            for n in range(4)]
    assert all(len(out) == 2 for out in left) and len(set(left)) > 1


# -- independent draws and exact restarts ------------------------------------------------------

@pytest.fixture(scope="module")
def one_image(tmp_path_factory):
    """One image stored 16 times: two crops are equal only if their draws are."""
    folder = tmp_path_factory.mktemp("same")
    image = cv2.resize(np.random.RandomState(1).randint(0, 256, (6, 6, 3)).astype(np.uint8),
                       (96, 80))
    return write_rec(folder, 16, images=[image] * 16)


@pytest.mark.parametrize("backend", [
    pytest.param("rec", marks=pytest.mark.xfail(
        strict=True, reason="ImageRecordIter seeds each record's draws from its slot in the batch "
                            "(seed_aug), so the same slot of every batch of an epoch repeats them")),
    "dali-cpu"])
def test_within_an_epoch_every_image_draws_its_own_crop(tmp_path, one_image, backend):
    """The 16 copies of one image in an epoch of 4 batches (a real Run's batches) all differ."""
    rec, _ = one_image
    run = make_run(tmp_path, "--rec-train", rec, "--rec-val", rec, "--batch-size", "4",
                   "--batches-per-epoch", "4", data=backend, aug="paper")
    batches = run.epoch_batches(0)
    images = np.concatenate([next(batches).data[0].asnumpy() for _ in range(4)])
    assert images.shape == (16, 3, 32, 32)
    same = [(i, j) for i in range(16) for j in range(i) if np.array_equal(images[i], images[j])]
    assert same == []


def test_start_batch_reproduces_the_rest_of_the_epoch_bit_for_bit(one_image):
    """An epoch can start at any batch (what a resume from any update needs), without the
    batches before it, and gives exactly the batches the whole epoch gives there."""
    whole = [b.data[0].asnumpy() for b in epoch(*one_image, 3, batch_size=4)]
    for start in (1, 3):
        later = [b.data[0].asnumpy() for b in epoch(*one_image, 3, batch_size=4,
                                                     start_batch=start)]
        assert len(later) == 4 - start
        assert all(np.array_equal(a, b) for a, b in zip(later, whole[start:]))
    with pytest.raises(UsageError, match="start batch 5 is outside"):
        epoch(*one_image, 3, batch_size=4, start_batch=5)


def test_draws_are_a_function_of_seed_epoch_rank_and_batch():
    """The same (seed, epoch, rank, batch) gives the same draws; changing any gives others."""
    base = sampling.Draws(1, 2, 0, 3, 8)
    assert np.array_equal(base.area, sampling.Draws(1, 2, 0, 3, 8).area)
    for other in ((9, 2, 0, 3), (1, 9, 0, 3), (1, 2, 1, 3), (1, 2, 0, 9)):
        assert not np.array_equal(base.area, sampling.Draws(*other, 8).area), other


# -- crop windows, fallback ------------------------------------------------------------------

def test_crop_windows_lie_inside_and_follow_the_ranges():
    rng = np.random.RandomState(0)
    heights, widths = rng.randint(200, 600, 400), rng.randint(200, 600, 400)
    draws = sampling.Draws(0, 0, 0, 0, 400)
    x, y, w, h = sampling.crop_windows(draws, np.arange(400), heights, widths)
    assert (x >= 0).all() and (y >= 0).all() and (x + w <= widths).all() and (y + h <= heights).all()
    area, ratio = w * h / (heights * widths), w / h
    # Sides are whole pixels (≥ 50 here): area and ratio within 3 % of the ranges.
    assert area.min() > 0.08 * 0.97 and area.max() <= 1.0 and area.min() < 0.12
    assert ratio.min() > 0.75 * 0.97 and ratio.max() < 4 / 3 * 1.03
    assert ratio.min() < 0.8 and ratio.max() > 1.25
    assert 0.3 < (ratio < 1).mean() < 0.7             # as many tall windows as wide ones
    assert len(set(x)) > 100 and len(set(y)) > 100   # positions drawn, not fixed


def test_no_fitting_window_falls_back_to_the_largest_centred_one():
    """An image 10 times wider than high fits no draw: the centred window of ratio 4/3 and full
    height (a tall one: ratio 3/4, full width); a square one is taken whole."""
    draws = sampling.Draws(0, 0, 0, 0, 3)
    x, y, w, h = sampling.crop_windows(draws, np.arange(3), [30, 300, 60], [300, 30, 60])
    assert (w[0], h[0], x[0], y[0]) == (40, 30, 130, 0)
    assert (w[1], h[1], x[1], y[1]) == (30, 40, 0, 130)
    assert 0 < w[2] <= 60 and 0 < h[2] <= 60


# -- dali-gpu's per-device batches, checked on CPU contexts ------------------------------------

@pytest.mark.parametrize("steps, devices", [(1, 2), (2, 2), (3, 1), (2, 4)])
def test_device_rows_are_what_split_to_contexts_gives_each_device(steps, devices):
    """dali-gpu's pipeline d decodes the samples a host batch would send to device d: the same
    positions, micro-batch by micro-batch (--accumulate)."""
    size = 4 * steps * devices
    ctxs = [mx.cpu(i) for i in range(devices)]
    host = mx.io.DataBatch(data=[mx.nd.arange(size)], label=[mx.nd.arange(size)], pad=0)
    sent = [[] for _ in ctxs]
    for micro in micro_batches(host, steps):
        for d, part in enumerate(split_to_contexts(micro, ctxs)[0]):
            sent[d].extend(part.asnumpy().astype(int))
    for d in range(devices):
        assert list(dali.device_rows(size, steps, devices, d)) == sent[d]


def test_a_device_batch_is_cut_and_handed_over_without_copies():
    ctxs = [mx.cpu(0), mx.cpu(1)]
    data = [mx.nd.arange(d * 100, d * 100 + 6, ctx=c).reshape((6, 1)) for d, c in enumerate(ctxs)]
    label = [mx.nd.arange(6, ctx=c) for c in ctxs]
    batch = DeviceBatch(data=data, label=label, pad=0)
    parts = micro_batches(batch, 3)
    assert all(isinstance(p, DeviceBatch) for p in parts)
    xs, ys = split_to_contexts(parts[1], ctxs)
    assert [x.context for x in xs] == ctxs
    assert [x.asnumpy().ravel().tolist() for x in xs] == [[2, 3], [102, 103]]
    whole, _ = split_to_contexts(batch, ctxs)
    assert [x.handle.value for x in whole] == [a.handle.value for a in data]   # no copy
    with pytest.raises(UsageError, match="cannot train on"):
        split_to_contexts(batch, ctxs[::-1])


# -- validation --------------------------------------------------------------------------------

def test_validation_sees_every_record_once_with_pad_and_matches_rec_closely(tmp_path):
    rec, idx = write_rec(tmp_path, 11, size=(96, 64), classes=1000)
    batches = dali.val_iter(rec, idx, 4, 32, threads=1)
    for _ in range(2):
        batches.reset()
        seen = list(batches)
        assert [b.pad for b in seen] == [0, 0, 1]
        assert labels_of(seen)[:11].tolist() == list(range(11))
    ours = np.concatenate([b.data[0].asnumpy() for b in seen])[:11]
    theirs = np.concatenate([b.data[0].asnumpy() for b in val_iter(rec, idx, 4, 32, threads=1)])[:11]
    assert ours.shape == theirs.shape == (11, 3, 32, 32)
    # Same crop, same normalisation; the resize filters differ (antialiased vs bilinear).
    assert abs(ours.mean() - theirs.mean()) < 0.05 and np.abs(ours - theirs).mean() < 0.3


# -- a run and its errors ----------------------------------------------------------------------

def test_a_run_trains_on_dali_batches_with_accumulation_and_mixup(tmp_path, tiny_demo):
    run = make_run(tmp_path, "--data-dir", tiny_demo, "--cpus", "2", "--batch-size", "2",
                   "--accumulate", "2", "--mixup", data="dali-cpu", aug="paper")
    batch = next(run.epoch_batches(0))
    assert batch.data[0].shape == (8, 3, 32, 32) and batch.data[0].context == mx.cpu_pinned(0)
    losses = run.step(batch, True, np.random.RandomState(0))
    assert len(losses) == 2 and all(np.isfinite(float(l.asscalar())) for l, _ in losses)


def test_dali_gpu_without_a_gpu_is_one_line(tiny_demo, tmp_path):
    line = one_line_error(run_cli("train", "--data-dir", tiny_demo, "--save-dir", tmp_path / "r",
                                  "--data-backend", "dali-gpu"))
    assert "--data-backend dali-gpu decodes on the GPUs the network runs on" in line
    assert "--gpus IDS" in line and "dali-cpu" in line
    line = one_line_error(run_cli("train", "--data-dir", tiny_demo, "--save-dir", tmp_path / "r",
                                  "--data-backend", "dali-gpu", "--gpus", "0"))
    assert "no GPU visible" in line
    assert not (tmp_path / "r").exists()


WITHOUT_DALI = ("import sys; sys.modules['nvidia.dali'] = None\n"
                "from gluon_tricks.cli import main; sys.exit(main(sys.argv[1:]))")


@pytest.mark.parametrize("command", ["train", "eval"])
def test_without_dali_installed_the_backend_names_the_install_command(tiny_demo, tiny_run,
                                                                      tmp_path, command):
    """An interpreter where ``import nvidia.dali`` fails, as where DALI is not installed."""
    args = (["train", "--data-dir", tiny_demo, "--save-dir", tmp_path / "r"] if command == "train"
            else ["eval", tiny_run, "--data-backend", "dali-cpu"])
    proc = run([sys.executable, "-c", WITHOUT_DALI, *args], cwd=ROOT)
    line = one_line_error(proc)
    assert "--data-backend dali-cpu needs NVIDIA DALI" in line
    assert "pip install -c constraints.txt -e '.[dali]'" in line
    assert not (tmp_path / "r").exists()


def test_eval_and_zoo_check_take_the_backend(tiny_run, tiny_demo, tmp_path):
    scores = {}
    for backend in ("rec", "dali-cpu"):
        proc = run_cli("eval", tiny_run, "--data-backend", backend, "--batch-size", "5")
        assert proc.returncode == 0, proc.stderr
        assert "24 images (%s)" % backend in proc.stdout
        scores[backend] = float(proc.stdout.split("top-1")[1].split("%")[0])
    assert abs(scores["rec"] - scores["dali-cpu"]) <= 100 * 4 / 24      # same weights, same images
    zoo = tmp_path / "zoo"
    zoo.mkdir()
    proc = run_cli("zoo-check", "--models-dir", zoo, "--rec", tiny_demo / "val.rec",
                   "--data-backend", "dali-gpu")
    assert "--data-backend dali-gpu decodes on the GPUs the network runs on" in one_line_error(proc)


def test_a_record_without_an_image_header_is_named_in_one_line(tmp_path):
    images = [np.full((40, 50, 3), 90, np.uint8)] * 8
    rec, idx = write_rec(tmp_path, 8, images=images, img_fmt=".bmp")
    with pytest.raises(dali.ReadFailed, match=r"record \d+ \(byte \d+\) has no readable JPEG or PNG"):
        next(epoch(rec, idx, 0, batch_size=4))


def test_a_record_dali_cannot_decode_is_among_the_suspects_named(tmp_path):
    """A PNG whose header is sound and whose data are not: DALI fails on its batch, and the
    records of the batches it had asked for are the suspects the run checks (and names)."""
    images = [np.full((40, 50, 3), 90, np.uint8)] * 8
    rec, idx = write_rec(tmp_path, 8, images=images, img_fmt=".png")
    entries = read_idx(idx)
    key, offset = entries[3]
    with open(rec, "r+b") as handle:       # keep the signature and IHDR, spoil what follows
        handle.seek(offset + FRAME_HEADER.size + IMAGE_HEADER.size + 33)
        handle.write(b"\0" * 40)
    with pytest.raises(dali.ReadFailed, match="DALI failed on") as failure:
        list(epoch(rec, idx, 0, batch_size=4))
    assert (key, offset) in failure.value.records
    assert undecodable_records(rec, idx, 1, failure.value.records) == [(key, offset)]
