"""``--resume DIR``: the configuration a resumed run continues with and the checkpoint it starts
from, for every command (README "How to resume").

The run's saved configuration is taken, the flags of this command line over it; a setting that
changes what the run computes is refused. Which settings may change is declared with each option
(``resume_safe``, :func:`gluon_tricks.options.resume_safe`), plus ``num_epochs`` where the config
class's schedule keeps its formula (``num_epochs_may_change``).
"""
import dataclasses
import os

from .. import checkpoint
from . import logfile
from ..errors import UsageError
from ..options import resume_safe
from .folder import RunFolder
from .settings import NOT_SAVED, RUN_OPTIONS


def resumed_values(given, cls):
    """The field values of config class ``cls`` for ``--resume DIR`` (``given["resume"]``): DIR's
    saved configuration under the flags ``given``; the run stays in DIR. A saved --logging-file
    outside DIR must be typed again (a run folder from someone else never writes elsewhere)."""
    run_dir = given["resume"]
    if "save_dir" in given and os.path.abspath(given["save_dir"]) != os.path.abspath(run_dir):
        raise UsageError("--resume %s continues that run in its own folder; leave out --save-dir %s"
                         % (run_dir, given["save_dir"]))
    fields = {f.name for f in dataclasses.fields(cls)}
    values = {k: v for k, v in RunFolder(run_dir).saved_config().items()
              if k in fields and k not in NOT_SAVED}
    values.update(given, save_dir=run_dir, resume=run_dir)
    if "logging_file" not in given and values.get("logging_file"):
        logfile.check_inside(os.path.join(run_dir, os.path.expanduser(values["logging_file"])),
                             run_dir)
    return values


def check_resume(saved, current, cls):
    """Raise a UsageError naming every setting that differs between a checkpoint's config
    ``saved`` and this run's ``current`` (dicts of config class ``cls``), except the resume-safe
    ones and ``num_epochs`` where ``cls.num_epochs_may_change`` allows it. Keys added since the
    checkpoint count as their defaults."""
    saved = dict(cls().to_dict(), **saved)
    safe = sorted(resume_safe(cls), key=lambda k: k not in RUN_OPTIONS)   # the run's own first
    free = set(safe)
    if cls.num_epochs_may_change(saved, saved["num_epochs"], current["num_epochs"]):
        free.add("num_epochs")
    diffs = ["%s (checkpoint: %s, now: %s)" % (k, saved.get(k), v)
             for k, v in current.items() if k not in free and saved.get(k) != v]
    if diffs:
        why = ("; " + cls.NUM_EPOCHS_RULE
               if saved.get("num_epochs") != current.get("num_epochs") else "")
        raise UsageError("cannot resume: %s differ; only %s may change on resume%s"
                         % ("; ".join(diffs), ", ".join(safe), why))


def resume_point(cfg):
    """The newest complete checkpoint (``best`` included) of the run ``cfg.resume`` continues,
    checked to be readable and made with compatible settings; None for a new run, or one stopped
    before its first checkpoint (it then starts again from the beginning). Reads only."""
    if not cfg.resume:
        return None
    path = RunFolder(cfg.resume).newest_checkpoint()
    if path is not None:
        checkpoint.check_resumable(path)
        check_resume(checkpoint.read_state(path)["config"], cfg.to_dict(), type(cfg))
    return path
