"""Six behaviours a one-line change could break while every other test still passed (issue 25),
each observed where a user sees it: the ``best`` checkpoint after a resume, the FP16 step skipped
when one gradient dtype overflows, the JPEG quality ``prepare`` stores, ``check-rec`` naming a
record damaged at its end, the body's and the classifier's learning rates of one update, and the
classifier taken from the file when fine-tuning with its class count. Each is a named mutation of
``tools/mutation_check.py``."""
import json
import os

import cv2
import mxnet as mx
import numpy as np
from mxnet import autograd

from _records import write_rec
from cli import run_cli
from loop import make_run
from gluon_tricks.data import codec
from gluon_tricks.models import get_model, initialize
from gluon_tricks.precision import apply_update

# mobilenet0.25 at 32 px on 4 classes: the smallest network the loop trains.
SMALL = ("--model", "mobilenet0.25", "--input-size", "32", "--classes", "4", "--batch-size", "4",
         "--threads", "1")


def start_file(path, classifier=None, classes=4):
    """A mobilenet0.25 ``.params`` file to fine-tune from: initialised body, and a classifier of
    ``classes`` rows whose arrays no initialiser draws (``classifier``: (weight, bias) given)."""
    net = get_model("mobilenet0.25", classes=classes)
    net.infer_shape(mx.nd.zeros((1, 3, 32, 32)))
    initialize(net)
    weight, bias = classifier or (np.linspace(-1, 1, net.output.weight.shape[0] * 256)
                                  .reshape(net.output.weight.shape), np.arange(classes) / 10.0)
    net.output.weight.set_data(mx.nd.array(weight))
    net.output.bias.set_data(mx.nd.array(bias))
    net.save_parameters(str(path))
    return path


def arrays(net, path):
    """The arrays of ``net`` by structural name (``output.weight``), as saved in a file."""
    net.save_parameters(str(path))
    return {k: v.asnumpy() for k, v in mx.nd.load(str(path)).items()}


def events(run_dir, kind):
    with open(os.path.join(run_dir, "metrics.jsonl"), encoding="utf-8") as f:
        return [e for e in map(json.loads, f) if e["kind"] == kind]


def state(run_dir, name):
    with open(os.path.join(run_dir, "checkpoints", name, "state.json"), encoding="utf-8") as f:
        return json.load(f)


# -- 1. resume keeps the best top-1 ------------------------------------------------------------

def test_resume_across_a_better_then_worse_pair_keeps_the_best_checkpoint(tmp_path):
    """Epochs 1-2 score 100 % top-1, the resumed epoch 3 scores 50 %: ``checkpoints/best`` stays
    epoch 1's weights with top-1 1.0. A resumed run that forgot the best top-1 (0) would take
    epoch 3 as an improvement and replace ``best``.

    The scores are set by construction: the network starts from a file whose classifier is
    weight 0, bias (50, 0, 0, 0), so it predicts class 0 for every image; the training labels are
    all 0, so its loss and gradients are ~0 and it keeps doing so. The validation labels are all
    0 for epochs 1-2, and half 0 for the resumed epoch (``--rec-val``, which a resume may change;
    its index is the one beside it).
    """
    data = tmp_path / "data"
    data.mkdir()
    write_rec(data, 8, classes=4, labels=[0] * 8, name="train")
    write_rec(data, 8, classes=4, labels=[0] * 8, name="all-zero", seed=1)
    write_rec(data, 8, classes=4, labels=[0, 1] * 4, name="half-zero", seed=1)
    start = start_file(tmp_path / "start.params", (np.zeros((4, 256)), [50.0, 0, 0, 0]))
    run = tmp_path / "run"
    proc = run_cli("train", *SMALL, "--save-dir", run, "--pretrained", start,
                   "--rec-train", data / "train.rec", "--rec-val", data / "all-zero.rec",
                   "--num-epochs", "2", "--lr-decay-epoch", "1", "--save-frequency", "1")
    assert proc.returncode == 0, proc.stderr
    proc = run_cli("train", "--resume", run, "--num-epochs", "3", "--rec-val",
                   data / "half-zero.rec")
    assert proc.returncode == 0, proc.stderr
    assert "resumed from" in proc.stdout
    assert [(e["epoch"], e["top1"]) for e in events(run, "eval")] == [(1, 1.0), (2, 1.0),
                                                                     (3, 0.5)]
    best = state(run, "best")
    assert (best["epoch"], best["best"]) == (1, 1.0)
    assert state(run, "epoch-0003")["best"] == 1.0
    model = "model.params"
    assert (run / "checkpoints" / "best" / model).read_bytes() == \
        (run / "checkpoints" / "epoch-0001" / model).read_bytes()
    assert "done: best val top-1 1.0000" in proc.stdout


