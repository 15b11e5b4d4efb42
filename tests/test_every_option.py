"""Every option of ``train``, ``prepare``, ``check-rec``, ``eval``, ``export``, ``detect`` and
``segment`` is observed: a value other than its default changes what a user sees (the data a step
receives, the parameters before and after training, the lr and loss of every update, the files
written and their bytes, the printed or evaluated scores, a one-line refusal), never only the
resolved configuration.

The options come from the commands' own parser, so a new option is picked up here: it needs an
observation below or, when no test can see what it changes, the reason in its declaration
(``unobservable=`` on :func:`~gluon_tricks.options.option`, :func:`~gluon_tricks.options.
unobservable` on a plain argparse flag); with neither the suite fails. Every observation
compares two real runs of the command (in this process, to stay fast) that differ in that
option alone, and the first of each pair is run twice to show that it repeats exactly (so a
difference comes from the option, not from chance).
"""
import argparse
import contextlib
import dataclasses
import hashlib
import io
import itertools
import json
import os
import shutil
from typing import NamedTuple, Tuple

import cv2
import mxnet as mx
import numpy as np
import pytest
from mxnet import autograd

from _records import write_rec
from loop import Recorder, config
from test_loose_behaviours import noisy_folder, start_file
from transfer_data import make_ade, make_voc, save_backbone
from gluon_tricks import cli, options
from gluon_tricks.config import TrainConfig
from gluon_tricks.distributed import Distribution
from gluon_tricks.errors import GluonTricksError
from gluon_tricks.precision import apply_update
from gluon_tricks.runcore.metrics import MetricsLog, Progress
from gluon_tricks.classification import Run, train

SCOPE = ("train", "prepare", "check-rec", "eval", "export", "detect", "segment")
NOT_YET = ("outside issue 25, which asked for train, prepare, check-rec, eval, export, detect "
           "and segment")
# Commands whose options this file does not observe yet, and why.
ELSEWHERE = {name: NOT_YET for name in ("flops", "make-demo-data", "bench", "launch", "demo",
                                        "zoo-check", "figures", "recipes", "doctor")}

# The runs: mobilenet0.25 at 32 px, 2 epochs of 2 updates of 4 synthetic images, every update
# logged, written under the view's own folder.
BASE = ("--model", "mobilenet0.25", "--input-size", "32", "--classes", "4", "--batch-size", "4",
        "--threads", "1", "--batches-per-epoch", "2", "--num-epochs", "2", "--log-interval", "1",
        "--data-backend", "synthetic", "--save-dir", "run")
RECORDS = ("--data-backend", "rec", "--data-dir", "{A}")


# -- the declared options ---------------------------------------------------------------------

