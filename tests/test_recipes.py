"""The recipes/ scripts: one per paper table row, each resolving to the paper's settings.

The expectations below are written from the paper (and /work/shared/REFERENCE.md), not read from
the scripts: a recipe that drifts from its table row fails here.
"""
import contextlib
import io
import json
import os
import stat
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from cli import run

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECIPES = os.path.join(ROOT, "recipes")
RECIPE_ENV = ("DATA_DIR", "GPUS", "SAVE_DIR", "TEACHER_PARAMS", "GLUON_TRICKS")
PAPER_GPUS = "gpu:0,1,2,3,4,5,6,7"

# --------------------------------------------------------------------------------------------
# The paper's rows: script → (paper top-1, top-5, settings that differ from the row's base).
# --------------------------------------------------------------------------------------------

# §2.1 baseline: total batch 256, lr 0.1, step ÷10 at 30/60/90, 120 epochs, FP32, no warmup.
BASELINE = dict(total_batch_size=256, lr=0.1, lr_mode="step", lr_decay_epochs=[30, 60, 90],
                warmup_epochs=0, num_epochs=120, dtype="float32", last_gamma=False, no_wd=False,
                label_smoothing=0.0, mixup_alpha=0.0, teacher=None)
# §3 efficient: batch 1024, lr 0.4, FP16, 5 warmup epochs, zero γ, no bias decay.
EFFICIENT = dict(BASELINE, total_batch_size=1024, lr=0.4, warmup_epochs=5, dtype="float16",
                 last_gamma=True, no_wd=True)
# Shared by every row (§2.1; wd 1e-4 is GluonCV's default), with no environment set.
COMMON = dict(init="xavier", aug="paper", optimizer="nag", momentum=0.9, wd=1e-4, lr_decay=0.1,
              smoothing_style="paper", devices=PAPER_GPUS, num_devices=8, num_workers=1,
              kvstore="device", mixup_off_epoch=0, hard_weight=None, classes=1000)
MODEL = {"resnet50": "resnet50_v1", "inceptionv3": "inceptionv3", "mobilenet": "mobilenet1.0",
         "resnet50d": "resnet50_v1d"}
NO_RESIDUAL = ("inceptionv3", "mobilenet")   # zero γ has nothing to act on


def _net(key, base):
    row = dict(base, model=MODEL[key], input_size=299 if key == "inceptionv3" else 224)
    if key in NO_RESIDUAL:
        row["last_gamma"] = False
    return row


ROWS = {}

for key, acc in {"resnet50": (75.87, 92.70), "inceptionv3": (77.32, 93.43),
                 "mobilenet": (69.03, 88.71)}.items():
    ROWS["table2/%s-baseline.sh" % key] = (acc, _net(key, BASELINE))
for key, acc in {"resnet50": (76.21, 92.97), "inceptionv3": (77.50, 93.60),
                 "mobilenet": (71.90, 90.47)}.items():
    ROWS["table3/%s-efficient.sh" % key] = (acc, _net(key, EFFICIENT))

# Table 4: cumulative heuristics on ResNet-50 at BS 256 and 1024.
TABLE4 = [("linear-scaling", {}, (75.87, 92.70), (75.17, 92.54)),
          ("warmup", dict(warmup_epochs=5), (76.03, 92.81), (75.93, 92.84)),
          ("zero-gamma", dict(last_gamma=True), (76.19, 93.03), (76.37, 92.96)),
          ("no-bias-decay", dict(no_wd=True), (76.16, 92.97), (76.03, 92.86)),
          ("fp16", dict(dtype="float16"), (76.15, 93.09), (76.21, 92.97))]
for batch in (256, 1024):
    settings = dict(BASELINE, total_batch_size=batch, lr=0.1 * batch / 256)
    for name, added, acc256, acc1024 in TABLE4:
        settings.update(added)
        ROWS["table4/bs%d-%s.sh" % (batch, name)] = (acc256 if batch == 256 else acc1024,
                                                      _net("resnet50", settings))

