"""``--logging-file``: every line the terminal shows during training, appended to a file too
(GluonCV's train_imagenet.py keeps the same kind of log). The file is never written through a
symbolic link, and a log path that comes from a run's saved settings stays inside the run."""
import contextlib
import os
import sys

from .. import atomic
from ..errors import GluonTricksError, UsageError


class _Tee:
    """A text stream that writes to ``stream`` and to ``copy``."""

    def __init__(self, stream, copy):
        self.stream, self.copy = stream, copy

    def write(self, text):
        self.copy.write(text)
        return self.stream.write(text)

    def flush(self):
        self.copy.flush()
        self.stream.flush()

    def __getattr__(self, name):
        return getattr(self.stream, name)


@contextlib.contextmanager
def copy_output(path, command="train"):
    """Copy stdout and stderr to ``path`` (appended: a resumed run continues its log) while the
    block runs, including the one-line error it may end with."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with atomic.open_append(path) as log:
        saved = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = _Tee(sys.stdout, log), _Tee(sys.stderr, log)
        try:
            yield path
        except GluonTricksError as err:
            log.write("gluon-tricks %s: error: %s\n" % (command, err))
            raise
        finally:
            sys.stdout, sys.stderr = saved


def check_inside(path, run_dir):
    """Refuse the log path ``path`` of a resumed run's saved settings when it leaves ``run_dir``
    (links of its folders resolved): a run folder from someone else never writes elsewhere."""
    root = os.path.realpath(run_dir)
    real = os.path.join(os.path.realpath(os.path.dirname(os.path.abspath(path))),
                        os.path.basename(path))
    if os.path.commonpath([root, real]) != root:
        raise UsageError("--resume %s: its saved --logging-file %s lies outside the run folder, "
                         "and a run folder's settings never write elsewhere; type the log's place "
                         "yourself, e.g. --logging-file train.log" % (run_dir, path[:300]))
