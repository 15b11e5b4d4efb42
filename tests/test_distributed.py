"""Distributed training for real: MXNet's parameter server via ``gluon-tricks launch`` and Horovod
via ``horovodrun``, on a tiny demo set. Every worker must end with bit-identical weights, rank 0
alone writes the run folder, and no process outlives the job."""
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid

import mxnet as mx
import numpy as np
import pytest

from _records import write_rec
from cli import ROOT, one_line_error, run, run_cli, start
from gluon_tricks.datasets.demo import make_demo_data

DRIVER = os.path.join(ROOT, "tests", "dist_driver.py")
HOROVODRUN = os.path.join(os.path.dirname(sys.executable), "horovodrun")
TINY = ["--model", "resnet18_v1b", "--input-size", "32", "--batch-size", "8", "--threads", "1",
        "--batches-per-epoch", "3"]
TWO_EPOCHS = ["--num-epochs", "2", "--lr-decay-epoch", "1", "--lr-per-256", "0.1"]
TAG = "GLUON_TRICKS_TEST_TAG"
# The same 16 images per update as TINY's 8 per worker, as 2 micro-batches of 4 (--accumulate).
ACCUMULATE = pytest.mark.parametrize("micro", [[], ["--batch-size", "4", "--accumulate", "2"]],
                                     ids=["one-batch", "accumulate"])


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("dist-demo"))
    make_demo_data(out, classes=3, train_per_class=24, val_per_class=8, threads=2, progress=False)
    return out


@pytest.fixture
def tag():
    """A unique environment marker: every process of a job inherits it, so leftovers show."""
    return uuid.uuid4().hex


def tagged_pids(tag):
    """Live processes whose environment carries ``tag``."""
    pids = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open("/proc/%s/environ" % pid, "rb") as f:
                if ("%s=%s" % (TAG, tag)).encode() in f.read().split(b"\0"):
                    pids.append(int(pid))
        except OSError:
            continue
    return pids


# Seconds to wait for processes to appear or go: events, not timings, so a limit far above
# what they take even on a machine busy with other work.
EVENT_LIMIT = 300


def assert_no_leftovers(tag):
    deadline = time.time() + EVENT_LIMIT
    while tagged_pids(tag) and time.time() < deadline:
        time.sleep(0.1)
    assert tagged_pids(tag) == [], "processes outlived the job"


def launch(tag, *args):
    return run_cli("launch", *args, env={TAG: tag})


def trainable(path):
    """Parameters a worker trains (BN running statistics are each worker's own, as in GluonCV)."""
    return {k: v.asnumpy() for k, v in mx.nd.load(str(path)).items() if "running_" not in k}


def check_two_ranks(out, runs):
    """Both ranks hold the same weights after 6 updates; rank 0 alone wrote a run folder."""
    rank0, rank1 = trainable(out / "rank0.params"), trainable(out / "rank1.params")
    assert rank0.keys() == rank1.keys() and len(rank0) == 62
    different = [k for k in rank0 if not np.array_equal(rank0[k], rank1[k])]
    assert different == []
    infos = [json.loads((out / ("rank%d.json" % r)).read_text()) for r in (0, 1)]
    assert [(i["rank"], i["size"]) for i in infos] == [(0, 2), (1, 2)]
    for info in infos:
        cfg = info["config"]
        assert cfg["num_workers"] == 2 and cfg["total_batch_size"] == 16  # 8 per worker × 2
        assert cfg["batch_size"] * cfg["accumulate"] == 8
        assert cfg["lr"] == pytest.approx(0.1 * 16 / 256)
    assert os.listdir(runs / "rank1") == []
    assert {"config.json", "metrics.jsonl", "checkpoints", "plots"} <= set(os.listdir(runs / "rank0"))
    state = json.loads((runs / "rank0" / "checkpoints" / "epoch-0002" / "state.json").read_text())
    assert state["num_update"] == 6
    events = [json.loads(line) for line in (runs / "rank0" / "metrics.jsonl").read_text().splitlines()]
    assert [e["epoch"] for e in events if e["kind"] == "eval"] == [1, 2]


def test_one_worker_one_server_trains_and_checkpoints(data, tmp_path, tag):
    run = tmp_path / "run"
    proc = launch(tag, "--workers", "1", "--servers", "1", "--", "train", "--kvstore", "dist_sync",
                  "--data-dir", data, "--save-dir", run, "--num-epochs", "1", *TINY)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert any(line.startswith("[worker 0] done: best val top-1") for line in proc.stdout.splitlines())
    assert all(line.startswith("[") for line in proc.stdout.splitlines())
    assert os.path.isfile(run / "checkpoints" / "epoch-0001" / "model.params")
    assert json.loads((run / "config.json").read_text())["kvstore"] == "dist_sync"
    assert_no_leftovers(tag)


