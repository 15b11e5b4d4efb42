"""Run the real ``gluon-tricks`` CLI in a subprocess, as a user would."""
import contextlib
import json
import os
import signal
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WAIT = 300   # seconds: a limit for events, far above what they take on a loaded machine


def run_cli(*args, timeout=600, cwd=None, env=None):
    """``python -m gluon_tricks ARGS``; returns the CompletedProcess (text output)."""
    full_env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "gluon_tricks"] + [str(a) for a in args],
                          capture_output=True, text=True, timeout=timeout, cwd=cwd, env=full_env)


def one_line_error(proc, code=2):
    """Assert the process failed with ``code`` and a single-line message; return that line."""
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    return lines[0]


def start_cli(*args):
    """``python -m gluon_tricks ARGS`` started in the background (stderr piped); the Popen."""
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.Popen([sys.executable, "-m", "gluon_tricks", *map(str, args)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)


def kill_when(proc, happened):
    """SIGKILL ``proc`` as soon as ``happened()`` is true (polled); fail if it never is."""
    deadline = time.time() + WAIT
    while not happened():
        assert proc.poll() is None, "the run ended before the event: %s" % proc.stderr.read()
        assert time.time() < deadline, "event not seen within %d s" % WAIT
        time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=WAIT)
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