def commands(parser):
    """{command name: its subparser} of the ``gluon-tricks`` parser."""
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def flags_of(parser):
    """Every flag action of ``parser`` and of its subcommands (prepare folder/imagenet/...)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from flags_of(sub)
        elif action.option_strings and not isinstance(action, argparse._HelpAction):
            yield action


def declared(parser):
    """{"command --flag": its action} of the commands in SCOPE. The flag is the first long one
    (``--threads`` for ``-j/--threads``); one flag declared alike by several subcommands (the
    encoding options of prepare's three sources) is one option."""
    found = {}
    for name, sub in commands(parser).items():
        if name not in SCOPE:
            continue
        for action in flags_of(sub):
            key = "%s %s" % (name, next(f for f in action.option_strings if f.startswith("--")))
            if key in found:
                assert (found[key].dest, found[key].help) == (action.dest, action.help), key
            found.setdefault(key, action)
    return found


def coverage_problems(options_declared, observed):
    """What keeps ``options_declared`` ({key: action}) from being covered by the observations
    ``observed`` (keys): an option with neither an observation nor a declared reason, one with
    both, and an observation of an option nobody declares."""
    problems = []
    for key, action in sorted(options_declared.items()):
        why = getattr(action, "unobservable", None)
        if key in observed and why:
            problems.append("%s is observed here but declared unobservable (%s)" % (key, why))
        elif key not in observed and not why:
            problems.append("%s: no test observes it and its declaration does not say why "
                            "(unobservable=...)" % key)
    problems += ["%s is observed here but no command declares it" % key
                 for key in sorted(set(observed) - set(options_declared))]
    return problems


# -- the data every view reads ----------------------------------------------------------------

def keep_first(idx, count, out):
    with open(idx, encoding="utf-8") as f:
        lines = f.readlines()[:count]
    with open(out, "w", encoding="utf-8") as f:
        f.writelines(lines)
    return out


def image_tree(root, classes, count, seed):
    """root/<class>/<i>.png: ``count`` smooth lossless 48×40 images per class."""
    rng = np.random.default_rng(seed)
    for name in classes:
        (root / name).mkdir(parents=True)
        for i in range(count):
            small = rng.integers(0, 256, (3, 3, 3)).astype(np.uint8)
            cv2.imwrite(str(root / name / ("%s_%d.png" % (name, i))),
                        cv2.resize(small, (48, 40)))
    return root


@pytest.fixture(scope="module")
def paths(tmp_path_factory):
    """Every file and folder the views name, as ``{NAME}`` in their arguments."""
    root = tmp_path_factory.mktemp("every-option")
    found = {}
    for name, seed, val in (("A", 0, 8), ("B", 1, 12)):
        folder = root / name
        folder.mkdir()
        write_rec(folder, 8, classes=4, seed=seed, name="train")
        write_rec(folder, val, classes=4, seed=seed + 10, name="val")
        found[name] = folder
    keep_first(found["A"] / "train.idx", 4, found["A"] / "train-half.idx")
    keep_first(found["A"] / "val.idx", 4, found["A"] / "val-half.idx")
    found["start"] = start_file(root / "start.params")
    found["teacher"] = start_file(root / "teacher.params", (np.zeros((4, 256)), [1.0, 0, 0, 0]))
    found["teacher2"] = start_file(root / "teacher2.params", (np.zeros((4, 256)), [0, 3.0, 0, 0]))
    (root / "lr.json").write_text(json.dumps({"lr": 0.05}))
    found["config"] = root / "lr.json"
    found["tree"] = noisy_folder(root / "tree")
    found["tree2"] = image_tree(root / "tree2", "ab", 2, seed=5)
    synsets = ("n01440764", "n01443537")
    found["imagenet"] = image_tree(root / "imagenet" / "train", synsets, 2, seed=1)
    found["imagenet2"] = image_tree(root / "imagenet2" / "train", synsets, 2, seed=2)
    found["val_folders"] = image_tree(root / "imagenet" / "val_folders", synsets, 1, seed=3)
    found["val_folders2"] = image_tree(root / "imagenet" / "val_folders2", synsets, 1, seed=4)
    flat = root / "imagenet" / "val"
    flat.mkdir()
    labels = []
    for i, synset in enumerate(synsets):
        name = "ILSVRC2012_val_%08d.JPEG" % (i + 1)
        os.link(next((found["val_folders"] / synset).iterdir()), flat / name)
        labels.append("%s %s\n" % (name, synset))
    found["val_flat"] = flat
    (root / "val_labels.txt").write_text("".join(labels))
    found["val_labels"] = root / "val_labels.txt"
    for name, seed in (("places", 6), ("places2", 7)):
        found[name] = places_root(root / name, seed)
    found["bad"] = bad_records(root / "bad")
    (root / "names.txt").write_text("zero\none\ntwo\nthree\n")
    found["names"] = root / "names.txt"
    for name, seed in (("", 0), ("2", 1)):
        found["voc" + name] = make_voc(str(root / ("voc" + name) / "VOCdevkit"), seed=seed)
        found["ade" + name] = make_ade(str(root / ("ade" + name)), seed=seed)
        found["backbone" + name] = save_backbone(str(root / ("backbone%s.params" % name)),
                                                 seed=seed)
    return found


def places_root(root, seed):
    """A Places365 root of 4 train and 2 val images with its list files."""
    images = image_tree(root / "images", "xy", 3, seed)
    train = [(root / "data_256" / "a" / "abbey", 0), (root / "data_256" / "b" / "bakery", 1)]
    lines = []
    for (folder, label), name in zip(train, "xy"):
        folder.mkdir(parents=True)
        for i in range(2):
            os.link(images / name / ("%s_%d.png" % (name, i)), folder / ("%d.jpg" % i))
            lines.append("/%s/%d.jpg %d\n" % (folder.relative_to(root / "data_256"), i, label))
    (root / "val_256").mkdir()
    for i, name in enumerate("xy"):
        os.link(images / name / ("%s_2.png" % name), root / "val_256" / ("v%d.jpg" % i))
    (root / "places365_train_standard.txt").write_text("".join(lines))
    (root / "places365_val.txt").write_text("v0.jpg 0\nv1.jpg 1\n")
    (root / "categories_places365.txt").write_text("/a/abbey 0\n/b/bakery 1\n")
    return root


def bad_records(folder):
    """folder/data.rec of 6 records written without prepare's checksum, 200 bytes of the third
    one's entropy-coded data zeroed: its JPEG header reads, its image does not decode;
    data-half.idx lists the first two."""
    folder.mkdir()
    rec, idx = write_rec(folder, 6, classes=3, name="data")
    reader = mx.recordio.MXIndexedRecordIO(idx, rec, "r")
    offset, length = reader.idx[2], len(reader.read_idx(2))
    reader.close()
    with open(rec, "r+b") as f:
        f.seek(offset + 8 + length - 400)                # 8: the frame header
        f.write(b"\0" * 200)
    keep_first(idx, 2, folder / "data-half.idx")
    return folder


# -- what a user sees of a run ----------------------------------------------------------------

def arrays_of(net):
    return [p.data().asnumpy() for p in net.collect_params().values()]


def logged(folder):
    """The files under ``folder``, the events its run logged (metrics.jsonl), and the lr and loss
    of every update."""
    files = sorted(os.path.relpath(os.path.join(d, f), folder)
                   for d, _, names in os.walk(folder) for f in names)
    events = []
    for name in files:
        if os.path.basename(name) == "metrics.jsonl":
            with open(os.path.join(folder, name), encoding="utf-8") as f:
                events += [json.loads(line) for line in f]
    return events, {"files": files,
                    "lr": [e["lr"] for e in events if e["kind"] == "train"],
                    "loss": [e["loss"] for e in events if e["kind"] == "train"]}


def written(folder):
    """What :func:`logged` sees, with the validation results of every epoch."""
    events, seen = logged(folder)
    return dict(seen, eval=[(e["epoch"], e["top1"], e["top5"], e["images"]) for e in events
                            if e["kind"] == "eval"])


def contents(folder):
    """{file under ``folder``: a digest of its bytes}."""
    found = {}
    for d, _, names in os.walk(folder):
        for name in names:
            with open(os.path.join(d, name), "rb") as f:
                found[os.path.relpath(os.path.join(d, name), folder)] = \
                    hashlib.sha256(f.read()).hexdigest()
    return found


def same(a, b):
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.dtype == b.dtype
                and a.shape == b.shape and np.array_equal(a, b))
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return a == b


