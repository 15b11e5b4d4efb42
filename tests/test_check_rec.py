"""check-rec and recordfile: damaged .rec/.idx files are reported record by record, never crashed on."""
import os
import shutil
import struct

import cv2
import mxnet as mx
import numpy as np
import pytest
import simplejpeg

from cli import one_line_error, run_cli
from gluon_tricks.atomic import MARK
from gluon_tricks.data import codec, recordfile
from gluon_tricks.datasets import check, pack
from gluon_tricks.errors import UsageError

COUNT = 6


def jpeg(seed, side=48):
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (3, 3, 3)).astype(np.uint8)
    return cv2.imencode(".jpg", cv2.resize(small, (side, side)))[1].tobytes()


def write_pair(prefix, payloads):
    """Write image payloads (bytes) with labels i % 3 through MXNet's writer; return rec, idx paths."""
    writer = mx.recordio.MXIndexedRecordIO(prefix + ".idx", prefix + ".rec", "w")
    for key, payload in enumerate(payloads):
        writer.write_idx(key, mx.recordio.pack(mx.recordio.IRHeader(0, float(key % 3), key, 0), payload))
    writer.close()
    return prefix + ".rec", prefix + ".idx"


@pytest.fixture
def pair(tmp_path):
    rec, idx = write_pair(str(tmp_path / "data"), [jpeg(seed) for seed in range(COUNT)])
    offsets = dict(recordfile.read_idx(idx))
    return rec, idx, offsets


def scan(rec, idx=None):
    return check.check_record_file(rec, idx, threads=2, progress=False)


def damaged_copy(rec, idx, name):
    """Copy a rec/idx pair under a new name (the .idx follows the .rec's name)."""
    directory = os.path.dirname(rec)
    new_rec, new_idx = os.path.join(directory, name + ".rec"), os.path.join(directory, name + ".idx")
    shutil.copy(rec, new_rec)
    shutil.copy(idx, new_idx)
    return new_rec, new_idx


def overwrite(path, offset, data):
    with open(path, "r+b") as handle:
        handle.seek(offset)
        handle.write(data)


def test_clean_file_exits_0_with_summary(pair):
    rec, _, _ = pair
    report = scan(rec)
    assert report.clean and report.records == COUNT and report.idx_entries == COUNT
    assert (report.label_min, report.label_max) == (0, 2)
    proc = run_cli("check-rec", rec)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "OK" in proc.stdout and "6 records" in proc.stdout and "labels 0..2" in proc.stdout
    assert "%d bytes" % os.path.getsize(rec) in proc.stdout


def test_truncated_file_lists_record_and_idx_entries_past_end(pair):
    rec, idx, offsets = pair
    rec, idx = damaged_copy(rec, idx, "cut")
    with open(rec, "r+b") as handle:
        handle.truncate(offsets[4] + 20)
    report = scan(rec)
    reasons = [(p.ordinal, p.key, p.offset, p.reason.split(":")[0]) for p in report.problems]
    past_end = "idx points past end of file (%d bytes)" % (offsets[4] + 20)
    assert reasons == [(4, 4, offsets[4], "truncated"), (None, 5, offsets[5], past_end)]
    assert report.records == 4
    proc = run_cli("check-rec", rec)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "record 4 (idx key 4) at byte %d: truncated" % offsets[4] in proc.stdout
    assert "idx key 5) at byte %d: idx points past end" % offsets[5] in proc.stdout
    with pytest.raises(UsageError, match="cut.idx: record 5 at byte %d lies past the end" % offsets[5]):
        recordfile.require_record_pair(rec, idx)


def test_truncated_file_without_idx_is_scanned_sequentially(pair, tmp_path):
    rec, _, offsets = pair
    lone = str(tmp_path / "lone.rec")
    with open(rec, "rb") as source, open(lone, "wb") as target:
        target.write(source.read()[:offsets[2] + 5])
    report = scan(lone)
    assert report.idx_path is None and report.records == 2
    assert [(p.ordinal, p.offset) for p in report.problems] == [(2, offsets[2])]
    assert "header" in report.problems[0].reason


