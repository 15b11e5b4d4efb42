"""Data from someone else is read as data only: an image whose header declares more pixels than
--max-image-pixels is named before anything decodes it (its memory measured), a list cannot
name files outside its data set, a wrong label cannot make a huge network, a damaged index is
one line, and ``launch`` imports nothing from the folder it runs in. (README, "Other files
from someone else".)"""
import os
import shutil
import sys

import cv2
import mxnet as mx
import numpy as np
import pytest
import simplejpeg

from _images import flat_jpeg, png_header
from cli import ROOT, import_peak_mb, one_line_error, run, run_cli, run_cli_peak
from gluon_tricks.data import imagesize, recordfile
from gluon_tricks.errors import UsageError
from gluon_tricks.launch import WORKER_CODE
from transfer_data import make_ade, make_voc, save_backbone

MEMORY_MARGIN_MB = 300      # what a refused command may add to a process that imports the CLI
HUGE = flat_jpeg(20000, 20000)      # 1.6 MB on disk, 1.2 GB as a decoded BGR image
TINY_TRAIN = ("--model", "resnet18_v1b", "--input-size", "32", "--batch-size", "2", "--threads",
              "1", "--num-epochs", "1", "--batches-per-epoch", "2")


def small_jpeg(seed, size=(40, 32)):
    image = np.random.RandomState(seed).randint(0, 256, (size[1], size[0], 3)).astype(np.uint8)
    return cv2.imencode(".jpg", image)[1].tobytes()


def pack(path, payloads):
    """Write ``path``.rec/.idx holding (label, image bytes) records; returns the .rec path."""
    writer = mx.recordio.MXIndexedRecordIO(str(path) + ".idx", str(path) + ".rec", "w")
    for key, (label, data) in enumerate(payloads):
        writer.write_idx(key, mx.recordio.pack(mx.recordio.IRHeader(0, label, key, 0), data))
    writer.close()
    return str(path) + ".rec"


def data_dir(tmp_path, train_extra=(), val_extra=()):
    """train/val record files of small JPEGs (labels 0-2) plus the given (label, bytes)."""
    folder = tmp_path / "data"
    folder.mkdir()
    pack(folder / "train", [(i % 3, small_jpeg(i)) for i in range(6)] + list(train_extra))
    pack(folder / "val", [(i % 3, small_jpeg(10 + i)) for i in range(3)] + list(val_extra))
    return folder


def offset_of(rec, key):
    return dict(line_entries(os.path.splitext(rec)[0] + ".idx"))[key]


def line_entries(idx):
    with open(idx) as f:
        return [tuple(map(int, line.split("\t"))) for line in f]


@pytest.fixture(scope="module")
def backbone_file(tmp_path_factory):
    return save_backbone(str(tmp_path_factory.mktemp("backbone") / "resnet18_v1d.params"))


# --- images larger than the limit ------------------------------------------------------------

@pytest.mark.parametrize("ext", [".jpg", ".png", ".bmp", ".ppm", ".pgm", ".tif", ".webp"])
def test_header_sizes_are_what_the_decoder_makes(ext):
    image = np.random.RandomState(0).randint(0, 256, (37, 53, 3)).astype(np.uint8)
    data = cv2.imencode(ext, image[:, :, 0] if ext == ".pgm" else image)[1].tobytes()
    assert imagesize.size_of_bytes(data) == cv2.imdecode(np.frombuffer(data, np.uint8),
                                                         cv2.IMREAD_UNCHANGED).shape[:2] == (37, 53)


def test_a_jpeg_frame_header_is_found_where_libjpeg_finds_it():
    """Behind a 60 KB EXIF-like segment (past the first read), and after stray bytes, which
    libjpeg skips with a warning: hiding the frame header there must not hide the size."""
    data = flat_jpeg(30000, 20000)
    padded = data[:2] + b"\xff\xe1" + (60002).to_bytes(2, "big") + b"\0" * 60000 + data[2:]
    stray = data[:2] + b"junk" + data[2:]
    for variant in (data, padded, stray):
        assert simplejpeg.decode_jpeg_header(variant, strict=False)[:2] == (20000, 30000)
        assert imagesize.size_of_bytes(variant) == (20000, 30000)
    assert imagesize.size_of_bytes(b"not an image at all") is None