def test_resume_reads_the_records_where_a_new_data_dir_says(tmp_path):
    """The data moved after the first epochs (A renamed B): ``train --resume RUN --data-dir B``
    (README's advice after repairing a record file) reads B's four files, not the saved paths
    into A, and the run goes on."""
    old, new = tmp_path / "A", tmp_path / "B"
    old.mkdir()
    write_rec(old, 8, classes=4, name="train")
    write_rec(old, 8, classes=4, name="val", seed=1)
    run = tmp_path / "run"
    proc = run_cli("train", *SMALL, "--save-dir", run, "--data-dir", old, "--num-epochs", "2",
                   "--lr-decay-epoch", "1")
    assert proc.returncode == 0, proc.stderr
    os.rename(old, new)
    proc = run_cli("train", "--resume", run, "--num-epochs", "3", "--data-dir", new)
    assert proc.returncode == 0, proc.stderr
    with open(run / "config.json", encoding="utf-8") as f:
        saved = json.load(f)
    assert [saved[k] for k in ("rec_train", "rec_train_idx", "rec_val", "rec_val_idx")] == \
        [str(new / name) for name in ("train.rec", "train.idx", "val.rec", "val.idx")]
    assert [e["epoch"] for e in events(run, "eval")] == [1, 2, 3]


# -- 2. FP16: a step with an overflow in either gradient dtype is skipped --------------------------

def test_fp16_step_is_skipped_when_only_one_gradient_dtype_overflows(tmp_path):
    """An FP16 network holds float16 conv and dense parameters and float32 BatchNorm ones
    (mobilenet0.25 cast by the run itself). Under the dynamic loss scale (2^16 at first), a
    gradient of 2 per float16 parameter becomes 131072 in float16, past its largest finite value
    (65504); a gradient of 10^35 per float32 one becomes 3·10^39, past float32's. When only the
    float16 group overflows, and when only the float32 group does, the update of the run's own
    trainer is skipped (no parameter of either dtype moves) and the scale is halved; with both
    finite it is applied at that scale.

    The gradients come from a loss written on the parameters themselves (MXNet has no FP16
    convolution on CPU): only a GPU run shows that a real backward through the network yields
    these two dtype groups, and the skipped steps and scale in metrics.jsonl."""
    run = make_run(tmp_path, "--model", "mobilenet0.25", "--dtype", "float16", "--lr", "0.1",
                   "--wd", "0", "--momentum", "0")
    half = [p for p in run.params if np.dtype(p.dtype) == np.float16]
    single = [p for p in run.params if np.dtype(p.dtype) == np.float32]
    assert len(half) > 20 and len(single) > 20
    assert any(len(p.shape) == 2 for p in half)          # the classifier (Dense) among them

    def values():
        return [p.data().asnumpy().copy() for p in run.params]

    def step(per_half, per_single):
        scale = run.scaler.scale
        with autograd.record():
            loss = mx.nd.add_n(*[(p.data().astype("float32") * (scale * per_half)).sum()
                                 for p in half],
                               *[(p.data() * (scale * per_single)).sum() for p in single])
        loss.backward()
        return apply_update(run.trainer, run.params, run.scaler, 1, run.contexts[0])

    for per_half, per_single, expected_scale in ((2.0, 1.0, 2.0 ** 15),
                                                 (2 ** -17, 1e35, 2.0 ** 14)):
        before = values()
        assert not step(per_half, per_single)
        finite = {np.dtype(p.dtype).name: bool(np.isfinite(p.grad().asnumpy()).all())
                  for p in (half[0], single[0])}
        assert finite == {"float16": per_half != 2.0, "float32": per_single == 1.0}
        assert all(np.array_equal(a, b) for a, b in zip(before, values()))
        assert run.scaler.scale == expected_scale
    assert run.scaler.skipped == 2
    before = values()
    assert step(2 ** -17, 1.0)
    moved = {np.dtype(p.dtype).name for p, a in zip(run.params, before)
             if not np.array_equal(a, p.data().asnumpy())}
    assert moved == {"float16", "float32"}
    assert run.scaler.scale == 2.0 ** 14 and run.scaler.skipped == 2