class Views:
    """Runs of the real commands, each in a folder of its own, cached by their arguments."""

    def __init__(self, root, paths):
        self.root, self.paths = root, paths
        self.count = itertools.count()
        self.cache = {}

    def folder(self):
        folder = self.root / ("view-%d" % next(self.count))
        folder.mkdir()
        return folder

    def expand(self, args):
        return [str(a).format(**self.paths) for a in args]

    def get(self, kind, args, twice=False):
        """The view of ``kind ARGS``, made once. A base run (``twice``) is made twice and must
        repeat exactly; its folder stays (observations continue it), the repeat's and a changed
        run's folders are removed once seen (the runs' checkpoints would take gigabytes)."""
        key = (kind, tuple(args))
        if key not in self.cache:
            folder = self.folder()
            self.cache[key] = getattr(self, kind)(self.expand(args), folder)
            if twice:
                again_folder = self.folder()
                again = getattr(self, kind)(self.expand(args), again_folder)
                shutil.rmtree(again_folder)
                differ = [k for k in again if k not in ("said", "folder")
                          and not same(self.cache[key][k], again[k])]
                assert not differ, "%s %s does not repeat exactly: %s" % (kind, args, differ)
            else:
                shutil.rmtree(folder)
                if "folder" in self.cache[key]:
                    self.cache[key] = dict(self.cache[key], folder=None)
        elif twice:
            assert "folder" not in self.cache[key] or self.cache[key]["folder"] is not None, \
                "%s %s was first made as a changed run, whose folder is gone" % (kind, args)
        return self.cache[key]

    @staticmethod
    def _built(flags):
        """(config, train.Run) of ``train BASE FLAGS``, or (None, the refusal's message)."""
        try:
            cfg = config(*BASE, *flags)
            return cfg, Run(cfg, Distribution(cfg))
        except GluonTricksError as err:
            return None, str(err)

    def start(self, flags, folder):
        """The network ``train BASE FLAGS`` starts from (or the refusal of the flags)."""
        with contextlib.chdir(folder):
            cfg, run = self._built(flags)
        return {"error": run} if cfg is None else {"error": None, "initial": arrays_of(run.net)}

    def steps(self, flags, folder):
        """Every epoch of ``train BASE FLAGS`` as the run trains it (train.Run.train_epoch, no
        validation): what the network receives and returns, the lr and loss of every update,
        the parameters at the end."""
        return self._trained(flags, folder, whole=False)

    def run(self, flags, folder):
        """The whole of ``train BASE FLAGS`` (train.Run.fit): what ``steps`` sees, the
        validation of every epoch, and the files written."""
        return self._trained(flags, folder, whole=True)

    def _trained(self, flags, folder, whole):
        with contextlib.chdir(folder):
            cfg, run = self._built(flags)
            if cfg is None:
                return {"error": run}
            seen = Recorder(run.net)
            os.makedirs(cfg.save_dir)              # what train() claims before a run
            with contextlib.redirect_stdout(io.StringIO()):
                if whole:
                    run.fit()
                else:
                    progress = Progress(cfg.num_epochs, run.iters, every=cfg.log_interval)
                    with MetricsLog(cfg.save_dir) as log:
                        for epoch in range(cfg.num_epochs):
                            run.train_epoch(epoch, progress, log)
            seen.handle.detach()
        return dict(received=seen.inputs, classes=[o.shape[-1] for o in seen.outputs],
                    trained=arrays_of(run.net), error=None, **written(folder))

    def train(self, flags, folder):
        """``train BASE FLAGS`` as the command runs it (train.train: checks, run folder, log)."""
        out = io.StringIO()
        with contextlib.chdir(folder):
            try:
                with contextlib.redirect_stdout(out):
                    train(config(*BASE, *flags))
                error = None
            except GluonTricksError as err:
                error = str(err)
        return dict(error=error, said=out.getvalue(), **written(folder))

    def cli(self, argv, folder):
        """``gluon-tricks ARGV``: exit code, what it printed (lines with timings left out) and
        the bytes of every file it wrote. Names count networks from 0, as in a process of its own
        (an export's files hold them)."""
        out, err = io.StringIO(), io.StringIO()
        with contextlib.chdir(folder), contextlib.redirect_stdout(out), \
                contextlib.redirect_stderr(err), mx.name.NameManager():
            try:
                code = cli.main(argv)
            except SystemExit as exit:
                code = exit.code
        said = [line for line in out.getvalue().splitlines()
                if not line.startswith(("speed", "packed"))]
        return {"code": code, "said": said, "error": err.getvalue() if code == 2 else None,
                "contents": contents(folder)}

    def transfer(self, argv, folder):
        """``gluon-tricks detect|segment ARGV``: the exit code and refusal, the files written,
        the lr and loss of every update, the scores of every evaluation and the weights of the
        newest epoch checkpoint (the bytes of the logs, plots and report hold times)."""
        view = self.cli(argv, folder)
        events, seen = logged(folder)
        scores = [json.dumps({k: v for k, v in e.items() if k != "time"}) for e in events
                  if e["kind"] == "eval"]          # as text: NaN for a class with no objects
        epochs = sorted(n for n in seen["files"] if os.path.basename(n) == "model.params"
                        and "epoch-" in n)
        weights = mx.nd.load(os.path.join(folder, epochs[-1])) if epochs else {}
        error = None if view["code"] == 0 else view["error"] or "exit code %s" % view["code"]
        return dict(seen, code=view["code"], error=error, said=view["said"],
                    eval=scores, folder=folder,
                    weights={k: v.asnumpy() for k, v in sorted(weights.items())})