@ACCUMULATE
def test_two_dist_sync_workers_end_with_identical_parameters(data, tmp_path, tag, micro):
    """Rank 0 evaluates between the epochs and the others do not; they must not drift apart."""
    out, runs = tmp_path / "out", tmp_path / "runs"
    proc = launch(tag, "--workers", "2", "--servers", "1", "--", "python", DRIVER, "--out", out,
                  "--kvstore", "dist_sync", "--data-dir", data, "--save-dir", runs,
                  *TINY, *TWO_EPOCHS, *micro)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    check_two_ranks(out, runs)
    assert_no_leftovers(tag)


@pytest.mark.parametrize("kvstore", ["dist_sync", "horovod"])
def test_two_workers_read_every_record_once_per_epoch(tmp_path, tag, kvstore):
    """--data-backend dali-cpu: record i carries label i; in each epoch the two workers' batches
    hold every record exactly once (48 records, 3 batches of 8 per worker), a new order each
    epoch, and the workers end with the same weights."""
    data = tmp_path / "data"
    data.mkdir()
    write_rec(data, 48, classes=48, name="train")
    write_rec(data, 8, classes=48, name="val")
    out, runs = tmp_path / "out", tmp_path / "runs"
    flags = ["--kvstore", kvstore, "--data-backend", "dali-cpu", "--data-dir", data,
             "--save-dir", runs, *TINY, *TWO_EPOCHS]
    if kvstore == "horovod":
        proc = run([HOROVODRUN, "--gloo", "-np", "2", "-H", "localhost:2", sys.executable, DRIVER,
                    "--out", out, *flags], env={TAG: tag})
    else:
        proc = launch(tag, "--workers", "2", "--servers", "1", "--", "python", DRIVER, "--out",
                      out, *flags)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    check_two_ranks(out, runs)
    seen = [json.loads((out / ("rank%d.json" % r)).read_text())["labels"] for r in (0, 1)]
    for epoch in ("0", "1"):
        assert [len(s[epoch]) for s in seen] == [24, 24]
        assert sorted(seen[0][epoch] + seen[1][epoch]) == list(range(48))
    assert seen[0]["0"] != seen[0]["1"]
    assert_no_leftovers(tag)


@ACCUMULATE
def test_two_horovod_ranks_end_with_identical_parameters(data, tmp_path, tag, micro):
    out, runs = tmp_path / "out", tmp_path / "runs"
    proc = run([HOROVODRUN, "--gloo", "-np", "2", "-H", "localhost:2", sys.executable, DRIVER,
                "--out", out, "--kvstore", "horovod", "--data-dir", data, "--save-dir", runs,
                *TINY, *TWO_EPOCHS, *micro], env={TAG: tag})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    check_two_ranks(out, runs)
    assert_no_leftovers(tag)


@pytest.mark.parametrize("kvstore", [["--kvstore", "device"], ["--kvstore=horovod"], []])
def test_launch_refuses_a_kvstore_without_parameter_servers(data, tmp_path, tag, kvstore):
    proc = launch(tag, "--workers", "1", "--servers", "1", "--", "train", *kvstore,
                  "--data-dir", data, "--save-dir", tmp_path / "run", *TINY)
    line = one_line_error(proc)
    assert "dist_sync" in line and "launch" in line
    assert not (tmp_path / "run").exists()


def test_a_failing_worker_stops_the_job_with_its_exit_code(tmp_path, tag):
    """Workers fail after connecting to the scheduler; servers would wait forever."""
    proc = launch(tag, "--workers", "2", "--servers", "1", "--", "train", "--kvstore",
                  "dist_sync", "--data-dir", tmp_path / "missing", "--save-dir", tmp_path / "run",
                  *TINY)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "not found" in proc.stderr and "[worker " in proc.stderr
    assert "exited with code 2; stopping the other processes" in proc.stderr
    assert_no_leftovers(tag)


def start_sleeping_job(tag, ignored=()):
    """A launcher whose two workers sleep, started with default signal dispositions except
    ``ignored``; returns it once all four children exist (its handlers are set before)."""
    launcher = start([sys.executable, "-m", "gluon_tricks", "launch", "--workers", "2",
                      "--servers", "1", "--", "python", "-c", "import time; time.sleep(300)"],
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={TAG: tag},
                     ignored=ignored)
    deadline = time.time() + EVENT_LIMIT
    while len(tagged_pids(tag)) < 5 and time.time() < deadline:  # the launcher + 4 children
        time.sleep(0.1)
    assert len(tagged_pids(tag)) == 5
    return launcher


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 130),
                                          (signal.SIGKILL, -signal.SIGKILL)])
