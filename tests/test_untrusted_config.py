"""A config file from someone else carries what a run computes, never what it does to this
machine; it cannot take the machine's memory or stack; numbers that are not finite are refused.
(README, "Files from someone else".)"""
import dataclasses
import json
import math
import shutil

import pytest

from cli import import_peak_mb, one_line_error, run_cli, run_cli_peak
from gluon_tricks.config import TrainConfig, build
from gluon_tricks.errors import UsageError, shown
from gluon_tricks.options import options_of

# What a test may add to the peak memory of a process that only imports the CLI.
MEMORY_MARGIN_MB = 300
# A short run from tiny_run's config.json (3 epochs, 1 of warmup)
ONE_EPOCH = ("--num-epochs", "1", "--warmup-epochs", "0", "--batches-per-epoch", "2")


def test_a_colleagues_config_neither_replaces_a_run_nor_appends_to_a_file(tiny_demo, tiny_run,
                                                                          tmp_path):
    """Their config.json names a save_dir that holds a run here, with overwrite true, and a log
    file by absolute path: the new run goes to the default folder and says what it ignored."""
    mine = tmp_path / "my-run"
    shutil.copytree(tiny_run, mine)
    before = {p.relative_to(mine): p.read_bytes() for p in mine.rglob("*") if p.is_file()}
    victim = tmp_path / "notes.txt"
    victim.write_text("my notes\n")
    colleague = json.loads((tiny_run / "config.json").read_text())
    colleague.update(save_dir=str(mine), overwrite=True, logging_file=str(victim))
    (tmp_path / "config.json").write_text(json.dumps(colleague))
    proc = run_cli("train", "--config", tmp_path / "config.json", "--data-dir", tiny_demo,
                   *ONE_EPOCH, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert {p.relative_to(mine): p.read_bytes() for p in mine.rglob("*") if p.is_file()} == before
    assert victim.read_text() == "my notes\n"
    assert (tmp_path / "runs" / "train" / "config.json").is_file()
    note = [line for line in proc.stderr.splitlines() if "ignored" in line]
    assert len(note) == 1 and all(k in note[0] for k in ("save_dir", "logging_file", "overwrite"))
    saved = json.loads((tmp_path / "runs" / "train" / "config.json").read_text())
    assert "overwrite" not in saved and saved["logging_file"] == "train.log"


def test_the_documented_workflow_takes_the_new_folder_without_a_note(tiny_demo, tiny_run,
                                                                    tmp_path):
    """``--config RUN/config.json --pretrained RUN --save-dir NEW`` (what a diverged run's
    message suggests) trains in NEW, and nothing the flags set is reported ignored."""
    proc = run_cli("train", "--config", tiny_run / "config.json", "--pretrained", tiny_run,
                   "--data-dir", tiny_demo, "--save-dir", tmp_path / "new", *ONE_EPOCH)
    assert proc.returncode == 0, proc.stderr
    saved = json.loads((tmp_path / "new" / "config.json").read_text())
    assert saved["save_dir"] == str(tmp_path / "new") and saved["pretrained"] == str(tiny_run)
    assert "ignored" not in proc.stderr


def test_resume_in_a_config_file_continues_nothing(tiny_run, tmp_path):
    config = dict(json.loads((tiny_run / "config.json").read_text()), resume=str(tiny_run))
    (tmp_path / "settings.json").write_text(json.dumps(config))
    proc = run_cli("train", "--print-config", "--config", tmp_path / "settings.json")
    assert proc.returncode == 0, proc.stderr
    cfg = json.loads(proc.stdout)
    assert cfg["resume"] is None and cfg["save_dir"] == "runs/train"
    assert "resume" in proc.stderr and "ignored" in proc.stderr


def test_overwrite_is_never_recorded(tmp_path):
    proc = run_cli("train", "--print-config", "--overwrite", "--data-backend", "synthetic")
    assert proc.returncode == 0, proc.stderr
    assert "overwrite" not in json.loads(proc.stdout)
    assert "overwrite" not in TrainConfig(overwrite=True).to_dict()


def yaml_alias_bomb(levels=8):
    """A few hundred bytes of YAML: ``lr`` (a known key, of the wrong type) is a list whose last
    item holds 9**(levels - 1) lists of 9 strings through aliases."""
    items = ['&l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    items += ["&l%d [%s]" % (i, ", ".join(["*l%d" % (i - 1)] * 9)) for i in range(1, levels)]
    return "lr: [%s]\n" % ", ".join(items)


def test_a_yaml_alias_bomb_is_one_line_in_little_memory(tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text(yaml_alias_bomb())
    assert path.stat().st_size < 500
    proc, peak = run_cli_peak("train", "--print-config", "--config", path)
    line = one_line_error(proc)
    assert "alias" in line and len(line) < 400
    assert peak < import_peak_mb() + MEMORY_MARGIN_MB


@pytest.mark.parametrize("name, text", [
    ("deep.json", '{"lr": ' + "[" * 200000 + "]" * 200000 + "}"),
    ("deep.yaml", "lr: " + "[" * 200000 + "]" * 200000 + "\n"),
    ("deep-block.yaml", "".join("%s- \n" % (" " * 2 * i) for i in range(600)))])
def test_deep_nesting_is_one_line_without_recursing(tmp_path, name, text):
    (tmp_path / name).write_text(text)
    proc, peak = run_cli_peak("train", "--print-config", "--config", tmp_path / name)
    line = one_line_error(proc)
    assert "nests" in line and "Traceback" not in proc.stderr
    assert peak < import_peak_mb() + MEMORY_MARGIN_MB


def test_a_binary_or_huge_config_file_is_one_line(tmp_path):
    (tmp_path / "weights.json").write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff\xfe" * 10)
    line = one_line_error(run_cli("train", "--print-config", "--config", tmp_path / "weights.json"))
    assert "not a text file" in line
    (tmp_path / "big.json").write_text('{"model": "' + "x" * (2 << 20) + '"}')
    line = one_line_error(run_cli("train", "--print-config", "--config", tmp_path / "big.json"))
    assert "over 1 MB" in line


def test_a_long_value_is_quoted_short(tmp_path):
    (tmp_path / "long.json").write_text(json.dumps({"model": "resnet" + "x" * 100000}))
    line = one_line_error(run_cli("train", "--print-config", "--config", tmp_path / "long.json"))
    assert "unknown model" in line and "100,006 characters" in line and len(line) < 1000
    assert len(shown(list(range(10 ** 6)))) <= 203 and len(shown("y" * 10 ** 6, quoted=True)) < 240


def test_the_parsers_own_messages_are_short_and_escaped():
    """argparse repeats unknown arguments as they are: a terminal escape or a megabyte of them
    stays one short, harmless line."""
    line = one_line_error(run_cli("train", "--print-config", "\x1b[2J" + "x" * 100000))
    assert "unrecognized arguments: \\x1b[2Jxxx" in line and "\x1b" not in line
    assert len(line) < 2200
    line = one_line_error(run_cli("check-rec", "x.rec", "--max-image-pixels", "\x1b[2J"))
    assert "--max-image-pixels: takes a whole number ≥ 1, got '\\x1b[2J'" in line


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_a_float_flag_that_is_not_finite_is_one_line(value):
    line = one_line_error(run_cli("train", "--print-config", "--data-backend", "synthetic",
                                  "--lr=" + value))
    assert "argument --lr: takes a finite number, got %s" % value in line


def test_every_float_option_refuses_non_finite_values_from_a_config_file(tmp_path):
    """Config values bypass the parser: options.check refuses them for every float field."""
    floats = [f.name for f, _ in options_of(TrainConfig)
              if f.type is float or float in getattr(f.type, "__args__", ())]
    assert {"lr", "wd", "momentum", "lr_per_256", "label_smoothing", "mixup_alpha",
            "temperature", "hard_weight", "lr_mult_body", "lr_decay"} <= set(floats)
    for name in floats:
        for value in (math.nan, math.inf):
            with pytest.raises(UsageError, match="must be a finite number"):
                build({name: value, "data_backend": "synthetic"})
    (tmp_path / "nan.json").write_text('{"momentum": NaN}')
    line = one_line_error(run_cli("train", "--print-config", "--config", tmp_path / "nan.json"))
    assert "--momentum must be a finite number, got nan" in line


def test_an_integer_past_32_bits_from_a_config_file_is_one_line(tmp_path):
    """Config values bypass the parser's bounded ints: options.check refuses them."""
    (tmp_path / "big.json").write_text('{"batch_size": %d}' % 10 ** 20)
    line = one_line_error(run_cli("train", "--print-config", "--config", tmp_path / "big.json"))
    assert "--batch-size must be below 2^31 (MXNet counts in 32-bit integers), got 1000" in line


def test_the_note_names_a_limit_a_config_file_tried_to_raise(tiny_demo, tmp_path):
    """The file's limit is ignored with a note; a typed --max-image-pixels is the limit, without
    one."""
    config = {f.name: f.default for f in dataclasses.fields(TrainConfig)
              if f.name in ("model", "max_image_pixels")}
    config["max_image_pixels"] = 10 ** 12
    (tmp_path / "c.json").write_text(json.dumps(config))
    proc = run_cli("train", "--print-config", "--config", tmp_path / "c.json")
    assert proc.returncode == 0, proc.stderr
    assert "max_image_pixels 1000000000000 ignored" in proc.stderr
    proc = run_cli("train", "--config", tmp_path / "c.json", "--data-dir", tiny_demo,
                   "--max-image-pixels", "1000", "--save-dir", tmp_path / "run")
    assert "more than --max-image-pixels 1,000" in one_line_error(proc)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("args, needle", [
    (("--batch-size=99999999999999999999",), "argument --batch-size: takes a number below 2^31"),
    (("--seed=99999999999999999999",), "argument --seed: takes a number below 2^31"),
    (("--seed=-1",), "--seed must be ≥ 0"),
    (("--num-gpus=2147483647",), "--num-gpus must be between 0 and 1024"),
    (("--cpus=5000",), "--cpus must be between 1 and 1024"),
    (("--input-size=99999",), "32 images of 99999×99999 pixels are over 2^31 numbers"),
    (("--lr-per-256=1e308", "--batch-size=1024"), "gives an lr of inf"),
    (("--mixup", "--mixup-off-epoch=200"), "--mixup-off-epoch 200 leaves no epoch of the 120"),
])
def test_numbers_no_run_can_use_are_one_line(args, needle):
    """Found by the sweep of wrong invocations: each printed a traceback, hung (building a list
    of 10^20 GPU ids) or was silently accepted."""
    proc = run_cli("train", "--print-config", "--data-backend", "synthetic", *args)
    assert needle in one_line_error(proc)