@pytest.fixture(scope="module")
def views(tmp_path_factory, paths):
    return Views(tmp_path_factory.mktemp("views"), paths)


@pytest.fixture(scope="module")
def trained(views, paths):
    """A run folder trained on A's records, 2 epochs with a checkpoint each ({trained}), the
    one of the two that is not its best ({other}), and its best weights under a name that tells
    no network ({plain})."""
    folder = views.folder()
    view = views.train(views.expand(("--data-backend", "dali-cpu", "--data-dir", "{A}",
                                     "--num-epochs", "2", "--save-frequency", "1")), folder)
    assert view["error"] is None, view["error"]
    paths["trained"] = folder / "run"
    paths["plain"] = folder / "weights.params"
    with open(folder / "run" / "checkpoints" / "best" / "state.json", encoding="utf-8") as f:
        paths["other"] = "epoch-%04d" % (3 - json.load(f)["epoch"])
    os.link(folder / "run" / "checkpoints" / "best" / "model.params", paths["plain"])
    return paths["trained"]


# -- the observations -------------------------------------------------------------------------

class Change(NamedTuple):
    """Two runs of ``view`` with ``base`` arguments, the second with ``change`` added after
    them: what ``seen`` holds differs."""

    view: str
    base: Tuple[str, ...]
    change: Tuple[str, ...]
    seen: str


def start(change, base=()):
    return Change("start", tuple(base), tuple(change), "initial")


def steps(change, seen, base=()):
    return Change("steps", tuple(base), tuple(change), seen)


def run(change, seen, base=()):
    return Change("run", tuple(base), tuple(change), seen)


def command(change, seen, base=()):
    return Change("train", tuple(base), tuple(change), seen)


def refused(flag, value=None):
    """A GluonCV flag this project does not follow: refused in one line."""
    return Change("start", (), (flag,) if value is None else (flag, value), "error")