for suffix, model, acc in (("", "resnet50_v1", (76.21, 92.97)), ("-b", "resnet50_v1b", (76.66, 93.28)),
                           ("-c", "resnet50_v1c", (76.87, 93.48)), ("-d", "resnet50_v1d", (77.16, 93.52))):
    ROWS["table5/resnet50%s.sh" % suffix] = (acc, dict(EFFICIENT, model=model, input_size=224))

# Table 6: refinements stacked on the efficient setting; mixup rows train 200 epochs; the
# teacher is ResNet-152-D at T = 20.
COSINE = dict(EFFICIENT, lr_mode="cosine")
SMOOTH = dict(COSINE, label_smoothing=0.1)
DISTILL = dict(SMOOTH, teacher="resnet152_v1d", temperature=20.0,
               teacher_params="runs/table6/teacher-resnet152d/checkpoints/best/model.params")
MIXUP = dict(SMOOTH, mixup_alpha=0.2, num_epochs=200)
DISTILL_MIXUP = dict(MIXUP, teacher="resnet152_v1d", temperature=20.0,
                     teacher_params="runs/table6/teacher-resnet152d-mixup/checkpoints/best/model.params")
TABLE6 = {"resnet50d": [(77.16, 93.52), (77.91, 93.81), (78.31, 94.09), (78.67, 94.36), (79.15, 94.58), (79.29, 94.63)],
          "inceptionv3": [(77.50, 93.60), (78.19, 94.06), (78.40, 94.13), (78.26, 94.01), (78.77, 94.39), (78.34, 94.16)],
          "mobilenet": [(71.90, 90.53), (72.83, 91.00), (72.93, 91.14), (71.97, 90.89), (73.28, 91.30), (72.51, 91.02)]}
for key, accs in TABLE6.items():
    for (name, base), acc in zip((("efficient", EFFICIENT), ("cosine", COSINE),
                                  ("label-smoothing", SMOOTH), ("distill", DISTILL),
                                  ("mixup", MIXUP), ("distill-mixup", DISTILL_MIXUP)), accs):
        ROWS["table6/%s-%s.sh" % (key, name)] = (acc, _net(key, base))
ROWS["table6/teacher-resnet152d.sh"] = (None, dict(SMOOTH, model="resnet152_v1d", input_size=224))
ROWS["table6/teacher-resnet152d-mixup.sh"] = (None, dict(MIXUP, model="resnet152_v1d", input_size=224))

# Table 7: ResNet-50-D on Places365 (365 classes); "Best" = cosine + LS + mixup (200 epochs, as
# every mixup run of §5.5). Paper numbers: val top-1/top-5.
ROWS["table7/resnet50d-places365-efficient.sh"] = ((56.34, 86.87), dict(_net("resnet50d", EFFICIENT), classes=365))
ROWS["table7/resnet50d-places365-best.sh"] = ((56.70, 87.33), dict(_net("resnet50d", MIXUP), classes=365))

# Tables 8-9's "B-standard" backbone: ResNet-50-B with the baseline procedure (top-1 76.14 in
# Table 8, no top-5 given).
ROWS["table2/resnet50b-baseline.sh"] = (None, dict(BASELINE, model="resnet50_v1b", input_size=224))

EXPECTED_SCRIPTS = [
    "table2/resnet50-baseline.sh", "table2/resnet50b-baseline.sh", "table2/inceptionv3-baseline.sh", "table2/mobilenet-baseline.sh",
    "table3/resnet50-efficient.sh", "table3/inceptionv3-efficient.sh", "table3/mobilenet-efficient.sh",
    "table4/bs256-linear-scaling.sh", "table4/bs256-warmup.sh", "table4/bs256-zero-gamma.sh",
    "table4/bs256-no-bias-decay.sh", "table4/bs256-fp16.sh",
    "table4/bs1024-linear-scaling.sh", "table4/bs1024-warmup.sh", "table4/bs1024-zero-gamma.sh",
    "table4/bs1024-no-bias-decay.sh", "table4/bs1024-fp16.sh",
    "table5/resnet50.sh", "table5/resnet50-b.sh", "table5/resnet50-c.sh", "table5/resnet50-d.sh",
    "table6/resnet50d-efficient.sh", "table6/resnet50d-cosine.sh",
    "table6/resnet50d-label-smoothing.sh", "table6/resnet50d-distill.sh",
    "table6/resnet50d-mixup.sh", "table6/resnet50d-distill-mixup.sh",
    "table6/inceptionv3-efficient.sh", "table6/inceptionv3-cosine.sh",
    "table6/inceptionv3-label-smoothing.sh", "table6/inceptionv3-distill.sh",
    "table6/inceptionv3-mixup.sh", "table6/inceptionv3-distill-mixup.sh",
    "table6/mobilenet-efficient.sh", "table6/mobilenet-cosine.sh",
    "table6/mobilenet-label-smoothing.sh", "table6/mobilenet-distill.sh",
    "table6/mobilenet-mixup.sh", "table6/mobilenet-distill-mixup.sh",
    "table6/teacher-resnet152d.sh", "table6/teacher-resnet152d-mixup.sh",
    "table7/resnet50d-places365-efficient.sh", "table7/resnet50d-places365-best.sh",
]


