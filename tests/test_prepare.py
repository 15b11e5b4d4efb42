"""prepare folder/imagenet/places365: round trips through MXNet's own readers, atomic output, labels."""
import os
import struct

import cv2
import mxnet as mx
import numpy as np
import pytest
import simplejpeg

from cli import one_line_error, run_cli
from gluon_tricks import cli
from gluon_tricks.atomic import MARK
from gluon_tricks.bench.packing import photo_like
from gluon_tricks.data import codec, recordfile
from gluon_tricks.datasets import pack
from gluon_tricks.errors import UsageError

QUIET = dict(threads=2, progress=False)


def write_image(path, rng):
    """Save a random smooth colour image of 40..64 px per side at ``path`` (format from its name)."""
    height, width = (int(side) for side in rng.integers(40, 65, 2))
    small = rng.integers(0, 256, (4, 4, 3)).astype(np.uint8)
    image = cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    assert cv2.imwrite(path, image)


@pytest.fixture
def tree(tmp_path):
    """src/{cat,dog,emu}/ with 3/2/4 images (one PNG), a corrupt and a truncated .jpg and a .txt file."""
    rng = np.random.default_rng(0)
    src = tmp_path / "src"
    counts = {"emu": 4, "cat": 3, "dog": 2}
    for name, count in counts.items():
        for index in range(count):
            ext = ".png" if (name, index) == ("dog", 1) else ".jpg"
            write_image(str(src / name / ("%s_%d%s" % (name, index, ext))), rng)
    (src / "dog" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    whole = (src / "emu" / "emu_0.jpg").read_bytes()
    (src / "emu" / "half.jpg").write_bytes(whole[:len(whole) // 2])
    (src / "cat" / "notes.txt").write_text("not an image")
    return src, counts


def read_records(prefix):
    """Every record of prefix.rec via MXNet's reader: list of (header, BGR image, raw image bytes)."""
    record = mx.recordio.MXIndexedRecordIO(prefix + ".idx", prefix + ".rec", "r")
    rows = []
    for key in record.keys:
        item = record.read_idx(key)
        header, image = mx.recordio.unpack_img(item)
        rows.append((header, image, mx.recordio.unpack(item)[1]))
    record.close()
    return record.keys, rows


def read_lst(prefix):
    with open(prefix + ".lst") as handle:
        return [(int(index), float(label), path) for index, label, path in
                (line.rstrip("\n").split("\t") for line in handle)]


def test_folder_round_trip_matches_sources_and_real_loader(tree, tmp_path):
    src, counts = tree
    prefix = str(tmp_path / "out" / "data")
    result = pack.prepare_folder(str(src), prefix, pack.EncodeOptions(**QUIET))

    classes = sorted(counts)
    assert recordfile.read_classes(prefix + ".classes") == classes
    assert result.images == 9 and dict(result.counts) == {classes.index(c): n for c, n in counts.items()}
    reasons = {os.path.basename(path): reason for path, reason in result.skipped}
    assert set(reasons) == {"broken.jpg", "half.jpg", "notes.txt"}
    assert "decodable" in reasons["broken.jpg"] and "image file name" in reasons["notes.txt"]
    assert "truncated JPEG" in reasons["half.jpg"]

    keys, rows = read_records(prefix)
    lst = read_lst(prefix)
    assert keys == list(range(9)) and [entry[0] for entry in lst] == keys
    for (header, image, payload), (index, label, relpath) in zip(rows, lst):
        assert header.flag == 0 and header.id == index and header.label == label
        assert header.id2 == recordfile.payload_checksum(payload)
        assert classes[int(label)] == relpath.split("/")[0]
        source = cv2.imread(str(src / relpath))
        assert image.shape == source.shape
        assert np.abs(image.astype(int) - source).mean() < 3

    batches = mx.io.ImageRecordIter(path_imgrec=prefix + ".rec", path_imgidx=prefix + ".idx",
                                    data_shape=(3, 32, 32), batch_size=4, shuffle=False)
    seen = []
    for batch in batches:
        assert batch.data[0].shape == (4, 3, 32, 32)
        seen.extend(batch.label[0].asnumpy()[:4 - batch.pad].tolist())
    assert seen == [header.label for header, _, _ in rows]


def test_folder_cli_prints_summary_with_skipped_files(tree, tmp_path, capsys):
    src, _ = tree
    code = cli.main(["prepare", "folder", str(src), str(tmp_path / "data"), "--threads", "2"])
    out = capsys.readouterr().out
    assert code == 0
    assert "packed 9 images of 3 classes" in out and "skipped 3 files" in out
    assert "broken.jpg: not a decodable image" in out and "notes.txt" in out


def test_resize_sets_shorter_side_and_keeps_aspect(tree, tmp_path):
    src, _ = tree
    prefix = str(tmp_path / "small")
    pack.prepare_folder(str(src), prefix, pack.EncodeOptions(resize=20, **QUIET))
    _, rows = read_records(prefix)
    for (_, image, _), (_, _, relpath) in zip(rows, read_lst(prefix)):
        source = cv2.imread(str(src / relpath))
        assert min(image.shape[:2]) == 20
        assert abs(image.shape[1] / image.shape[0] - source.shape[1] / source.shape[0]) < 0.06


def test_pass_through_stores_source_bytes(tree, tmp_path):
    src, _ = tree
    prefix = str(tmp_path / "raw")
    result = pack.prepare_folder(str(src), prefix, pack.EncodeOptions(pass_through=True, **QUIET))
    assert result.images == 9
    _, rows = read_records(prefix)
    for (_, _, payload), (_, _, relpath) in zip(rows, read_lst(prefix)):
        assert payload == (src / relpath).read_bytes()


def test_shuffle_is_seeded_and_no_shuffle_is_sorted(tree, tmp_path):
    src, _ = tree
    orders = []
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        pack.prepare_folder(str(src), str(tmp_path / name), pack.EncodeOptions(seed=seed, **QUIET))
        orders.append([path for _, _, path in read_lst(str(tmp_path / name))])
    assert orders[0] == orders[1] != orders[2]
    pack.prepare_folder(str(src), str(tmp_path / "d"), pack.EncodeOptions(shuffle=False, **QUIET))
    paths = [path for _, _, path in read_lst(str(tmp_path / "d"))]
    assert paths == sorted(paths)


def test_failure_mid_write_leaves_no_finished_looking_files(tree, tmp_path, monkeypatch):
    src, _ = tree
    prefix = str(tmp_path / "data")
    pack.prepare_folder(str(src), prefix, pack.EncodeOptions(shuffle=False, **QUIET))
    old = {ext: open(path, "rb").read() for ext, path in recordfile.output_paths(prefix).items()}
    real_encode, calls = pack.encode_image, []

    def failing_encode(path, options):
        calls.append(path)
        if len(calls) > 4:
            raise RuntimeError("disk on fire")
        return real_encode(path, options)

    monkeypatch.setattr(pack, "encode_image", failing_encode)
    fresh = str(tmp_path / "fresh")
    for target in (fresh, prefix):
        calls.clear()
        with pytest.raises(RuntimeError, match="disk on fire"):
            pack.prepare_folder(str(src), target, pack.EncodeOptions(**QUIET))
    assert not any(os.path.exists(path) for path in recordfile.output_paths(fresh).values())
    assert {ext: open(path, "rb").read() for ext, path in recordfile.output_paths(prefix).items()} == old
    assert not [name for name in os.listdir(tmp_path) if MARK in name]


def test_leftovers_of_a_killed_run_are_pointed_out(tree, tmp_path, capsys):
    src, _ = tree
    (tmp_path / ".data.rec.gluon-tricks-0123456789ab").mkdir()
    pack.prepare_folder(str(src), str(tmp_path / "data"), pack.EncodeOptions(**QUIET))
    assert ".data.rec.gluon-tricks-0123456789ab" in capsys.readouterr().err
    assert (tmp_path / ".data.rec.gluon-tricks-0123456789ab").is_dir()   # pointed out, kept
    assert recordfile.require_record_pair(str(tmp_path / "data.rec"), str(tmp_path / "data.idx")) == 9


def test_bad_folders_are_usage_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "flat").mkdir()
    write_image(str(tmp_path / "flat" / "a.jpg"), np.random.default_rng(0))
    (tmp_path / "hollow" / "cat").mkdir(parents=True)
    for name, fragment in (("empty", "no class subfolders"), ("flat", "no class subfolders"),
                           ("hollow", "no image files"), ("missing", "not a directory")):
        with pytest.raises(UsageError, match=fragment):
            pack.prepare_folder(str(tmp_path / name), str(tmp_path / "out"),
                                pack.EncodeOptions(**QUIET))
    with pytest.raises(UsageError, match="--pass-through"):
        pack.EncodeOptions(pass_through=True, resize=10).validate()
    assert not os.path.exists(tmp_path / "out.rec")


def test_folder_cli_bad_input_is_one_line_exit_2(tmp_path):
    (tmp_path / "empty").mkdir()
    line = one_line_error(run_cli("prepare", "folder", tmp_path / "empty", tmp_path / "out"))
    assert "empty" in line and "class subfolders" in line


SYNSETS = ["n03000000", "n01000000", "n02000000"]


@pytest.fixture
def fake_imagenet(tmp_path):
    """train/<synset>/ with 2-3 images each, a flat val/ + LOC_val_solution.csv, and a foldered val."""
    rng = np.random.default_rng(1)
    for k, synset in enumerate(SYNSETS):
        for index in range(2 + k % 2):
            write_image(str(tmp_path / "train" / synset / ("%s_%d.JPEG" % (synset, index))), rng)
    val_truth = {}
    for index in range(6):
        name = "ILSVRC2012_val_%08d" % (index + 1)
        synset = SYNSETS[(index * 2) % 3]
        val_truth[name] = synset
        write_image(str(tmp_path / "val" / (name + ".JPEG")), rng)
        write_image(str(tmp_path / "val_folders" / synset / (name + ".JPEG")), rng)
    lines = ["ImageId,PredictionString"] + ["%s,%s 1 2 30 40 %s 5 6 7 8" % (name, synset, synset)
                                            for name, synset in val_truth.items()]
    (tmp_path / "LOC_val_solution.csv").write_text("\n".join(lines) + "\n")
    return tmp_path, val_truth


def lst_labels(prefix):
    return {os.path.splitext(os.path.basename(path))[0]: int(label) for _, label, path in read_lst(prefix)}


def test_imagenet_flat_val_uses_sorted_synsets_and_warns(fake_imagenet, capsys):
    root, truth = fake_imagenet
    code = cli.main(["prepare", "imagenet", "--train", str(root / "train"), "--val", str(root / "val"),
                     "--val-labels", str(root / "LOC_val_solution.csv"), "--out", str(root / "out"),
                     "--threads", "2"])
    captured = capsys.readouterr()
    assert code == 0
    order = sorted(SYNSETS)
    assert recordfile.read_classes(str(root / "out" / "train.classes")) == order
    assert recordfile.read_classes(str(root / "out" / "val.classes")) == order
    assert lst_labels(str(root / "out" / "val")) == {name: order.index(s) for name, s in truth.items()}
    train = lst_labels(str(root / "out" / "train"))
    assert len(train) == 7 and all(order[label] == name.split("_")[0] for name, label in train.items())
    warning = [line for line in captured.err.splitlines() if line.startswith("WARNING")]
    assert len(warning) >= 4 and any("train images: found 7, expected 1,281,167" in line for line in warning)
    assert any("0% validation accuracy" in line for line in warning)
    _, rows = read_records(str(root / "out" / "val"))
    assert [h.label for h, _, _ in rows] == [label for _, label, _ in read_lst(str(root / "out" / "val"))]


def test_imagenet_val_in_class_folders_and_two_column_labels(fake_imagenet):
    root, truth = fake_imagenet
    options = pack.EncodeOptions(**QUIET)
    pack.prepare_imagenet(str(root / "train"), str(root / "val_folders"), str(root / "a"), None, options)
    expected = {name: sorted(SYNSETS).index(s) for name, s in truth.items()}
    assert lst_labels(str(root / "a" / "val")) == expected
    (root / "val.txt").write_text("".join("%s.JPEG %s\n" % item for item in truth.items()))
    pack.prepare_imagenet(str(root / "train"), str(root / "val"), str(root / "b"), str(root / "val.txt"),
                             options)
    assert lst_labels(str(root / "b" / "val")) == expected


def test_imagenet_rejects_unknown_synsets_devkit_labels_and_unlabelled_flat_val(fake_imagenet):
    root, truth = fake_imagenet
    options = pack.EncodeOptions(**QUIET)
    train, val = str(root / "train"), str(root / "val")
    bad = dict(truth, ILSVRC2012_val_00000001="n09999999")
    (root / "bad.txt").write_text("".join("%s %s\n" % item for item in bad.items()))
    (root / "devkit.txt").write_text("65\n970\n230\n809\n516\n57\n")
    (root / "partial.txt").write_text("ILSVRC2012_val_00000001 %s\n" % SYNSETS[0])
    for labels, fragment in (("bad.txt", "n09999999"), ("devkit.txt", "LOC_val_solution.csv"),
                             ("partial.txt", "5 val images have no entry")):
        with pytest.raises(UsageError, match=fragment):
            pack.prepare_imagenet(train, val, str(root / "out"), str(root / labels), options)
    with pytest.raises(UsageError, match="--val-labels"):
        pack.prepare_imagenet(train, val, str(root / "out"), None, options)
    write_image(str(root / "val_folders" / "n09999999" / "x.JPEG"), np.random.default_rng(2))
    with pytest.raises(UsageError, match="n09999999"):
        pack.prepare_imagenet(train, str(root / "val_folders"), str(root / "out"), None, options)
    assert not os.path.exists(root / "out" / "val.rec")


def test_places365_from_official_list_files(tmp_path, capsys):
    rng = np.random.default_rng(3)
    train_lines, val_lines = [], []
    for index, (category, label) in enumerate([("a/abbey", 0), ("b/bakery/shop", 2), ("a/airfield", 1)] * 2):
        relpath = "%s/%08d.jpg" % (category, index)
        write_image(str(tmp_path / "data_256" / relpath), rng)
        train_lines.append("/%s %d" % (relpath, label))
        name = "Places365_val_%08d.jpg" % (index + 1)
        write_image(str(tmp_path / "val_256" / name), rng)
        val_lines.append("%s %d" % (name, (label + 1) % 3))
    (tmp_path / "places365_train_standard.txt").write_text("\n".join(train_lines) + "\n")
    (tmp_path / "places365_val.txt").write_text("\n".join(val_lines) + "\n")
    (tmp_path / "categories_places365.txt").write_text("/a/abbey 0\n/a/airfield 1\n/b/bakery/shop 2\n")
    code = cli.main(["prepare", "places365", "--root", str(tmp_path), "--out", str(tmp_path / "out"),
                     "--no-shuffle", "--threads", "2"])
    captured = capsys.readouterr()
    assert code == 0 and "WARNING" in captured.err and "expected 1,803,460" in captured.err
    classes = recordfile.read_classes(str(tmp_path / "out" / "train.classes"))
    assert len(classes) == 365 and classes[:3] == ["abbey", "airfield", "bakery/shop"]
    train = read_lst(str(tmp_path / "out" / "train"))
    assert [int(label) for _, label, _ in train] == [0, 2, 1, 0, 2, 1]
    assert [path for _, _, path in train] == [line.split()[0].lstrip("/") for line in train_lines]
    _, rows = read_records(str(tmp_path / "out" / "val"))
    assert [int(h.label) for h, _, _ in rows] == [1, 0, 2, 1, 0, 2]
    (tmp_path / "places365_val.txt").write_text("Places365_val_00000001.jpg 400\n")
    with pytest.raises(UsageError, match="outside 0..364"):
        pack.prepare_places365(str(tmp_path), str(tmp_path / "out2"), pack.EncodeOptions(**QUIET))


def psnr(a, b):
    return 10 * np.log10(255 ** 2 / np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))


def test_stored_images_stay_within_1_db_of_full_decode_and_area_resize(tmp_path):
    """Scaled decoding (1/2, 1/4, 1/8) and libjpeg-turbo encoding change the stored pixels a little.

    Reference: full-size decode + INTER_AREA. Before this change prepare stored that reference
    re-encoded by OpenCV at the same quality; the new images must be as close to the reference
    as those were, within 1 dB PSNR (the q90 re-encode alone puts them ~30 dB from the reference
    on this grainy content), and have exactly the same size.
    """
    rng = np.random.default_rng(4)
    sizes = [(150, 200), (300, 400), (600, 800), (1200, 1600), (1100, 900), (401, 799), (1600, 2400)]
    for number, (height, width) in enumerate(sizes):   # decoded at 1/1, 1/2, 1/4, 1/8, 1/4, 1/2, 1/8
        path = str(tmp_path / "src" / "all" / ("%d.jpg" % number))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        cv2.imwrite(path, photo_like(rng, height, width), [cv2.IMWRITE_JPEG_QUALITY, 90])
    prefix = str(tmp_path / "out")
    pack.prepare_folder(str(tmp_path / "src"), prefix,
                           pack.EncodeOptions(resize=96, quality=90, shuffle=False, **QUIET))
    _, rows = read_records(prefix)
    for (_, stored, _), (_, _, relpath) in zip(rows, read_lst(prefix)):
        source = cv2.imread(str(tmp_path / "src" / relpath))
        reference = cv2.resize(source, codec.shorter_side_size(*source.shape[:2], 96),
                               interpolation=cv2.INTER_AREA)
        before = cv2.imdecode(cv2.imencode(".jpg", reference, [cv2.IMWRITE_JPEG_QUALITY, 90])[1], 1)
        assert stored.shape == reference.shape, relpath
        assert psnr(stored, reference) >= psnr(before, reference) - 1.0, relpath


def noisy_jpeg_bytes(seed, height=64, width=80):
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3)).astype(np.uint8)
    return cv2.imencode(".jpg", pixels, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()


def test_corrupt_but_decodable_jpeg_is_packed_and_named_with_the_libjpeg_warning(tmp_path, capfd):
    data = bytearray(noisy_jpeg_bytes(0))
    data[len(data) // 2:len(data) // 2 + 4] = b"\x00\x9a\x31\xee"
    (tmp_path / "src" / "a").mkdir(parents=True)
    (tmp_path / "src" / "a" / "corrupt.jpg").write_bytes(bytes(data))
    (tmp_path / "src" / "a" / "fine.jpg").write_bytes(noisy_jpeg_bytes(1))
    code = cli.main(["prepare", "folder", str(tmp_path / "src"), str(tmp_path / "out"), "--threads", "2"])
    captured = capfd.readouterr()
    assert code == 0
    assert "packed 2 images" in captured.out
    assert "packed 1 files the decoder warned about" in captured.out
    assert "corrupt.jpg: Corrupt JPEG data" in captured.out
    assert "Corrupt JPEG data" not in captured.err


def test_grey_and_cmyk_jpegs_are_stored_in_colour(tmp_path):
    pixels = cv2.resize(np.random.default_rng(2).integers(0, 256, (4, 4, 4)).astype(np.uint8), (96, 72))
    (tmp_path / "src" / "a").mkdir(parents=True)
    (tmp_path / "src" / "a" / "cmyk.jpg").write_bytes(simplejpeg.encode_jpeg(pixels, 95, "CMYK"))
    (tmp_path / "src" / "a" / "grey.jpg").write_bytes(cv2.imencode(".jpg", pixels[:, :, 0])[1].tobytes())
    prefix = str(tmp_path / "out")
    result = pack.prepare_folder(str(tmp_path / "src"), prefix,
                                    pack.EncodeOptions(resize=48, shuffle=False, **QUIET))
    assert result.images == 2 and not result.skipped
    _, rows = read_records(prefix)
    for (_, image, _), (_, _, relpath) in zip(rows, read_lst(prefix)):
        source = cv2.resize(cv2.imread(str(tmp_path / "src" / relpath)), (64, 48), interpolation=cv2.INTER_AREA)
        assert image.shape == (48, 64, 3)
        assert np.abs(image.astype(int) - source).mean() < 3, relpath


def with_exif_orientation(jpeg, orientation):
    """``jpeg`` with an APP1 EXIF segment whose only tag is the orientation (big-endian TIFF)."""
    entry = struct.pack(">HHIH2x", 0x0112, 3, 1, orientation)
    tiff = b"MM\x00\x2a" + struct.pack(">IH", 8, 1) + entry + b"\0\0\0\0"
    app1 = b"\xff\xe1" + struct.pack(">H", 2 + 6 + len(tiff)) + b"Exif\0\0" + tiff
    return jpeg[:2] + app1 + jpeg[2:]


def test_exif_rotated_jpegs_are_stored_upright_as_before(tmp_path):
    """OpenCV applies the EXIF orientation, so the old converter stored photos upright; so do we."""
    pixels = cv2.resize(np.random.default_rng(6).integers(0, 256, (4, 6, 3)).astype(np.uint8), (600, 400))
    (tmp_path / "src" / "a").mkdir(parents=True)
    (tmp_path / "src" / "a" / "turned.jpg").write_bytes(
        with_exif_orientation(cv2.imencode(".jpg", pixels)[1].tobytes(), 6))
    prefix = str(tmp_path / "out")
    pack.prepare_folder(str(tmp_path / "src"), prefix, pack.EncodeOptions(resize=100, **QUIET))
    _, [(_, stored, _)] = read_records(prefix)
    upright = cv2.imread(str(tmp_path / "src" / "a" / "turned.jpg"))
    assert upright.shape == (600, 400, 3)   # OpenCV turned it by 90°
    expected = cv2.resize(upright, (100, 150), interpolation=cv2.INTER_AREA)
    assert stored.shape == expected.shape
    assert np.abs(stored.astype(int) - expected).mean() < 3