MIXUP = ("--mixup",)
TEACHER = ("--teacher", "mobilenet0.25", "--teacher-params", "{teacher}")
WEIGHTS = ("--pretrained", "{start}")
TRAIN = {
    "--recipe": steps(("--recipe", "table2/mobilenet-baseline", "--cpus", "1"), "lr"),
    "--preset": start(("--preset", "gluoncv")),
    "--model": start(("--model", "resnet18_v1b")),
    "--classes": steps(("--classes", "5"), "classes"),
    "--input-size": steps(("--input-size", "64"), "received"),
    "--pretrained": start(WEIGHTS),
    "--use-pretrained": Change("start", (), ("--use-pretrained",), "error"),
    "--lr-mult-body": steps(("--lr-mult-body", "0.1"), "trained", WEIGHTS),
    "--num-epochs": run(("--num-epochs", "1"), "eval"),
    "--batch-size": steps(("--batch-size", "2"), "received"),
    "--accumulate": steps(("--accumulate", "2"), "received"),
    "--max-device-batch": steps(("--max-device-batch", "2"), "received"),
    "--lr": steps(("--lr", "0.05"), "trained"),
    "--lr-per-256": steps(("--lr-per-256", "0.1"), "lr"),
    "--lr-mode": steps(("--lr-mode", "cosine"), "lr"),
    "--warmup-epochs": steps(("--warmup-epochs", "1"), "lr"),
    "--lr-decay-epoch": steps(("--lr-decay-epoch", "1"), "lr"),
    "--lr-decay-period": steps(("--lr-decay-period", "1"), "lr"),
    "--lr-decay": steps(("--lr-decay", "0.5"), "lr", ("--lr-decay-epoch", "1")),
    "--momentum": steps(("--momentum", "0.5"), "trained"),
    "--wd": steps(("--wd", "0.01"), "trained"),
    "--no-wd": steps(("--no-wd",), "trained"),
    "--last-gamma": start(("--last-gamma",), ("--model", "resnet18_v1b")),
    "--label-smoothing": steps(("--label-smoothing", "0.1"), "loss"),
    "--smoothing-style": steps(("--smoothing-style", "gluoncv"), "loss", ("--label-smoothing",)),
    "--mixup-alpha": steps(("--mixup-alpha", "0.8"), "received", MIXUP),
    "--mixup": steps(MIXUP, "received"),
    "--mixup-off-epoch": steps(("--mixup-off-epoch", "1"), "received", MIXUP),
    "--mixup-pairing": steps(("--mixup-pairing", "reverse"), "received", MIXUP),
    "--teacher": steps(TEACHER, "loss"),
    "--teacher-params": steps(("--teacher-params", "{teacher2}"), "loss", TEACHER),
    "--temperature": steps(("--temperature", "2"), "loss", TEACHER),
    "--hard-weight": steps(("--hard-weight", "0.5"), "loss", TEACHER),
    "--kvstore": command(("--kvstore", "dist_sync"), "error"),
    "--aug": steps(("--aug", "gluoncv"), "received"),
    "--init": start(("--init", "msra")),
    "--data-backend": steps(("--data-backend", "rec"), "received",
                          ("--data-backend", "dali-cpu", "--data-dir", "{A}")),
    "--data-dir": steps(("--data-dir", "{B}"), "received", RECORDS),
    "--rec-train": steps(("--rec-train", "{B}/train.rec"), "received",
                       ("--data-backend", "rec", "--rec-train", "{A}/train.rec",
                        "--rec-val", "{A}/val.rec")),
    "--rec-train-idx": steps(("--rec-train-idx", "{A}/train-half.idx"), "lr",
                           ("--data-backend", "rec", "--rec-train", "{A}/train.rec",
                            "--rec-val", "{A}/val.rec")),
    "--rec-val": run(("--rec-val", "{B}/val.rec"), "eval",
                     ("--data-backend", "rec", "--rec-train", "{A}/train.rec",
                      "--rec-val", "{A}/val.rec")),
    "--rec-val-idx": run(("--rec-val-idx", "{A}/val-half.idx"), "eval",
                         ("--data-backend", "rec", "--rec-train", "{A}/train.rec",
                          "--rec-val", "{A}/val.rec")),
    "--batches-per-epoch": steps(("--batches-per-epoch", "1"), "lr"),
    "--num-training-samples": steps(("--num-training-samples", "4"), "lr",
                                  RECORDS + ("--batches-per-epoch", "0")),
    "--save-dir": run(("--save-dir", "elsewhere"), "files"),
    "--save-frequency": run(("--save-frequency", "1"), "files", ("--keep-last", "1")),
    "--keep-last": run(("--keep-last", "1"), "files"),
    "--log-interval": steps(("--log-interval", "2"), "lr"),
    "--logging-file": command(("--logging-file", "other.log"), "files"),
    "--tensorboard": run(("--tensorboard",), "files"),
    "--seed": steps(("--seed", "1"), "received"),
    "--gpus": command(("--gpus", "0"), "error"),
    "--cpus": steps(("--cpus", "2"), "received"),
    "--num-gpus": command(("--num-gpus", "1"), "error"),
    "--max-image-pixels": command(("--max-image-pixels", "1000"), "error", RECORDS),
    "--config": steps(("--config", "{config}"), "trained"),
    "--mode": refused("--mode", "imperative"),
    "--warmup-lr": refused("--warmup-lr", "0.01"),
    "--crop-ratio": refused("--crop-ratio", "0.9"),
    "--rgb-mean": refused("--rgb-mean", "0,0,0"),
    "--rgb-std": refused("--rgb-std", "1,1,1"),
    "--resume-epoch": refused("--resume-epoch", "3"),
    "--resume-params": refused("--resume-params", "x.params"),
    "--resume-states": refused("--resume-states", "x.states"),
    "--use_se": refused("--use_se"),
    "--batch-norm": refused("--batch-norm"),
    "--use-gn": refused("--use-gn"),
}


def cli_change(base, change, seen="said"):
    return Change("cli", tuple(base), tuple(change), seen)


FOLDER = ("prepare", "folder", "{tree}", "out/data", "--threads", "2")
IMAGENET = ("prepare", "imagenet", "--train", "{imagenet}", "--val", "{val_folders}",
            "--out", "out", "--threads", "2")
