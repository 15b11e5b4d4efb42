"""Run the real ``gluon-tricks`` CLI in a subprocess, as a user would."""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


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


PEAK_CODE = ("import json, resource, subprocess, sys; "
             "p = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
             "print(json.dumps([p.returncode, p.stdout, p.stderr, "
             "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss]))")


def run_cli_peak(*args, timeout=600, cwd=None, code=None):
    """(CompletedProcess of ``gluon-tricks ARGS``, its peak resident memory in MB). The CLI is the
    only child of a fresh Python process, so that process's RUSAGE_CHILDREN peak is the CLI's
    alone (this test process has had other children). ``code`` runs ``python -c CODE`` instead."""
    import json
    command = [sys.executable] + (["-c", code] if code else
                                  ["-m", "gluon_tricks"] + [str(a) for a in args])
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    outer = subprocess.run([sys.executable, "-c", PEAK_CODE] + command, capture_output=True,
                           text=True, timeout=timeout, cwd=cwd, env=env)
    assert outer.returncode == 0, outer.stderr
    returncode, stdout, stderr, peak_kb = json.loads(outer.stdout)
    return subprocess.CompletedProcess(command, returncode, stdout, stderr), peak_kb / 1024


def import_peak_mb():
    """Peak memory of a process that imports the CLI with all its commands (MXNet, GluonCV,
    OpenCV), the baseline of :func:`run_cli_peak` measurements."""
    return run_cli_peak(code="import gluon_tricks.cli; gluon_tricks.cli.build_parser()")[1]
