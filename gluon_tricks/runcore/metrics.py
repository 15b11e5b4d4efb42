"""What a user sees while training: a progress line every N batches and a metrics.jsonl log.

Epochs and batches are passed in as 0-based loop indices and shown, and written to records,
counted from 1. ``metrics.jsonl`` holds one JSON object per event: ``"kind"`` is "train"
(every N batches), "epoch" (end of an epoch, train metric) or "eval" (validation top-1/top-5),
with ``"epoch"``, ``"step"`` (global update number) and whatever values the loop has, plus the
wall-clock ``"time"``. :mod:`gluon_tricks.plots` draws the paper's figures from that file.
"""
import json
import os
import time
from contextlib import contextmanager
from typing import NamedTuple, Optional

from .. import atomic
from ..errors import UsageError

METRICS_FILE = "metrics.jsonl"
TENSORBOARD_REQUIREMENT = "tensorboardX>=2.6,<3"


def format_duration(seconds):
    """H:MM:SS (with a day count past 24 h), or "?" when unknown."""
    if seconds is None:
        return "?"
    total = int(round(seconds))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    clock = "%d:%02d:%02d" % (hours, minutes, secs)
    return "%dd %s" % (days, clock) if days else clock


class ProgressLine(NamedTuple):
    """One progress report; ``str()`` is the line to print, :meth:`record` the metrics.jsonl entry."""

    epoch: int
    num_epochs: int
    batch: int
    num_batches: int
    step: int
    img_per_sec: Optional[float]
    data_share: Optional[float]
    lr: float
    loss: float
    metric_name: Optional[str]
    metric_value: Optional[float]
    eta_epoch: Optional[float]
    eta_run: Optional[float]

    def __str__(self):
        parts = ["epoch %d/%d" % (self.epoch, self.num_epochs),
                 "batch %d/%d" % (self.batch, self.num_batches),
                 "? img/s" if self.img_per_sec is None else "%.1f img/s" % self.img_per_sec,
                 "data wait ?" if self.data_share is None
                 else "data wait %.0f%%" % (100 * self.data_share),
                 "lr %.4g" % self.lr,
                 "loss %.4f" % self.loss]
        if self.metric_name is not None:
            parts.append("%s %.4f" % (self.metric_name, self.metric_value))
        parts.append("eta epoch %s, run %s"
                     % (format_duration(self.eta_epoch), format_duration(self.eta_run)))
        return " | ".join(parts)

    def record(self):
        """The "train" event for :class:`MetricsLog`, the train metric stored under its name."""
        rec = {"kind": "train", "epoch": self.epoch, "batch": self.batch, "step": self.step,
               "lr": self.lr, "loss": self.loss, "img_per_sec": self.img_per_sec,
               "data_share": self.data_share}
        if self.metric_name is not None:
            rec["metric"] = self.metric_name
            rec[self.metric_name] = self.metric_value
        return rec


def _check_positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UsageError("%s must be an integer >= 1, got %r" % (name, value))


