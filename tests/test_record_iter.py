"""RecordIO batches (paper §2.1): shapes, coverage, padding, sharding, input checks; synthetic
batches; ``bench data``."""
import collections
import math

import cv2
import mxnet as mx
import numpy as np
import pytest
from numpy.testing import assert_allclose

from _records import write_rec
from cli import one_line_error, run_cli
from gluon_tricks.data import recorditer
from gluon_tricks.data.synthetic import SyntheticBatches
from gluon_tricks.errors import UsageError
from gluon_tricks.seeds import epoch_seed

MEAN = np.array([123.68, 116.779, 103.939]).reshape(3, 1, 1)
STD = np.array([58.393, 57.12, 57.375]).reshape(3, 1, 1)


def labels_of(batches):
    """Labels of the real (non-padding) samples of every batch, in order."""
    out = []
    for batch in batches:
        real = batch.data[0].shape[0] - batch.pad
        out.extend(batch.label[0].asnumpy()[:real].astype(int).tolist())
    return out


def test_colour_kwargs_of_the_decoder_presets():
    assert recorditer.colour_kwargs("paper-decoder") == dict(brightness=0.4, contrast=0.0, saturation=0.4,
                                                 pca_noise=0.1, random_h=36)
    assert recorditer.colour_kwargs("gluoncv") == dict(brightness=0.4, contrast=0.4, saturation=0.4,
                                                   pca_noise=0.1, random_h=0)


def test_val_sees_every_record_once_with_pad(tmp_path):
    rec, idx = write_rec(tmp_path, 11, classes=1000)
    batches = recorditer.val_iter(rec, idx, batch_size=4, input_size=32, threads=1)
    assert batches.num_batches == 3
    for _ in range(2):
        batches.reset()
        seen = list(batches)
        assert [b.pad for b in seen] == [0, 0, 1]
        assert sum(b.data[0].shape[0] - b.pad for b in seen) == 11
        assert labels_of(seen) == list(range(11))


