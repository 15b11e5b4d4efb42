"""train --config FILE: what --print-config printed, read back; flags win; derived values are
computed again; unknown keys and wrong types are one line."""
import json

import pytest

from cli import one_line_error, run_cli

EFFICIENT = ("--model", "resnet50_v1d", "--gpus", "0,1,2,3", "--batch-size", "64",
             "--lr-per-256", "0.1", "--lr-mode", "cosine", "--warmup-epochs", "5", "--no-wd",
             "--last-gamma", "--label-smoothing", "--mixup", "--num-epochs", "200")


def print_config(*args):
    proc = run_cli("train", "--print-config", *args)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.fixture
def saved(tmp_path):
    path = tmp_path / "efficient.json"
    path.write_text(print_config(*EFFICIENT, "--data-dir", tmp_path / "data"))
    return path


def test_print_config_output_reads_back_to_the_same_config(saved):
    assert print_config("--config", saved) == saved.read_text()


def test_a_recipe_with_accumulation_reads_back_to_the_same_config(tmp_path):
    path = tmp_path / "recipe.json"
    path.write_text(print_config("--recipe", "table6/resnet50d-mixup", "--cpus", "1",
                                 "--max-device-batch", "128"))
    assert print_config("--config", path) == path.read_text()


def test_flags_win_and_derived_values_are_computed_again(saved, tmp_path):
    cfg = json.loads(print_config("--config", saved, "--batch-size", "32", "--cpus", "2",
                                  "--data-dir", tmp_path / "other", "--model", "inceptionv3"))
    assert cfg["devices"] == "cpu:2" and cfg["num_devices"] == 2
    assert cfg["total_batch_size"] == 64 and cfg["lr"] == pytest.approx(0.1 * 64 / 256)
    assert cfg["rec_train"] == str(tmp_path / "other" / "train.rec")
    assert cfg["rec_val_idx"] == str(tmp_path / "other" / "val.idx")
    assert cfg["input_size"] == 299
    assert (cfg["lr_mode"], cfg["mixup_alpha"], cfg["num_epochs"]) == ("cosine", 0.2, 200)


def test_a_stale_derived_value_in_the_file_is_not_trusted(saved):
    values = json.loads(saved.read_text())
    values.update(total_batch_size=7, num_devices=9, lr=123.0)
    saved.write_text(json.dumps(values))
    cfg = json.loads(print_config("--config", saved))
    assert (cfg["total_batch_size"], cfg["num_devices"]) == (256, 4)
    assert cfg["lr"] == pytest.approx(0.1)


def test_a_given_lr_replaces_the_files_linear_scaling(saved):
    cfg = json.loads(print_config("--config", saved, "--lr", "0.05"))
    assert cfg["lr"] == 0.05 and cfg["lr_per_256"] is None


def test_yaml_reads_too(saved, tmp_path):
    import yaml
    path = tmp_path / "efficient.yaml"
    path.write_text(yaml.safe_dump(json.loads(saved.read_text())))
    assert print_config("--config", path) == saved.read_text()


def test_unknown_keys_and_wrong_types_are_one_line(saved, tmp_path):
    values = json.loads(saved.read_text())
    saved.write_text(json.dumps(dict(values, lr_sheduler="cos", warmup=3)))
    line = one_line_error(run_cli("train", "--print-config", "--config", saved))
    assert "has unknown keys: lr_sheduler, warmup;" in line
    saved.write_text(json.dumps(dict(values, batch_size="64")))
    line = one_line_error(run_cli("train", "--print-config", "--config", saved))
    assert "batch_size is '64', which is not an integer" in line
    (tmp_path / "bad.json").write_text("{model: resnet50_v1d")
    line = one_line_error(run_cli("train", "--print-config", "--config", tmp_path / "bad.json"))
    assert "is not valid JSON" in line
    line = one_line_error(run_cli("train", "--print-config", "--config", tmp_path / "none.json"))
    assert "cannot read --config" in line and "none.json" in line
    saved.write_text(json.dumps(dict(values, num_epochs=-1)))
    line = one_line_error(run_cli("train", "--print-config", "--config", saved))
    assert "--num-epochs must be > 0" in line
