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
from ..errors import Stopped, TrainingFailed, UsageError
from ..seeds import epoch_seed, seed_everything, update_seed
from .metrics import METRICS_FILE, Progress
from .resume import resume_point
from .stop import CheckpointClock, StopRequests


class Diverged(Exception):
    """The training loss stopped being a finite number."""


def _number(value):
    """A float of a loss or count: an NDArray (read now, which waits for it) or a number."""
    return float(value.asscalar()) if isinstance(value, mx.nd.NDArray) else float(value)


class Tally:
    """An epoch's loss (and correct count) so far. Each update's per-device values are read
    from the devices only when a progress line is due (or a checkpoint needs them) and summed in
    one fixed order, so an epoch resumed from a checkpoint within it adds up bit for bit as an
    uninterrupted one (a partial sum continues the same left fold). ``state`` is a checkpoint's
    :meth:`state`."""

    def __init__(self, images_per_update, state=None):
        self.images_per_update = images_per_update
        self.totals = np.array(state["totals"] if state else [0.0, 0.0, 0.0])
        self.window = [[tuple(state["window"])]] if state and state["updates"] else []
        self.updates = state["updates"] if state else 0

    def add(self, result):
        """One update's per-device (loss sum, correct count or None)."""
        self.window.append(result)
        self.updates += 1

    def _sums(self):
        return (sum(_number(l) for step in self.window for l, _ in step),
                sum(_number(c) for step in self.window for _, c in step if c is not None))

    def close_window(self):
        """(loss sum, correct count, images) of the updates since the last call, added to the
        epoch's totals."""
        loss, correct = self._sums()
        images = self.updates * self.images_per_update
        self.totals += (loss, correct, images)
        self.window, self.updates = [], 0
        return loss, correct, images

    def state(self):
        """The tally as JSON values; the open window summed so far."""
        loss, correct = self._sums()
        self.window = [[(loss, correct)]] if self.updates else []
        return {"totals": [float(v) for v in self.totals], "window": [loss, correct],
                "updates": self.updates}


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
        self.start_epoch, self.start_batch, self.best, self.result = 0, 0, None, None
        self.last_checkpoint, self.resumed, self.log = None, None, None
        self.stops, self.clock = StopRequests(), CheckpointClock(cfg.checkpoint_minutes)
        if self.is_root:
            self.folder.tidy()
        if cfg.resume and not resume_from:
            self.say("no checkpoint in %s yet: starting its run again from the beginning"
                     % cfg.resume)

    # -- what a task supplies ---------------------------------------------------------------
    def epoch_batches(self, epoch, start=0):
        """The training batches of epoch ``epoch`` from batch ``start`` on, each as the
        uninterrupted epoch makes it (an iterator; ``close()`` is called if it has one); the
        RNGs are already seeded for the epoch."""
        raise NotImplementedError

    def update(self, batch, seed):
        """One update on ``batch``, any random draws of its own from ``seed`` (the update's,
        which MXNet's RNG is also set to); returns per device (loss sum, correct count or None),
        as NDArrays or numbers (read only when a progress line is due)."""
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

    def agree(self, flag):
        """True on every worker when ``flag`` is true on any (a distributed run's workers all
        stop after the same update)."""
        return flag

    # -- the loop ---------------------------------------------------------------------------
    def say(self, text):
        if self.is_root and text:
            print(text, flush=True)

    def restore(self, path):
        """Continue from checkpoint ``path``: weights, optimizer state, update count, RNGs, and
        the loop's place (epochs done, best score)."""
        state = checkpoint.load(path, self.net, self.trainer, self.contexts)
        self.start_epoch, self.start_batch = state["epoch"], state.get("batch", 0)
        self.best = state.get("best", state.get("best_top1"))   # best_top1: before version 2.1
        self.restore_state(state)
        self.last_checkpoint, self.resumed = path, state
        done = ("batch %d of epoch %d done" % (self.start_batch, self.start_epoch + 1)
                if self.start_batch else "epoch %d done" % self.start_epoch)
        self.say("resumed from %s (%s, update %d)"
                 % (path, done, self.trainer.optimizer.num_update))

    def save(self, epochs_done, name=None, batch=0, tally=None):
        """Write a checkpoint (``batch`` > 0: within the next epoch, with its ``tally``); a full
        disk stops the run with one line saying nothing is lost."""
        state = dict(self.state(), epoch=epochs_done, num_update=self.trainer.optimizer.num_update,
                     best=self.best, config=self.cfg.to_dict())
        if batch:
            state.update(batch=batch, tally=tally.state())
        name = name or (checkpoint.WITHIN_NAME % (epochs_done + 1, batch) if batch
                        else checkpoint.EPOCH_NAME % epochs_done)
        target = os.path.join(self.folder.checkpoints, name)
        try:
            path = self.folder.save_checkpoint(epochs_done, self.net, self.trainer, state, name,
                                               batch)
        except (OSError, mx.base.MXNetError) as err:
            if not outputs.disk_full(err):
                raise
            raise self.disk_full(self.folder.checkpoints, "checkpoint " + target) from None
        self.last_checkpoint = path
        self.clock.restart()
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

    def checkpoint_within(self, epoch, done, tally):
        """After update ``done`` of epoch ``epoch`` (0-based): on a stop request (on any worker)
        write a checkpoint of this point and stop; else write one if ``--checkpoint-minutes``
        says it is due (only the root process writes)."""
        stop = self.agree(self.stops.signal is not None)
        if not (stop or self.clock.due()):
            return
        if self.is_root:
            self.save(epoch, batch=done, tally=tally)
            self.folder.prune_within()
        if stop:
            self.stopped(epoch + 1, done, "after epoch %d batch %d of %d"
                         % (epoch + 1, done, self.iters))

    def stopped(self, epoch, batch, where):
        """Stop on request at ``where`` (batch ``batch`` of epoch ``epoch``, from 1), where the
        root process has just written a checkpoint: a "stop" event, one line, exit code 75."""
        name = (checkpoint.WITHIN_NAME % (epoch, batch) if batch
                else checkpoint.EPOCH_NAME % (epoch - 1))
        if self.log is not None:
            self.log.log(kind="stop", epoch=epoch, batch=batch, signal=self.stops.name,
                         step=self.trainer.optimizer.num_update)
        self.barrier()
        raise Stopped("stopped on %s %s; checkpoint %s; continue with: %s"
                      % (self.stops.name, where, os.path.join(self.folder.checkpoints, name),
                         self.folder.resume_command()))

    def train_epoch(self, epoch, progress, log):
        """Epoch ``epoch`` (0-based) of training, printing and logging ``progress`` lines to
        ``log`` (a MetricsLog, on the root process); returns its mean loss, the train metric
        if the task counts one, and what :meth:`begin_epoch` adds. A run resumed within this
        epoch starts after the batches its checkpoint had done, exactly as if it had gone on."""
        seed = epoch_seed(self.cfg.seed, epoch, self.rank)
        seed_everything(seed)
        facts = self.begin_epoch(epoch, seed)
        start = self.start_batch if epoch == self.start_epoch else 0
        tally = Tally(self.images_per_update, self.resumed["tally"] if start else None)
        with self.reading("train", "the start of epoch %d" % (epoch + 1)):
            batches = self.epoch_batches(epoch, start)
        progress.start_epoch(epoch)
        tick = time.time()
        for i in range(start, self.iters):
            with self.reading("train", "epoch %d batch %d" % (epoch + 1, i + 1)):
                batch = next(batches, None)
            if batch is None:
                raise UsageError("the training set gave %d batches in epoch %d, fewer than the %d "
                                 "of an epoch" % (i, epoch + 1, self.iters))
            fetched = time.time()
            draws = update_seed(self.cfg.seed, epoch, i, self.rank)
            mx.random.seed(draws, ctx="all")
            tally.add(self.update(batch, draws))
            loss, metric = 0.0, None
            if (i + 1) % self.cfg.log_interval == 0 or i == self.iters - 1:
                loss_sum, correct, images = tally.close_window()
                if not np.isfinite(loss_sum):
                    raise Diverged("loss became %s in epoch %d near batch %d"
                                   % (loss_sum, epoch + 1, i + 1))
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
            self.checkpoint_within(epoch, i + 1, tally)
        if hasattr(batches, "close"):
            batches.close()
        totals = tally.totals
        train = {"loss": totals[0] / totals[2]}
        if self.metric_name:
            train["train_acc"] = totals[1] / totals[2]
        return dict(train, **facts)

    def epochs(self, progress, log):
        """The epochs from ``start_epoch`` on; a stop request (on any worker) during one stops
        the run after it, at its epoch checkpoint."""
        for epoch in range(self.start_epoch, self.cfg.num_epochs):
            start = time.time()
            train = self.train_epoch(epoch, progress, log)
            if self.is_root:
                self.end_epoch(epoch, train, time.time() - start, progress, log)
            if self.agree(self.stops.signal is not None) and epoch + 1 < self.cfg.num_epochs:
                self.stopped(epoch + 2, 0, "at the end of epoch %d" % (epoch + 1))

    def end_epoch(self, epoch, train, seconds, progress, log):
        """Evaluate after epoch ``epoch`` (0-based), log and say it, write its checkpoints."""
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

    def fit(self):
        """Train from ``start_epoch`` to the end, evaluating (root process) after each epoch;
        then plots, report and a last line. Returns the last evaluation (None if no epoch ran)."""
        cfg = self.cfg
        log = self.log = None
        if self.is_root:
            place = (self.start_epoch, self.start_batch) if cfg.resume else None
            log = self.log = self.folder.start(cfg.to_json(), place, cfg.tensorboard)
            if self.resumed:
                log.log(kind="resume", epoch=self.start_epoch + 1, batch=self.start_batch,
                        step=self.trainer.optimizer.num_update)
        progress = Progress(cfg.num_epochs, self.iters, every=cfg.log_interval)
        self.say(self.describe())
        started = time.time()
        self.clock.restart()
        try:
            with self.stops:
                self.epochs(progress, log)
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
