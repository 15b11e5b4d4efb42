"""MXNet RecordIO file facts and helpers: the framing, atomic writing, and quick .rec/.idx checks.

The framing (dmlc-core's RecordIO) is parsed here in plain Python so damaged files can be
reported precisely instead of crashing the C++ reader.
"""
import contextlib
import math
import os
import struct
import zlib
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple, Optional

from .. import atomic
from ..errors import UsageError, shown
from . import imagesize

MAGIC = 0xCED7230A
FRAME_HEADER = struct.Struct("<II")      # magic, lrecord (cflag in the top 3 bits, length below)
IMAGE_HEADER = struct.Struct("<IfQQ")    # MXNet IRHeader: flag, label, id, id2
LENGTH_MASK = (1 << 29) - 1
MAGIC_BYTES = struct.pack("<I", MAGIC)

# cflag values: a whole record, or the first / a middle / the last part of a split record.
WHOLE, FIRST, MIDDLE, LAST = 0, 1, 2, 3

REPAIR_HINT = "write a copy without them with gluon-tricks check-rec --repair"
FIX_HINT = "rebuild it with `gluon-tricks prepare ...` or inspect it with `gluon-tricks check-rec`"


def split_lrecord(lrecord):
    """(cflag, payload length) of a frame's length word."""
    return lrecord >> 29, lrecord & LENGTH_MASK


def padded(length):
    """Bytes a payload of ``length`` occupies on disk (frames are 4-byte aligned)."""
    return (length + 3) & ~3


def output_paths(prefix):
    """The files a packed data set consists of, keyed by extension."""
    return {ext: prefix + "." + ext for ext in ("rec", "idx", "lst", "classes")}


@contextlib.contextmanager
def atomic_outputs(paths, replace=False):
    """Yield temporary names for ``paths`` (files of one folder, the .rec first) in a staging
    folder beside them; publish them all only if the block succeeds (gluon_tricks.atomic).

    Nothing already at a path is replaced unless ``replace``, which removes all the old files
    first; the first path is published last, so a crash at any point never leaves a new/old
    mixture that looks complete.
    """
    folder = os.path.dirname(os.path.abspath(paths[0]))
    os.makedirs(folder, exist_ok=True)
    with atomic.staging(folder, os.path.basename(paths[0])) as stage:
        temps = [os.path.join(stage, os.path.basename(path)) for path in paths]
        yield temps
        atomic.publish_all(list(zip(temps, paths))[::-1], replace)


