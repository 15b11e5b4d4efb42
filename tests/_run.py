"""Test helper: a tiny finished training run (resnet18_v1b at 32 px) made with the real CLI."""
from cli import run_cli

TINY_RUN = ("--model", "resnet18_v1b", "--input-size", "32", "--batch-size", "4", "--threads", "1",
            "--batches-per-epoch", "5", "--log-interval", "2", "--num-epochs", "3",
            "--save-frequency", "1", "--lr-mode", "cosine", "--warmup-epochs", "1")


def train_tiny_run(data_dir, run_dir):
    """Train 3 epochs of 5 updates on ``data_dir`` into ``run_dir``; returns ``run_dir``."""
    proc = run_cli("train", "--data-dir", data_dir, "--save-dir", run_dir, *TINY_RUN)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return run_dir