# --------------------------------------------------------------------------------------------
# Running a recipe
# --------------------------------------------------------------------------------------------

def recipe_env(home, **extra):
    """A clean environment: none of the recipe variables, HOME pointing at an empty folder,
    and GLUON_TRICKS running this checkout (no console script needed)."""
    env = dict.fromkeys(RECIPE_ENV)
    env.update(HOME=str(home), GLUON_TRICKS="%s -m gluon_tricks" % sys.executable)
    env.update(extra)
    return env


def run_recipe(script, *args, env, cwd):
    return run(["bash", os.path.join(RECIPES, script), *args], env=env, cwd=cwd)


def print_config(script, *args, env, cwd):
    proc = run_recipe(script, "--print-config", *args, env=env, cwd=cwd)
    assert proc.returncode == 0, (script, proc.stdout, proc.stderr)
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return tmp_path_factory.mktemp("home")


@pytest.fixture(scope="module")
def configs(home):
    """The resolved configuration of every recipe script run with no environment set and
    ``--print-config``: bash runs the script, which execs the real CLI
    (GLUON_TRICKS="python -m gluon_tricks"); ~1.5 s of CPU each, two at a time."""
    env = recipe_env(home)

    def one(script):
        if not os.path.isfile(os.path.join(RECIPES, script)):
            return script, None
        return script, run_recipe(script, "--print-config", env=env, cwd=home)

    with ThreadPoolExecutor(max_workers=2) as pool:
        procs = dict(pool.map(one, EXPECTED_SCRIPTS))
    resolved = {}
    for script, proc in procs.items():
        if proc is None or proc.returncode != 0:
            continue
        try:
            resolved[script] = json.loads(proc.stdout)
        except ValueError:
            pass    # reported by test_print_config_is_the_papers_row
    return resolved


def test_expectations_cover_every_script():
    assert sorted(ROWS) == sorted(EXPECTED_SCRIPTS)
    assert len(EXPECTED_SCRIPTS) == len(set(EXPECTED_SCRIPTS)) == 43


@pytest.mark.parametrize("script", EXPECTED_SCRIPTS)
def test_script_exists_and_is_executable(script):
    path = os.path.join(RECIPES, script)
    assert os.path.isfile(path), "missing recipe %s" % script
    assert os.stat(path).st_mode & stat.S_IXUSR, "%s is not executable" % script
    with open(path, encoding="utf-8") as f:
        text = f.read()
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "set -euo pipefail" in text
    assert 'run_recipe "$@"' in text


def test_no_unlisted_scripts():
    """Every classification recipe is listed (table8/9, the §6 recipes: test_transfer_recipes.py)."""
    found = sorted(os.path.relpath(os.path.join(d, f), RECIPES)
                   for d, _, files in os.walk(RECIPES) for f in files if f.endswith(".sh")
                   and os.path.basename(d) not in ("table8", "table9"))
    assert found == sorted(EXPECTED_SCRIPTS + ["common.sh"])


