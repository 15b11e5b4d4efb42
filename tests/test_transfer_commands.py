"""`gluon-tricks detect` and `segment` (paper §6) end to end on tiny VOC / ADE20K folders made
here, from a backbone saved here; and their one-line errors for bad data roots."""
import json
import os

import mxnet as mx
import numpy as np
import pytest
from PIL import Image

from cli import events, kill_when, one_line_error, run_cli, start_cli
from gluon_tricks.cli import main
from transfer_data import make_ade, make_voc, save_backbone


@pytest.fixture(scope="module")
def backbone_file(tmp_path_factory):
    return save_backbone(str(tmp_path_factory.mktemp("backbone") / "resnet18_v1d.params"))


def _events(run_dir, kind):
    return [e for e in events(run_dir) if e["kind"] == kind]


def test_detect_trains_on_a_tiny_voc_folder(tmp_path, backbone_file):
    """Two CPU contexts: one image per device and update, as GluonCV's VOC runs on GPUs."""
    root = make_voc(str(tmp_path / "VOCdevkit"))
    run_dir = tmp_path / "run"
    proc = run_cli("detect", "--data-root", root, "--backbone", "resnet18_v1d",
                   "--backbone-params", backbone_file, "--num-epochs", 1,
                   "--batches-per-epoch", 2, "--short", 96, "--max-size", 128, "-j", 0,
                   "--cpus", 2, "--log-interval", 1, "--save-dir", run_dir)
    assert proc.returncode == 0, proc.stderr
    print(proc.stdout)
    assert "classifier ignored: fc.bias, fc.weight" in proc.stdout
    assert "epoch 1/1 | batch 2/2" in proc.stdout and "img/s" in proc.stdout
    assert "mAP" in proc.stdout.splitlines()[-1]
    (ev,) = _events(run_dir, "eval")
    assert 0 <= ev["mAP"] <= 1 and set(ev["AP"]) >= {"cat", "dog"}
    config = json.loads((run_dir / "config.json").read_text())
    assert config["train_splits"] == "2007-trainval,2012-trainval" and config["lr_warmup"] == 500
    assert (run_dir / "checkpoints" / "best" / "model.params").is_file()
    assert (run_dir / "plots" / "scores.png").is_file()
    report = (run_dir / "report.md").read_text()
    assert "| cat |" in report and "| dog |" in report and "n/a (no objects)" in report


def test_segment_trains_resumes_and_never_overwrites(tmp_path, backbone_file):
    root = make_ade(str(tmp_path / "ade"))
    run_dir = tmp_path / "run"
    args = ["segment", "--data-root", root, "--backbone", "resnet18_v1d", "--backbone-params",
            backbone_file, "--base-size", 64, "--crop-size", 48, "--batch-size", 2, "-j", 0,
            "--save-dir", run_dir, "--log-interval", 1]
    proc = run_cli(*args, "--num-epochs", 1)
    assert proc.returncode == 0, proc.stderr
    print(proc.stdout)
    (ev,) = _events(run_dir, "eval")
    assert 0 <= ev["pixAcc"] <= 1 and 0 <= ev["mIoU"] <= 1
    assert "pixAcc" in proc.stdout.splitlines()[-1]

    line = one_line_error(run_cli(*args, "--num-epochs", 1))
    assert "already holds a run" in line and "--resume %s" % run_dir in line
    line = one_line_error(run_cli("segment", "--resume", run_dir, "--num-epochs", 2))
    assert "num_epochs (checkpoint: 1, now: 2)" in line and "poly schedule" in line
    line = one_line_error(run_cli("segment", "--resume", run_dir, "--crop-size", 56))
    assert "crop_size (checkpoint: 48, now: 56)" in line
    proc = run_cli("segment", "--resume", run_dir)     # nothing left to train
    assert proc.returncode == 0, proc.stderr
    assert "resumed from %s" % (run_dir / "checkpoints" / "epoch-0001") in proc.stdout
    assert [e["epoch"] for e in _events(run_dir, "eval")] == [1]
    assert sorted(os.listdir(run_dir / "checkpoints")) == ["best", "epoch-0001", "latest"]
    proc = run_cli(*args, "--num-epochs", 2, "--overwrite")
    assert proc.returncode == 0, proc.stderr
    assert [e["epoch"] for e in _events(run_dir, "eval")] == [1, 2]
    assert sorted(os.listdir(run_dir / "checkpoints")) == ["best", "epoch-0002", "latest"]


def test_segment_multi_scale_evaluation(tmp_path, backbone_file):
    root = make_ade(str(tmp_path / "ade"), train=2, val=2)
    proc = run_cli("segment", "--data-root", root, "--backbone", "resnet18_v1d",
                   "--backbone-params", backbone_file, "--base-size", 64, "--crop-size", 48,
                   "--batch-size", 2, "-j", 0, "--num-epochs", 1, "--multi-scale", "--cpus", 2,
                   "--save-dir", tmp_path / "run")
    assert proc.returncode == 0, proc.stderr
    assert "multi-scale" in (tmp_path / "run" / "report.md").read_text()


# Segment on two devices (each device's own optimizer state and BN statistics); detect on one,
# to keep Faster R-CNN's CPU time down.
TASK_DATA = {
    "detect": lambda tmp: ["--data-root", make_voc(str(tmp / "VOCdevkit")), "--short", 64,
                           "--max-size", 96, "--batches-per-epoch", 2],
    "segment": lambda tmp: ["--data-root", make_ade(str(tmp / "ade")), "--base-size", 64,
                            "--crop-size", 48, "--batch-size", 2, "--cpus", 2],
}