def test_corrupted_magic_is_reported_and_scan_resynchronises(pair):
    rec, idx, offsets = pair
    rec, idx = damaged_copy(rec, idx, "magic")
    overwrite(rec, offsets[2], b"\x00\x11\x22\x33")
    report = scan(rec)
    assert [(p.ordinal, p.key, p.offset) for p in report.problems] == [(2, 2, offsets[2])]
    assert "bad magic 0x33221100" in report.problems[0].reason
    assert report.records == COUNT - 1
    proc = run_cli("check-rec", rec)
    assert proc.returncode == 1
    assert "record 2 (idx key 2) at byte %d: bad magic" % offsets[2] in proc.stdout


def test_corrupted_length_field_is_reported_and_later_records_survive(pair):
    rec, idx, offsets = pair
    rec, idx = damaged_copy(rec, idx, "length")
    overwrite(rec, offsets[1] + 4, struct.pack("<I", recordfile.LENGTH_MASK))
    report = scan(rec)
    assert [(p.ordinal, p.offset) for p in report.problems] == [(1, offsets[1])]
    assert report.problems[0].reason.startswith("length field corrupted")
    assert report.records == COUNT - 1 and (report.label_min, report.label_max) == (0, 2)


def test_non_image_truncated_jpeg_and_short_header_payloads(tmp_path):
    good = jpeg(0)
    rec, idx = write_pair(str(tmp_path / "mixed"), [good, b"plain text, not an image", good[:len(good) // 2]])
    with open(rec, "ab") as handle:   # a record too short to hold an image header
        handle.write(struct.pack("<II", recordfile.MAGIC, 10) + b"0123456789\0\0")
    offsets = dict(recordfile.read_idx(idx))
    report = scan(rec)
    assert [(p.ordinal, p.offset) for p in report.problems] == [
        (1, offsets[1]), (2, offsets[2]), (3, os.path.getsize(rec) - 20)]
    assert report.problems[0].reason.startswith("not a decodable image")
    assert report.problems[1].reason.endswith("JPEG data is truncated (no end-of-image marker)")
    assert report.problems[2].reason.startswith("header unparsable")
    quick = check.check_record_file(rec, decode=False, progress=False)
    assert [p.ordinal for p in quick.problems] == [1, 2, 3]
    proc = run_cli("check-rec", rec, "--threads", "1")
    assert proc.returncode == 1
    assert "record 1 (idx key 1) at byte %d: not a decodable image" % offsets[1] in proc.stdout


def test_idx_offsets_that_do_not_match_records(pair):
    rec, idx, offsets = pair
    rec, idx = damaged_copy(rec, idx, "shifted")
    with open(idx, "a") as handle:
        handle.write("7\t%d\n8\t%d\n" % (offsets[1] + 4, os.path.getsize(rec) + 64))
    report = scan(rec)
    assert [(p.key, p.reason.split(":")[0]) for p in report.problems] == [
        (7, "idx offset mismatch"), (8, "idx points past end of file (%d bytes)" % os.path.getsize(rec))]
    with pytest.raises(UsageError, match="past the end"):
        recordfile.require_record_pair(rec, idx)


def test_split_records_containing_the_magic_word_are_reassembled(tmp_path):
    body = jpeg(1)
    body += b"\0" * (-(len(body) + recordfile.IMAGE_HEADER.size) % 4) + recordfile.MAGIC_BYTES + b"tail"
    rec, idx = write_pair(str(tmp_path / "split"), [jpeg(0), body, jpeg(2)])
    raw = open(rec, "rb").read()
    assert raw.count(recordfile.MAGIC_BYTES) == 4   # the writer split record 1 in two frames
    report = scan(rec)
    assert report.clean and report.records == 3
    reader = mx.recordio.MXIndexedRecordIO(idx, rec, "r")
    assert mx.recordio.unpack(reader.read_idx(1))[1] == body
    with open(rec, "rb") as handle:   # the reader of the pre-scans and of DALI's input, too
        assert recordfile.read_record(handle, dict(recordfile.read_idx(idx))[1]) == (1.0, body)


def test_missing_file_is_one_line_exit_2(tmp_path):
    line = one_line_error(run_cli("check-rec", tmp_path / "nope.rec"))
    assert "nope.rec not found" in line


def test_require_record_pair(pair, tmp_path):
    rec, idx, _ = pair
    assert recordfile.require_record_pair(rec, idx) == COUNT
    with pytest.raises(UsageError, match="missing.idx not found.*gluon-tricks prepare"):
        recordfile.require_record_pair(rec, str(tmp_path / "missing.idx"))
    other_rec, other_idx = write_pair(str(tmp_path / "other"), [jpeg(7, side=200), jpeg(8, side=200)])
    with pytest.raises(UsageError, match="not a record start"):
        recordfile.require_record_pair(rec, other_idx)
    (tmp_path / "garbage.idx").write_text("0\t0\nzero\tzero\n")
    with pytest.raises(UsageError, match="garbage.idx line 2"):
        recordfile.require_record_pair(rec, str(tmp_path / "garbage.idx"))


def noisy_jpeg(seed, side=64):
    """A JPEG of random pixels: every byte of its scan data matters to the decoder."""
    pixels = np.random.default_rng(seed).integers(0, 256, (side, side, 3)).astype(np.uint8)
    return cv2.imencode(".jpg", pixels, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()


@pytest.fixture
def corrupt_pair(tmp_path):
    """20 records, with 4 random bytes written into the scan data of records 3, 7, 11, 12 and 19."""
    payloads = [noisy_jpeg(seed) for seed in range(20)]
    rec, idx = write_pair(str(tmp_path / "data"), payloads)
    offsets = dict(recordfile.read_idx(idx))
    rng = np.random.default_rng(5)
    bad = [3, 7, 11, 12, 19]
    for key in bad:
        inside = recordfile.FRAME_HEADER.size + recordfile.IMAGE_HEADER.size + len(payloads[key]) // 2
        overwrite(rec, offsets[key] + inside, rng.integers(0, 256, 4).astype(np.uint8).tobytes())
    (tmp_path / "data.lst").write_text("".join("%d\t%f\timg%d.jpg\n" % (k, k % 3, k) for k in range(20)))
    (tmp_path / "data.classes").write_text("a\nb\nc\n")
    return rec, idx, offsets, bad


def test_corrupt_jpeg_payloads_are_named_with_record_key_and_offset(corrupt_pair):
    rec, _, offsets, bad = corrupt_pair
    report = scan(rec)
    assert [(p.ordinal, p.key, p.offset) for p in report.problems] == [(k, k, offsets[k]) for k in bad]
    assert all(p.reason.startswith(("corrupt JPEG data", "not a decodable image")) for p in report.problems)
    assert report.records == 20 - len(bad)
    proc = run_cli("check-rec", rec, "--decode", "--threads", "2")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    for key in bad:
        assert "record %d (idx key %d) at byte %d: " % (key, key, offsets[key]) in proc.stdout
    assert "Corrupt JPEG data" not in proc.stderr   # libjpeg's warnings are attributed, not printed


def test_grey_and_cmyk_jpegs_decode_clean(tmp_path):
    pixels = np.random.default_rng(0).integers(0, 256, (40, 48, 4)).astype(np.uint8)
    grey = cv2.imencode(".jpg", pixels[:, :, 0])[1].tobytes()
    cmyk = simplejpeg.encode_jpeg(pixels, 90, "CMYK")
    rec, _ = write_pair(str(tmp_path / "colours"), [grey, cmyk, jpeg(0)])
    report = scan(rec)
    assert report.clean and report.records == 3


def test_empty_rec_is_one_line_error(tmp_path):
    (tmp_path / "empty.rec").write_bytes(b"")
    line = one_line_error(run_cli("check-rec", tmp_path / "empty.rec"))
    assert "empty.rec is empty (0 bytes)" in line


def read_all(prefix):
    reader = mx.recordio.MXIndexedRecordIO(prefix + ".idx", prefix + ".rec", "r")
    rows = {key: mx.recordio.unpack(reader.read_idx(key)) for key in reader.keys}
    reader.close()
    return rows


def test_repair_writes_clean_copy_without_bad_records(corrupt_pair, tmp_path):
    rec, idx, offsets, bad = corrupt_pair
    before = open(rec, "rb").read()
    proc = run_cli("check-rec", rec, "--repair", tmp_path / "fixed" / "clean.rec")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "15 good records, 5 bad record(s) left out" in proc.stdout
    good = [key for key in range(20) if key not in bad]
    original, fixed = read_all(str(tmp_path / "data")), read_all(str(tmp_path / "fixed" / "clean"))
    assert sorted(fixed) == good
    assert all(fixed[key][1] == original[key][1] and fixed[key][0].label == key % 3 for key in good)
    assert scan(str(tmp_path / "fixed" / "clean.rec")).clean
    lst = (tmp_path / "fixed" / "clean.lst").read_text().splitlines()
    assert [int(line.split("\t")[0]) for line in lst] == good
    assert (tmp_path / "fixed" / "clean.classes").read_text() == "a\nb\nc\n"
    assert sorted(os.listdir(tmp_path / "fixed")) == ["clean.classes", "clean.idx", "clean.lst", "clean.rec"]
    assert open(rec, "rb").read() == before
    batches = mx.io.ImageRecordIter(path_imgrec=str(tmp_path / "fixed" / "clean.rec"),
                                    path_imgidx=str(tmp_path / "fixed" / "clean.idx"),
                                    data_shape=(3, 32, 32), batch_size=5)
    assert sum(5 - batch.pad for batch in batches) == 15


def test_repair_never_overwrites_and_handles_framing_damage(pair, tmp_path):
    rec, idx, offsets = pair
    rec, idx = damaged_copy(rec, idx, "magic")
    overwrite(rec, offsets[2], b"\x00\x11\x22\x33")
    (tmp_path / "taken.idx").write_text("mine")
    line = one_line_error(run_cli("check-rec", rec, "--repair", tmp_path / "taken"))
    assert "taken.idx already exists" in line and "never overwrites" in line
    assert (tmp_path / "taken.idx").read_text() == "mine" and not (tmp_path / "taken.rec").exists()
    line = one_line_error(run_cli("check-rec", rec, "--repair", rec))
    assert "magic.rec already exists" in line
    report = scan(rec)
    assert check.repair(report, str(tmp_path / "fixed")) == COUNT - 1
    assert sorted(read_all(str(tmp_path / "fixed"))) == [0, 1, 3, 4, 5]
    assert not [name for name in os.listdir(tmp_path) if MARK in name]


def test_payload_checksum_from_prepare_catches_corruption_no_decoder_sees(tmp_path):
    (tmp_path / "src" / "a").mkdir(parents=True)
    for seed in range(4):
        cv2.imwrite(str(tmp_path / "src" / "a" / ("%d.jpg" % seed)), cv2.imdecode(
            np.frombuffer(jpeg(seed, side=96), np.uint8), 1))
    prefix = str(tmp_path / "data")
    pack.prepare_folder(str(tmp_path / "src"), prefix,
                           pack.EncodeOptions(shuffle=False, threads=2, progress=False))
    offsets = dict(recordfile.read_idx(prefix + ".idx"))
    assert scan(prefix + ".rec").clean
    at = recordfile.FRAME_HEADER.size + recordfile.IMAGE_HEADER.size + 274
    overwrite(prefix + ".rec", offsets[2] + at, b"\0\0\0\0")
    reader = mx.recordio.MXIndexedRecordIO(prefix + ".idx", prefix + ".rec", "r")
    codec.decode(mx.recordio.unpack(reader.read_idx(2))[1], 1, 1)   # libjpeg sees nothing wrong
    reader.close()
    for decode in (True, False):
        report = check.check_record_file(prefix + ".rec", decode=decode, threads=2, progress=False)
        assert [(p.ordinal, p.key, p.offset) for p in report.problems] == [(2, 2, offsets[2])]
        assert "checksum mismatch" in report.problems[0].reason
