"""Soak test of crash safety (not run in CI): N tiny training runs killed with SIGKILL at random
moments, each continued with ``gluon-tricks train --resume DIR`` alone and compared bit for bit
with one uninterrupted run.

    python benchmarks/soak_resume.py --trials 20
    python benchmarks/soak_resume.py --trials 24 --within 0.003   # checkpoints within epochs

A moment is a random number of finished training steps (seen in metrics.jsonl) plus a random
extra delay, or the appearance of a checkpoint's temporary folder (a kill during the write).
With ``--within M`` the runs write checkpoints within epochs every M minutes
(``--checkpoint-minutes``): each trial also reports the age of the newest complete checkpoint at
the kill (what the kill cost) and where the resume started.
Prints one line per trial and then "N trials, R resumed, B bit-identical".
"""
import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import mxnet as mx
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from gluon_tricks import checkpoint  # noqa: E402
from gluon_tricks.atomic import MARK  # noqa: E402
EPOCHS, STEPS = 3, 4
TRAIN = ["--model", "resnet18_v1b", "--input-size", "32", "--batch-size", "4", "--threads", "1",
         "--batches-per-epoch", str(STEPS), "--log-interval", "1", "--num-epochs", str(EPOCHS),
         "--lr-decay-epoch", "2", "--label-smoothing", "--mixup", "--no-wd"]
WAIT = 600


def cli(*args, wait=True):
    inherited = os.environ.get("PYTHONPATH")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT] + ([inherited] if inherited else [])))
    command = [sys.executable, "-m", "gluon_tricks", *map(str, args)]
    if wait:
        return subprocess.run(command, capture_output=True, text=True, env=env, timeout=WAIT)
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=env)


def train_steps(run):
    """The (epoch, batch) of every progress event in the run's metrics.jsonl."""
    path = os.path.join(run, "metrics.jsonl")
    steps = []
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                if event.get("kind") == "train":
                    steps.append((event["epoch"], event["batch"]))
    return steps


def writing_checkpoint(run):
    """True while a checkpoint's staging folder (gluon_tricks.atomic) is in the run."""
    folder = os.path.join(run, "checkpoints")
    return os.path.isdir(folder) and any(MARK in n for n in os.listdir(folder))


def final_arrays(run):
    folder = os.path.join(run, "checkpoints", "epoch-%04d" % EPOCHS)
    return [{k: v.asnumpy() for k, v in mx.nd.load(os.path.join(folder, name)).items()}
            for name in ("model.params", "aux-ctx0.params")]


def same(a, b):
    return all(x.keys() == y.keys() and all(np.array_equal(x[k], y[k]) for k in x)
               for x, y in zip(a, b))


def loss_at_kill(run):
    """Seconds since the newest complete checkpoint was finished (None: none yet)."""
    newest = checkpoint.newest(os.path.join(run, "checkpoints"))
    if newest is None:
        return None
    return time.time() - os.path.getmtime(os.path.join(newest, checkpoint.META_FILE))


def resume_place(run):
    """(epoch, batch) where the last resume started (batch 0: at an epoch's start)."""
    with open(os.path.join(run, "metrics.jsonl")) as f:
        places = [(e["epoch"], e["batch"]) for e in map(json.loads, f) if e["kind"] == "resume"]
    return places[-1] if places else None


def trial(data, run, rng, train):
    """Kill one run at a random moment, resume it; returns (moment, resumed, final arrays)."""
    if rng.random() < 0.3:
        moment, happened = "during a checkpoint write", lambda: writing_checkpoint(run)
    else:
        step = rng.randrange(1, EPOCHS * STEPS)
        delay = rng.uniform(0, 0.5)
        moment = "after step %d + %.2f s" % (step, delay)
        happened = lambda: len(train_steps(run)) >= step   # noqa: E731
    proc = cli("train", "--data-dir", data, "--save-dir", run, *train, wait=False)
    deadline = time.time() + WAIT
    while not happened() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.002)
    if moment.startswith("after"):
        time.sleep(delay)
    if proc.poll() is not None:
        moment += " (run had finished)"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    age = loss_at_kill(run)
    moment += "; newest checkpoint %s" % ("none" if age is None else "%.2f s old" % age)
    resumed = cli("train", "--resume", run)
    if resumed.returncode:
        return moment, False, resumed.stderr.strip().splitlines()[-1:]
    place = resume_place(run)
    if place:
        moment += "; resumed at epoch %d batch %d" % place
    steps = train_steps(run)
    if len(steps) != len(set(steps)) or len(steps) != EPOCHS * STEPS:
        return moment, True, "metrics.jsonl has repeated or missing steps"
    return moment, True, final_arrays(run)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0, help="seed of the kill moments")
    parser.add_argument("--within", type=float, default=0, metavar="M",
                        help="--checkpoint-minutes M: checkpoints within epochs (default: none)")
    args = parser.parse_args()
    train = TRAIN + ["--checkpoint-minutes", str(args.within)]
    rng = random.Random(args.seed)
    work = tempfile.mkdtemp(prefix="soak-resume-")
    try:
        data = os.path.join(work, "data")
        made = cli("make-demo-data", data, "--classes", "3", "--train-per-class", "16",
                   "--val-per-class", "8")
        assert made.returncode == 0, made.stderr
        reference = os.path.join(work, "reference")
        done = cli("train", "--data-dir", data, "--save-dir", reference, *train)
        assert done.returncode == 0, done.stderr
        expected = final_arrays(reference)
        resumed = identical = 0
        for number in range(1, args.trials + 1):
            run = os.path.join(work, "trial-%03d" % number)
            moment, ok, result = trial(data, run, rng, train)
            match = ok and not isinstance(result, str) and same(result, expected)
            resumed += ok
            identical += match
            outcome = ("bit-identical" if match else "resumed, but %s" % result
                       if isinstance(result, str) else "resumed, parameters differ" if ok
                       else "resume failed: %s" % result)
            print("trial %d: killed %s; %s" % (number, moment, outcome), flush=True)
            shutil.rmtree(run)
        print("%d trials, %d resumed, %d bit-identical" % (args.trials, resumed, identical))
        return 0 if identical == args.trials else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
