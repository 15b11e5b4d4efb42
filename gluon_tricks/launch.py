"""Run an MXNet parameter-server job (``dist_sync``/``dist_device_sync``) on this host.

The MXNet pip wheel has no ``dmlc_tracker``, so :func:`launch` starts the job itself: one
scheduler, M servers and N workers, each with the DMLC_* environment MXNet's ps-lite reads.
Scheduler and servers run ``import mxnet``: with ``DMLC_ROLE`` set to ``scheduler`` or
``server``, importing mxnet runs ``mxnet/kvstore/kvstore_server.py``'s
``_init_kvstore_server_module``, which serves until every worker has finalized and then exits.
Workers run gluon-tricks' ``train ...`` (or a Python script). Both start as ``python -c CODE``
with the package's root in place of the current folder at the front of ``sys.path`` (what
Python 3.11's ``-P`` does, on every version): nothing in the folder the job is launched from
(a ``mxnet.py`` that came with a data set) is imported. Every child gets its own process group;
the first non-zero exit, Ctrl-C or SIGTERM stops all of them: the workers first (a training run
then stops after its update with a checkpoint, README "Preemptible machines"), the servers and
the scheduler once the workers are gone.

Worker labels are launch indices: the scheduler assigns the kvstore ranks, so ``[worker 1]`` need
not be rank 1 (rank 0 is the one that writes the run folder).

Several hosts: run the same roles by hand (or with dmlc-tracker's ssh launcher) with, on every
process of every host, ``DMLC_PS_ROOT_URI`` (the scheduler's address) and ``DMLC_PS_ROOT_PORT``,
``DMLC_NUM_SERVER`` and ``DMLC_NUM_WORKER`` (job-wide totals), ``DMLC_ROLE`` (``scheduler`` on
exactly one process, ``server`` or ``worker`` elsewhere) and ``DMLC_NODE_HOST`` (that host's
reachable address); start servers and the scheduler with ``python -I -c "import mxnet"`` and
the workers with ``gluon-tricks train --kvstore dist_sync ...``.
"""
import ctypes
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

from .errors import Stopped, UsageError, shown
from .options import MAX_PARALLEL
from .runcore.stop import StopRequests

DIST_KVSTORES = ("dist_sync", "dist_device_sync")
# The helpers' ``python -c`` code: the package root (their first argument) replaces the current
# folder that ``-c`` puts first on sys.path, before anything is imported.
BOOT = "import sys; sys.path[0] = sys.argv.pop(1); "
SERVER_CODE = BOOT + "import mxnet"
WORKER_CODE = BOOT + "from gluon_tricks.cli import main; sys.exit(main())"
MAX_PORT = 65535
STOP_GRACE_SECONDS = 5.0
# How long stopped workers may take (an update, a checkpoint and an evaluation) when the job is
# stopped on request, or one worker stopped so (the others stop after the same update).
WORKER_STOP_SECONDS = 300.0
SERVER_EXIT_SECONDS = 30.0
POLL_SECONDS = 0.05
PR_SET_PDEATHSIG = 1
STOPPED = Stopped.exit_code
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

EPILOG = """\
examples:
  gluon-tricks launch --workers 2 --servers 1 -- train --kvstore dist_sync --data-dir DATA ...
  gluon-tricks launch --workers 2 --servers 1 -- python my_script.py ARGS...
worker labels are launch indices; the scheduler assigns kvstore ranks (rank 0 writes the run).

several hosts: no launcher is needed; start every process with these variables, by hand or with
dmlc-tracker's ssh launcher:
  DMLC_PS_ROOT_URI=<scheduler host>  DMLC_PS_ROOT_PORT=<its port>
  DMLC_NUM_SERVER=<servers in all>   DMLC_NUM_WORKER=<workers in all>
  DMLC_NODE_HOST=<this host's address>
  DMLC_ROLE=scheduler python -I -c "import mxnet"                # exactly one, on the root host
  DMLC_ROLE=server    python -I -c "import mxnet"                # one per server
  DMLC_ROLE=worker    gluon-tricks train --kvstore dist_sync ...  # one per worker"""


@dataclass
class Child:
    """One process of the job: its label ("worker 1"), command line and environment."""

    label: str
    argv: list
    env: dict
    is_worker: bool
    proc: subprocess.Popen = None