@pytest.mark.parametrize("script", EXPECTED_SCRIPTS)
def test_header_names_the_paper_numbers(script):
    acc, _ = ROWS[script]
    with open(os.path.join(RECIPES, script), encoding="utf-8") as f:
        header = "".join(line for line in f if line.startswith("#"))
    assert "Table %s" % script[5] in header
    if acc is not None:
        for value in acc:
            assert "%.2f" % value in header, (script, value)
    for var in ("DATA_DIR", "GPUS", "SAVE_DIR", "GLUON_TRICKS"):
        assert var in header
    if "distill" in script:
        assert "TEACHER_PARAMS" in header


@pytest.mark.parametrize("script", EXPECTED_SCRIPTS)
def test_print_config_is_the_papers_row(script, configs, home):
    assert script in configs, "%s is missing or failed (run it with --print-config)" % script
    cfg = configs[script]
    _, expected = ROWS[script]
    expected = dict(COMMON, **expected)
    if expected["lr_mode"] != "step":
        del expected["lr_decay_epochs"]        # unused by the cosine schedule
    if expected["teacher"] is None:
        expected.pop("teacher_params", None)
        expected.pop("temperature", None)
        assert cfg["teacher_params"] is None
    for key, value in expected.items():
        if isinstance(value, float):
            assert cfg[key] == pytest.approx(value), (script, key, cfg[key])
        else:
            assert cfg[key] == value, (script, key, cfg[key])
    assert cfg["batch_size"] * 8 == expected["total_batch_size"]
    table, row = script[:-3].split("/")
    assert cfg["save_dir"] == "runs/%s/%s" % (table, row)
    dataset = "places365" if table == "table7" else "imagenet"
    assert cfg["data_dir"] == os.path.join(str(home), ".mxnet", "datasets", dataset, "rec")


