"""``gluon-tricks figures``: valid PNGs, Table 5 values, Fig. 4b from two tiny trained checkpoints."""
import os

import pytest
from PIL import Image

from cli import one_line_error, run_cli
from gluon_tricks.commands import figures
from gluon_tricks.datasets.demo import make_demo_data

STATIC = ("fig3a_lr_schedules.png", "fig4a_logit_gap.png", "table5.png")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("figures-demo"))
    make_demo_data(out, train_per_class=2, val_per_class=1, threads=2, progress=False)
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory, data_dir):
    """Two 2-step runs of `gluon-tricks train` at 32 px: with label smoothing (A) and one-hot (B)."""
    root = tmp_path_factory.mktemp("figures-runs")
    dirs = {}
    for which, extra in (("a", ["--label-smoothing"]), ("b", [])):
        dirs[which] = root / which
        proc = run_cli("train", "--model", "mobilenet0.25", "--data-dir", data_dir,
                       "--input-size", 32, "--batch-size", 8, "--num-epochs", 1,
                       "--batches-per-epoch", 2, "--save-dir", dirs[which], *extra)
        assert proc.returncode == 0, proc.stderr[-3000:]
    return dirs


def assert_png(path):
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        assert image.format == "PNG" and min(image.size) > 200


def test_figures_with_two_checkpoints(tmp_path, runs, data_dir):
    out = tmp_path / "figs"
    checkpoint_b = runs["b"] / "checkpoints" / "epoch-0001"
    proc = run_cli("figures", out, "--checkpoint-a", runs["a"], "--checkpoint-b", checkpoint_b,
                   "--rec", os.path.join(data_dir, "val.rec"), "--batch-size", 4)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for name in STATIC + ("fig4b_logit_gaps.png",):
        assert_png(out / name)
        assert str(out / name) in proc.stdout
    assert "skipped" not in proc.stdout

    table = (out / "table5.md").read_text()
    for row in ("| ResNet-50 (resnet50_v1) | 25.58 | 3.86 | 25 M | 3.8 G | 76.21 | 92.97 |",
                "| ResNet-50-B (resnet50_v1b) | 25.56 | 4.09 | 25 M | 4.1 G | 76.66 | 93.28 |",
                "| ResNet-50-C (resnet50_v1c) | 25.58 | 4.33 | 25 M | 4.3 G | 76.87 | 93.48 |",
                "| ResNet-50-D (resnet50_v1d) | 25.58 | 4.33 | 25 M | 4.3 G | 77.16 | 93.52 |"):
        assert row in table


def test_checkpoint_labels_come_from_their_config(runs):
    labels = []
    for which in ("a", "b"):
        params, config, model = figures.load_checkpoint(str(runs[which]), None, "--checkpoint-a")
        assert model == "mobilenet0.25" and params.endswith("model.params")
        labels.append(figures.smoothing_label(config, "?"))
    assert labels == ["label smoothing ε=0.1", "one-hot"]
    assert figures.smoothing_label({}, "zoo file") == "zoo file"


def test_without_checkpoints_fig4b_is_skipped(tmp_path):
    proc = run_cli("figures", tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for name in STATIC:
        assert_png(tmp_path / name)
    assert not (tmp_path / "fig4b_logit_gaps.png").exists()
    assert "skipped fig4b_logit_gaps.png" in proc.stdout


def test_one_checkpoint_is_one_line_error(tmp_path, runs):
    line = one_line_error(run_cli("figures", tmp_path, "--checkpoint-a", runs["a"]))
    assert "--checkpoint-b" in line