def free_port(host):
    """A TCP port on ``host`` nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def option_value(args, name):
    """The value of ``--name X`` or ``--name=X`` in ``args`` (the last one wins), else None."""
    value = None
    for i, arg in enumerate(args):
        if arg == name and i + 1 < len(args):
            value = args[i + 1]
        elif arg.startswith(name + "="):
            value = arg.split("=", 1)[1]
    return value


def package_root():
    """The folder holding the ``gluon_tricks`` package the launcher runs."""
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def worker_argv(command):
    """The workers' command line for ``train ARGS`` or ``python SCRIPT ARGS``.

    ``train`` must ask for a parameter-server kvstore; so must any other command that passes
    ``--kvstore``, since workers of this job reduce through the servers it starts.
    """
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        raise UsageError("give the workers' command after '--': train ARGS... or python SCRIPT ARGS...")
    kvstore = option_value(command, "--kvstore")
    if command[0] == "train" and kvstore is None:
        raise UsageError("the workers' train command needs --kvstore dist_sync or --kvstore "
                         "dist_device_sync to use the servers this job starts")
    if kvstore is not None and kvstore not in DIST_KVSTORES:
        raise UsageError("--kvstore %s does not use parameter servers; launch needs --kvstore "
                         "dist_sync or dist_device_sync (use horovodrun for --kvstore horovod)"
                         % kvstore)
    if command[0] == "train":
        return [sys.executable, "-c", WORKER_CODE, package_root()] + command
    if command[0] in ("python", "python3") and len(command) > 1:
        return [sys.executable] + command[1:]
    raise UsageError("workers run 'train ARGS...' or 'python SCRIPT ARGS...', not %s"
                     % shown(command[0], quoted=True))


def plan(command, workers, servers, host, port, env=None):
    """The job's children: scheduler, servers, then workers, each with its DMLC_* environment."""
    if not (1 <= workers <= MAX_PARALLEL and 1 <= servers <= MAX_PARALLEL):
        raise UsageError("--workers and --servers must be between 1 and %d, got %d and %d"
                         % (MAX_PARALLEL, workers, servers))
    if not 1 <= port <= MAX_PORT:
        raise UsageError("--scheduler-port must be between 1 and %d, got %d" % (MAX_PORT, port))
    argv = worker_argv(command)
    base = dict(os.environ if env is None else env)
    base.update(DMLC_PS_ROOT_URI=host, DMLC_PS_ROOT_PORT=str(port), DMLC_NUM_SERVER=str(servers),
                DMLC_NUM_WORKER=str(workers), DMLC_NODE_HOST=host, PYTHONUNBUFFERED="1",
                PYTHONPATH=os.pathsep.join(p for p in (package_root(), base.get("PYTHONPATH"))
                                           if p))
    server_argv = [sys.executable, "-c", SERVER_CODE, package_root()]
    children = [Child("scheduler", server_argv, dict(base, DMLC_ROLE="scheduler"), False)]
    children += [Child("server %d" % i, server_argv, dict(base, DMLC_ROLE="server"), False)
                 for i in range(servers)]
    children += [Child("worker %d" % i, argv, dict(base, DMLC_ROLE="worker"), True)
                 for i in range(workers)]
    return children


def _parent_death_signal():
    """A pre-exec hook that makes the child get SIGTERM when the launcher dies, even by SIGKILL
    (Linux ``prctl``); None elsewhere. libc is loaded here, in the parent, not after the fork.
    A launcher that died between the fork and the ``prctl`` sends nothing: the child then sees
    another parent and exits before it runs anything."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    launcher = os.getpid()

    def hook():
        prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM))
        if os.getppid() != launcher:
            os._exit(exit_code(-signal.SIGTERM))
    return hook


def _relay(pipe, stream, prefix, lock):
    """Copy ``pipe``'s lines to ``stream``, each behind ``prefix``."""
    with pipe:
        for raw in iter(pipe.readline, b""):
            line = raw.decode("utf-8", errors="replace").rstrip("\n")
            with lock:
                stream.write("%s%s\n" % (prefix, line))
                stream.flush()


def exit_code(returncode):
    """A shell-style exit code: a child killed by signal N reports 128 + N."""
    return 128 - returncode if returncode < 0 else returncode