def test_readme_lists_every_script():
    with open(os.path.join(RECIPES, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    for script in EXPECTED_SCRIPTS:
        assert "`%s`" % script in readme, script
        acc, _ = ROWS[script]
        if acc is not None:
            line = next(l for l in readme.splitlines() if "`%s`" % script in l)
            assert "%.2f / %.2f" % acc in line, script


# --------------------------------------------------------------------------------------------
# Devices, batch and overrides (common.sh)
# --------------------------------------------------------------------------------------------

def test_gpus_divide_the_total_batch(home):
    cfg = print_config("table3/resnet50-efficient.sh", env=recipe_env(home, GPUS="0,1"), cwd=home)
    assert (cfg["devices"], cfg["batch_size"], cfg["total_batch_size"]) == ("gpu:0,1", 512, 1024)
    assert cfg["lr"] == pytest.approx(0.4)


def test_empty_gpus_trains_on_one_cpu_with_the_papers_batch(home):
    cfg = print_config("table2/resnet50-baseline.sh", env=recipe_env(home, GPUS=""), cwd=home)
    assert (cfg["devices"], cfg["batch_size"], cfg["total_batch_size"]) == ("cpu:1", 256, 256)
    assert cfg["lr"] == pytest.approx(0.1)


@pytest.mark.parametrize("gpus, devices, batch, steps", [
    ("", "cpu:1", 128, 8), ("0,1", "gpu:0,1", 128, 4), ("0,1,2,3", "gpu:0,1,2,3", 128, 2),
    ("0,1,2,3,4,5,6,7", "gpu:0,1,2,3,4,5,6,7", 128, 1)])
def test_max_device_batch_keeps_the_papers_total_batch_by_accumulation(home, gpus, devices,
                                                                        batch, steps):
    """Table 6 on 1, 2, 4 or 8 devices that hold 128 images: 1024 images and lr 0.4 per update,
    through the script (MAX_DEVICE_BATCH) and through `train --recipe --max-device-batch` alike."""
    from gluon_tricks.cli import main
    cfg = print_config("table6/resnet50d-mixup.sh",
                       env=recipe_env(home, GPUS=gpus, MAX_DEVICE_BATCH="128"), cwd=home)
    assert (cfg["devices"], cfg["batch_size"], cfg["accumulate"]) == (devices, batch, steps)
    assert cfg["total_batch_size"] == 1024 and cfg["lr"] == pytest.approx(0.4)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["train", "--recipe", "table6/resnet50d-mixup", "--print-config",
                     "--data-dir", cfg["data_dir"], "--max-device-batch", "128"]
                    + (["--gpus", gpus] if gpus else ["--cpus", "1"])) == 0
    assert json.loads(out.getvalue()) == cfg


def test_uneven_gpu_count_fails_with_one_line(home):
    proc = run_recipe("table2/resnet50-baseline.sh", "--print-config",
                      env=recipe_env(home, GPUS="0,1,2"), cwd=home)
    assert proc.returncode == 2
    lines = [l for l in proc.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and "256" in lines[0] and "3 devices" in lines[0] and "--batch-size" in lines[0]
    assert proc.stdout == ""


@pytest.mark.parametrize("args, devices, batch, lr", [
    (["--cpus", "1", "--batch-size", "8"], "cpu:1", 8, 0.4 * 8 / 1024),
    (["--cpus=2"], "cpu:2", 512, 0.4),
    (["--gpus", "0,1,2,3"], "gpu:0,1,2,3", 256, 0.4),
    (["--gpus", "0,1,2", "--batch-size", "4", "--lr", "0.05"], "gpu:0,1,2", 4, 0.05),
])
def test_device_and_batch_overrides_win(home, args, devices, batch, lr):
    cfg = print_config("table6/resnet50d-mixup.sh", *args, env=recipe_env(home), cwd=home)
    assert (cfg["devices"], cfg["batch_size"]) == (devices, batch)
    assert cfg["lr"] == pytest.approx(lr)


def test_environment_and_flag_overrides(home, tmp_path):
    env = recipe_env(home, DATA_DIR=tmp_path / "data", SAVE_DIR=tmp_path / "run",
                     TEACHER_PARAMS=tmp_path / "t.params")
    cfg = print_config("table6/mobilenet-distill.sh", "--num-epochs", "3", "--warmup-epochs", "1",
                       "--temperature", "4", env=env, cwd=home)
    assert cfg["data_dir"] == str(tmp_path / "data")
    assert cfg["save_dir"] == str(tmp_path / "run")
    assert cfg["teacher_params"] == str(tmp_path / "t.params")
    assert (cfg["num_epochs"], cfg["warmup_epochs"], cfg["temperature"]) == (3, 1, 4.0)


def test_default_command_is_gluon_tricks(home, tmp_path):
    """With GLUON_TRICKS unset the recipe runs `gluon-tricks train ...` from PATH (here a
    `gluon-tricks` on PATH that notes it was called, then runs this checkout's CLI)."""
    fake = tmp_path / "bin" / "gluon-tricks"
    fake.parent.mkdir()
    called = tmp_path / "called"
    fake.write_text('#!/bin/sh\necho "$1" > %s\nexec %s -m gluon_tricks "$@"\n' % (called, sys.executable))
    fake.chmod(0o755)
    env = recipe_env(home)
    env.update(GLUON_TRICKS=None, PATH=str(fake.parent) + os.pathsep + os.environ["PATH"])
    cfg = print_config("table2/resnet50-baseline.sh", "--num-epochs", "7", env=env, cwd=home)
    assert called.read_text() == "train\n"
    assert (cfg["devices"], cfg["batch_size"], cfg["num_epochs"]) == (PAPER_GPUS, 32, 7)


def test_missing_command_fails_with_one_line(home):
    proc = run_recipe("table2/resnet50-baseline.sh", "--print-config",
                      env=recipe_env(home, GLUON_TRICKS="/nonexistent/gluon-tricks"), cwd=home)
    assert proc.returncode == 2
    lines = [l for l in proc.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and "not found" in lines[0] and "GLUON_TRICKS" in lines[0]


def test_training_without_data_fails_with_a_clear_message(home):
    proc = run_recipe("table6/mobilenet-efficient.sh", "--batch-size", "2", "--dtype", "float32",
                      env=recipe_env(home, GPUS=""), cwd=home)
    assert proc.returncode == 2, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert "not found" in last and ".rec" in last and "Traceback" not in proc.stderr


def _has_gpu():
    import mxnet as mx
    try:
        return mx.context.num_gpus() > 0
    except mx.base.MXNetError:
        return False


@pytest.mark.skipif(_has_gpu(), reason="needs a machine without GPUs")
def test_training_without_gpus_fails_with_a_clear_message(home):
    proc = run_recipe("table2/mobilenet-baseline.sh", env=recipe_env(home), cwd=home)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "asks for GPU 7 but MXNet sees 0 GPU(s)" in proc.stderr.strip().splitlines()[-1]


# --------------------------------------------------------------------------------------------
# Smoke runs: one recipe per family really trains 2 steps on a tiny demo set (CPU)
# --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """3-class demo records and a small random teacher (resnet18_v1b) saved as .params."""
    import mxnet as mx
    from gluon_tricks.datasets.demo import make_demo_data
    from gluon_tricks.models import get_model, initialize
    root = tmp_path_factory.mktemp("recipes-demo")
    make_demo_data(str(root / "data"), classes=3, train_per_class=8, val_per_class=4,
                   threads=2, progress=False)
    teacher = get_model("resnet18_v1b", classes=3)
    initialize(teacher, "xavier")
    teacher(mx.nd.zeros((1, 3, 32, 32)))
    teacher.save_parameters(str(root / "teacher.params"))
    return root


# Small and short: 2 steps of 4 images at 32 px; epochs/warmup/decay shrunk to fit 1–2 epochs.
SMALL = ["--cpus", "1", "--batch-size", "4", "--input-size", "32", "--batches-per-epoch", "2",
         "--threads", "1", "--classes", "3", "--log-interval", "1"]
STEP2 = ["--num-epochs", "2", "--lr-decay-epoch", "1"]
COS2 = ["--num-epochs", "2", "--warmup-epochs", "1"]
COS1 = ["--num-epochs", "1", "--warmup-epochs", "0"]
# MXNet's CPU build cannot train in FP16 (no FP16 gemm, no multi_all_finite on CPU), so the FP16
# recipes are smoke-run with a --dtype float32 override; their FP16 setting is checked above.
FP32 = ["--dtype", "float32"]

SMOKE = {
    "table2/resnet50-baseline.sh": (STEP2, dict(lr_mode="step", dtype="float32")),
    "table4/bs1024-no-bias-decay.sh": (STEP2 + ["--warmup-epochs", "1"],
                                       dict(last_gamma=True, no_wd=True, warmup_epochs=1)),
    "table3/mobilenet-efficient.sh": (STEP2 + ["--warmup-epochs", "1"] + FP32,
                                      dict(model="mobilenet1.0", no_wd=True)),
    "table5/resnet50-c.sh": (STEP2 + ["--warmup-epochs", "1"] + FP32, dict(model="resnet50_v1c")),
    "table6/resnet50d-mixup.sh": (COS2 + FP32, dict(lr_mode="cosine", label_smoothing=0.1,
                                                    mixup_alpha=0.2)),
    "table6/resnet50d-distill-mixup.sh": (COS2 + FP32 + ["--teacher", "resnet18_v1b"],
                                          dict(teacher="resnet18_v1b", mixup_alpha=0.2,
                                               temperature=20.0)),
    "table7/resnet50d-places365-best.sh": (COS2 + FP32, dict(classes=3, mixup_alpha=0.2)),
}


def _check_run(proc, run_dir, expected):
    assert proc.returncode == 0, (proc.stdout[-3000:], proc.stderr[-3000:])
    with open(os.path.join(run_dir, "config.json")) as f:
        cfg = json.load(f)
    for key, value in expected.items():
        assert cfg[key] == value, (key, cfg[key])
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        records = [json.loads(line) for line in f if line.strip()]
    assert any(r.get("kind") == "eval" for r in records)
    assert os.path.isfile(os.path.join(run_dir, "checkpoints", "best", "model.params"))
    return cfg


@pytest.mark.parametrize("script", sorted(SMOKE))
def test_smoke_run(script, demo, tmp_path):
    args, expected = SMOKE[script]
    env = recipe_env(tmp_path, DATA_DIR=demo / "data", GPUS="",
                     TEACHER_PARAMS=demo / "teacher.params")
    run_dir = tmp_path / "run"
    proc = run_recipe(script, *(SMALL + args + ["--save-dir", run_dir]), env=env, cwd=tmp_path)
    _check_run(proc, run_dir, expected)


def test_smoke_inception_at_299(demo, tmp_path):
    """Inception-V3 needs its full 299 px input (its last pooling is 8×8); batch 2, 2 steps, 1 epoch."""
    env = recipe_env(tmp_path, DATA_DIR=demo / "data", GPUS="", SAVE_DIR=tmp_path / "run")
    proc = run_recipe("table6/inceptionv3-label-smoothing.sh", "--cpus", "1", "--batch-size", "2",
                      "--batches-per-epoch", "2", "--threads", "1", "--classes", "3",
                      *COS1, *FP32, env=env, cwd=tmp_path)
    _check_run(proc, tmp_path / "run", dict(model="inceptionv3", input_size=299, label_smoothing=0.1))


def test_smoke_teacher_then_student_with_default_paths(demo, tmp_path):
    """The teacher recipe's default run folder is where the distill recipe looks by default."""
    env = recipe_env(tmp_path, DATA_DIR=demo / "data", GPUS="")
    small_teacher = ["--model", "resnet18_v1b"]            # a ResNet-152-D is too slow here
    proc = run_recipe("table6/teacher-resnet152d.sh", *(SMALL + COS1 + FP32 + small_teacher),
                      env=env, cwd=tmp_path)
    _check_run(proc, tmp_path / "runs" / "table6" / "teacher-resnet152d",
               dict(model="resnet18_v1b", label_smoothing=0.1, lr_mode="cosine"))
    proc = run_recipe("table6/mobilenet-distill.sh", *(SMALL + COS1 + FP32),
                      "--teacher", "resnet18_v1b", env=env, cwd=tmp_path)
    cfg = _check_run(proc, tmp_path / "runs" / "table6" / "mobilenet-distill",
                     dict(teacher="resnet18_v1b", label_smoothing=0.1))
    assert cfg["teacher_params"] == "runs/table6/teacher-resnet152d/checkpoints/best/model.params"


# --------------------------------------------------------------------------------------------
# The recipe table (gluon_tricks/recipes.py) and `gluon-tricks recipes`
# --------------------------------------------------------------------------------------------

def test_recipe_table_has_every_row_with_the_papers_numbers():
    from gluon_tricks import recipes
    assert sorted(row.name + ".sh" for row in recipes.ROWS) == sorted(EXPECTED_SCRIPTS)
    for script in EXPECTED_SCRIPTS:
        acc, _ = ROWS[script]
        paper = recipes.find(script).paper
        assert (paper is None) if acc is None else (paper[:2] == acc), script


def test_identical_rows_are_one_recipe_under_several_names():
    from gluon_tricks import recipes
    same = recipes.same_as(recipes.find("table3/resnet50-efficient"))
    assert sorted(same) == ["table4/bs1024-fp16", "table5/resnet50"]
    assert recipes.same_as(recipes.find("table5/resnet50-d")) == ["table6/resnet50d-efficient"]
    assert recipes.same_as(recipes.find("table6/resnet50d-mixup")) == []


def test_recipes_command_lists_rows_with_paper_numbers():
    from gluon_tricks.cli import main
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["recipes"]) == 0
    text = out.getvalue()
    for script in EXPECTED_SCRIPTS:
        acc, _ = ROWS[script]
        line = next(l for l in text.splitlines() if l.startswith(script[:-3] + " "))
        if acc is not None:
            assert "%.2f / %.2f" % acc[:2] in line, line


def test_train_recipe_without_the_script_is_the_same_run(home, configs):
    """`gluon-tricks train --recipe ROW` alone resolves as the script does with no environment
    but DATA_DIR (the script always passes the data folder)."""
    from gluon_tricks.cli import main
    via_script = configs["table6/resnet50d-distill.sh"]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["train", "--recipe", "table6/resnet50d-distill",
                     "--data-dir", via_script["data_dir"], "--print-config"]) == 0
    assert json.loads(out.getvalue()) == via_script