def test_val_is_resize_center_crop_normalize(tmp_path):
    rec, idx = write_rec(tmp_path, 2, size=(96, 64))
    batch = next(recorditer.val_iter(rec, idx, batch_size=2, input_size=32, threads=1))
    assert batch.data[0].shape == (2, 3, 32, 32) and batch.data[0].dtype == np.float32
    reader = mx.recordio.MXIndexedRecordIO(idx, rec, "r")
    for i in range(2):
        _, img = mx.recordio.unpack_img(reader.read_idx(i))          # BGR
        short = math.ceil(32 / 0.875)
        resized = cv2.resize(img, (96 * short // 64, short), interpolation=cv2.INTER_LINEAR)
        top, left = (resized.shape[0] - 32) // 2, (resized.shape[1] - 32) // 2
        crop = resized[top:top + 32, left:left + 32, ::-1].transpose(2, 0, 1)
        assert_allclose(batch.data[0][i].asnumpy(), (crop - MEAN) / STD, atol=3 / 57)
    reader.close()


@pytest.mark.parametrize("aug", ["paper-decoder", "gluoncv"])
def test_train_batches_are_full_and_normalized(tmp_path, aug):
    rec, idx = write_rec(tmp_path, 10, size=(80, 64))
    batches = recorditer.train_iter(rec, idx, batch_size=4, input_size=48, aug=aug, threads=1)
    assert batches.num_batches == 2
    for _ in range(3):
        batches.reset()
        seen = list(batches)
        assert len(seen) == 2
        for batch in seen:
            data = batch.data[0]
            assert batch.pad == 0 and data.shape == (4, 3, 48, 48) and data.dtype == np.float32
            assert data.context == mx.cpu_pinned(0)
            values = data.asnumpy()
            assert np.isfinite(values).all() and values.min() < 0 < values.max()


def test_train_stream_uses_every_record_equally(tmp_path):
    rec, idx = write_rec(tmp_path, 10, classes=1000)
    batches = recorditer.train_iter(rec, idx, batch_size=4, input_size=32, threads=1, seed=3)
    labels = []
    for _ in range(5):            # 5 epochs x 2 batches x 4 = 40 images = 4 passes over 10
        batches.reset()
        labels.extend(labels_of(batches))
    assert collections.Counter(labels) == {i: 4 for i in range(10)}
    assert labels[:10] != list(range(10))                                   # shuffled


def test_paper_batches_are_raw_pixels_for_the_device_block(tmp_path):
    rec, idx = write_rec(tmp_path, 8)
    batch = next(recorditer.train_iter(rec, idx, batch_size=4, input_size=32, aug="paper", threads=1))
    values = batch.data[0].asnumpy()
    assert values.min() >= 0 and values.max() <= 255 and values.max() > 100


def epoch_pixels(rec, idx, epoch):
    """Every image of one training epoch as the run draws it (seed from ``epoch_seed``), in
    stream order, after the decoder's crop and flip (``--aug paper``: raw pixels)."""
    batches = recorditer.train_iter(rec, idx, batch_size=4, input_size=32, aug="paper", threads=1,
                                seed=epoch_seed(0, epoch, 0))
    return np.concatenate([b.data[0].asnumpy() for b in batches])


def test_each_epoch_draws_fresh_crops(tmp_path):
    """One image stored 16 times, so a crop depends only on the draw: two consecutive epochs must
    not repeat any. (A new ImageRecordIter per epoch restarts MXNet's fixed-seed generators.)"""
    image = cv2.resize(np.random.RandomState(1).randint(0, 256, (6, 6, 3)).astype(np.uint8),
                       (96, 80))
    rec, idx = write_rec(tmp_path, 16, images=[image] * 16)
    first, second, first_again = (epoch_pixels(rec, idx, e) for e in (0, 1, 0))
    assert first.shape == second.shape == (16, 3, 32, 32)
    assert not any(np.array_equal(a, b) for a, b in zip(first, second))
    assert np.array_equal(first, first_again)          # yet every epoch is reproducible


@pytest.mark.parametrize("parts", [3, 4])
def test_part_sizes_match_image_record_iter(tmp_path, parts):
    rec, idx = write_rec(tmp_path, 10, classes=1000)
    seen = []
    for part in range(parts):
        source, _ = recorditer.record_iter(rec, idx, 1, 16, threads=1, num_parts=parts, part_index=part)
        seen.append(labels_of(source))
    assert [len(s) for s in seen] == recorditer.part_sizes(10, parts)
    assert sorted(sum(seen, [])) == list(range(10))


def test_sharded_training_parts_are_disjoint_and_equal_length(tmp_path):
    rec, idx = write_rec(tmp_path, 10, classes=1000)
    parts = [recorditer.train_iter(rec, idx, batch_size=2, input_size=16, threads=1, num_parts=2,
                               part_index=i) for i in range(2)]
    assert [p.num_batches for p in parts] == [2, 2]
    first, second = (set(labels_of(p)) for p in parts)
    assert first <= set(range(5)) and second <= set(range(5, 10))


def test_split_to_contexts():
    data = mx.nd.arange(4 * 3 * 2 * 2, ctx=mx.cpu_pinned(0)).reshape((4, 3, 2, 2))
    batch = mx.io.DataBatch(data=[data], label=[mx.nd.arange(4, ctx=mx.cpu_pinned(0))])
    ctxs = [mx.cpu(0), mx.cpu(1)]
    datas, labels = recorditer.split_to_contexts(batch, ctxs)
    assert [d.context for d in datas] == ctxs and [d.shape[0] for d in datas] == [2, 2]
    assert_allclose(np.concatenate([d.asnumpy() for d in datas]), data.asnumpy())
    assert_allclose(np.concatenate([y.asnumpy() for y in labels]), [0, 1, 2, 3])
    odd = mx.io.DataBatch(data=[data[:3]], label=[batch.label[0][:3]])
    with pytest.raises(UsageError, match="multiple of 2"):
        recorditer.split_to_contexts(odd, ctxs)


def test_bad_inputs_are_usage_errors(tmp_path):
    rec, idx = write_rec(tmp_path, 6)
    missing = str(tmp_path / "missing.rec")
    with pytest.raises(UsageError, match="missing.rec"):
        recorditer.train_iter(missing, idx, 2, 32)
    with pytest.raises(UsageError, match="nothing.idx"):
        recorditer.val_iter(rec, str(tmp_path / "nothing.idx"), 2, 32)
    for size in (0, -3, 2.5, "224", True):
        with pytest.raises(UsageError, match="input size"):
            recorditer.train_iter(rec, idx, 2, size)
        with pytest.raises(UsageError, match="input size"):
            recorditer.val_iter(rec, idx, 2, size)
    with pytest.raises(UsageError, match="unknown augmentation"):
        recorditer.train_iter(rec, idx, 2, 32, aug="fancy")
    with pytest.raises(UsageError, match="part index"):
        recorditer.train_iter(rec, idx, 2, 32, num_parts=2, part_index=2)
    with pytest.raises(UsageError, match="fewer than the batch size"):
        recorditer.train_iter(rec, idx, 4, 32, num_parts=2)


def test_synthetic_batches_have_the_record_interface():
    batches = SyntheticBatches(batch_size=4, input_size=16, classes=10, num_batches=3)
    for _ in range(2):
        batches.reset()
        seen = list(batches)
        assert len(seen) == batches.num_batches == 3
        for batch in seen:
            assert isinstance(batch, mx.io.DataBatch) and batch.pad == 0
            assert batch.data[0].shape == (4, 3, 16, 16) and batch.data[0].dtype == np.float32
            assert batch.data[0].context == mx.cpu_pinned(0)
            assert set(batch.label[0].asnumpy().astype(int)) <= set(range(10))
    raw = next(SyntheticBatches(2, 8, 10, 1, raw=True)).data[0].asnumpy()
    assert raw.min() >= 0 and raw.max() <= 255


def test_bench_data_prints_the_six_pipelines(tmp_path):
    rec, _ = write_rec(tmp_path, 12)
    proc = run_cli("bench", "data", "--rec", rec, "--threads", "1", "--batch-size", "4",
                   "--input-size", "32", "--batches", "2")
    assert proc.returncode == 0, proc.stderr
    rows = [line for line in proc.stdout.splitlines() if line.startswith("| (")]
    assert [row[2:5] for row in rows] == ["(a)", "(b)", "(c)", "(d)", "(e)", "(f)"]
    assert "(c)/(a) =" in proc.stdout and "(b)/(d) =" in proc.stdout
    assert "(e)/(a) =" in proc.stdout and "(f)/(c) =" in proc.stdout
    assert "(f) dali-cpu, paper (the default)" in proc.stdout


def test_bench_usage_errors(tmp_path):
    assert "bench data" in one_line_error(run_cli("bench"))
    assert "missing.rec" in one_line_error(run_cli("bench", "data", "--rec", tmp_path / "missing.rec"))
