"""The fit loop every run shares: epochs of updates with progress lines and metrics, an evaluation
after each epoch, the epoch and best checkpoints with their rolling window, plots and a report.

A task (classification in :mod:`gluon_tricks.classification`, Faster R-CNN and FCN in
:mod:`gluon_tricks.transfer`) subclasses :class:`Training` and supplies its batches, one update
and its evaluation; everything around them is here, the same for ``train``, ``detect`` and
``segment``.

Resume is exact: each epoch starts Python's, NumPy's and MXNet's RNGs from (seed, epoch, rank)
(:mod:`gluon_tricks.seeds`), and a checkpoint holds the weights, every device's optimizer state,
the update count and the RNG states (:mod:`gluon_tricks.checkpoint`); the lr schedule lives in
the trainer's optimizer (:mod:`gluon_tricks.lr_scheduler`), a function of the update count.
"""
import contextlib
import os
import time

import mxnet as mx
import numpy as np

from .. import checkpoint, outputs
from ..errors import TrainingFailed, UsageError
from .metrics import METRICS_FILE, Progress
from ..seeds import epoch_seed, seed_everything
from .resume import resume_point


class Diverged(Exception):
    """The training loss stopped being a finite number."""


def _number(value):
    """A float of a loss or count: an NDArray (read now, which waits for it) or a number."""
    return float(value.asscalar()) if isinstance(value, mx.nd.NDArray) else float(value)


