"""Stopping a run on request, and checkpoints within an epoch (README "Preemptible machines").

SIGTERM, SIGINT and SIGUSR1 (what SLURM's ``--signal``, Kubernetes and cloud preemption notices
send) are recorded while a run trains; the loop finishes the update in progress, writes a
checkpoint of that exact point and exits with :class:`~gluon_tricks.errors.Stopped`'s code. A
second signal changes nothing (the write is atomic, see :mod:`gluon_tricks.checkpoint`).
``launch`` records SIGTERM, SIGINT and SIGHUP the same way. The terminal's signals (SIGINT,
SIGHUP) stay ignored when the process was started with them ignored (a background job of a
script, ``nohup``), while SIGTERM and SIGUSR1, a scheduler's notices, are always taken.
``--checkpoint-minutes`` bounds what a kill without warning loses.

A signal is only recorded, never raised as an exception: an exception raised by a handler that
runs inside a callback Python calls for itself (``os.fork``'s hooks while ``subprocess`` starts a
child, a finalizer) is printed and dropped, and the request would be lost.
"""
import signal
import threading
import time

SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1)
# The terminal's signals: left ignored when the process started with them ignored.
TERMINAL = (signal.SIGINT, signal.SIGHUP)


class StopRequests:
    """While entered (in the main thread), the first of ``signals`` received: ``signal`` (None
    until one arrives) and ``name``."""

    def __init__(self, signals=SIGNALS):
        self.signals, self.signal, self._saved = signals, None, {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for signum in self.signals:
                if signum not in TERMINAL or signal.getsignal(signum) is not signal.SIG_IGN:
                    self._saved[signum] = signal.signal(signum, self._received)
        return self

    def _received(self, signum, frame):
        if self.signal is None:
            self.signal = signum

    def __exit__(self, *exc):
        for signum, handler in self._saved.items():
            signal.signal(signum, handler)
        self._saved = {}

    @property
    def name(self):
        """The signal's name; "request" on a worker that stops because another got one."""
        return signal.Signals(self.signal).name if self.signal else "request"


class CheckpointClock:
    """When the next checkpoint within an epoch is due: ``minutes`` after the last checkpoint
    (0: never)."""

    def __init__(self, minutes, clock=time.monotonic):
        self.seconds, self.clock = 60.0 * minutes, clock
        self.restart()

    def restart(self):
        """A checkpoint was just written."""
        self.last = self.clock()

    def due(self):
        return self.seconds > 0 and self.clock() - self.last >= self.seconds