PLACES = ("prepare", "places365", "--root", "{places}", "--out", "out", "--threads", "2")
CHECK = ("check-rec", "{bad}/data.rec", "--threads", "2")
EVAL = ("eval", "{trained}", "-j", "1")
PLAIN_EVAL = ("eval", "{plain}", "--rec", "{A}/val.rec", "-j", "1")
EXPORT = ("export", "{trained}", "--out", "model")
PLAIN_EXPORT = ("export", "{plain}", "--out", "model")
OTHERS = {
    "prepare --resize": cli_change(FOLDER, ("--resize", "32"), "contents"),
    "prepare --quality": cli_change(FOLDER, ("--quality", "50"), "contents"),
    "prepare --pass-through": cli_change(FOLDER, ("--pass-through",), "contents"),
    "prepare --shuffle": cli_change(FOLDER + ("--no-shuffle",), ("--shuffle",), "contents"),
    "prepare --no-shuffle": cli_change(FOLDER, ("--no-shuffle",), "contents"),
    "prepare --seed": cli_change(FOLDER, ("--seed", "1"), "contents"),
    "prepare --max-image-pixels": cli_change(FOLDER, ("--max-image-pixels", "1000"), "code"),
    "prepare --train": cli_change(IMAGENET, ("--train", "{imagenet2}"), "contents"),
    "prepare --val": cli_change(IMAGENET, ("--val", "{val_folders2}"), "contents"),
    "prepare --val-labels": cli_change(IMAGENET + ("--val", "{val_flat}"),
                                       ("--val-labels", "{val_labels}"), "code"),
    "prepare --out": cli_change(IMAGENET, ("--out", "elsewhere"), "contents"),
    "prepare --root": cli_change(PLACES, ("--root", "{places2}"), "contents"),
    "check-rec --idx": cli_change(CHECK, ("--idx", "{bad}/data-half.idx")),
    "check-rec --decode": cli_change(CHECK + ("--no-decode",), ("--decode",)),
    "check-rec --no-decode": cli_change(CHECK, ("--no-decode",)),
    "check-rec --max-image-pixels": cli_change(CHECK, ("--max-image-pixels", "1000")),
    "check-rec --repair": cli_change(CHECK, ("--repair", "fixed"), "contents"),
    "eval --params": cli_change(("eval", "-j", "1"), ("--params", "{trained}"), "code"),
    "eval --checkpoint": cli_change(EVAL, ("--checkpoint", "{other}")),
    "eval --model": cli_change(PLAIN_EVAL, ("--model", "mobilenet0.25"), "code"),
    "eval --classes": cli_change(PLAIN_EVAL + ("--model", "mobilenet0.25"), ("--classes", "5"),
                                 "code"),
    "eval --input-size": cli_change(EVAL, ("--input-size", "64")),
    "eval --rec": cli_change(EVAL, ("--rec", "{B}/val.rec")),
    "eval --rec-dir": cli_change(EVAL, ("--rec-dir", "{B}")),
    "eval --idx": cli_change(EVAL + ("--rec", "{A}/val.rec"), ("--idx", "{A}/val-half.idx")),
    "eval --gpus": cli_change(EVAL, ("--gpus", "0"), "code"),
    "eval --cpus": cli_change(EVAL, ("--cpus", "2")),
    "eval --num-gpus": cli_change(EVAL, ("--num-gpus", "1"), "code"),
    "eval --max-image-pixels": cli_change(EVAL, ("--max-image-pixels", "1000"), "code"),
    "eval --data-backend": cli_change(EVAL, ("--data-backend", "rec")),
    "eval --dtype": cli_change(EVAL, ("--dtype", "float16"), "code"),
    "export --params": cli_change(("export", "--out", "model"), ("--params", "{trained}"),
                                  "code"),
    "export --checkpoint": cli_change(EXPORT, ("--checkpoint", "{other}"), "contents"),
    "export --model": cli_change(PLAIN_EXPORT, ("--model", "mobilenet0.25"), "code"),
    "export --classes": cli_change(PLAIN_EXPORT + ("--model", "mobilenet0.25"),
                                   ("--classes", "5"), "code"),
    "export --input-size": cli_change(EXPORT, ("--input-size", "64"), "contents"),
    "export --out": cli_change(EXPORT, ("--out", "elsewhere"), "contents"),
    "export --preprocess": cli_change(EXPORT, ("--preprocess",), "contents"),
    "export --class-names": cli_change(EXPORT, ("--class-names", "{names}"), "contents"),
}


def transfer(change, seen, base=()):
    return Change("transfer", tuple(base), tuple(change), seen)


# Tiny runs of the §6 commands from a resnet18_v1d backbone saved here: one epoch of 2 updates,
# in the main process (-j 0, the only way a run repeats), every update logged.
TASKS = {
    "detect": ("detect", "--data-root", "{voc}", "--short", "32", "--max-size", "48",
               "--batches-per-epoch", "2"),
    "segment": ("segment", "--data-root", "{ade}", "--base-size", "64", "--crop-size", "48",
                "--batch-size", "2"),
}
RUN = ("--backbone", "resnet18_v1d", "--backbone-params", "{backbone}", "-j", "0",
       "--num-epochs", "1", "--log-interval", "1", "--save-dir", "run")
