"""The process state every test relies on, set by the suite itself instead of inherited.

pytest may be started by a terminal, a script's background job (SIGINT and SIGQUIT ignored), a
scheduler (SIGTERM blocked, stdin closed, no TTY), under ``nohup`` (SIGHUP ignored), or inside a
training job (``DMLC_ROLE``, ``HOROVOD_*``, ``CUDA_VISIBLE_DEVICES``, ``OMP_NUM_THREADS``...).
Ignored signals, the signal mask, open file descriptors, the umask and the environment are all
inherited by every process a test starts, so :func:`apply` sets each of them to one known state
before the first test, and :func:`restore_child_signals` is the ``preexec_fn`` for tests that
signal a child, so the child's dispositions do not depend even on this process's.
"""
import os
import signal
import tempfile

# Signals a child must see with their default action (SIG_IGN survives exec, handlers do not).
DEFAULT_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT, signal.SIGHUP, signal.SIGUSR1,
                   signal.SIGUSR2, signal.SIGALRM, signal.SIGCHLD, signal.SIGTTIN, signal.SIGTTOU,
                   signal.SIGTSTP)
# Environment variables that change what MXNet, its kvstore, Horovod, OpenMP/BLAS, the CUDA
# runtime, Python or the project's own recipes do.
DROPPED_PREFIXES = ("MXNET_", "DMLC_", "PS_", "HOROVOD_", "OMPI_", "PMI_", "PMIX_", "SLURM_",
                    "OMP_", "KMP_", "MKL_", "OPENBLAS_", "CUDA_", "NVIDIA_", "NCCL_",
                    "PYTHON", "LC_", "LD_", "TF_", "XDG_", "MPL")
DROPPED = ("LANGUAGE", "COLUMNS", "LINES", "TERM", "TZ", "DISPLAY", "CI")
FIXED = {"LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "TZ": "UTC", "TERM": "dumb",
         "MPLBACKEND": "Agg", "PYTHONIOENCODING": "utf-8"}
RECIPE_VARIABLES = ("GLUON_TRICKS", "GPUS", "DATA_DIR", "SAVE_DIR", "MAX_DEVICE_BATCH", "TEACHER_PARAMS",
                    "BACKBONE_PARAMS", "DATA_ROOT", "NUM_GPUS")


def restore_child_signals():
    """``preexec_fn`` for a child a test will signal: default dispositions, nothing blocked."""
    for signum in DEFAULT_SIGNALS:
        signal.signal(signum, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, [])


def _own_signals():
    """This process: Ctrl-C raises KeyboardInterrupt (Python skips that when SIGINT starts
    ignored), every other signal has its default action, and none is blocked."""
    for signum in DEFAULT_SIGNALS:
        signal.signal(signum, signal.default_int_handler if signum == signal.SIGINT
                      else signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, [])


def _standard_descriptors():
    """Descriptors 0-2 open (a closed one would be reused by the next file opened, and children
    would inherit that file as stdin); stdin on /dev/null, never a terminal."""
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (1, 2):
        try:
            os.fstat(fd)
        except OSError:
            os.dup2(null, fd)
    os.dup2(null, 0)
    if null > 2:
        os.close(null)


def _environment(home):
    """A fixed environment for every child: none of the variables above, a C.UTF-8 locale,
    HOME (and so ~/.mxnet, ~/.cache, matplotlib's config) in a folder of the suite's own."""
    for key in list(os.environ):
        if key.startswith(DROPPED_PREFIXES) or key in DROPPED or key in RECIPE_VARIABLES:
            del os.environ[key]
    os.environ.update(FIXED, HOME=home)


def apply():
    """Set the suite's process state (signals, descriptors, umask, environment); returns the
    suite's HOME folder, which conftest makes the working folder once the tests are collected
    (pytest and its workers resolve the paths they were given against the folder they started
    in)."""
    _own_signals()
    _standard_descriptors()
    os.umask(0o022)
    home = tempfile.mkdtemp(prefix="gluon-tricks-tests-home-")
    _environment(home)
    return home
