"""recipes/table8 and table9: one script per row of the paper's Tables 8-9, each resolving to its
row (backbone network, the classification recipe whose checkpoint it starts from, run folder)."""
import json
import os
import sys

import pytest

from cli import run

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECIPES = os.path.join(ROOT, "recipes")

# Paper Tables 8-9 (REFERENCE.md §5): row script → (classification recipe, backbone, ImageNet
# top-1, VOC mAP, ADE20K pixAcc, mIoU).
ROWS = {
    "b-standard": ("table2/resnet50b-baseline", "resnet50_v1b", 76.14, 77.54, 78.08, 37.05),
    "d-efficient": ("table6/resnet50d-efficient", "resnet50_v1d", 77.16, 78.30, 78.88, 38.88),
    "cosine": ("table6/resnet50d-cosine", "resnet50_v1d", 77.91, 79.23, 79.25, 39.33),
    "label-smoothing": ("table6/resnet50d-label-smoothing", "resnet50_v1d", 78.34, 80.71, 78.64, 38.75),
    "distill": ("table6/resnet50d-distill", "resnet50_v1d", 78.67, 80.96, 78.97, 38.90),
    "mixup": ("table6/resnet50d-mixup", "resnet50_v1d", 79.16, 81.10, 78.47, 37.99),
    "distill-mixup": ("table6/resnet50d-distill-mixup", "resnet50_v1d", 79.29, 81.33, 78.72, 38.40),
}
SCRIPTS = ["%s/%s.sh" % (table, row) for table in ("table8", "table9") for row in ROWS]
ENV_VARS = ("DATA_ROOT", "BACKBONE_PARAMS", "GPUS", "SAVE_DIR", "GLUON_TRICKS")


def _env(home, **extra):
    env = dict.fromkeys(ENV_VARS)
    env.update(HOME=str(home))
    env.update(extra)
    return env


def _recorded(script, home, *args, **env):
    """The config the recipe resolves to: bash runs it, it execs the real CLI with --print-config."""
    proc = run(["bash", os.path.join(RECIPES, script), "--print-config", *args], cwd=home,
               env=_env(home, **dict({"GLUON_TRICKS": "%s -m gluon_tricks"
                                                   % sys.executable}, **env)))
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return tmp_path_factory.mktemp("home")


def test_one_script_per_row():
    for table in ("table8", "table9"):
        assert sorted(os.listdir(os.path.join(RECIPES, table))) == sorted(r + ".sh" for r in ROWS)


@pytest.mark.parametrize("script", SCRIPTS)
def test_recipe_resolves_to_its_row(script, home):
    table, row = script[:-3].split("/")
    crecipe, model, top1, voc_map, pix, miou = ROWS[row]
    path = os.path.join(RECIPES, script)
    assert os.access(path, os.X_OK)
    with open(path, encoding="utf-8") as f:
        header = "".join(line for line in f if line.startswith("#"))
    assert "Table %s" % table[-1] in header and "%.2f" % top1 in header
    numbers = ["%.2f" % voc_map] if table == "table8" else ["%.2f" % pix, "%.2f" % miou]
    assert all(n in header for n in numbers), script
    assert "recipes/%s.sh" % crecipe in header and os.path.isfile(os.path.join(RECIPES, crecipe + ".sh"))
    cfg = _recorded(script, home)
    assert cfg["backbone"] == model
    assert cfg["backbone_params"] == "runs/%s/checkpoints/best/model.params" % crecipe
    assert cfg["save_dir"] == "runs/%s/%s" % (table, row)
    assert cfg["devices"] == "gpu:0,1,2,3"
    if table == "table8":
        assert (cfg["lr"], cfg["num_epochs"], cfg["lr_decay_epochs"], cfg["short"]) == \
            (0.001, 20, [14, 20], 600)
        assert cfg["data_root"] == os.path.join(str(home), ".mxnet", "datasets", "voc")
    else:
        assert (cfg["lr"], cfg["batch_size"], cfg["crop_size"], cfg["aux"]) == (0.01, 16, 480, True)
        assert cfg["data_root"] == os.path.join(str(home), ".mxnet", "datasets", "ade",
                                                "ADEChallengeData2016")


def test_environment_and_arguments_override(home, tmp_path):
    cfg = _recorded("table9/mixup.sh", home, "--cpus", "1", "--crop-size", "64",
                    BACKBONE_PARAMS=tmp_path / "b.params", GPUS="", SAVE_DIR=tmp_path / "run",
                    DATA_ROOT=tmp_path / "ade")
    assert cfg["backbone_params"] == str(tmp_path / "b.params")
    assert (cfg["devices"], cfg["crop_size"], cfg["save_dir"]) == ("cpu:1", 64, str(tmp_path / "run"))
    assert cfg["data_root"] == str(tmp_path / "ade")


def test_print_config_end_to_end(home):
    """`bash recipes/table8/cosine.sh --print-config` running `python -m gluon_tricks` itself."""
    proc = run(["bash", os.path.join(RECIPES, "table8/cosine.sh"), "--print-config"], cwd=home,
               env=_env(home, GLUON_TRICKS="%s -m gluon_tricks" % sys.executable))
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["backbone_params"] == \
        "runs/table6/resnet50d-cosine/checkpoints/best/model.params"


def test_readme_lists_every_row():
    with open(os.path.join(RECIPES, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    for script in SCRIPTS:
        line = next(l for l in readme.splitlines() if "`%s`" % script in l)
        row = ROWS[script[7:-3]]
        numbers = ["%.2f" % row[3]] if script.startswith("table8") else ["%.2f" % row[4], "%.2f" % row[5]]
        assert all(n in line for n in numbers), line