def _arrays(checkpoint_dir):
    """Every array of a checkpoint (weights, each device's BN statistics and optimizer state)."""
    return {(name, key): value.asnumpy() for name in sorted(os.listdir(checkpoint_dir))
            if name.endswith(".params")
            for key, value in mx.nd.load(str(checkpoint_dir / name)).items()}


def _scores(run_dir):
    """The evaluations of a run as JSON text, without their times (NaN for a class no image has)."""
    return json.dumps([{k: v for k, v in e.items() if k != "time"} for e in _events(run_dir, "eval")])


def _train_lines(run_dir):
    """The progress events of a run without their times and speeds."""
    return [{k: v for k, v in e.items() if k not in ("time", "img_per_sec", "data_share")}
            for e in _events(run_dir, "train")]


@pytest.mark.parametrize("command", list(TASK_DATA))
def test_kill_9_then_resume_dir_alone_is_bit_identical(tmp_path, backbone_file, command):
    """Two epochs with -j 0, straight vs. killed after the first update of epoch 2 and resumed
    with ``--resume DIR`` alone: the same weights, BatchNorm statistics and optimizer state of
    every device, the same scores, and metrics.jsonl cut back to the checkpoint, so every
    progress line appears once and equals the straight run's."""
    args = [command, "--backbone", "resnet18_v1d", "--backbone-params", backbone_file, "-j", 0,
            "--num-epochs", 2, "--log-interval", 1] + TASK_DATA[command](tmp_path)
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    proc = run_cli(*args, "--save-dir", straight)
    assert proc.returncode == 0, proc.stderr
    kill_when(start_cli(*args, "--save-dir", resumed),
              lambda: any(e["kind"] == "train" and e["epoch"] == 2 for e in events(resumed)))
    proc = run_cli(command, "--resume", resumed)
    assert proc.returncode == 0, proc.stderr
    assert "resumed from %s" % (resumed / "checkpoints" / "epoch-0001") in proc.stdout
    expected = _arrays(straight / "checkpoints" / "epoch-0002")
    got = _arrays(resumed / "checkpoints" / "epoch-0002")
    assert sorted(got) == sorted(expected)
    assert any(name.startswith("optimizer-ctx") for name, _ in got)
    assert [key for key in expected if not np.array_equal(expected[key], got[key])] == []
    assert _scores(resumed) == _scores(straight)
    assert _train_lines(resumed) == _train_lines(straight)
    steps = [(e["epoch"], e["batch"]) for e in _events(resumed, "train")]
    assert len(steps) == len(set(steps)) == 4


def _fails(capsys, *argv):
    """Run the CLI in this process (no MXNet start-up per case); the one stderr line of a
    UsageError exit (code 2)."""
    assert main([str(a) for a in argv]) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    return lines[0]


def test_detect_bad_roots_get_one_line(tmp_path, capsys):
    root = make_voc(str(tmp_path / "VOCdevkit"), splits=(("2007", "trainval", 1),
                                                         ("2012", "trainval", 1)))
    args = ("detect", "--data-root", root, "--backbone-params", tmp_path / "none.params",
            "--save-dir", tmp_path / "run")
    line = _fails(capsys, *args)
    assert os.path.join("VOC2007", "ImageSets", "Main", "test.txt") in line
    make_voc(root, splits=(("2007", "test", 1),), seed=1)
    os.remove(os.path.join(root, "VOC2012", "Annotations", "2012_000002.xml"))
    assert "2012_000002.xml not found" in _fails(capsys, *args)
    assert not (tmp_path / "run").exists()


def test_segment_bad_roots_get_one_line(tmp_path, capsys):
    line = _fails(capsys, "segment", "--data-root", tmp_path, "--backbone-params", "x")
    assert "not an ADEChallengeData2016 folder" in line
    root = make_ade(str(tmp_path / "ade"), train=1, val=1)
    label = os.path.join(root, "annotations", "validation", "ADE_val_00000001.png")
    Image.new("L", (10, 10)).save(label)
    line = _fails(capsys, "segment", "--data-root", root, "--backbone-params", "x")
    assert "ADE_val_00000001.png is 10×10" in line and "must match" in line
    os.remove(label)
    line = _fails(capsys, "segment", "--data-root", root, "--backbone-params", "x")
    assert "ADE_val_00000001.png not found" in line


def test_wrong_backbone_file_gets_one_line(tmp_path, backbone_file):
    """Through a subprocess, as a user sees it: no traceback, one line naming the file."""
    root = make_ade(str(tmp_path / "ade"), train=1, val=1)
    line = one_line_error(run_cli("segment", "--data-root", root, "--backbone", "resnet50_v1d",
                                  "--backbone-params", backbone_file, "--save-dir", tmp_path / "r"))
    assert "resnet18_v1d.params lacks" in line and "resnet50_v1d" in line


@pytest.mark.parametrize("command", ["detect", "segment"])
def test_options_are_never_abbreviated(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--data-root", "x", "--backbone-params", "y", "--num-epoch", "1"])
    assert exit_info.value.code == 2
    assert "unrecognized arguments: --num-epoch 1" in capsys.readouterr().err
