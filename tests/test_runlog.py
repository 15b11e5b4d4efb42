"""Progress lines with a scripted clock, and the metrics.jsonl / TensorBoard log."""
import glob
import json
import os
import struct

import numpy as np
import pytest

from gluon_tricks.errors import UsageError
from gluon_tricks.runcore.metrics import MetricsLog, Progress, format_duration, read_metrics


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def scripted_progress():
    """3 epochs of 4 batches of 10 images, a report every 2 batches."""
    clock = FakeClock()
    return clock, Progress(num_epochs=3, batches_per_epoch=4, every=2, momentum=0.5, clock=clock)


def test_progress_reports_every_n_batches_with_exact_rates_and_etas():
    clock, progress = scripted_progress()
    progress.start_epoch(0)
    assert progress.update(0, 10, 0.1, 0.5, lr=0.4, loss=2.5) is None
    clock.now = 2.0
    line = progress.update(1, 10, 0.3, 0.5, lr=0.4, loss=2.302585, metric=("top1", 0.125))
    # 20 images in 2 s; 1 s per batch: 2 batches left in this epoch, 8 in the two after it.
    assert line.img_per_sec == pytest.approx(10.0)
    assert line.data_share == pytest.approx(0.4)
    assert line.eta_epoch == pytest.approx(2.0)
    assert line.eta_run == pytest.approx(10.0)
    assert str(line) == ("epoch 1/3 | batch 2/4 | 10.0 img/s | data wait 40% | lr 0.4 | "
                         "loss 2.3026 | top1 0.1250 | eta epoch 0:00:02, run 0:00:10")

    assert progress.update(2, 10, 0.0, 0.5, lr=0.4, loss=2.0) is None
    clock.now = 3.0
    line = progress.update(3, 10, 0.0, 0.5, lr=0.4, loss=2.0)
    # 20 img/s now; moving 0.5·10 + 0.5·20 = 15 img/s, so 2/3 s per batch for 8 batches.
    assert line.img_per_sec == pytest.approx(20.0)
    assert line.data_share == 0.0
    assert line.eta_epoch == 0.0
    assert line.eta_run == pytest.approx(8 * 10 / 15)
    assert "top1" not in str(line)

    with progress.evaluating():
        clock.now = 7.0
    assert progress.eval_seconds == pytest.approx(4.0)

    progress.start_epoch(1)
    progress.update(0, 10, 0.0, 0.25, lr=0.3, loss=1.9)
    clock.now = 7.5
    line = progress.update(1, 10, 0.0, 0.25, lr=0.3, loss=1.8)
    # 40 img/s; moving 27.5 img/s; 2 + 4 batches left, and the evals of epochs 2 and 3 (4 s each).
    assert line.img_per_sec == pytest.approx(40.0)
    assert line.eta_epoch == pytest.approx(2 * 10 / 27.5)
    assert line.eta_run == pytest.approx(6 * 10 / 27.5 + 2 * 4.0)
    assert line.step == 6
    assert line.record() == {"kind": "train", "epoch": 2, "batch": 2, "step": 6, "lr": 0.3,
                             "loss": 1.8, "img_per_sec": 40.0, "data_share": 0.0}


def test_progress_counts_only_the_evaluations_still_due():
    progress = Progress(num_epochs=10, batches_per_epoch=5, eval_every=3, clock=FakeClock())
    assert progress.evals_left(0) == 4  # after epochs 3, 6, 9 and the last (10)
    assert progress.evals_left(9) == 1
    assert Progress(num_epochs=4, batches_per_epoch=1).evals_left(1) == 3


def test_progress_without_elapsed_time_reports_unknowns():
    clock = FakeClock()
    progress = Progress(num_epochs=1, batches_per_epoch=1, clock=clock)
    progress.start_epoch(0)
    line = progress.update(0, 8, 0.0, 0.0, lr=0.1, loss=1.0)
    assert line.img_per_sec is None and line.data_share is None and line.eta_run is None
    assert str(line).endswith("? img/s | data wait ? | lr 0.1 | loss 1.0000 | eta epoch ?, run ?")