class Job:
    """The running children, their output relays, and how to stop them all."""

    def __init__(self, children):
        self.children = children
        self.started = []
        self.relays = []

    def start(self, stops):
        """Start the children in order; none after a stop request."""
        hook = _parent_death_signal()
        for child in self.children:
            if stops.signal is not None:
                break
            child.proc = subprocess.Popen(child.argv, env=child.env, stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE, start_new_session=True,
                                          preexec_fn=hook)
            self.started.append(child)
        lock = threading.Lock()
        for child in self.started:
            prefix = "[%s] " % child.label
            for pipe, stream in ((child.proc.stdout, sys.stdout), (child.proc.stderr, sys.stderr)):
                relay = threading.Thread(target=_relay, args=(pipe, stream, prefix, lock), daemon=True)
                relay.start()
                self.relays.append(relay)

    def wait(self, stops):
        """Block until the workers finish; return the job's exit code (first failure wins), or
        None once a stop is requested."""
        while stops.signal is None:
            for child in self.children:
                code = child.proc.poll()
                if code == STOPPED and child.is_worker:
                    self._say("%s stopped on request (exit code %d); the other workers stop after "
                              "the same update" % (child.label, code))
                    self.wait_workers(WORKER_STOP_SECONDS)
                    return code
                if code:
                    self._say("%s exited with code %d; stopping the other processes"
                              % (child.label, exit_code(code)))
                    return exit_code(code)
            if all(c.proc.returncode == 0 for c in self.children if c.is_worker):
                return self._wait_servers()
            time.sleep(POLL_SECONDS)
        return None

    def wait_workers(self, seconds):
        """Let the workers end on their own, for up to ``seconds`` or until one fails."""
        deadline = time.time() + seconds
        workers = [c.proc for c in self.children if c.is_worker]
        while time.time() < deadline and any(p.poll() is None for p in workers):
            if any(p.returncode not in (None, 0, STOPPED) for p in workers):
                return
            time.sleep(POLL_SECONDS)

    def _wait_servers(self):
        """Servers and scheduler exit on their own once every worker has finalized."""
        deadline = time.time() + SERVER_EXIT_SECONDS
        for child in self.children:
            try:
                code = child.proc.wait(max(0.0, deadline - time.time()))
            except subprocess.TimeoutExpired:
                self._say("%s did not exit %.0f s after the workers finished; stopping it"
                          % (child.label, SERVER_EXIT_SECONDS))
                continue
            if code:
                self._say("%s exited with code %d" % (child.label, exit_code(code)))
                return exit_code(code)
        return 0

    def stop(self, worker_grace=STOP_GRACE_SECONDS):
        """SIGTERM the workers' process groups and give them ``worker_grace`` seconds, then the
        servers' and the scheduler's a grace period; SIGKILL what is left."""
        for workers, grace in ((True, worker_grace), (False, STOP_GRACE_SECONDS)):
            self._signal_all(signal.SIGTERM, running_only=True, workers=workers)
            deadline = time.time() + grace
            for child in self.started:
                if child.is_worker or not workers:
                    try:
                        child.proc.wait(max(0.0, deadline - time.time()))
                    except subprocess.TimeoutExpired:
                        pass
        self._signal_all(signal.SIGKILL, running_only=False)
        for child in self.started:
            child.proc.wait()
        for relay in self.relays:
            relay.join(timeout=STOP_GRACE_SECONDS)

    def _signal_all(self, signum, running_only, workers=False):
        """Signal every started child's process group (``workers``: the workers' only)."""
        for child in self.started:
            if (running_only and child.proc.poll() is not None) or (workers and not child.is_worker):
                continue
            try:
                os.killpg(child.proc.pid, signum)
            except (ProcessLookupError, PermissionError):
                pass

    @staticmethod
    def _say(text):
        print("gluon-tricks launch: %s" % text, file=sys.stderr, flush=True)


def launch(command, workers, servers, host="127.0.0.1", port=None):
    """Run the job for ``command`` (``["train", ...]`` or ``["python", script, ...]``); return
    its exit code. Every child is gone when this returns. SIGTERM always, and Ctrl-C and SIGHUP
    unless ignored at start (the Unix convention for a background job or ``nohup``), stop the
    job: the workers get the time to checkpoint, then :class:`KeyboardInterrupt` is raised. A
    further signal during the clean-up changes nothing, so it cannot leave processes behind."""
    job = Job(plan(command, workers, servers, host, port or free_port(host)))
    code = None
    with StopRequests(STOP_SIGNALS) as stops:
        try:
            job.start(stops)
            code = job.wait(stops)
        finally:
            job.stop(STOP_GRACE_SECONDS if code is not None else WORKER_STOP_SECONDS)
    if code is None:
        raise KeyboardInterrupt
    return code
