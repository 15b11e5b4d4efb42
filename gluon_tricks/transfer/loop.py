"""The training loop the §6 commands share: a run folder with config.json, metrics.jsonl,
progress lines, the latest and the best epoch checkpoints, resume, plots and a report.

A task (Faster R-CNN on VOC, FCN on ADE20K) supplies the network, its trainer, the batches, one
training step and an evaluation; this module does everything around them, as ``train`` does.
"""
import json
import os
import time

from .. import atomic, checkpoint
from ..errors import UsageError
from ..plots import plot_run, plot_scores
from ..runlog import METRICS_FILE, MetricsLog, Progress
from ..seeds import epoch_seed, seed_everything

CONFIG_FILE = "config.json"
REPORT_FILE = "report.md"
# Settings a resumed run may change: where and how often things are written, data loading, and
# the number of epochs (to extend a run; segment's poly schedule then follows the new length).
SAFE_ON_RESUME = ("save_dir", "resume", "num_workers", "log_interval", "data_root", "num_epochs")


def open_run(save_dir, config, resume):
    """Create the run folder ``save_dir`` for ``config`` (a JSON-able dict), or check that a
    resumed one was made with the same settings and can be read (then the leftovers of an
    interrupted checkpoint write are tidied); returns the latest checkpoint to resume from
    (None for a new run). A folder that already holds a run is never reused silently."""
    ckpt_dir = os.path.join(save_dir, "checkpoints")
    path = os.path.join(save_dir, CONFIG_FILE)
    if resume:
        latest = checkpoint.latest(ckpt_dir)
        if latest is None:
            raise UsageError("no complete checkpoint in %s; --resume continues a run folder made "
                             "by an earlier run of this command" % ckpt_dir)
        checkpoint.check_resumable(latest)
        saved = checkpoint.read_state(latest)["config"]
        changed = sorted(k for k in set(saved) | set(config)
                         if k not in SAFE_ON_RESUME and saved.get(k) != config.get(k))
        if changed:
            raise UsageError("%s was trained with other settings (%s); resume with the same "
                             "options or use a new --save-dir" % (save_dir, ", ".join(changed)))
        checkpoint.remove_leftovers(ckpt_dir)
        return latest
    if os.path.exists(path) or os.path.exists(os.path.join(save_dir, METRICS_FILE)):
        raise UsageError("%s already holds a run; pass --resume to continue it or choose another "
                         "--save-dir" % save_dir)
    os.makedirs(save_dir, exist_ok=True)
    atomic.write_text(path, json.dumps(config, indent=1, sort_keys=True))
    return None


class Task:
    """What a §6 task gives :func:`fit`. Subclasses set ``net``, ``trainer`` (built with
    ``update_on_kvstore=False``, for the checkpoints), ``contexts``, ``updates_per_epoch`` (a
    full pass over the training set), ``score`` (the eval key that picks the best checkpoint)
    and ``score_keys`` (plotted), and implement the methods."""

    score = None
    score_keys = ()

    def batches(self):
        """The training batches of one epoch."""
        raise NotImplementedError

    def step(self, batch):
        """One update on ``batch``; returns (loss, number of images)."""
        raise NotImplementedError

    def evaluate(self):
        """The validation scores as a dict of numbers (and per-class values)."""
        raise NotImplementedError

    def lr(self, update):
        """The learning rate of update ``update`` (0-based, over the whole run)."""
        raise NotImplementedError

    def report(self, result):
        """Markdown lines about a final evaluation ``result``."""
        raise NotImplementedError


def fit(task, config, resume_from=None, say=print):
    """Train ``task`` for ``config["num_epochs"]`` epochs of ``config["batches_per_epoch"]``
    batches, evaluating after each epoch; returns the last evaluation. Each epoch starts the
    RNGs from (``config["seed"]``, epoch), so a resumed run repeats the uninterrupted one bit for
    bit when the batches are made in this process (``-j 0``); loader processes (``-j N``) keep
    RNG streams of their own, forked once, and take batches in an order that varies."""
    save_dir = config["save_dir"]
    ckpt_dir = os.path.join(save_dir, "checkpoints")
    num_epochs, per_epoch = config["num_epochs"], config["batches_per_epoch"]
    start, best, result = 0, None, None
    if resume_from:
        state = checkpoint.load(resume_from, task.net, task.trainer, task.contexts)
        start, best = state["epoch"], state["best"]
        say("resumed from %s (epoch %d done)" % (resume_from, start))
    progress = Progress(num_epochs, per_epoch, every=config["log_interval"])
    started = time.time()
    with MetricsLog(save_dir) as log:
        for epoch in range(start, num_epochs):
            seed_everything(epoch_seed(config["seed"], epoch, 0))
            progress.start_epoch(epoch)
            done, mark = 0, time.monotonic()
            for batch in task.batches():
                got = time.monotonic()
                update = epoch * per_epoch + done
                lr = task.lr(update)
                task.trainer.set_learning_rate(lr)
                loss, images = task.step(batch)
                now = time.monotonic()
                line = progress.update(done, images, got - mark, now - mark, lr, loss)
                mark = now
                if line is not None:
                    say(str(line))
                    log.log(line.record())
                done += 1
                if done == per_epoch:
                    break
            if done < per_epoch:
                raise UsageError("the training set gave %d batches in epoch %d, fewer than "
                                 "--batches-per-epoch %d" % (done, epoch + 1, per_epoch))
            with progress.evaluating():
                result = task.evaluate()
            log.log(dict(result, kind="eval", epoch=epoch + 1, step=(epoch + 1) * per_epoch))
            say("epoch %d/%d: %s" % (epoch + 1, num_epochs, _scores(result)))
            is_best = best is None or result[task.score] > best
            best = result[task.score] if is_best else best
            state = {"epoch": epoch + 1, "best": best, "config": config}
            checkpoint.save(ckpt_dir, epoch + 1, task.net, task.trainer, state)
            checkpoint.prune(ckpt_dir, keep_last=1)
            if is_best:
                checkpoint.save(ckpt_dir, epoch + 1, task.net, task.trainer, state, name="best")
    metrics = os.path.join(save_dir, METRICS_FILE)
    plots = os.path.join(save_dir, "plots")
    plot_run(metrics, plots)
    plot_scores(metrics, os.path.join(plots, "scores.png"), task.score_keys,
                config["title"])
    if result is not None:
        _write_report(save_dir, config, task.report(result), time.time() - started)
    return result


def _scores(result):
    return ", ".join("%s %.4f" % (k, v) for k, v in result.items() if not isinstance(v, dict))


def _write_report(save_dir, config, lines, seconds):
    text = ["# %s" % config["title"], "",
            "Backbone `%s` from `%s`; %d epoch(s) of %d batch(es), %.0f s in this session."
            % (config["backbone"], config["backbone_params"], config["num_epochs"],
               config["batches_per_epoch"], seconds), ""] + lines
    path = os.path.join(save_dir, REPORT_FILE)
    atomic.write_text(path, "\n".join(text) + "\n", replace=True)
