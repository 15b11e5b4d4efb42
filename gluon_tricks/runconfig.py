"""A run folder's ``config.json``: the settings a run was made with, written when it starts and
read back to resume it, to report and plot it, and to load its weights (``eval PATH``).
:func:`read` is the one reader; a run folder may come from someone else, so the file is read
within :mod:`~gluon_tricks.textfile`'s bounds."""
import os

from . import textfile

CONFIG_FILE = "config.json"


def config_path(run_dir):
    """Where ``run_dir`` keeps its settings."""
    return os.path.join(run_dir, CONFIG_FILE)


def read(run_dir):
    """The settings (a dict) in ``run_dir``'s config.json, or None when there is none; a file
    outside textfile's bounds, or no JSON mapping, is a one-line UsageError naming it."""
    path = config_path(run_dir)
    if not os.path.isfile(path):
        return None
    return textfile.load_json(path, "the run's %s" % path)