class Progress:
    """Progress of a training run, reported every ``every`` batches and at the end of an epoch.

    img/s is measured with ``clock`` over the batches since the previous report; the ETAs use
    a moving img/s (each report: ``momentum`` × previous + (1 − momentum) × new) for the
    batches left in this epoch and in the remaining epochs, plus ``eval_seconds`` for each
    evaluation still to come (set it, or time one with :meth:`evaluating`). The data-wait share
    is Σ data seconds / Σ batch seconds as reported by the loop for the interval.
    """

    def __init__(self, num_epochs, batches_per_epoch, every=50, eval_seconds=None, eval_every=1,
                 momentum=0.5, clock=time.monotonic):
        for name, value in (("num_epochs", num_epochs), ("batches_per_epoch", batches_per_epoch),
                            ("every", every), ("eval_every", eval_every)):
            _check_positive_int(name, value)
        if not 0 <= momentum < 1:
            raise UsageError("momentum must be in [0, 1), got %r" % (momentum,))
        self.num_epochs = num_epochs
        self.batches_per_epoch = batches_per_epoch
        self.every = every
        self.eval_seconds = eval_seconds
        self.eval_every = eval_every
        self.momentum = momentum
        self.clock = clock
        self.img_per_sec = None
        self._epoch = None
        self._mark = None
        self._reset_interval()

    def _reset_interval(self):
        self._images = 0
        self._batches = 0
        self._data_seconds = 0.0
        self._batch_seconds = 0.0

    def start_epoch(self, epoch):
        """Begin epoch ``epoch`` (0-based): the first interval is timed from now."""
        self._epoch = epoch
        self._mark = self.clock()
        self._reset_interval()

    @contextmanager
    def evaluating(self):
        """Time an evaluation with the clock; its duration becomes the ETA's per-eval estimate."""
        start = self.clock()
        yield
        self.eval_seconds = self.clock() - start

    def evals_left(self, epoch):
        """Evaluations from the end of epoch ``epoch`` (0-based) to the end of the run."""
        return sum(1 for e in range(epoch, self.num_epochs)
                   if (e + 1) % self.eval_every == 0 or e == self.num_epochs - 1)

    def update(self, batch, images, data_seconds, batch_seconds, lr, loss, metric=None):
        """Account for batch ``batch`` (0-based) of ``images`` images; a ProgressLine when due.

        ``data_seconds`` is the time the loop waited for this batch, ``batch_seconds`` its whole
        time (waiting included); ``metric`` is an optional (name, value) train metric.
        """
        if self._epoch is None:
            raise RuntimeError("Progress.start_epoch must be called before update")
        self._images += images
        self._batches += 1
        self._data_seconds += data_seconds
        self._batch_seconds += batch_seconds
        done = batch + 1
        if done % self.every and done != self.batches_per_epoch:
            return None
        now = self.clock()
        elapsed, self._mark = now - self._mark, now
        rate = self._images / elapsed if elapsed > 0 else None
        if rate is not None:
            self.img_per_sec = (rate if self.img_per_sec is None
                                else self.momentum * self.img_per_sec + (1 - self.momentum) * rate)
        eta_epoch = eta_run = None
        if self.img_per_sec:
            seconds_per_batch = self._images / self._batches / self.img_per_sec
            eta_epoch = (self.batches_per_epoch - done) * seconds_per_batch
            later = (self.num_epochs - self._epoch - 1) * self.batches_per_epoch
            eta_run = eta_epoch + later * seconds_per_batch
            if self.eval_seconds is not None:
                eta_run += self.evals_left(self._epoch) * self.eval_seconds
        data_share = (self._data_seconds / self._batch_seconds
                      if self._batch_seconds > 0 else None)
        name, value = metric if metric is not None else (None, None)
        self._reset_interval()
        return ProgressLine(
            epoch=self._epoch + 1, num_epochs=self.num_epochs, batch=done,
            num_batches=self.batches_per_epoch,
            step=self._epoch * self.batches_per_epoch + done, img_per_sec=rate,
            data_share=data_share, lr=float(lr), loss=float(loss), metric_name=name,
            metric_value=None if value is None else float(value),
            eta_epoch=eta_epoch, eta_run=eta_run)


def _plain(value):
    """JSON fallback for NumPy scalars/arrays and MXNet NDArrays (json.dumps ``default``)."""
    if hasattr(value, "asnumpy"):
        value = value.asnumpy()
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError("cannot write %r to metrics.jsonl" % (value,))


def _trim_partial_line(path):
    """Cut a line left unfinished by a crash off the end of ``path``, so appends stay valid (a
    link at ``path`` is refused, not followed)."""
    with os.fdopen(os.open(path, os.O_RDWR | os.O_NOFOLLOW), "rb+") as f:
        end = f.seek(0, os.SEEK_END)
        pos = end
        while pos > 0:
            step = min(4096, pos)
            f.seek(pos - step)
            chunk = f.read(step)
            if pos == end and chunk.endswith(b"\n"):
                return
            cut = chunk.rfind(b"\n")
            if cut >= 0:
                f.truncate(pos - step + cut + 1)
                return
            pos -= step
        f.truncate(0)