def read_idx(idx_path):
    """The (key, byte offset) pairs of an MXNet .idx file, in file order."""
    entries = []
    with open(idx_path, encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            parts = line.split("\t")
            try:
                key, offset = int(parts[0]), int(parts[1])
            except (IndexError, ValueError):
                offset = -1
            if offset < 0:
                raise UsageError("%s line %d is not 'key<TAB>offset' with an offset ≥ 0 (%s); %s"
                                 % (idx_path, number, shown(line.strip()[:60], quoted=True),
                                    FIX_HINT))
            entries.append((key, offset))
    return entries


def read_classes(path):
    """Class names, one per line in label order, from a .classes file."""
    with open(path, encoding="utf-8") as handle:
        return [line.rstrip("\n") for line in handle if line.strip()]


def read_frame_header(handle, offset):
    """(cflag, length) of the frame at ``offset``, or None when no valid frame header is there."""
    handle.seek(offset)
    raw = handle.read(FRAME_HEADER.size)
    if len(raw) < FRAME_HEADER.size:
        return None
    magic, lrecord = FRAME_HEADER.unpack(raw)
    if magic != MAGIC:
        return None
    return split_lrecord(lrecord)


def require_record_pair(rec_path, idx_path):
    """Check quickly that a .rec/.idx pair exists and agrees; return the number of records.

    Reads only the .idx and two frame headers, so it is cheap enough to run before every
    training run. Raises UsageError naming the file and the fix for anything wrong.
    """
    for path in (rec_path, idx_path):
        if os.path.isdir(path):
            raise UsageError("%s is a folder, not a record file; pass the folder as --data-dir, "
                             "or the .rec/.idx file inside it" % path)
        if not os.path.isfile(path):
            raise UsageError("%s not found; create it with `gluon-tricks prepare ...` "
                             "(or `gluon-tricks make-demo-data`)" % path)
    entries = read_idx(idx_path)
    if not entries:
        raise UsageError("%s lists no records; %s" % (idx_path, FIX_HINT))
    size = os.path.getsize(rec_path)
    first = min(entries, key=lambda entry: entry[1])
    last = max(entries, key=lambda entry: entry[1])
    if last[1] + FRAME_HEADER.size > size:
        raise UsageError("%s: record %d at byte %d lies past the end of %s (%d bytes): the pair "
                         "does not match or the .rec is truncated; %s"
                         % (idx_path, last[0], last[1], rec_path, size, FIX_HINT))
    with open(rec_path, "rb") as handle:
        frames = [read_frame_header(handle, offset) for _, offset in (first, last)]
    for (key, offset), frame in zip((first, last), frames):
        if frame is None:
            raise UsageError("%s: record %d at byte %d of %s is not a record start (bad magic): "
                             "the pair does not match; %s" % (idx_path, key, offset, rec_path, FIX_HINT))
    if last[1] + FRAME_HEADER.size + padded(frames[1][1]) > size:
        raise UsageError("%s is truncated: record %d at byte %d runs past its end (%d bytes); %s"
                         % (rec_path, last[0], last[1], size, FIX_HINT))
    return len(entries)


def index_path(rec_path, idx_path=None):
    """``idx_path`` if given, else the ``.idx`` beside ``rec_path`` (``train.rec`` → ``train.idx``)."""
    return idx_path or os.path.splitext(rec_path)[0] + ".idx"


# prepare stores a CRC-32 of each image payload in the IRHeader's id2 field, which MXNet's and
# GluonCV's readers ignore, tagged in its top 16 bits so that files from other writers (id2 0)
# are told apart. JPEG has no checksum of its own: many corrupt bytes decode without a warning.
CHECKSUM_TAG = 0x4754 << 48


def payload_checksum(body):
    """The id2 value prepare stores for an image payload ``body``."""
    return CHECKSUM_TAG | zlib.crc32(body)


def checksum_mismatch(id2, body):
    """True when ``id2`` carries prepare's checksum and ``body`` no longer matches it."""
    return id2 >> 48 == CHECKSUM_TAG >> 48 and id2 != payload_checksum(body)


class RecordScan(NamedTuple):
    """What :func:`scan_records` learnt: the record count, the largest label (None if none), the
    idx key and byte offset of a record that holds it, and how many distinct labels occur."""

    count: int
    max_label: Optional[int]
    max_label_at: Optional[tuple]
    distinct_labels: int


def _frame_problem(handle, offset, size):
    """(problem or None, end of the record's frames, its first IRHeader bytes, its first frame's
    length) for a record starting at ``offset``; follows split records through their middle and
    last parts."""
    handle.seek(offset)
    raw = handle.read(FRAME_HEADER.size + IMAGE_HEADER.size)
    if len(raw) < FRAME_HEADER.size:
        return "past the end of the file", None, b"", 0
    magic, lrecord = FRAME_HEADER.unpack_from(raw)
    if magic != MAGIC:
        return "no record starts there (bad magic)", None, b"", 0
    cflag, first_length = split_lrecord(lrecord)
    if cflag not in (WHOLE, FIRST):
        return "it is the middle of a split record", None, b"", 0
    head = raw[FRAME_HEADER.size:FRAME_HEADER.size + first_length]
    end = offset + FRAME_HEADER.size + padded(first_length)
    while cflag != WHOLE and cflag != LAST:
        frame = read_frame_header(handle, end)
        if frame is None or frame[0] not in (MIDDLE, LAST):
            return "its continuation at byte %d is damaged" % end, None, b"", 0
        cflag, length = frame
        end += FRAME_HEADER.size + padded(length)
    if end > size:
        return "it runs past the end of the file (%d bytes)" % size, None, b"", 0
    return None, end, head, first_length


def _labels(handle, offset, head, length):
    """The labels in a record's IRHeader (``flag`` > 0: that many floats follow the header), or
    None when the first ``length`` payload bytes cannot hold them."""
    if len(head) < IMAGE_HEADER.size:
        return []
    flag, label, _, _ = IMAGE_HEADER.unpack(head)
    if flag == 0:
        return [label]
    if IMAGE_HEADER.size + 4 * flag > length:
        return None
    handle.seek(offset + FRAME_HEADER.size + IMAGE_HEADER.size)
    return list(struct.unpack("<%df" % flag, handle.read(4 * flag)))


def scan_records(rec_path, idx_path, max_pixels=None):
    """Check the framing of every record of a .rec through its .idx, reading frame and image
    headers only (no payloads), so a damaged file is named before MXNet's reader aborts on it.

    Records must start where the .idx says, be whole, and follow each other without unindexed
    bytes in between; labels must be class numbers (finite, ≥ 0); with ``max_pixels``, no image
    may declare more pixels in its header. Raises UsageError naming the records; returns a
    RecordScan.
    """
    require_record_pair(rec_path, idx_path)
    entries = sorted(read_idx(idx_path), key=lambda entry: entry[1])
    size = os.path.getsize(rec_path)
    bad, not_classes, oversized, expected = [], [], [], entries[0][1]
    labels_seen, max_label, max_at = set(), None, None
    with open(rec_path, "rb") as handle:
        for key, offset in entries:
            if expected is not None and offset != expected:
                what = ("%d unindexed bytes before it" % (offset - expected) if offset > expected
                        else "it overlaps the record before")
                bad.append("record %d at byte %d (%s)" % (key, offset, what))
            problem, end, head, length = _frame_problem(handle, offset, size)
            labels = None if problem else _labels(handle, offset, head, length)
            if labels is None:
                expected = None if problem else end   # where a damaged record ends is unknown
                problem = problem or "its header lists more labels than it holds"
                bad.append("record %d at byte %d (%s)" % (key, offset, problem))
                continue
            expected = end
            wrong = [label for label in labels if not (math.isfinite(label) and label >= 0)]
            if wrong:
                not_classes.append("record %d (byte %d) has label %s" % (key, offset, wrong[0]))
                continue
            for label in labels:
                labels_seen.add(int(label))
                if max_label is None or label > max_label:
                    max_label, max_at = int(label), (key, offset)
            if max_pixels is not None:
                problem = imagesize.too_many_pixels(_declared_size(handle, offset), max_pixels)
                if problem:
                    oversized.append("record %d (byte %d): %s" % (key, offset, problem))
    if bad:
        raise UsageError("%s has %d damaged record%s: %s%s; MXNet's reader would abort on it; %s"
                         % (rec_path, len(bad), "" if len(bad) == 1 else "s", "; ".join(bad[:3]),
                            " ..." if len(bad) > 3 else "", REPAIR_HINT))
    for found, why in ((not_classes, "labels must be class numbers 0, 1, 2, ...; " + FIX_HINT),
                       (oversized, "such an image takes that much memory in MXNet's reader")):
        if found:
            raise UsageError("%s: %s%s; %s" % (rec_path, found[0], " (and %d more)"
                                               % (len(found) - 1) if len(found) > 1 else "", why))
    return RecordScan(len(entries), max_label, max_at, len(labels_seen))


def _declared_size(handle, offset):
    """(height, width) the image of the record at ``offset`` declares in its header, or None;
    reads the header's few segments only (a split record's parts are joined first)."""
    handle.seek(offset)
    raw = handle.read(FRAME_HEADER.size + IMAGE_HEADER.size + imagesize.HEAD_BYTES)
    if len(raw) < FRAME_HEADER.size + IMAGE_HEADER.size:
        return None
    cflag, length = split_lrecord(FRAME_HEADER.unpack_from(raw)[1])
    if cflag != WHOLE:
        record = read_record(handle, offset)
        return imagesize.size_of_bytes(record[1]) if record and record[1] else None
    labels = IMAGE_HEADER.unpack_from(raw, FRAME_HEADER.size)[0]
    skip = FRAME_HEADER.size + IMAGE_HEADER.size + 4 * labels
    return imagesize.size_of_stream(handle, offset + skip, length + FRAME_HEADER.size - skip,
                                    raw[skip:FRAME_HEADER.size + length])


def read_record(handle, offset):
    """(label, image bytes) of the record at ``offset`` (split records joined, IRHeader removed;
    the first label when the header carries several), or None when the framing is damaged."""
    parts, pos, cflag = [], offset, None
    while cflag not in (WHOLE, LAST):
        frame = read_frame_header(handle, pos)
        if frame is None:
            return None
        cflag, length = frame
        parts.append(handle.read(length))
        pos += FRAME_HEADER.size + padded(length)
    data = b"".join(parts)
    if len(data) < IMAGE_HEADER.size:
        return None
    flag, label, _, _ = IMAGE_HEADER.unpack_from(data)
    start = IMAGE_HEADER.size + 4 * flag
    if len(data) < start:
        return None
    if flag:
        label = struct.unpack_from("<f", data, IMAGE_HEADER.size)[0]
    return label, data[start:]


def undecodable_records(rec_path, idx_path, threads=4, entries=None,
                        max_pixels=imagesize.MAX_PIXELS):
    """(key, byte offset) of every record (or of ``entries``, such pairs) whose image OpenCV
    cannot decode, in file order; images declaring more than ``max_pixels`` pixels are counted
    among them, not decoded.

    Decodes at a quarter of the size (libjpeg still reads every byte, so it fails where a full
    decode fails) to keep a pass over a validation set short."""
    import cv2
    import numpy as np

    entries = sorted(set(read_idx(idx_path) if entries is None else entries),
                     key=lambda entry: entry[1])

    def check(entry):
        with open(rec_path, "rb") as handle:
            record = read_record(handle, entry[1])
        data = record and record[1]
        if not data or imagesize.too_many_pixels(imagesize.size_of_bytes(data), max_pixels):
            return entry
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_REDUCED_COLOR_4)
        return entry if image is None or image.size == 0 else None

    with ThreadPoolExecutor(max(1, threads)) as pool:
        return [entry for entry in pool.map(check, entries, chunksize=256) if entry]


def name_undecodable(rec, bad):
    """"FILE: record K (byte B), ... does not decode as an image" for (key, offset) pairs."""
    named = ", ".join("record %d (byte %d)" % (key, offset) for key, offset in bad[:5])
    more = " and %d more" % (len(bad) - 5) if len(bad) > 5 else ""
    return "%s: %s%s %s not decode as an image" % (rec, named, more,
                                                    "does" if len(bad) == 1 else "do")


def check_decodable(rec_path, idx_path, threads=4, max_pixels=imagesize.MAX_PIXELS):
    """A one-line UsageError naming the records of a validation set that do not decode, or
    whose image declares more than ``max_pixels`` pixels (see :func:`scan_records`).

    MXNet's validation reader divides by the width of an image that does not decode and kills
    the process (SIGFPE), which no handler can turn into a message: every command that reads a
    validation set (train, eval, zoo-check, figures) checks it first."""
    scan_records(rec_path, idx_path, max_pixels)
    bad = undecodable_records(rec_path, idx_path, threads, max_pixels=max_pixels)
    if bad:
        raise UsageError("%s; MXNet's validation reader would crash on it; %s and pass the copy"
                         % (name_undecodable(rec_path, bad), REPAIR_HINT))
