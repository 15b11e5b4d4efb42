"""A run's folder: its layout and the files the run core keeps there (README "What a run keeps").

::

    config.json     the resolved configuration (what --print-config prints; replaced on resume)
    metrics.jsonl   one JSON event per line (gluon_tricks.runcore.metrics), cut back on resume
    checkpoints/    epoch-NNNN, best and latest (gluon_tricks.checkpoint)
    plots/          PNG figures (gluon_tricks.plots)
    report.md       what the run measured (detect, segment, demo)
    train.log       the terminal's lines (--logging-file, relative to the folder)

A run claims its folder before it writes anything: a new run never takes a folder that holds one
(unless ``--overwrite`` removes that run's files), a resumed run continues its own.
"""
import contextlib
import glob
import os
import shutil

from .. import atomic, checkpoint, outputs, runconfig
from ..errors import UsageError
from .logfile import copy_output
from ..runconfig import CONFIG_FILE
from .metrics import METRICS_FILE, MetricsLog, cut_metrics, read_metrics

CHECKPOINTS = "checkpoints"
PLOTS = "plots"
REPORT_FILE = "report.md"
# What a run writes into its folder (TensorBoard event files match EVENTS).
RUN_FILES = (CONFIG_FILE, METRICS_FILE, CHECKPOINTS, PLOTS, REPORT_FILE)
EVENTS = "events.out.tfevents.*"


class RunFolder:
    """The folder ``path`` of a run of ``gluon-tricks COMMAND``."""

    def __init__(self, path, command="train"):
        self.path, self.command = path, command

    def join(self, *names):
        return os.path.join(self.path, *names)

    @property
    def config_path(self):
        return runconfig.config_path(self.path)

    @property
    def metrics_path(self):
        return self.join(METRICS_FILE)

    @property
    def checkpoints(self):
        return self.join(CHECKPOINTS)

    def resume_command(self):
        """The command that continues this run."""
        return "gluon-tricks %s --resume %s" % (self.command, self.path)

    # -- before anything is written ---------------------------------------------------------
    def run_files(self):
        """The run outputs present in the folder (RUN_FILES and TensorBoard events)."""
        if not os.path.isdir(self.path):
            return []
        found = [p for p in map(self.join, RUN_FILES) if os.path.lexists(p)]
        return found + sorted(glob.glob(os.path.join(glob.escape(self.path), EVENTS)))

    def claim(self, flag="--save-dir", overwrite=False, resume=False):
        """Make sure the run may write here: writable, and holding no earlier run unless this is
        that run's ``resume`` (then it is continued) or ``overwrite`` (then its run files are
        removed now). Nothing is created."""
        outputs.check_folder(self.path, flag)
        if resume:
            return
        found = self.run_files()
        if found and not overwrite:
            raise UsageError("%s already holds a run (%s); choose a new %s, continue it with "
                             "--resume %s, or pass --overwrite to replace it"
                             % (self.path, os.path.basename(found[0]), flag, self.path))
        for path in found:
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            else:
                os.remove(path)

    def newest_checkpoint(self):
        """Where ``--resume`` continues: the newest complete checkpoint, ``best`` included."""
        return checkpoint.newest(self.checkpoints)

    def saved_config(self):
        """The configuration the run was trained with (a dict): its newest checkpoint's, else
        its config.json (a run stopped before its first checkpoint)."""
        if not os.path.isdir(self.path):
            raise UsageError("--resume %s: no such folder; --resume takes the folder of an "
                             "earlier run (its --save-dir)" % self.path)
        newest = self.newest_checkpoint()
        if newest is not None:
            return checkpoint.read_state(newest)["config"]
        saved = runconfig.read(self.path)
        if saved is None:
            raise UsageError("--resume %s: no run there (no %s, no checkpoint); start a new run "
                             "with --save-dir %s" % (self.path, CONFIG_FILE, self.path))
        return saved

    @contextlib.contextmanager
    def opened(self, log_path):
        """Create the folder for the block and copy the terminal's lines to ``log_path``; the
        folders made here are removed again if the block fails before writing into them."""
        with outputs.removed_if_failed(self.path), copy_output(log_path, self.command):
            yield self

    # -- while the run goes -----------------------------------------------------------------
    def tidy(self):
        """Remove what an interrupted checkpoint write left (gluon_tricks.checkpoint)."""
        checkpoint.remove_leftovers(self.checkpoints)

    def start(self, config_json, place=None, tensorboard=False):
        """Write config.json (replaced on resume) and open the metrics log; a resumed run
        (``place``: its checkpoint's epochs and batches done) first cuts the log back to that
        place, so no event appears twice. Returns the :class:`~gluon_tricks.runcore.metrics.MetricsLog`."""
        if place is not None:
            cut_metrics(self.metrics_path, *place)
        atomic.write_text(self.config_path, config_json, replace=place is not None)
        return MetricsLog(self.path, tensorboard=tensorboard)

    def save_checkpoint(self, epoch, net, trainer, state, name=None, batch=0):
        return checkpoint.save(self.checkpoints, epoch, net, trainer, state, name=name,
                               batch=batch)

    def prune(self, keep_last, keep_every):
        """The epoch checkpoints' rolling window, and those within an epoch it overtook."""
        checkpoint.prune(self.checkpoints, keep_last, keep_every)
        checkpoint.prune_within(self.checkpoints)

    def prune_within(self):
        """Keep the newest checkpoint within an epoch only."""
        checkpoint.prune_within(self.checkpoints)

    def plot(self, score_keys=(), title=None):
        """lr.png, loss.png, accuracy.png and, for ``score_keys``, scores.png; the paths."""
        from ..plots import plot_run, plot_scores
        paths = plot_run(self.metrics_path, self.join(PLOTS))
        if score_keys:
            paths.append(plot_scores(self.metrics_path, self.join(PLOTS, "scores.png"),
                                     score_keys, title))
        return [p for p in paths if p]

    def write_report(self, lines):
        """Write report.md: the task's ``lines``, then when the run was stopped and resumed."""
        path = self.join(REPORT_FILE)
        lines = list(lines) + self.interruptions()
        atomic.write_text(path, "\n".join(lines).rstrip() + "\n", replace=True)
        return path

    def interruptions(self):
        """Report lines for each stop and resume in metrics.jsonl (none for a run that went
        straight through)."""
        events = [e for e in read_metrics(self.metrics_path) if e.get("kind") in ("stop", "resume")]
        if not events:
            return []
        lines = ["", "## Stops and resumes", ""]
        for e in events:
            what = ("stopped on %s after" % e.get("signal", "request") if e["kind"] == "stop"
                    else "resumed at")
            lines.append("- %s epoch %d batch %d (update %d)"
                         % (what, e["epoch"], e["batch"], e.get("step", 0)))
        return lines