def _summary_writer(logdir):
    """A tensorboardX SummaryWriter, imported only when TensorBoard logging is asked for."""
    try:
        from tensorboardX import SummaryWriter
    except ImportError as err:
        raise UsageError("TensorBoard logging needs tensorboardX, which is not installed: "
                         "pip install '%s' (it comes with gluon-tricks' requirements)"
                         % TENSORBOARD_REQUIREMENT) from err
    return SummaryWriter(logdir=logdir)


class MetricsLog:
    """Append events to ``run_dir/metrics.jsonl``, one flushed JSON line each (and TensorBoard).

    A crash loses at most the line being written; reopening the log trims that partial line.
    With ``tensorboard=True`` every number of an event (other than epoch/batch/step/time) is
    also written as the scalar "<kind>/<name>" at the event's step into ``run_dir``'s
    TensorBoard event files.
    """

    NOT_SCALARS = ("kind", "epoch", "batch", "step", "time")

    def __init__(self, run_dir, tensorboard=False):
        os.makedirs(run_dir, exist_ok=True)
        self.path = os.path.join(run_dir, METRICS_FILE)
        self._file = atomic.open_append(self.path)
        _trim_partial_line(self.path)
        self._writer = _summary_writer(run_dir) if tensorboard else None

    def log(self, record=None, **fields):
        """Write ``record`` updated with ``fields``, plus "time" (seconds since the epoch)."""
        event = dict(record or {}, **fields)
        event.setdefault("time", time.time())
        self._file.write(json.dumps(event, default=_plain) + "\n")
        self._file.flush()
        if self._writer is not None:
            self._add_scalars(event)
        return event

    def _add_scalars(self, event):
        kind = event.get("kind")
        step = event.get("step", event.get("epoch"))
        for name, value in event.items():
            if name in self.NOT_SCALARS or isinstance(value, bool):
                continue
            if hasattr(value, "item") and getattr(value, "size", 1) == 1:
                value = value.item()
            if isinstance(value, (int, float)):
                tag = "%s/%s" % (kind, name) if kind else name
                self._writer.add_scalar(tag, value, global_step=step, walltime=event["time"])

    def close(self):
        """Close metrics.jsonl and flush/close the TensorBoard writer."""
        self._file.close()
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def cut_metrics(path, epochs_done, batches_done=0):
    """Drop the events of ``path`` after epoch ``epochs_done`` and ``batches_done`` batches of
    the next (a resumed run repeats them), and a partial last line; the kept lines are copied
    byte for byte into a new file that replaces the old one (see gluon_tricks.atomic)."""
    if not os.path.exists(path):
        return
    with open(path, "rb") as f:
        lines = f.read().split(b"\n")
    kept = []
    for line in lines:
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict) and _before(event, epochs_done, batches_done):
            kept.append(line + b"\n")
    with atomic.new_file(path, replace=True) as f:
        f.writelines(kept)


def _before(event, epochs_done, batches_done):
    """True for an event of the run up to that place: of a finished epoch, or a progress
    line (or a stop or resume) of the next epoch's first ``batches_done`` batches."""
    epoch = event.get("epoch", 0)
    if not isinstance(epoch, int) or epoch <= epochs_done:
        return True
    return (epoch == epochs_done + 1 and event.get("kind") in ("train", "stop", "resume")
            and isinstance(event.get("batch"), int) and event["batch"] <= batches_done)


def read_metrics(path):
    """The events of a metrics.jsonl as a list of dicts; an unfinished last line is dropped.

    A bad line anywhere else means the file is not a metrics log: UsageError names the line.
    """
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().split("\n")
    except FileNotFoundError as err:
        raise UsageError("no metrics log at %s" % path) from err
    events = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            event = json.loads(line)
        except ValueError as err:
            if number == len(lines):
                break
            raise UsageError("%s line %d is not JSON: %s" % (path, number, err)) from err
        if not isinstance(event, dict):
            raise UsageError("%s line %d is not a JSON object" % (path, number))
        events.append(event)
    return events
