"""make-demo-data: counts, sizes, determinism, reuse of a complete set, and no colour shortcut."""
import os

import cv2
import mxnet as mx
import numpy as np
import pytest

from cli import one_line_error, run_cli
from gluon_tricks.data import recordfile
from gluon_tricks.datasets import demo
from gluon_tricks.errors import UsageError

TRAIN, VAL = 16, 8


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("demo"))
    return demo.make_demo_data(out, seed=0, train_per_class=TRAIN, val_per_class=VAL, threads=2,
                               progress=False)


def records(paths, split):
    """(label, BGR image) of every record of a split, read with MXNet's reader."""
    reader = mx.recordio.MXIndexedRecordIO(paths[split + "_idx"], paths[split + "_rec"], "r")
    rows = []
    for key in reader.keys:
        header, image = mx.recordio.unpack_img(reader.read_idx(key))
        rows.append((int(header.label), image))
    reader.close()
    return rows


def test_counts_classes_and_image_sizes(built):
    classes = sorted(demo.KINDS)
    for split, per_class in (("train", TRAIN), ("val", VAL)):
        assert recordfile.read_classes(built[split + "_classes"]) == classes
        assert recordfile.require_record_pair(built[split + "_rec"], built[split + "_idx"]) == 10 * per_class
        rows = records(built, split)
        assert np.bincount([label for label, _ in rows]).tolist() == [per_class] * 10
        for _, image in rows:
            assert image.shape[2] == 3
            assert all(demo.MIN_SIDE <= side <= demo.MAX_SIDE for side in image.shape[:2])
        for label, name in enumerate(classes):
            assert len(os.listdir(os.path.join(built[split + "_images"], name))) == per_class
    train_labels = [label for label, _ in records(built, "train")]
    assert train_labels != sorted(train_labels)   # train is shuffled


def colour_histogram(image):
    """Fraction of pixels in each of 4x4x4 colour bins."""
    bins = (image // 64).reshape(-1, 3).astype(np.int64) @ np.array([16, 4, 1])
    return np.bincount(bins, minlength=64) / bins.size


def test_colour_alone_does_not_predict_the_class(built):
    """Two colour-only classifiers must stay near chance (0.1 for 10 classes): nearest class mean
    on per-image mean RGB, and naive Bayes on which colour bins an image contains (this one
    scores ~0.55 if the foreground colour depends on the class)."""
    def features(split):
        rows = records(built, split)
        return (np.stack([image.reshape(-1, 3).mean(0) for _, image in rows]),
                np.stack([colour_histogram(image) > 0.01 for _, image in rows]),
                np.array([label for label, _ in rows]))

    train_mean, train_bins, train_y = features("train")
    val_mean, val_bins, val_y = features("val")
    centres = np.stack([train_mean[train_y == label].mean(0) for label in range(10)])
    nearest = np.argmin(((val_mean[:, None] - centres[None]) ** 2).sum(-1), axis=1)
    assert (nearest == val_y).mean() < 0.35
    present = np.stack([(train_bins[train_y == label].sum(0) + 1) / ((train_y == label).sum() + 2)
                        for label in range(10)])
    log_likelihood = val_bins @ np.log(present).T + (~val_bins) @ np.log(1 - present).T
    assert (log_likelihood.argmax(1) == val_y).mean() < 0.35


def test_same_seed_gives_identical_bytes_and_other_seed_differs(tmp_path):
    outputs = []
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        paths = demo.make_demo_data(str(tmp_path / name), seed=seed, classes=3, train_per_class=3,
                                    val_per_class=1, threads=2, progress=False)
        outputs.append([open(paths[key], "rb").read() for key in ("train_rec", "train_idx", "val_rec")])
    assert outputs[0] == outputs[1]
    assert outputs[0][0] != outputs[2][0]


def test_complete_set_is_reused_and_anything_else_needs_overwrite(tmp_path, capsys):
    old = 10 ** 18   # an mtime far in the past marks "not rewritten since"

    def build(**kwargs):
        options = dict(seed=1, classes=2, train_per_class=2, val_per_class=1, threads=2, progress=False)
        return demo.make_demo_data(str(tmp_path), **dict(options, **kwargs))

    def age(paths):
        os.utime(paths["train_rec"], ns=(old, old))

    def rebuilt(paths):
        return os.stat(paths["train_rec"]).st_mtime_ns != old

    paths = build()
    age(paths)
    capsys.readouterr()
    assert not rebuilt(build())
    assert "reusing" in capsys.readouterr().err
    assert rebuilt(build(overwrite=True))
    age(paths)
    with pytest.raises(UsageError, match="already exists and this command did not make it"):
        build(classes=3)   # a set with other parameters is not replaced without --overwrite
    assert not rebuilt(paths)
    assert rebuilt(build(classes=3, overwrite=True))
    assert sorted(os.listdir(paths["train_images"])) == sorted(demo.KINDS[:3])
    age(paths)
    with open(paths["val_rec"], "ab") as handle:   # changed since the last build: not ours now
        handle.write(b"junk")
    with pytest.raises(UsageError, match="--overwrite"):
        build(classes=3)
    assert not rebuilt(paths)


def test_refuses_foreign_images_folder_and_bad_parameters(tmp_path):
    (tmp_path / "images" / "train").mkdir(parents=True)
    with pytest.raises(UsageError, match="images already exists and this command did not make it"):
        demo.make_demo_data(str(tmp_path), classes=2, train_per_class=1, val_per_class=1, progress=False)
    with pytest.raises(UsageError, match="--classes"):
        demo.make_demo_data(str(tmp_path / "x"), classes=11)


def test_cli_builds_and_reports_bad_options(tmp_path):
    proc = run_cli("make-demo-data", tmp_path / "d", "--classes", "2", "--train-per-class", "2",
                   "--val-per-class", "1")
    assert proc.returncode == 0, proc.stderr
    assert os.path.join(str(tmp_path / "d"), "train.rec") in proc.stdout
    assert len(records(demo.demo_paths(str(tmp_path / "d")), "train")) == 4
    line = one_line_error(run_cli("make-demo-data", tmp_path / "e", "--classes", "1"))
    assert "--classes must be between 2 and 10" in line
