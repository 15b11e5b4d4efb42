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
