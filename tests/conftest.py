"""Test set-up: the suite's own process state (tests/baseline.py), a fresh working folder for
every test, and the shared tiny data sets."""
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(__file__))

import pytest  # noqa: E402

import baseline  # noqa: E402

SUITE_HOME = baseline.apply()


def pytest_unconfigure(config):
    shutil.rmtree(SUITE_HOME, ignore_errors=True)


@pytest.fixture(scope="session", autouse=True)
def suite_working_folder():
    """Session fixtures run in the suite's own HOME folder, never in the one pytest was started
    from."""
    os.chdir(SUITE_HOME)


@pytest.fixture(autouse=True)
def own_working_folder(tmp_path, monkeypatch):
    """Each test runs in an empty folder of its own: nothing may depend on, or write into, the
    folder pytest was started from."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="session")
def tiny_demo(tmp_path_factory):
    """A 3-class demo set small enough for a few training steps at 32 px."""
    from gluon_tricks.datasets.demo import make_demo_data
    out = tmp_path_factory.mktemp("tiny-demo")
    make_demo_data(str(out), classes=3, train_per_class=16, val_per_class=8)
    return out


TINY_RUN = ("--model", "resnet18_v1b", "--input-size", "32", "--batch-size", "4", "--threads", "1",
            "--batches-per-epoch", "5", "--log-interval", "2", "--num-epochs", "3",
            "--save-frequency", "1", "--lr-mode", "cosine", "--warmup-epochs", "1")


@pytest.fixture(scope="session")
def tiny_run(tiny_demo, tmp_path_factory):
    """A finished run folder: resnet18_v1b at 32 px trained by the real CLI on ``tiny_demo``,
    3 epochs of 5 updates (1 warmup epoch, cosine), a checkpoint every epoch. Read it only."""
    from cli import run_cli
    run_dir = tmp_path_factory.mktemp("tiny-run") / "run"
    proc = run_cli("train", "--data-dir", tiny_demo, "--save-dir", run_dir, *TINY_RUN)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return run_dir