class Training:
    """One run of a task on its config ``cfg`` (a :class:`~gluon_tricks.runcore.settings.RunConfig`).

    A subclass sets ``net``, ``trainer`` (its optimizer holding the lr schedule), ``contexts``,
    ``iters`` (updates per epoch) and ``images_per_update``, and implements
    :meth:`epoch_batches`, :meth:`update` and :meth:`evaluate`; the other hooks have defaults.
    ``score`` is the evaluation key that picks the ``best`` checkpoint (named ``score_label`` in
    the last line), ``score_keys`` the keys plotted per epoch, ``metric_name`` the train metric
    of progress lines (from the updates' correct counts).
    """

    score, score_label, score_keys, metric_name, title = None, None, (), None, None
    rank, is_root = 0, True

    def __init__(self, cfg, resume_from=None):
        """Tidy the folder; a subclass then builds its parts and calls :meth:`restore` with
        ``resume_from`` (see :func:`~gluon_tricks.runcore.resume.resume_point`) if given."""
        self.cfg, self.folder = cfg, cfg.folder
        self.start_epoch, self.best, self.result = 0, None, None
        self.last_checkpoint = None
        if self.is_root:
            self.folder.tidy()
        if cfg.resume and not resume_from:
            self.say("no checkpoint in %s yet: starting its run again from the beginning"
                     % cfg.resume)

    # -- what a task supplies ---------------------------------------------------------------
    def epoch_batches(self, epoch):
        """The training batches of epoch ``epoch`` (an iterator; ``close()`` is called if it
        has one); the RNGs are already seeded for the epoch."""
        raise NotImplementedError

    def update(self, batch):
        """One update on ``batch``; returns per device (loss sum, correct count or None), as
        NDArrays or numbers (read only when a progress line is due)."""
        raise NotImplementedError

    def evaluate(self):
        """The validation scores after an epoch: a dict of numbers (and per-class values)."""
        raise NotImplementedError

    def begin_epoch(self, epoch, seed):
        """Prepare epoch ``epoch`` (RNGs seeded with ``seed``); returns what the "epoch" event
        records besides the train loss (and accuracy)."""
        return {}

    def state(self):
        """What a checkpoint keeps besides the weights, optimizer and loop state (JSON)."""
        return {}

    def restore_state(self, state):
        """Take back :meth:`state` from a checkpoint's state dict."""

    def reading(self, split, where):
        """A context turning a reader's failure on ``split`` at ``where`` into a one-line stop."""
        return contextlib.nullcontext()

    def line_fields(self):
        """Fields a "train" event carries besides the progress line's."""
        return {}

    def describe(self):
        """The line that opens the run, or None."""
        return None

    def epoch_line(self, epoch, train, result, seconds):
        """The line after epoch ``epoch`` (0-based) with its train values and scores."""
        scores = ", ".join("%s %.4f" % (k, v) for k, v in result.items()
                           if not isinstance(v, dict))
        return "epoch %d/%d: train loss %.4f | %s | %.1fs" % (
            epoch + 1, self.cfg.num_epochs, train["loss"], scores, seconds)

    def report(self, result, seconds):
        """Markdown lines of report.md after the last evaluation ``result``, or None."""
        return None

    def diverged(self, error):
        """The one-line stop for a loss that diverged (``error``)."""
        return ("%s; training stopped. Last good checkpoint: %s. --resume would repeat the same "
                "steps exactly; start a new run with a lower --lr in a new --save-dir"
                % (error, self.last_checkpoint or "none written yet"))

    def barrier(self):
        """Wait for every worker of a distributed run."""

    # -- the loop ---------------------------------------------------------------------------
    def say(self, text):
        if self.is_root and text:
            print(text, flush=True)

    def restore(self, path):
        """Continue from checkpoint ``path``: weights, optimizer state, update count, RNGs, and
        the loop's place (epochs done, best score)."""
        state = checkpoint.load(path, self.net, self.trainer, self.contexts)
        self.start_epoch = state["epoch"]
        self.best = state.get("best", state.get("best_top1"))   # best_top1: before version 2.1
        self.restore_state(state)
        self.last_checkpoint = path
        self.say("resumed from %s (epoch %d done, update %d)"
                 % (path, state["epoch"], self.trainer.optimizer.num_update))

    def save(self, epochs_done, name=None):
        """Write a checkpoint; a full disk stops the run with one line saying nothing is lost."""
        state = dict(self.state(), epoch=epochs_done, num_update=self.trainer.optimizer.num_update,
                     best=self.best, config=self.cfg.to_dict())
        target = os.path.join(self.folder.checkpoints, name or checkpoint.EPOCH_NAME % epochs_done)
        try:
            path = self.folder.save_checkpoint(epochs_done, self.net, self.trainer, state, name)
        except (OSError, mx.base.MXNetError) as err:
            if not outputs.disk_full(err):
                raise
            raise self.disk_full(self.folder.checkpoints, "checkpoint " + target) from None
        self.last_checkpoint = path
        return path

    def disk_full(self, folder, what):
        return TrainingFailed("no space left on the disk of %s while writing %s; nothing was "
                              "lost: the last complete checkpoint is %s; free space, then %s"
                              % (folder, what, self.last_checkpoint or "none yet",
                                 self.folder.resume_command()))

    def checkpoint_epoch(self, epochs_done, improved):
        """End of an epoch: ``best`` if it improved, this epoch's checkpoint, then the rolling
        window (the last ``keep_last`` plus every ``save_frequency``-th epoch kept for good)."""
        if improved:
            self.save(epochs_done, name=checkpoint.BEST_NAME)
        self.save(epochs_done)
        self.folder.prune(self.cfg.keep_last, self.cfg.save_frequency)

    def train_epoch(self, epoch, progress, log):
        """Epoch ``epoch`` (0-based) of training, printing and logging ``progress`` lines to
        ``log`` (a MetricsLog, on the root process); returns its mean loss, the train metric
        if the task counts one, and what :meth:`begin_epoch` adds."""
        seed = epoch_seed(self.cfg.seed, epoch, self.rank)
        seed_everything(seed)
        facts = self.begin_epoch(epoch, seed)
        with self.reading("train", "the start of epoch %d" % (epoch + 1)):
            batches = self.epoch_batches(epoch)
        progress.start_epoch(epoch)
        totals = np.zeros(3)
        window = []
        tick = time.time()
        for i in range(self.iters):
            with self.reading("train", "epoch %d batch %d" % (epoch + 1, i + 1)):
                batch = next(batches, None)
            if batch is None:
                raise UsageError("the training set gave %d batches in epoch %d, fewer than the %d "
                                 "of an epoch" % (i, epoch + 1, self.iters))
            fetched = time.time()
            window.append(self.update(batch))
            loss, metric = 0.0, None
            if (i + 1) % self.cfg.log_interval == 0 or i == self.iters - 1:
                loss_sum = sum(_number(l) for step in window for l, _ in step)
                correct = sum(_number(c) for step in window for _, c in step
                              if c is not None)
                images = len(window) * self.images_per_update
                if not np.isfinite(loss_sum):
                    raise Diverged("loss became %s in epoch %d near batch %d"
                                   % (loss_sum, epoch + 1, i + 1))
                totals += (loss_sum, correct, images)
                window = []
                loss = loss_sum / images
                if self.metric_name:
                    metric = (self.metric_name, correct / images)
            now = time.time()
            line = progress.update(i, self.images_per_update, fetched - tick, now - tick,
                                   self.trainer.learning_rate, loss, metric)
            tick = now
            if line is not None and self.is_root:
                print(line, flush=True)
                log.log(line.record(), **self.line_fields())
        if hasattr(batches, "close"):
            batches.close()
        train = {"loss": totals[0] / totals[2]}
        if self.metric_name:
            train["train_acc"] = totals[1] / totals[2]
        return dict(train, **facts)

    def fit(self):
        """Train from ``start_epoch`` to the end, evaluating (root process) after each epoch;
        then plots, report and a last line. Returns the last evaluation (None if no epoch ran)."""
        cfg = self.cfg
        log = None
        if self.is_root:
            log = self.folder.start(cfg.to_json(), self.start_epoch if cfg.resume else None,
                                    cfg.tensorboard)
        progress = Progress(cfg.num_epochs, self.iters, every=cfg.log_interval)
        self.say(self.describe())
        started = time.time()
        try:
            for epoch in range(self.start_epoch, cfg.num_epochs):
                start = time.time()
                train = self.train_epoch(epoch, progress, log)
                seconds = time.time() - start
                if not self.is_root:
                    continue
                with progress.evaluating(), self.reading(
                        "val", "the evaluation after epoch %d" % (epoch + 1)):
                    result = self.evaluate()
                step = self.trainer.optimizer.num_update
                log.log(kind="epoch", epoch=epoch + 1, step=step, seconds=seconds, **train)
                log.log(kind="eval", epoch=epoch + 1, step=step, **result)
                self.say(self.epoch_line(epoch, train, result, seconds))
                improved = self.best is None or result[self.score] > self.best
                self.best = result[self.score] if improved else self.best
                self.result = result
                self.checkpoint_epoch(epoch + 1, improved)
        except OSError as err:
            if not outputs.disk_full(err):
                raise
            raise self.disk_full(self.folder.path, err.filename or METRICS_FILE) from None
        except Diverged as err:
            raise TrainingFailed(self.diverged(err)) from None
        finally:
            if log is not None:
                log.close()
        self.barrier()
        if self.is_root:
            self.finish(time.time() - started)
        return self.result

    def finish(self, seconds):
        """Plots, the report (when an epoch ran in this session) and the last line."""
        plots = self.folder.plot(self.score_keys, self.title)
        lines = self.report(self.result, seconds) if self.result is not None else None
        if lines:
            self.folder.write_report(lines)
        best = "none" if self.best is None else "%.4f" % self.best
        self.say("done: best %s %s; run folder %s (plots: %s)"
                 % (self.score_label, best, self.folder.path,
                    ", ".join(os.path.basename(p) for p in plots)))


def start(cfg, build, is_root=True):
    """Train the run ``build(resume_from)`` makes (a :class:`Training`): the checkpoint
    ``--resume`` continues is found and checked first, then the root process claims the folder
    and copies the terminal's lines to the run's log while it trains. Returns the last
    evaluation. Everything before the claim only reads."""
    resume_from = resume_point(cfg)
    if not is_root:
        return build(resume_from).fit()
    cfg.folder.claim(overwrite=cfg.overwrite, resume=bool(cfg.resume))
    with cfg.folder.opened(cfg.log_path):
        return build(resume_from).fit()
