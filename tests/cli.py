"""Run the real ``gluon-tricks`` CLI in a subprocess, as a user would.

Every child gets stdin from /dev/null, UTF-8 text, the package on PYTHONPATH and default signal
dispositions (:func:`baseline.restore_child_signals`), whatever the runner inherited."""
import os
import signal
import subprocess
import sys

from baseline import restore_child_signals

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Seconds a child may take before the test gives up: a guard against hangs, far above what any
# command here takes even on a machine busy with other work (never a measure of speed).
LIMIT = 1200


def child_env(env=None):
    """The environment of a child: this one with the package first on PYTHONPATH, then ``env``
    (a value of None removes that variable)."""
    full = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    for key, value in (env or {}).items():
        if value is None:
            full.pop(key, None)
        else:
            full[key] = str(value)
    return full


def start(argv, env=None, ignored=(), **popen):
    """Popen ``argv`` (strings or paths) with the child settings above, except that the signals
    in ``ignored`` start ignored (as in a background job or under nohup); ``popen`` adds to
    the settings."""
    popen.setdefault("stdin", subprocess.DEVNULL)
    if popen.get("text"):
        popen.setdefault("encoding", "utf-8")

    def child_signals():
        restore_child_signals()
        for signum in ignored:
            signal.signal(signum, signal.SIG_IGN)

    return subprocess.Popen([str(a) for a in argv], env=child_env(env), preexec_fn=child_signals,
                            **popen)


def run(argv, timeout=LIMIT, env=None, **popen):
    """Run ``argv`` to completion (text output captured); returns a CompletedProcess."""
    with start(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
               **popen) as proc:
        try:
            out, err = proc.communicate(timeout=timeout)
        except BaseException:
            proc.kill()
            raise
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def run_cli(*args, timeout=LIMIT, cwd=None, env=None):
    """``python -m gluon_tricks ARGS``; returns the CompletedProcess (text output)."""
    return run([sys.executable, "-m", "gluon_tricks", *args], timeout=timeout, env=env, cwd=cwd)


def one_line_error(proc, code=2):
    """Assert the process failed with ``code`` and a single-line message; return that line."""
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    return lines[0]
