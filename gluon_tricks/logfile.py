"""``--logging-file``: every line the terminal shows during training, appended to a file too
(GluonCV's train_imagenet.py keeps the same kind of log)."""
import contextlib
import os
import sys

from .errors import GluonTricksError


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
    with open(path, "a", encoding="utf-8") as log:
        saved = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = _Tee(sys.stdout, log), _Tee(sys.stderr, log)
        try:
            yield path
        except GluonTricksError as err:
            log.write("gluon-tricks %s: error: %s\n" % (command, err))
            raise
        finally:
            sys.stdout, sys.stderr = saved
