"""bench prepare: the ImageNet-like folder it makes, and both tools run side by side on it."""
import os

import numpy as np
import pytest

from cli import one_line_error, run_cli
from gluon_tricks.atomic import MARK
from gluon_tricks.bench import packing as bench
from gluon_tricks.datasets import pack
from gluon_tricks.errors import UsageError


def test_imagenet_like_sizes_are_mostly_300_to_500_with_one_in_seven_large():
    rng = np.random.default_rng(0)
    sizes = [bench.imagenet_like_size(rng) for _ in range(7000)]
    large = [size for size in sizes if max(size) >= 1000]
    assert 0.12 < len(large) / len(sizes) < 0.17
    assert all(max(size) <= 2500 for size in large)
    small = [size for size in sizes if max(size) < 1000]
    assert all(300 <= min(size) and max(size) <= 500 for size in small)
    assert 0.2 < np.mean([size[0] > size[1] for size in sizes]) < 0.4   # some portraits


def test_make_imagenet_like_writes_jpegs_and_never_overwrites(tmp_path):
    folder = str(tmp_path / "inet")
    sizes = bench.make_imagenet_like(folder, 12, classes=3, threads=2)
    classes, items, skipped = pack.list_class_folder(folder)
    assert classes == ["c00", "c01", "c02"] and len(items) == 12 and not skipped
    assert not [name for name in os.listdir(tmp_path) if MARK in name]
    with pytest.raises(UsageError, match="already exists"):
        bench.make_imagenet_like(folder, 12)
    assert len(sizes) == 12


def test_bench_prepare_runs_both_tools_and_check_rec(tmp_path):
    folder = tmp_path / "inet"
    proc = run_cli("bench", "prepare", folder, "--make", 20, "--repeats", 1, "--threads", 1,
                   "--resize", 64)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = [line for line in proc.stdout.splitlines() if line.startswith("| ") and "records" not in line]
    assert [row.split("|")[1].split()[0] for row in rows] == ["gluon-tricks", "MXNet", "gluon-tricks"]
    assert all(row.split("|")[2].strip() == "20" for row in rows)   # every tool saw all 20 images
    assert "round 1/1" in proc.stderr
    line = one_line_error(run_cli("bench", "prepare", tmp_path / "missing"))
    assert "missing is not a folder" in line and "--make" in line
