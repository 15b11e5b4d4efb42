"""Runs on machines that are taken away, through the real CLI: SIGTERM, SIGINT and SIGUSR1 stop a
run after the update in progress with a checkpoint of that point, exit code 75 and one line
naming ``--resume DIR``; ``--checkpoint-minutes`` writes checkpoints within an epoch, so a
``kill -9`` loses at most one interval; and ``--resume DIR`` continues from any of them bit for bit
(weights, BatchNorm statistics, optimizer state, every progress line of metrics.jsonl).

Moments are events seen on disk (a progress line in metrics.jsonl, a checkpoint folder), polled
with generous limits, never timings.
"""
import os
import random
import signal
import subprocess
import sys
import time
import uuid

import mxnet as mx
import numpy as np
import pytest

from cli import LIMIT, events, kill_when, run, run_cli, start, start_cli
from gluon_tricks.atomic import MARK
from gluon_tricks.errors import Stopped

# 3 epochs of 6 updates of 4 images (dali-cpu on the tiny demo records), a progress line each.
RUN = ["--model", "resnet18_v1b", "--input-size", "32", "--batch-size", "4", "--threads", "1",
       "--batches-per-epoch", "6", "--log-interval", "1", "--num-epochs", "3",
       "--lr-mode", "cosine", "--warmup-epochs", "1", "--label-smoothing", "--mixup",
       "--mixup-off-epoch", "1"]
WITHIN = "epoch-0002-batch-"
# Fields of an event that measure this machine's speed or the clock, not the run.
TIMES = ("time", "img_per_sec", "data_share", "seconds", "eta_epoch", "eta_run")


def arrays(folder):
    return {(name, key): value.asnumpy() for name in sorted(os.listdir(folder))
            if name.endswith(".params")
            for key, value in mx.nd.load(str(folder / name)).items()}


def same_arrays(a, b):
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def run_events(run):
    """The events of a run without their times and speeds, and without the stop/resume marks."""
    return [{k: v for k, v in e.items() if k not in TIMES} for e in events(run)
            if e["kind"] not in ("stop", "resume")]


def progress(run):
    return [(e["epoch"], e["batch"]) for e in events(run) if e["kind"] == "train"]


@pytest.fixture(scope="module")
def straight(tiny_demo, tmp_path_factory):
    """The run never interrupted: its last checkpoint's arrays and its events."""
    run = tmp_path_factory.mktemp("straight") / "run"
    proc = run_cli("train", "--data-dir", tiny_demo, "--save-dir", run, *RUN)
    assert proc.returncode == 0, proc.stderr
    return arrays(run / "checkpoints" / "epoch-0003"), run_events(run)


def assert_resumes_bit_identical(run, straight):
    proc = run_cli("train", "--resume", run)
    assert proc.returncode == 0, proc.stderr
    final, straight_events = straight
    assert same_arrays(arrays(run / "checkpoints" / "epoch-0003"), final)
    assert run_events(run) == straight_events
    assert len(progress(run)) == len(set(progress(run))) == 18
    assert not [n for n in os.listdir(run / "checkpoints") if MARK in n or "-batch-" in n]
    return proc


def wait_for_exit(proc):
    _, err = proc.communicate(timeout=LIMIT)
    return proc.returncode, [line for line in err.splitlines() if line.strip()]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGUSR1])
def test_a_signal_stops_after_the_update_with_a_checkpoint_of_it(tiny_demo, tmp_path, straight,
                                                                 signum):
    run = tmp_path / "run"
    proc = start_cli("train", "--data-dir", tiny_demo, "--save-dir", run, *RUN)
    deadline = time.monotonic() + LIMIT
    while (2, 2) not in progress(run):
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
        time.sleep(0.002)
    proc.send_signal(signum)
    seen = progress(run)[-1]
    code, lines = wait_for_exit(proc)
    assert code == Stopped.exit_code == 75
    assert len(lines) == 1, lines
    (stop,) = [e for e in events(run) if e["kind"] == "stop"]
    assert stop["signal"] == signal.Signals(signum).name and stop["epoch"] == 2
    assert seen[1] <= stop["batch"] <= seen[1] + 1          # within one update of the signal
    checkpoint = run / "checkpoints" / ("%s%06d" % (WITHIN, stop["batch"]))
    assert lines[0] == ("gluon-tricks train: stopped on %s after epoch 2 batch %d of 6; "
                        "checkpoint %s; continue with: gluon-tricks train --resume %s"
                        % (stop["signal"], stop["batch"], checkpoint, run))
    assert progress(run)[-1] == (2, stop["batch"])
    out = assert_resumes_bit_identical(run, straight).stdout
    assert "resumed from %s (batch %d of epoch 2 done" % (checkpoint, stop["batch"]) in out
    report = (run / "report.md").read_text()
    assert "stopped on %s after epoch 2 batch %d" % (stop["signal"], stop["batch"]) in report
    assert "resumed at epoch 2 batch %d" % stop["batch"] in report