def test_stopping_the_launcher_stops_every_process(tag, signum, code):
    """Ctrl-C and SIGTERM are handled; even SIGKILL, which cannot be, leaves no orphans."""
    launcher = start_sleeping_job(tag)
    try:
        launcher.send_signal(signum)
        _, stderr = launcher.communicate(timeout=EVENT_LIMIT)
    finally:
        launcher.kill()
    assert launcher.returncode == code, stderr
    if signum != signal.SIGKILL:
        assert "interrupted" in stderr
    assert_no_leftovers(tag)


# The launcher, run in a process that signals itself from inside the parent's after-fork hook of
# its third child: where a signal arrives whenever a test's signal lands while children start.
SIGNAL_DURING_FORK = """import os, signal, sys
forks = []
def hook():
    forks.append(1)
    if len(forks) == 3:
        os.kill(os.getpid(), int(sys.argv[1]))
os.register_at_fork(after_in_parent=hook)
from gluon_tricks.cli import main
sys.exit(main(sys.argv[2:]))
"""


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_a_signal_while_the_children_start_stops_the_job(tag, signum):
    """A handler that raised was dropped inside ``os.fork``'s hooks ("Exception ignored"): the
    launcher then waited forever on its sleeping workers. Requests are recorded instead."""
    argv = [sys.executable, "-c", SIGNAL_DURING_FORK, int(signum), "launch", "--workers", "2",
            "--servers", "1", "--", "python", "-c", "import time; time.sleep(300)"]
    launcher = start(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                     env={TAG: tag})
    try:
        _, stderr = launcher.communicate(timeout=EVENT_LIMIT)
    finally:
        launcher.kill()
    assert launcher.returncode == 130 and "interrupted" in stderr, stderr
    assert "Exception ignored" not in stderr, stderr
    assert_no_leftovers(tag)


# The launcher, in a process whose third child SIGKILLs it right after the fork, before the
# child's pre-exec hook asks for the parent-death signal, and waits until it is orphaned.
KILLED_BEFORE_THE_DEATH_SIGNAL = """import os, signal, sys
forks = []
def kill_parent():
    if len(forks) == 2:
        parent = os.getppid()
        os.kill(parent, signal.SIGKILL)
        while os.getppid() == parent:
            pass
os.register_at_fork(after_in_parent=lambda: forks.append(1), after_in_child=kill_parent)
from gluon_tricks.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_a_launcher_killed_while_a_child_starts_leaves_no_orphan(tag):
    """The death signal is set after the fork: a child whose launcher is already gone then exits
    instead of running its command (here an hour's sleep, past every wait of the test)."""
    proc = run([sys.executable, "-c", KILLED_BEFORE_THE_DEATH_SIGNAL, "launch", "--workers", "2",
                "--servers", "1", "--", "python", "-c", "import time; time.sleep(3600)"],
               env={TAG: tag})
    try:
        assert proc.returncode == -signal.SIGKILL, proc.stderr
        assert_no_leftovers(tag)
    finally:
        for pid in tagged_pids(tag):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def dispositions(pid):
    """The signals process ``pid`` ignores and the ones it catches, from /proc/PID/status."""
    masks = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("SigIgn", "SigCgt"):
                bits = int(value, 16)
                masks[key] = {s for s in signal.Signals if bits >> (s - 1) & 1}
    return masks["SigIgn"], masks["SigCgt"]


@pytest.mark.parametrize("ignored", [(), (signal.SIGINT, signal.SIGHUP)], ids=["default", "nohup"])
def test_launcher_keeps_ignored_terminal_signals_and_always_stops_on_sigterm(tag, ignored):
    """The convention (README, "Signals"): Ctrl-C and hang-up ignored at start (a background job
    of a script, nohup) stay ignored; SIGTERM always stops the job."""
    launcher = start_sleeping_job(tag, ignored=ignored)
    try:
        ignores, catches = dispositions(launcher.pid)
        assert signal.SIGTERM in catches
        for signum in (signal.SIGINT, signal.SIGHUP):
            assert signum in (ignores if signum in ignored else catches)
        launcher.send_signal(signal.SIGTERM)
        _, stderr = launcher.communicate(timeout=EVENT_LIMIT)
    finally:
        launcher.kill()
    assert launcher.returncode == 130 and "interrupted" in stderr, stderr
    assert_no_leftovers(tag)
