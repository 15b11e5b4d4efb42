"""The ``detect``/``segment`` settings declared with option(), as ``train``'s: --print-config
prints them, --config reads them back (a round trip), each option's bounds are checked with one
line, and --resume DIR takes a run's saved settings."""
import json

import pytest

from gluon_tricks.cli import main
from gluon_tricks.transfer.config import DetectConfig, SegmentConfig

REQUIRED = ["--data-root", "/data/set", "--backbone-params", "/weights/r50.params"]
FLAGS = {
    "detect": ["--backbone", "resnet50_v1b", "--num-epochs", "3", "--lr", "0.002",
               "--lr-decay-epoch", "2,1", "--lr-warmup", "7", "--short", "320", "--max-size",
               "480", "--train-splits", "2007-trainval", "-j", "0", "--seed", "5",
               "--keep-last", "3", "--cpus", "2"],
    "segment": ["--batch-size", "4", "--crop-size", "96", "--base-size", "120", "--no-aux",
                "--multi-scale", "--wd", "0.001", "--log-interval", "3", "--tensorboard"],
}


def _print_config(capsys, *argv):
    capsys.readouterr()
    assert main([str(a) for a in argv]) == 0
    return json.loads(capsys.readouterr().out)


def _error(capsys, *argv):
    capsys.readouterr()
    assert main([str(a) for a in argv]) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    return lines[0]


@pytest.mark.parametrize("command", list(FLAGS))
def test_print_config_round_trips_through_config(tmp_path, capsys, command):
    printed = _print_config(capsys, command, *REQUIRED, *FLAGS[command], "--print-config")
    path = tmp_path / "settings.json"
    path.write_text(json.dumps(printed))
    again = _print_config(capsys, command, "--config", path, "--print-config")
    assert again == printed
    assert _print_config(capsys, command, "--config", path, "--seed", "9",
                         "--print-config") == dict(printed, seed=9)


def test_print_config_holds_every_declared_value(capsys):
    detect = _print_config(capsys, "detect", *REQUIRED, *FLAGS["detect"], "--print-config")
    assert (detect["lr_decay_epochs"], detect["lr_warmup"], detect["short"], detect["max_size"],
            detect["num_workers"], detect["keep_last"], detect["devices"]) == \
        ([1, 2], 7, 320, 480, 0, 3, "cpu:2")
    assert detect["data_root"] == "/data/set" and detect["num_epochs"] == 3
    segment = _print_config(capsys, "segment", *REQUIRED, *FLAGS["segment"], "--print-config")
    assert (segment["aux"], segment["multi_scale"], segment["crop_size"],
            segment["tensorboard"], segment["save_dir"]) == (False, True, 96, True, "runs/segment")
    defaults = _print_config(capsys, "detect", *REQUIRED, "--print-config")
    assert defaults == dict(DetectConfig(data_root="/data/set",
                                         backbone_params="/weights/r50.params").to_dict())
    assert SegmentConfig().num_epochs == 50 and DetectConfig().num_epochs == 20


@pytest.mark.parametrize("argv, words", [
    (["detect", "--short", "16"], "--short must be ≥ 32, got 16"),
    (["detect", "--short", "600", "--max-size", "500"], "--max-size (500) must be at least --short"),
    (["detect", "--lr", "0"], "--lr must be > 0"),
    (["detect", "--lr-warmup", "-1"], "--lr-warmup must be ≥ 0"),
    (["detect", "--lr-decay-epoch", "0,3"], "--lr-decay-epoch takes positive epoch numbers"),
    (["detect", "--train-splits", "trainval"], "--train-splits takes YEAR-SPLIT items"),
    (["segment", "--batch-size", "0"], "--batch-size must be ≥ 1"),
    (["segment", "--crop-size", "96", "--base-size", "40"], "--base-size (40) must be at least"),
    (["segment", "-j", "5000"], "-j must be at most 1024, got 5000"),
    (["segment", "--num-epochs", "0"], "--num-epochs must be > 0"),
])
def test_bounds_come_from_the_declarations(capsys, argv, words):
    assert words in _error(capsys, *argv, *REQUIRED, "--print-config")


def test_missing_required_settings_and_unknown_config_keys(tmp_path, capsys):
    line = _error(capsys, "segment", "--data-root", tmp_path, "--print-config")
    assert "--backbone-params is required" in line
    path = tmp_path / "train.json"
    path.write_text(json.dumps({"model": "resnet50_v1d"}))
    line = _error(capsys, "detect", "--config", path, *REQUIRED, "--print-config")
    assert "unknown keys: model" in line and "detect --print-config" in line
