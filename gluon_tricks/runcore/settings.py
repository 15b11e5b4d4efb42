"""The options every run has, declared once for ``train``, ``detect`` and ``segment``: where it
writes, what it continues or replaces, how often it reports and keeps checkpoints, and its seed.

A config class takes each with :func:`run_option` (its own default where it needs one), so the
flag, help, range and whether a resumed run may change it (``resume_safe``) are the same on every
command. NOT_SAVED and NOT_FROM_FILE name the settings of one invocation on one machine, which a
saved run or a config file passed on to someone else never carries.
"""
import dataclasses
import json
import os

from ..options import option
from .folder import RunFolder

OUTPUT = "output"
# Left out of a saved config (config.json, a checkpoint's state): how this invocation treats
# this machine.
NOT_SAVED = ("overwrite", "max_image_pixels")
# Ignored in a --config file: where a run writes, what it continues or replaces, and this
# machine's limits (gluon_tricks.configfile).
NOT_FROM_FILE = ("save_dir", "logging_file", "resume", "overwrite", "max_image_pixels")

_DECLARATIONS = {
    "save_dir": (("--save-dir",), dict(
        metavar="DIR", resume_safe=True, help="run folder: metrics, checkpoints, plots, log")),
    "save_frequency": (("--save-frequency",), dict(
        minimum=0, exclusive=True, metavar="N", resume_safe=True,
        help="keep every N-th epoch's checkpoint for good (every epoch is saved)")),
    "keep_last": (("--keep-last",), dict(
        minimum=0, exclusive=True, metavar="K", resume_safe=True,
        help="how many of the newest epoch checkpoints to keep besides those and best")),
    "checkpoint_minutes": (("--checkpoint-minutes",), dict(
        minimum=0, metavar="M", resume_safe=True,
        help="also write a checkpoint within an epoch every M minutes (the newest one is kept; "
             "0: none), so a kill loses at most M minutes",
        unobservable="a finished run has removed its within-epoch checkpoints; "
                     "tests/test_preemption.py kills runs mid-epoch and resumes from them")),
    "resume": (("--resume",), dict(
        metavar="DIR", resume_safe=True,
        help="continue the run in DIR from its newest checkpoint, with its saved configuration "
             "(no other flags needed)")),
    "overwrite": (("--overwrite",), dict(
        resume_safe=True, help="replace the run already in --save-dir (refused otherwise)")),
    "log_interval": (("--log-interval",), dict(
        minimum=0, exclusive=True, metavar="N", resume_safe=True,
        help="progress line every N batches")),
    "logging_file": (("--logging-file",), dict(
        metavar="FILE", resume_safe=True,
        help="copy of the terminal's lines (relative: in the run folder)")),
    "tensorboard": (("--tensorboard",), dict(
        resume_safe=True, help="also write TensorBoard event files")),
    "seed": (("--seed",), dict(
        minimum=0, help="random seed of the initialisation and of each epoch's draws")),
}

RUN_OPTIONS = tuple(_DECLARATIONS)
# A ResNet-50 checkpoint takes seconds to write (benchmarks/README.md): every 30 minutes that is
# well under 1% of the time, and a kill without warning loses at most half an hour.
CHECKPOINT_MINUTES = 30.0
# The defaults of the commands that do not set their own.
DEFAULTS = {"save_frequency": 10, "keep_last": 2, "checkpoint_minutes": CHECKPOINT_MINUTES,
            "resume": None, "overwrite": False,
            "log_interval": 50, "logging_file": "train.log", "tensorboard": False, "seed": 0}


def run_option(name, default=None):
    """The dataclass field of the run option ``name`` (a key of the table above), with
    ``default`` (None: the shared default of DEFAULTS)."""
    flags, details = _DECLARATIONS[name]
    return option(DEFAULTS[name] if default is None else default, *flags, group=OUTPUT,
                  **details)


class RunConfig:
    """What the config dataclass of every command has besides its fields (which include the run
    options): its saved form, its folder, and the rule for a new ``num_epochs`` on resume."""

    COMMAND = None          # the gluon-tricks command that runs it
    # When a resumed run may train for another number of epochs (see num_epochs_may_change).
    NUM_EPOCHS_RULE = "--num-epochs may not change"

    def to_dict(self):
        """The settings as saved in config.json and checkpoints (NOT_SAVED left out)."""
        return {k: v for k, v in dataclasses.asdict(self).items() if k not in NOT_SAVED}

    def to_json(self):
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @staticmethod
    def settings_from_file(values):
        """A --config file's ``values`` without those the command computes again."""
        return dict(values)

    @property
    def folder(self):
        return RunFolder(self.save_dir, self.COMMAND)

    @property
    def log_path(self):
        """Where the terminal's lines are copied: ``logging_file``, relative to the run folder."""
        return os.path.join(self.save_dir, os.path.expanduser(self.logging_file))

    @staticmethod
    def num_epochs_may_change(saved, old, new):
        """True when training for ``new`` instead of ``old`` epochs leaves every epoch's
        numbers the same (``saved``: the checkpoint's config dict)."""
        return False