def test_progress_rejects_bad_settings_and_update_before_start():
    with pytest.raises(UsageError):
        Progress(num_epochs=0, batches_per_epoch=1)
    with pytest.raises(UsageError):
        Progress(num_epochs=1, batches_per_epoch=1, momentum=1.0)
    with pytest.raises(RuntimeError):
        Progress(num_epochs=1, batches_per_epoch=1).update(0, 1, 0, 1, lr=0.1, loss=1)


def test_format_duration():
    assert format_duration(None) == "?"
    assert format_duration(0) == "0:00:00"
    assert format_duration(3661.4) == "1:01:01"
    assert format_duration(2 * 86400 + 59) == "2d 0:00:59"


def test_metrics_round_trip_flushes_each_line(tmp_path):
    log = MetricsLog(str(tmp_path / "run"))
    written = log.log({"kind": "train", "epoch": 1, "step": 5, "lr": 0.1},
                      loss=np.float32(2.5), top1=np.float64(0.25))
    with open(log.path) as f:  # readable before close: each line is flushed
        assert json.loads(f.read()) == written
    log.log(kind="eval", epoch=1, step=5, top1=0.5, top5=0.75, time=123.0)
    log.close()
    events = read_metrics(log.path)
    assert events[0]["loss"] == 2.5 and events[0]["top1"] == 0.25
    assert isinstance(events[0]["time"], float)
    assert events[1] == {"kind": "eval", "epoch": 1, "step": 5, "top1": 0.5, "top5": 0.75,
                         "time": 123.0}


def test_truncated_last_line_is_dropped_and_trimmed_on_reopen(tmp_path):
    run = str(tmp_path)
    with MetricsLog(run) as log:
        log.log(kind="train", step=1, loss=3.0)
        log.log(kind="train", step=2, loss=2.0)
    with open(log.path, "a") as f:
        f.write('{"kind": "train", "step": 3, "lo')  # a crash in mid-line
    assert [e["step"] for e in read_metrics(log.path)] == [1, 2]
    with MetricsLog(run) as log:
        log.log(kind="train", step=3, loss=1.0)
    assert [e["step"] for e in read_metrics(log.path)] == [1, 2, 3]
    with open(log.path) as f:
        assert all(json.loads(line) for line in f)


def test_read_metrics_rejects_a_bad_line_before_the_end(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"step": 1}\nnot json\n{"step": 2}\n')
    with pytest.raises(UsageError, match="line 2"):
        read_metrics(str(path))
    with pytest.raises(UsageError, match="no metrics log"):
        read_metrics(str(tmp_path / "missing.jsonl"))


def _tfrecord_events(path):
    """The Event protos of a TensorBoard event file (TFRecord: length, crc, data, crc)."""
    from tensorboardX.proto.event_pb2 import Event

    with open(path, "rb") as f:
        data = f.read()
    events, pos = [], 0
    while pos < len(data):
        (length,) = struct.unpack("<Q", data[pos:pos + 8])
        events.append(Event.FromString(data[pos + 12:pos + 12 + length]))
        pos += 12 + length + 4
    return events


def test_tensorboard_writes_scalars_to_an_event_file(tmp_path):
    pytest.importorskip("tensorboardX")
    run = str(tmp_path / "run")
    with MetricsLog(run, tensorboard=True) as log:
        log.log(kind="train", epoch=1, step=10, lr=0.4, loss=2.0, metric="top1", top1=0.3)
        log.log(kind="eval", epoch=1, step=10, top1=0.5)
    files = glob.glob(os.path.join(run, "events.out.tfevents*"))
    assert len(files) == 1 and os.path.getsize(files[0]) > 0
    scalars = {(v.tag, e.step): v.simple_value for e in _tfrecord_events(files[0])
               for v in e.summary.value}
    assert scalars == {("train/lr", 10): pytest.approx(0.4), ("train/loss", 10): 2.0,
                       ("train/top1", 10): pytest.approx(0.3), ("eval/top1", 10): 0.5}
    assert len(read_metrics(os.path.join(run, "metrics.jsonl"))) == 2


def test_tensorboard_missing_library_is_a_usage_error(tmp_path, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "tensorboardX", None)
    with pytest.raises(UsageError, match="pip install"):
        MetricsLog(str(tmp_path), tensorboard=True)