def test_a_second_signal_during_the_checkpoint_write_changes_nothing(tiny_demo, tmp_path,
                                                                     straight):
    run = tmp_path / "run"
    proc = start_cli("train", "--data-dir", tiny_demo, "--save-dir", run, *RUN)
    deadline = time.monotonic() + LIMIT
    while (2, 4) not in progress(run):
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
        time.sleep(0.002)
    proc.send_signal(signal.SIGTERM)
    folder = run / "checkpoints"
    while proc.poll() is None and not any(WITHIN in n and MARK in n for n in os.listdir(folder)):
        time.sleep(0.0005)
    proc.send_signal(signal.SIGTERM)
    code, lines = wait_for_exit(proc)
    assert code == 75 and len(lines) == 1, lines
    assert_resumes_bit_identical(run, straight)


def test_kill_9_loses_at_most_one_checkpoint_interval(tiny_demo, tmp_path, straight):
    """--checkpoint-minutes 0.002 (a checkpoint every update or two here): killed at random
    updates after the first checkpoint within epoch 2, each resume starts within the epoch
    and ends bit-identical. benchmarks/soak_resume.py --within repeats this many times."""
    choice = random.Random(7)
    run = tmp_path / "run"
    args = ["--data-dir", tiny_demo, "--save-dir", run, *RUN, "--checkpoint-minutes", "0.002"]
    first = ["train", *args]
    for trial in range(2):
        batch = choice.randint(2, 6)
        within = run / "checkpoints"
        kill_when(start_cli(*first),
                  lambda: (2, batch) in progress(run) and within.is_dir() and any(
                      WITHIN in n and MARK not in n for n in os.listdir(within)))
        first = ["train", "--resume", run]
    proc = assert_resumes_bit_identical(run, straight)
    assert "batch" in proc.stdout.split("resumed from", 1)[1].split("\n", 1)[0]


def test_segment_stops_within_an_epoch_and_resumes_bit_identical(tmp_path):
    """The transfer commands share the run core: SIGUSR1 after the first update of epoch 2 of
    an FCN run on two devices (-j 0), then --resume DIR alone, as the uninterrupted run."""
    from transfer_data import make_ade, save_backbone
    backbone = save_backbone(str(tmp_path / "resnet18_v1d.params"))
    args = ["segment", "--data-root", make_ade(str(tmp_path / "ade"), train=6), "--backbone",
            "resnet18_v1d", "--backbone-params", backbone, "--base-size", 64, "--crop-size", 48,
            "--batch-size", 2, "--cpus", 2, "-j", 0, "--num-epochs", 2, "--log-interval", 1]
    straight, run = tmp_path / "straight", tmp_path / "run"
    assert run_cli(*args, "--save-dir", straight).returncode == 0
    proc = start_cli(*args, "--save-dir", run)
    deadline = time.monotonic() + LIMIT
    while (2, 1) not in progress(run):
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
        time.sleep(0.002)
    proc.send_signal(signal.SIGUSR1)
    code, lines = wait_for_exit(proc)
    assert code == 75 and "gluon-tricks segment --resume %s" % run in lines[-1], lines
    (stop,) = [e for e in events(run) if e["kind"] == "stop"]   # batch 1 or 2 of 3
    within = run / "checkpoints" / ("epoch-0002-batch-%06d" % stop["batch"])
    assert os.path.isdir(within)
    proc = run_cli("segment", "--resume", run)
    assert proc.returncode == 0, proc.stderr
    assert "resumed from %s" % within in proc.stdout
    assert same_arrays(arrays(run / "checkpoints" / "epoch-0002"),
                       arrays(straight / "checkpoints" / "epoch-0002"))
    assert run_events(run) == run_events(straight)


