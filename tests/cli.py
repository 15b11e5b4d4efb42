"""Run the real ``gluon-tricks`` CLI in a subprocess, as a user would.

Every child gets stdin from /dev/null, UTF-8 text, the package on PYTHONPATH and default signal
dispositions (:func:`baseline.restore_child_signals`), whatever the runner inherited."""
import contextlib
import functools
import json
import os
import signal
import subprocess
import sys
import time

from baseline import restore_child_signals

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Seconds a child may take before the test gives up: a guard against hangs, far above what any
# command here takes even on a machine busy with other work (never a measure of speed).
LIMIT = 1200


def child_env(env=None):
    """The environment of a child: this one with the package first on PYTHONPATH, then ``env``
    (a value of None removes that variable)."""
    inherited = os.environ.get("PYTHONPATH")   # an empty entry would put the child's cwd on its path
    full = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT] + ([inherited] if inherited else [])))
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


PEAK_CODE = ("import json, resource, subprocess, sys; "
             "p = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
             "print(json.dumps([p.returncode, p.stdout, p.stderr, "
             "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss]))")


def run_cli_peak(*args, timeout=LIMIT, cwd=None, code=None):
    """(CompletedProcess of ``gluon-tricks ARGS``, its peak resident memory in MB). The CLI is the
    only child of a fresh Python process, so that process's RUSAGE_CHILDREN peak is the CLI's
    alone (this test process has had other children). ``code`` runs ``python -c CODE`` instead."""
    command = [sys.executable] + (["-c", code] if code else
                                  ["-m", "gluon_tricks"] + [str(a) for a in args])
    outer = run([sys.executable, "-c", PEAK_CODE] + command, timeout=timeout, cwd=cwd)
    assert outer.returncode == 0, outer.stderr
    returncode, stdout, stderr, peak_kb = json.loads(outer.stdout)
    return subprocess.CompletedProcess(command, returncode, stdout, stderr), peak_kb / 1024


@functools.lru_cache(maxsize=None)
def import_peak_mb():
    """Peak memory of a process that imports the CLI with all its commands (MXNet, GluonCV,
    OpenCV), the baseline of :func:`run_cli_peak` measurements (measured once)."""
    return run_cli_peak(code="import gluon_tricks.cli; gluon_tricks.cli.build_parser()")[1]


def start_cli(*args, **popen):
    """``python -m gluon_tricks ARGS`` started in the background (stdout discarded, stderr
    piped); the Popen."""
    return start([sys.executable, "-m", "gluon_tricks", *map(str, args)],
                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, **popen)


def kill_when(proc, happened):
    """SIGKILL ``proc`` as soon as ``happened()`` is true (polled); fail if it never is."""
    deadline = time.monotonic() + LIMIT
    while not happened():
        assert proc.poll() is None, "the run ended before the event: %s" % proc.stderr.read()
        assert time.monotonic() < deadline, "event not seen within %d s" % LIMIT
        time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=LIMIT)
    proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL


def events(run):
    """The events of ``run``/metrics.jsonl so far (a line being written is left out)."""
    path = os.path.join(run, "metrics.jsonl")
    if not os.path.exists(path):
        return []
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            with contextlib.suppress(ValueError):
                out.append(json.loads(line))
    return out