TWO_EPOCHS = ("--num-epochs", "2")
# {flag: (change, what differs[, added to the base])}: the options both declare (TransferConfig,
# the run options of runcore.settings, the devices), then each command's own.
SHARED = {
    "--backbone": (("--backbone", "resnet34_v1d"), "code"),
    "--backbone-params": (("--backbone-params", "{backbone2}"), "loss"),
    "--num-epochs": (TWO_EPOCHS, "eval"),
    "--batches-per-epoch": (("--batches-per-epoch", "1"), "lr"),
    "--lr": (("--lr", "0.02"), "lr"),
    "--wd": (("--wd", "0.01"), "weights"),
    "--save-dir": (("--save-dir", "elsewhere"), "files"),
    "--save-frequency": (("--save-frequency", "1"), "files", TWO_EPOCHS),
    "--keep-last": (("--keep-last", "2"), "files", TWO_EPOCHS),
    "--log-interval": (("--log-interval", "2"), "lr"),
    "--logging-file": (("--logging-file", "other.log"), "files"),
    "--tensorboard": (("--tensorboard",), "files"),
    "--seed": (("--seed", "1"), "loss"),
    "--gpus": (("--gpus", "0"), "code"),
    "--cpus": (("--cpus", "2"), "loss"),
    "--num-gpus": (("--num-gpus", "1"), "code"),
    "--max-image-pixels": (("--max-image-pixels", "1000"), "code"),
    "--print-config": (("--print-config",), "files"),
    "--config": (("--config", "{config}"), "lr"),
}
OWN = {
    "detect": {
        "--data-root": (("--data-root", "{voc2}"), "loss"),
        "--train-splits": (("--train-splits", "2007-trainval"), "loss"),
        # refused: the list it names is missing (at 32 px every mAP is 0, so scores cannot tell)
        "--test-splits": (("--test-splits", "2012-test"), "code"),
        "--short": (("--short", "40"), "loss"),
        "--max-size": (("--max-size", "32"), "loss"),
        "--lr-decay-epoch": (("--lr-decay-epoch", "1"), "lr", TWO_EPOCHS),
        "--lr-warmup": (("--lr-warmup", "0"), "lr"),
    },
    "segment": {
        "--data-root": (("--data-root", "{ade2}"), "loss"),
        "--batch-size": (("--batch-size", "4"), "lr"),
        "--base-size": (("--base-size", "48"), "loss"),
        "--crop-size": (("--crop-size", "32"), "loss"),
        "--no-aux": (("--no-aux",), "loss"),
        "--multi-scale": (("--multi-scale",), "eval"),
    },
}


def task_change(task, change, seen, base=()):
    return transfer(change, seen, TASKS[task] + RUN + tuple(base))


def observe_task_overwrite(task):
    def observe(views):
        """--overwrite replaces the finished run in --save-dir, which is refused without it."""
        folder = views.get("transfer", TASKS[task] + RUN, twice=True)["folder"]
        args = views.expand(TASKS[task] + RUN)
        again = views.transfer(args, folder)
        replaced = views.transfer(args + ["--overwrite"], folder)
        assert again["code"] == 2 and "already holds a run" in again["error"]
        assert replaced["code"] == 0 and len(replaced["eval"]) == 1
    return observe


def observe_task_resume(task):
    def observe(views):
        """--resume DIR continues DIR's run from its checkpoint: a finished run trains nothing
        more, where the same command without it is refused."""
        base = views.get("transfer", TASKS[task] + RUN, twice=True)
        resumed = views.transfer([task, "--resume", "run"], base["folder"])
        assert resumed["code"] == 0, resumed["error"]
        assert any(line.startswith("resumed from") and "epoch-0001 (epoch 1 done" in line
                   for line in resumed["said"])
        assert resumed["eval"] == base["eval"] and resumed["weights"].keys() == \
            base["weights"].keys()
    return observe


def observe_resume(views):
    """--resume DIR continues DIR's run from its newest checkpoint: this invocation trains only
    the epochs left, and the run ends with the bits of an uninterrupted one."""
    longer = ("--num-epochs", "3", "--lr-decay-epoch", "1")
    straight = views.get("train", longer, twice=True)
    folder = views.folder()
    views.train(views.expand(("--num-epochs", "2", "--lr-decay-epoch", "1")), folder)
    resumed = views.train(["--resume", "run", "--num-epochs", "3"], folder)
    assert straight["error"] is None and resumed["error"] is None
    assert "resumed from" in resumed["said"] and "resumed from" not in straight["said"]
    assert "epoch 3/3 |" in resumed["said"] and "epoch 1/3 |" not in resumed["said"]
    assert resumed["lr"] == straight["lr"] and resumed["loss"] == straight["loss"]


def observe_overwrite(views):
    """--overwrite replaces the run in --save-dir, which is refused without it."""
    folder = views.folder()
    first = views.train(["--num-epochs", "1"], folder)
    again = views.train(["--num-epochs", "2"], folder)
    replaced = views.train(["--num-epochs", "2", "--overwrite"], folder)
    assert first["error"] is None and "already holds a run" in again["error"]
    assert again["eval"] == first["eval"] and replaced["error"] is None
    assert [e[0] for e in replaced["eval"]] == [1, 2]


def observe_print_config(views):
    """--print-config prints the resolved settings as JSON and trains nothing."""
    printed = views.cli(["train", *BASE, "--print-config"], views.folder())
    assert printed["code"] == 0 and printed["contents"] == {}
    assert json.loads("\n".join(printed["said"]))["model"] == "mobilenet0.25"
    trained = views.cli(["train", *BASE, "--num-epochs", "1"], views.folder())
    assert trained["code"] == 0 and "run/checkpoints/best/model.params" in trained["contents"]


def fp16_run(views, *flags):
    with contextlib.chdir(views.folder()):
        cfg = config(*BASE, "--dtype", "float16", *flags)
        return Run(cfg, Distribution(cfg))