def test_prepare_skips_a_huge_image_by_name_without_decoding_it(tmp_path):
    for name, data in (("a/small.jpg", small_jpeg(0)), ("b/huge.jpg", HUGE),
                       ("b/small.jpg", small_jpeg(1))):
        (tmp_path / "src" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "src" / name).write_bytes(data)
    proc, peak = run_cli_peak("prepare", "folder", tmp_path / "src", tmp_path / "out" / "data",
                              "--threads", "1")
    assert proc.returncode == 0, proc.stderr
    assert "packed 2 images" in proc.stdout
    assert "huge.jpg: its header declares 20000×20000 = 400,000,000 pixels, more than " \
           "--max-image-pixels 89,478,485" in proc.stdout
    assert peak < import_peak_mb() + MEMORY_MARGIN_MB


def test_the_limit_is_one_flag_on_every_command(tmp_path):
    """A 100×80 image passes the default limit and is refused under --max-image-pixels 5000."""
    (tmp_path / "src" / "a").mkdir(parents=True)
    (tmp_path / "src" / "b").mkdir()
    (tmp_path / "src" / "a" / "x.jpg").write_bytes(small_jpeg(0, (100, 80)))
    (tmp_path / "src" / "b" / "y.jpg").write_bytes(small_jpeg(1, (100, 80)))
    proc = run_cli("prepare", "folder", tmp_path / "src", tmp_path / "low",
                   "--max-image-pixels", "5000")
    line = proc.stderr.splitlines()[-1]     # after the progress bar
    assert proc.returncode == 2 and "no readable images" in line and "100×80" in line
    proc = run_cli("prepare", "folder", tmp_path / "src", tmp_path / "ok", "--max-image-pixels",
                   "8000")
    assert proc.returncode == 0 and "packed 2 images" in proc.stdout, proc.stderr
    proc = run_cli("check-rec", tmp_path / "ok.rec", "--max-image-pixels", "5000")
    assert proc.returncode == 1 and "more than --max-image-pixels 5,000" in proc.stdout
    for command in ("train", "eval", "zoo-check", "figures", "detect", "segment"):
        assert "--max-image-pixels N" in run_cli(command, "--help").stdout, command
    line = one_line_error(run_cli("check-rec", tmp_path / "ok.rec", "--max-image-pixels", "0"))
    assert "--max-image-pixels" in line and "≥ 1" in line


def test_check_rec_names_a_huge_image(tmp_path):
    rec = pack(tmp_path / "data", [(0, small_jpeg(0)), (1, HUGE), (2, small_jpeg(2))])
    proc, peak = run_cli_peak("check-rec", rec, "--threads", "1")
    assert proc.returncode == 1, proc.stderr
    assert "record 1 (idx key 1) at byte %d: its header declares 20000×20000" \
           % offset_of(rec, 1) in proc.stdout
    assert peak < import_peak_mb() + MEMORY_MARGIN_MB


def test_train_names_a_huge_training_image_before_anything_is_written(tmp_path):
    data = data_dir(tmp_path, train_extra=[(1, HUGE)])
    proc, peak = run_cli_peak("train", "--data-dir", data, "--save-dir", tmp_path / "run",
                              *TINY_TRAIN)
    line = one_line_error(proc)
    assert "train.rec: record 6 (byte %d): its header declares 20000×20000" \
           % offset_of(str(data / "train.rec"), 6) in line
    assert not (tmp_path / "run").exists()
    assert peak < import_peak_mb() + MEMORY_MARGIN_MB


def test_eval_names_a_huge_validation_image(tiny_run, tmp_path):
    data = data_dir(tmp_path, val_extra=[(2, HUGE)])
    proc, peak = run_cli_peak("eval", tiny_run, "--rec", data / "val.rec", "-j", "1")
    line = one_line_error(proc)
    assert "val.rec: record 3 (byte %d): its header declares 20000×20000" \
           % offset_of(str(data / "val.rec"), 3) in line
    assert peak < import_peak_mb() + MEMORY_MARGIN_MB