# -- 3. prepare --quality ----------------------------------------------------------------------

# The luminance quantisation table of the JPEG standard (ITU-T T.81 Annex K.1), row by row;
# libjpeg scales it by the quality (jcparam.c): 5000/q % below q = 50, else (200 − 2q) %.
LUMINANCE = np.array([
    [16, 11, 10, 16, 24, 40, 51, 61], [12, 12, 14, 19, 26, 58, 60, 55],
    [14, 13, 16, 24, 40, 57, 69, 56], [14, 17, 22, 29, 51, 87, 80, 62],
    [18, 22, 37, 56, 68, 109, 103, 77], [24, 35, 55, 64, 81, 104, 113, 92],
    [49, 64, 78, 87, 103, 121, 120, 101], [72, 92, 95, 98, 112, 100, 103, 99]])


def zigzag():
    """(row, column) of the 64 coefficients in the zig-zag order a DQT segment stores them in."""
    order = []
    for s in range(15):
        rows = range(max(0, s - 7), min(s, 7) + 1)
        order += [(r, s - r) for r in (rows if s % 2 else reversed(rows))]
    return order


def expected_luminance(quality):
    scale = 5000 // quality if quality < 50 else 200 - 2 * quality
    table = np.clip((LUMINANCE * scale + 50) // 100, 1, 255)
    return [int(table[r, c]) for r, c in zigzag()]


def quantisation_tables(jpeg):
    """{table id: 64 values in stored order} of a baseline JPEG's DQT segments."""
    tables, at = {}, 2
    while jpeg[at] == 0xFF and jpeg[at + 1] != 0xDA:          # up to the start of scan
        length = int.from_bytes(jpeg[at + 2:at + 4], "big")
        if jpeg[at + 1] == 0xDB:
            segment = jpeg[at + 4:at + 2 + length]
            while segment:
                assert segment[0] >> 4 == 0                       # 8-bit precision
                tables[segment[0] & 15] = list(segment[1:65])
                segment = segment[65:]
        at += 2 + length
    return tables


def jpeg_payloads(prefix):
    reader = mx.recordio.MXIndexedRecordIO(prefix + ".idx", prefix + ".rec", "r")
    payloads = [mx.recordio.unpack(reader.read_idx(key))[1] for key in reader.keys]
    reader.close()
    return payloads


def noisy_folder(root, count=4, side=96):
    """root/a and root/b with ``count`` lossless noisy PNGs in all (re-encoded by prepare)."""
    rng = np.random.default_rng(0)
    for i in range(count):
        folder = root / "ab"[i % 2]
        folder.mkdir(parents=True, exist_ok=True)
        image = rng.integers(0, 256, (side, side, 3)).astype(np.uint8)
        cv2.imwrite(str(folder / ("%d.png" % i)), cv2.GaussianBlur(image, (3, 3), 0))
    return root


def test_prepare_stores_jpegs_at_the_quality_asked(tmp_path):
    """Every record of ``prepare --quality 50`` holds libjpeg's luminance table for quality 50,
    and of the default (95) the one for 95; the quality-50 records are smaller."""
    src = noisy_folder(tmp_path / "src")
    sizes = {}
    for quality in (50, None):
        prefix = str(tmp_path / ("q%s" % quality))
        flags = ("--quality", str(quality)) if quality else ()
        proc = run_cli("prepare", "folder", src, prefix, "--no-shuffle", *flags)
        assert proc.returncode == 0, proc.stderr
        payloads = jpeg_payloads(prefix)
        assert len(payloads) == 4
        for payload in payloads:
            assert quantisation_tables(payload)[0] == expected_luminance(quality or 95)
        sizes[quality] = [len(p) for p in payloads]
    assert expected_luminance(50) != expected_luminance(95)
    assert all(a < b for a, b in zip(sizes[50], sizes[None]))


# -- 4. check-rec: the checksum covers the whole payload ------------------------------------------

def test_check_rec_names_a_record_damaged_at_its_last_image_byte(tmp_path):
    """The last byte of entropy-coded data of one record (just before the end-of-image marker,
    several KiB into the payload) is changed so that the JPEG still decodes, strictly: only the
    CRC-32 that prepare stored over the whole payload tells, and check-rec names that record."""
    src = noisy_folder(tmp_path / "src")
    prefix = str(tmp_path / "data")
    assert run_cli("prepare", "folder", src, prefix, "--no-shuffle").returncode == 0
    reader = mx.recordio.MXIndexedRecordIO(prefix + ".idx", prefix + ".rec", "r")
    key = reader.keys[2]
    offset = reader.idx[key]
    record = reader.read_idx(key)
    reader.close()
    body = mx.recordio.unpack(record)[1]
    assert len(body) > 4096 and body.endswith(b"\xff\xd9")
    damaged = bytearray(body)
    damaged[-3] ^= 0x01                                  # the last byte before FF D9
    codec.decode(bytes(damaged), strict=True)            # libjpeg sees nothing wrong
    with open(prefix + ".rec", "r+b") as f:
        at = offset + 8 + len(record) - 3                 # 8: the frame header
        f.seek(at)
        assert f.read(1)[0] == body[-3]
        f.seek(at)
        f.write(bytes([damaged[-3]]))
    for flags in ((), ("--no-decode",)):
        proc = run_cli("check-rec", prefix + ".rec", *flags)
        assert proc.returncode == 1, (proc.stdout, proc.stderr)
        named = [line for line in proc.stdout.splitlines() if "checksum mismatch" in line]
        assert len(named) == 1 and ("byte %d" % offset) in named[0], proc.stdout


# -- 5. --lr-mult-body: the body's lr, not the classifier's ---------------------------------------

def test_lr_mult_body_scales_every_update_but_the_classifiers(tmp_path):
    """Fine-tuning with --lr-mult-body 0.1 (no momentum, no weight decay): one update moves every
    body parameter by −0.1 × lr × its batch-mean gradient and the classifier's weight and bias by
    −lr × theirs, as the run's trainer applies them."""
    lr, mult, batch = 0.5, 0.1, 8
    start = start_file(tmp_path / "start.params")
    run = make_run(tmp_path / "run", "--model", "mobilenet0.25", "--pretrained", start,
                   "--lr-mult-body", mult, "--lr", lr, "--momentum", "0", "--wd", "0")
    classifier = {id(run.net.output.weight), id(run.net.output.bias)}
    before = [p.data().asnumpy().astype(np.float64) for p in run.params]
    run.step(next(run.epoch_batches(0)), False, np.random.RandomState(0))
    checked = {True: 0, False: 0}
    for param, old in zip(run.params, before):
        grad = param.grad().asnumpy().astype(np.float64) / batch
        is_head = id(param) in classifier
        expected = lr * (1.0 if is_head else mult) * grad
        moved = old - param.data().asnumpy()
        tolerance = 2 * np.spacing(np.abs(old).astype(np.float32)) + 1e-3 * np.abs(expected)
        assert (np.abs(moved - expected) <= tolerance).all(), param.name
        checked[is_head] += np.abs(expected).max() > 1e-4
    assert checked[True] == 2 and checked[False] > 20


# -- 6. fine-tuning with the file's class count takes its classifier -----------------------------

def test_finetuning_with_the_files_class_count_starts_from_its_classifier(tmp_path):
    """--pretrained with the same 4 classes: before the first update every array of the network,
    the classifier's included, equals the file's (whose classifier no initialiser would draw)."""
    start = start_file(tmp_path / "start.params")
    run = make_run(tmp_path / "run", "--model", "mobilenet0.25", "--pretrained", start)
    file = {k: v.asnumpy() for k, v in mx.nd.load(str(start)).items()}
    net = arrays(run.net, tmp_path / "net.params")
    assert net.keys() == file.keys() and {"output.weight", "output.bias"} <= net.keys()
    for key in net:
        assert np.array_equal(net[key], file[key]), key