HOROVODRUN = os.path.join(os.path.dirname(sys.executable), "horovodrun")
TAG = "GLUON_TRICKS_TEST_TAG"
TWO = ["--model", "resnet18_v1b", "--input-size", "32", "--batch-size", "8", "--threads", "1",
       "--batches-per-epoch", "3", "--num-epochs", "2", "--log-interval", "1",
       "--lr-decay-epoch", "1", "--lr-per-256", "0.1", "--mixup"]


def job(kvstore, *args):
    """The command of a two-worker job: ``gluon-tricks launch`` with one parameter server, or
    ``horovodrun`` with two ranks."""
    if kvstore == "horovod":
        return [HOROVODRUN, "--gloo", "-np", "2", "-H", "localhost:2", sys.executable, "-m",
                "gluon_tricks", *args]
    return [sys.executable, "-m", "gluon_tricks", "launch", "--workers", "2", "--servers", "1",
            "--", *args]


def worker_pids(tag, kvstore):
    """{rank (Horovod) or launch order (dist_sync): pid} of the job's training processes."""
    found = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open("/proc/%s/environ" % pid, "rb") as f:
                env = dict(item.split(b"=", 1) for item in f.read().split(b"\0") if b"=" in item)
        except OSError:
            continue
        if env.get(TAG.encode()) != tag.encode():
            continue
        if kvstore == "horovod" and b"HOROVOD_RANK" in env:
            found[int(env[b"HOROVOD_RANK"])] = int(pid)
        elif kvstore != "horovod" and env.get(b"DMLC_ROLE") == b"worker":
            found[len(found)] = int(pid)
    return found


@pytest.mark.parametrize("kvstore", ["dist_sync", "horovod"])
def test_a_signal_to_one_worker_stops_every_worker_after_the_same_update(tiny_demo, tmp_path,
                                                                          kvstore):
    """Two workers; SIGUSR1 to one of them (Horovod: rank 1, which does not write) after the
    first update of epoch 2: both stop after the same update, rank 0 writes the checkpoint, and
    the job resumed with --resume DIR ends as the uninterrupted one."""
    tag = uuid.uuid4().hex
    flags = ["--kvstore", kvstore, "--data-dir", tiny_demo, *TWO]
    straight, stopped = tmp_path / "straight", tmp_path / "run"
    proc = run(job(kvstore, "train", *flags, "--save-dir", straight), env={TAG: tag})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = start(job(kvstore, "train", *flags, "--save-dir", stopped), env={TAG: tag},
                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + LIMIT
        while (2, 1) not in progress(stopped):
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
            time.sleep(0.002)
        os.kill(worker_pids(tag, kvstore)[1], signal.SIGUSR1)
        _, err = proc.communicate(timeout=LIMIT)
    finally:
        proc.kill()     # the launcher's children follow it (parent-death signal)
    # horovodrun turns any non-zero exit of a rank into a failure of its own
    assert proc.returncode == (75 if kvstore != "horovod" else 1), err
    stops = sorted(line.split("train: stopped on ", 1)[1].split(";")[0]
                   for line in err.splitlines() if "train: stopped on " in line)
    assert len(stops) == 2, err
    where = stops[0].split(" ", 1)[1]                   # "after epoch 2 batch B of 3"
    assert stops[1].endswith(where) and where.startswith("after epoch 2 batch"), stops
    assert any(stop.startswith("SIGUSR1") for stop in stops), stops
    (event,) = [e for e in events(stopped) if e["kind"] == "stop"]
    assert where == "after epoch 2 batch %d of 3" % event["batch"]
    # launch checks its workers' command line for the kvstore; Horovod takes the saved one
    again = ["--kvstore", kvstore] if kvstore != "horovod" else []
    proc = run(job(kvstore, "train", "--resume", stopped, *again), env={TAG: tag})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert same_arrays(arrays(stopped / "checkpoints" / "epoch-0002"),
                       arrays(straight / "checkpoints" / "epoch-0002"))
    assert run_events(stopped) == run_events(straight)