def test_segment_names_a_huge_ade20k_image_or_label(tmp_path, backbone_file):
    base = make_ade(str(tmp_path / "ade"), train=2, val=1)
    image = os.path.join(base, "images", "training", "ADE_train_00000002.jpg")
    label = os.path.join(base, "annotations", "training", "ADE_train_00000002.png")
    args = ("segment", "--data-root", base, "--backbone", "resnet18_v1d", "--backbone-params",
            backbone_file, "--num-epochs", "1", "-j", "0", "--save-dir", tmp_path / "run")
    with open(image, "wb") as f:
        f.write(HUGE)
    proc, peak = run_cli_peak(*args)
    line = one_line_error(proc)
    assert image + ": its header declares 20000×20000" in line
    assert peak < import_peak_mb() + MEMORY_MARGIN_MB
    with open(label, "wb") as f:
        f.write(png_header(30000, 30000))
    line = one_line_error(run_cli(*args, "--max-image-pixels", str(10 ** 9)))
    assert label + " is 30000×30000 but its image" in line
    assert not (tmp_path / "run").exists()


def test_detect_names_a_huge_voc_image(tmp_path, backbone_file):
    root = make_voc(str(tmp_path / "VOCdevkit"))
    image = os.path.join(root, "VOC2012", "JPEGImages", "2012_000005.jpg")
    with open(image, "wb") as f:
        f.write(HUGE)
    proc, peak = run_cli_peak("detect", "--data-root", root, "--backbone", "resnet18_v1d",
                              "--backbone-params", backbone_file, "--num-epochs", "1", "-j", "0",
                              "--save-dir", tmp_path / "run")
    line = one_line_error(proc)
    assert image + ": its header declares 20000×20000" in line
    assert peak < import_peak_mb() + MEMORY_MARGIN_MB


# --- lists that lead outside their data set --------------------------------------------------