def observe_dtype(views):
    """--dtype float16: the network holds float16 weights (BatchNorm's stay float32)."""
    dtypes = {np.dtype(a.dtype).name for a in views.get("start", (), twice=True)["initial"]}
    assert dtypes == {"float32"}
    run = fp16_run(views)
    assert {np.dtype(p.dtype).name for p in run.params} == {"float16", "float32"}


def observe_loss_scale(views):
    """--loss-scale: under the dynamic scale (2^16) a gradient of 2 per float16 parameter
    overflows float16 and the update is skipped; at a fixed scale of 128 the same gradient is
    applied. (An FP16 training step needs a GPU: the gradients come from a loss on the
    parameters, as in test_loose_behaviours.py.)"""
    outcomes = []
    for flags in ((), ("--loss-scale", "128")):
        run = fp16_run(views, *flags)
        with autograd.record():
            loss = mx.nd.add_n(*[(p.data().astype("float32") * (2 * run.scaler.scale)).sum()
                                 for p in run.params])
        loss.backward()
        outcomes.append(apply_update(run.trainer, run.params, run.scaler, 1, run.contexts[0]))
    assert outcomes == [False, True]


def observe_cli_overwrite(base):
    def observe(views):
        """--overwrite replaces what an earlier run of the command wrote, refused without it."""
        folder = views.folder()
        args = views.expand(base)
        first = views.cli(args, folder)
        again = views.cli(args, folder)
        replaced = views.cli(args + ["--overwrite"], folder)
        assert first["code"] == 0 and again["code"] == 2 and replaced["code"] == 0
        assert "--overwrite" in again["error"]
    return observe


CUSTOM = {
    "train --resume": observe_resume,
    "train --overwrite": observe_overwrite,
    "train --print-config": observe_print_config,
    "train --dtype": observe_dtype,
    "train --loss-scale": observe_loss_scale,
    "prepare --overwrite": observe_cli_overwrite(FOLDER),
    "export --overwrite": observe_cli_overwrite(EXPORT),
}
CUSTOM.update({"%s %s" % (task, flag): observe(task) for task in TASKS
               for flag, observe in (("--overwrite", observe_task_overwrite),
                                     ("--resume", observe_task_resume))})
TRANSFER = {"%s %s" % (task, flag): task_change(task, *how) for task in TASKS
            for flag, how in dict(SHARED, **OWN[task]).items()}
OBSERVED = dict({"train " + flag: change for flag, change in TRAIN.items()}, **OTHERS, **CUSTOM,
                **TRANSFER)


# -- the tests --------------------------------------------------------------------------------

PARSER = cli.build_parser()
DECLARED = declared(PARSER)


def test_every_command_is_in_scope_or_says_why_not():
    assert set(commands(PARSER)) == set(SCOPE) | set(ELSEWHERE)


def test_every_declared_option_is_observed_or_says_why():
    assert coverage_problems(DECLARED, OBSERVED) == []
    unobservable = {k for k, a in DECLARED.items() if getattr(a, "unobservable", None)}
    assert len(DECLARED) == len(OBSERVED) + len(unobservable)


def test_a_new_option_without_either_fails():
    """An option added to TrainConfig, or a plain flag added to a command, is reported until a
    test observes it or its declaration says why none can."""
    @dataclasses.dataclass
    class Grown(TrainConfig):
        new_knob: int = options.option(0, "--new-knob", group="model", help="a new option")
        quiet_knob: int = options.option(0, "--quiet-knob", group="model", help="another",
                                         unobservable="changes nothing a test can see")

    parser = cli.OneLineParser()
    sub = parser.add_subparsers(dest="command")
    train_parser = sub.add_parser("train")
    options.add_arguments(train_parser, Grown)
    eval_parser = sub.add_parser("eval")
    eval_parser.add_argument("--new-flag")
    options.unobservable(eval_parser.add_argument("--quiet-flag"), "speed only")
    found = declared(parser)
    observed = {k: v for k, v in OBSERVED.items() if k in found}
    assert coverage_problems(found, observed) == [
        "eval --new-flag: no test observes it and its declaration does not say why "
        "(unobservable=...)",
        "train --new-knob: no test observes it and its declaration does not say why "
        "(unobservable=...)"]
    assert coverage_problems(found, dict(observed, **{"train --quiet-knob": None}))[0] == \
        "eval --new-flag: no test observes it and its declaration does not say why " \
        "(unobservable=...)"
    assert "train --quiet-knob is observed here but declared unobservable (changes nothing a " \
           "test can see)" in coverage_problems(found, dict(observed, **{"train --quiet-knob": 0}))
    assert "train --gone is observed here but no command declares it" in \
        coverage_problems(found, dict(observed, **{"train --gone": 0}))


@pytest.mark.parametrize("key", sorted(k for k in OBSERVED if k in DECLARED))
def test_option_changes_what_a_user_sees(key, views, trained):
    observation = OBSERVED[key]
    if callable(observation):
        observation(views)
        return
    base = views.get(observation.view, observation.base, twice=True)
    changed = views.get(observation.view, observation.base + observation.change)
    if observation.seen not in ("error", "code"):
        assert base["error"] is None and changed["error"] is None, (base["error"],
                                                                    changed["error"])
    assert not same(base[observation.seen], changed[observation.seen]), observation