def places_root(tmp_path, train_lines):
    root = tmp_path / "places"
    for name in ("data_256/a/abbey/00000001.jpg", "val_256/Places365_val_00000001.jpg"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(small_jpeg(0))
    (root / "places365_train_standard.txt").write_text("".join(l + "\n" for l in train_lines))
    (root / "places365_val.txt").write_text("Places365_val_00000001.jpg 0\n")
    (tmp_path / "secret").mkdir()
    (tmp_path / "secret" / "photo.jpg").write_bytes(small_jpeg(1))
    return root


@pytest.mark.parametrize("how", ["dotdot", "symlink"])
def test_a_places365_list_line_leading_outside_its_root_is_named(tmp_path, how):
    line = "../../secret/photo.jpg 1"
    root = places_root(tmp_path, ["/a/abbey/00000001.jpg 0", line])
    if how == "symlink":
        os.symlink(tmp_path / "secret" / "photo.jpg", root / "data_256" / "a" / "abbey" / "x.jpg")
        (root / "places365_train_standard.txt").write_text("/a/abbey/00000001.jpg 0\n"
                                                           "/a/abbey/x.jpg 1\n")
    error = one_line_error(run_cli("prepare", "places365", "--root", root, "--out",
                                   tmp_path / "out"))
    assert "places365_train_standard.txt line 2: " in error and "leads outside" in error
    assert not (tmp_path / "out").exists()


def test_a_binary_list_or_one_with_a_nul_byte_is_one_line(tmp_path):
    root = places_root(tmp_path, [])
    (root / "places365_train_standard.txt").write_bytes(b"/a/abbey/x\x00.jpg 1\n")
    line = one_line_error(run_cli("prepare", "places365", "--root", root, "--out", tmp_path / "o"))
    assert "places365_train_standard.txt line 1: " in line and "x\\x00.jpg holds a NUL byte" in line
    for name in ("a", "b"):
        (tmp_path / "imagenet" / "train" / ("n0000000" + name)).mkdir(parents=True)
    (tmp_path / "imagenet" / "val").mkdir()
    (tmp_path / "imagenet" / "val" / "ILSVRC2012_val_00000001.JPEG").write_bytes(small_jpeg(0))
    (tmp_path / "labels.csv").write_bytes(b"\xff\xfe\x00\x1b[2Jgarbage\n")
    line = one_line_error(run_cli("prepare", "imagenet", "--train", tmp_path / "imagenet" / "train",
                                  "--val", tmp_path / "imagenet" / "val", "--val-labels",
                                  tmp_path / "labels.csv", "--out", tmp_path / "o"))
    assert "labels.csv line 1: expected 'filename synset'" in line and "\x1b" not in line


def test_a_voc_id_leading_outside_its_folder_is_named(tmp_path, backbone_file):
    root = make_voc(str(tmp_path / "VOCdevkit"))
    secret = tmp_path / "secret"
    secret.mkdir()
    shutil.copy(os.path.join(root, "VOC2007", "JPEGImages", "2007_000001.jpg"), secret / "photo.jpg")
    shutil.copy(os.path.join(root, "VOC2007", "Annotations", "2007_000001.xml"), secret / "photo.xml")
    listing = os.path.join(root, "VOC2007", "ImageSets", "Main", "trainval.txt")
    with open(listing, "a") as f:
        f.write("../../../secret/photo\n")
    line = one_line_error(run_cli("detect", "--data-root", root, "--backbone", "resnet18_v1d",
                                  "--backbone-params", backbone_file, "--num-epochs", "1",
                                  "-j", "0", "--save-dir", tmp_path / "run"))
    assert listing + " line 5: " in line and "leads outside" in line


def test_an_ade20k_symlink_leading_outside_is_named(tmp_path, backbone_file):
    base = make_ade(str(tmp_path / "ade"), train=2, val=1)
    image = os.path.join(base, "images", "training", "ADE_train_00000002.jpg")
    os.rename(image, tmp_path / "elsewhere.jpg")
    os.symlink(tmp_path / "elsewhere.jpg", image)
    line = one_line_error(run_cli("segment", "--data-root", base, "--backbone", "resnet18_v1d",
                                  "--backbone-params", backbone_file, "--num-epochs", "1", "-j",
                                  "0", "--save-dir", tmp_path / "run"))
    assert image in line and "leads outside" in line


# --- labels and indexes ----------------------------------------------------------------------

def test_one_wrong_label_makes_no_huge_network(tmp_path):
    data = data_dir(tmp_path, train_extra=[(250000, small_jpeg(7))])
    proc, peak = run_cli_peak("train", "--data-dir", data, "--save-dir", tmp_path / "run",
                              *TINY_TRAIN)
    line = one_line_error(proc)
    assert "train.rec: record 6 (byte %d) has label 250000, which would make 250,001 classes " \
           "although only 4 distinct labels occur" % offset_of(str(data / "train.rec"), 6) in line
    assert "--classes 250001" in line
    assert peak < import_peak_mb() + MEMORY_MARGIN_MB
    proc = run_cli("train", "--print-config", "--data-dir", data, "--classes", "250001")
    assert proc.returncode == 0, proc.stderr    # an explicit head of that size is allowed


@pytest.mark.parametrize("label", [float("nan"), -1.0])
def test_a_label_that_is_no_class_number_is_named(tmp_path, label):
    data = data_dir(tmp_path, train_extra=[(label, small_jpeg(7))])
    line = one_line_error(run_cli("train", "--data-dir", data, "--save-dir", tmp_path / "run",
                                  *TINY_TRAIN, "--classes", "3"))
    assert "train.rec: record 6 (byte %d) has label %s" % (
        offset_of(str(data / "train.rec"), 6), label) in line


def test_labels_are_read_within_the_record_split_or_not(tmp_path):
    """A multi-label record that MXNet's writer split (its image holds the magic word) keeps its
    labels; a header listing more labels than its record holds is a damaged record."""
    image = small_jpeg(0)
    image += b"\0" * (-(len(image) + recordfile.IMAGE_HEADER.size + 20) % 4)
    writer = mx.recordio.MXIndexedRecordIO(str(tmp_path / "x.idx"), str(tmp_path / "x.rec"), "w")
    writer.write_idx(0, mx.recordio.pack(mx.recordio.IRHeader(0, [1, 2, 3, 4, 5], 0, 0),
                                         image + recordfile.MAGIC_BYTES + b"ab"))
    writer.write_idx(1, mx.recordio.pack(mx.recordio.IRHeader(0, 0.0, 1, 0), image))
    writer.close()
    raw = (tmp_path / "x.rec").read_bytes()
    assert raw.count(recordfile.MAGIC_BYTES) == 3       # record 0 was written in two parts
    rec, idx = str(tmp_path / "x.rec"), str(tmp_path / "x.idx")
    scan = recordfile.scan_records(rec, idx, imagesize.MAX_PIXELS)
    assert (scan.count, scan.max_label, scan.distinct_labels) == (2, 5, 6)
    second = raw.index(recordfile.MAGIC_BYTES, len(raw) - len(image) - 40)
    lying = raw[:second + 8] + (10 ** 6).to_bytes(4, "little") + raw[second + 12:]
    (tmp_path / "x.rec").write_bytes(lying)          # record 1 now lists 10^6 labels
    with pytest.raises(UsageError, match="record 1 at byte %d [(]its header lists more labels "
                                         "than it holds[)]" % second):
        recordfile.scan_records(rec, idx)


def test_a_negative_idx_offset_is_one_line(tiny_run, tmp_path):
    data = data_dir(tmp_path)
    with open(data / "val.idx", "a") as f:
        f.write("3\t-64\n")
    for args in (("eval", tiny_run, "--rec", data / "val.rec"),
                 ("train", "--data-dir", data, "--save-dir", tmp_path / "run", *TINY_TRAIN)):
        proc = run_cli(*args)
        assert "val.idx line 4 is not 'key<TAB>offset' with an offset ≥ 0" in one_line_error(proc)
        assert "Traceback" not in proc.stderr


# --- launch -----------------------------------------------------------------------------------

def test_launch_imports_nothing_from_the_folder_it_runs_in(tmp_path):
    """A ``mxnet.py`` in the current folder (say, one that came with a data set) is never run by
    the scheduler, the server or the worker. The launcher itself is started the same way."""
    marker = tmp_path / "MARKER"
    (tmp_path / "mxnet.py").write_text("open(%r, 'a').write('ran\\n')\n" % str(marker))
    (tmp_path / "gluon_tricks.py").write_text("open(%r, 'a').write('ran\\n')\n" % str(marker))
    proc = run([sys.executable, "-c", WORKER_CODE, ROOT, "launch", "--workers", "1", "--servers",
                "1", "--", "train", "--kvstore", "dist_sync", "--data-backend", "synthetic",
                "--classes", "3", *TINY_TRAIN, "--save-dir", tmp_path / "run"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "[worker 0] done" in proc.stdout
    assert not marker.exists()


# --- numbers no command can use (found by the sweep of wrong invocations) ---------------------

@pytest.mark.parametrize("args, needle", [
    (("prepare", "folder", "{src}", "{tmp}/p", "--resize=99999999"), "--resize 99999999 makes images"),
    (("prepare", "folder", "{src}", "{tmp}/p", "--threads=99999"), "--threads must be between 1 and 1024"),
    (("check-rec", "{demo}/val.rec", "--threads=99999"), "--threads must be between 1 and 1024"),
    (("eval", "{run}", "--rec", "{demo}/val.rec", "--batch-size=2147483647"), "over 2^31 numbers"),
    (("eval", "{run}", "--rec", "{demo}/val.rec", "-j", "99999999999999999999"), "below 2^31"),
    (("detect", "--print-config", "--data-root", "{tmp}", "--backbone-params", "x", "-j", "5000"),
     "-j must be at most 1024"),
    (("detect", "--print-config", "--data-root", "{tmp}", "--backbone-params", "x",
      "--max-size=99999"), "lower --max-size"),
    (("segment", "--print-config", "--data-root", "{tmp}", "--backbone-params", "x", "--lr=nan"),
     "takes a finite number"),
    (("segment", "--print-config", "--data-root", "{tmp}", "--backbone-params", "x",
      "--base-size=2000000000"), "lower --base-size"),
    (("make-demo-data", "{tmp}/d", "--threads=-1"), "--threads must be between 1 and 1024"),
    (("make-demo-data", "{tmp}/d", "--seed=-1"), "--seed must be ≥ 0"),
    (("launch", "--workers=5000", "--", "train", "--kvstore", "dist_sync"),
     "--workers and --servers must be between 1 and 1024"),
    (("launch", "--scheduler-port=-1", "--", "train", "--kvstore", "dist_sync"),
     "--scheduler-port must be between 1 and 65535"),
    (("flops", "resnet18_v1b", "--classes=99999999999999999999"), "below 2^31"),
])
def test_numbers_no_command_can_use_are_one_line(tiny_demo, tiny_run, tmp_path, args, needle):
    """Each of these printed a traceback, hung, started thousands of processes or was silently
    accepted before."""
    (tmp_path / "src" / "a").mkdir(parents=True)
    (tmp_path / "src" / "b").mkdir()
    (tmp_path / "src" / "a" / "x.jpg").write_bytes(small_jpeg(0))
    (tmp_path / "src" / "b" / "y.jpg").write_bytes(small_jpeg(1))
    places = dict(src=tmp_path / "src", tmp=tmp_path, demo=tiny_demo, run=tiny_run)
    proc = run_cli(*[a.format(**places) for a in args])
    assert needle in one_line_error(proc)
    assert "Traceback" not in proc.stderr
