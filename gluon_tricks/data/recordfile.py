"""MXNet RecordIO file facts and helpers: the framing, atomic writing, and quick .rec/.idx checks.

The framing (dmlc-core's RecordIO) is parsed here in plain Python so damaged files can be
reported precisely instead of crashing the C++ reader. :func:`walk_record` (a record's frames)
and :func:`parse_payload` (its IRHeader, labels and image) are the one reader: of the pre-scans
here, of check-rec (datasets/check.py) and of the DALI backends' input; whether an image decodes is
codec's :func:`~gluon_tricks.data.codec.check_image`, at the strictness each caller needs.
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


def companions(rec_path):
    """The files of the data set ``rec_path`` belongs to (``train.rec`` → ``train.idx``,
    ``train.lst``, ``train.classes``), keyed by extension, whether they exist or not."""
    return output_paths(os.path.splitext(rec_path)[0])


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


def _frame_at(handle, offset, extra=0):
    """(magic, cflag, length, up to ``extra`` payload bytes) of the frame header at ``offset``,
    or None when the file ends inside it."""
    handle.seek(offset)
    raw = handle.read(FRAME_HEADER.size + extra)
    if len(raw) < FRAME_HEADER.size:
        return None
    magic, lrecord = FRAME_HEADER.unpack_from(raw)
    return (magic, *split_lrecord(lrecord), raw[FRAME_HEADER.size:])


def read_frame_header(handle, offset):
    """(cflag, length) of the frame at ``offset``, or None when no valid frame header is there."""
    frame = _frame_at(handle, offset)
    return frame[1:3] if frame and frame[0] == MAGIC else None


# Why walking a record's frames stopped early (Walk.fault): the file ends inside a frame header,
# no frame starts there (bad magic), the file ends inside a payload, a part out of order.
CUT_HEADER, NO_MAGIC, CUT_PAYLOAD, BAD_FLAG = "header", "magic", "payload", "flag"


class Walk(NamedTuple):
    """The frames of one record read by :func:`walk_record`. ``fault`` is None when they form a
    whole record; else the walk stopped at the frame at byte ``at`` for that reason, ``value``
    being what was found there (the magic word, the cflag, or (length, bytes left)). ``end`` is
    the byte after the last frame read, ``parts`` its payloads (when read), ``head`` the first
    payload's first IRHeader bytes and ``length`` the first frame's payload length."""

    fault: Optional[str]
    at: int
    value: object
    end: int
    parts: list
    head: bytes
    length: int


def walk_record(handle, offset, payloads=True):
    """Follow the record starting at ``offset`` through the parts of a split record (cflag
    FIRST, MIDDLE..., LAST); returns a :class:`Walk`. Without ``payloads`` only the frame
    headers (and the first IRHeader) are read."""
    at, parts, head, first_length = offset, [], b"", 0
    while True:
        frame = _frame_at(handle, at, IMAGE_HEADER.size if at == offset else 0)
        if frame is None:
            return Walk(CUT_HEADER, at, None, at, parts, head, first_length)
        magic, cflag, length, peek = frame
        if magic != MAGIC:
            return Walk(NO_MAGIC, at, magic, at, parts, head, first_length)
        end = at + FRAME_HEADER.size + padded(length)
        if at == offset:
            head, first_length = peek[:length], length
        if payloads:
            handle.seek(at + FRAME_HEADER.size)
            payload = handle.read(padded(length))
            if len(payload) < length:
                return Walk(CUT_PAYLOAD, at, (length, len(payload)), end, parts, head, first_length)
            parts.append(payload[:length])
        if cflag > LAST or (cflag in (WHOLE, FIRST)) != (at == offset):
            return Walk(BAD_FLAG, at, cflag, end, parts, head, first_length)
        if cflag in (WHOLE, LAST):
            return Walk(None, at, None, end, parts, head, first_length)
        at = end


def joined(parts):
    """A split record's payload: the writer split it at each magic word, which it dropped."""
    return MAGIC_BYTES.join(parts)


class Payload(NamedTuple):
    """A record's payload read through its IRHeader: the labels (the header's one, or the
    ``flag`` floats after it), the id2 field and the image bytes."""

    labels: list
    id2: int
    image: bytes


def parse_payload(payload):
    """(Payload, None) of a record's bytes, or (None, why its IRHeader cannot be read)."""
    if len(payload) < IMAGE_HEADER.size:
        return None, ("%d bytes, an image record header needs %d"
                      % (len(payload), IMAGE_HEADER.size))
    flag, label, _, id2 = IMAGE_HEADER.unpack_from(payload)
    start = IMAGE_HEADER.size + 4 * flag
    if start > len(payload):
        return None, ("flag says %d float labels but only %d bytes follow"
                      % (flag, len(payload) - IMAGE_HEADER.size))
    labels = list(struct.unpack_from("<%df" % flag, payload, IMAGE_HEADER.size)) if flag else [label]
    return Payload(labels, id2, payload[start:]), None


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
    return idx_path or companions(rec_path)["idx"]


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


def _frame_problem(walk, offset, size):
    """What is wrong with the frames of the record at ``offset`` (a header-only :class:`Walk`),
    in :func:`scan_records`'s words, or None."""
    if walk.fault is None:
        return ("it runs past the end of the file (%d bytes)" % size) if walk.end > size else None
    if walk.at != offset:
        return "its continuation at byte %d is damaged" % walk.at
    return {CUT_HEADER: "past the end of the file", NO_MAGIC: "no record starts there (bad magic)",
            BAD_FLAG: "it is the middle of a split record"}[walk.fault]


def _labels(handle, offset, head, length):
    """The labels in a record's IRHeader (``flag`` > 0: that many floats follow the header), or
    None when the first ``length`` payload bytes cannot hold them."""
    if len(head) < IMAGE_HEADER.size:
        return []
    flag, label, _, _ = IMAGE_HEADER.unpack_from(head)
    if not flag:      # the common case, kept short: this runs for every record before training
        return [label]
    handle.seek(offset + FRAME_HEADER.size)
    parsed, _ = parse_payload(handle.read(min(length, IMAGE_HEADER.size + 4 * flag)))
    return parsed and parsed.labels


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
            walk = walk_record(handle, offset, payloads=False)
            problem = _frame_problem(walk, offset, size)
            labels = None if problem else _labels(handle, offset, walk.head, walk.length)
            if labels is None:
                expected = None if problem else walk.end   # where a damaged record ends is unknown
                problem = problem or "its header lists more labels than it holds"
                bad.append("record %d at byte %d (%s)" % (key, offset, problem))
                continue
            expected = walk.end
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
    frame = _frame_at(handle, offset, IMAGE_HEADER.size + imagesize.HEAD_BYTES)
    if frame is None or len(frame[3]) < IMAGE_HEADER.size:
        return None
    _, cflag, length, peek = frame
    if cflag != WHOLE:
        record = read_record(handle, offset)
        return imagesize.size_of_bytes(record[1]) if record and record[1] else None
    skip = IMAGE_HEADER.size + 4 * IMAGE_HEADER.unpack_from(peek)[0]
    return imagesize.size_of_stream(handle, offset + FRAME_HEADER.size + skip, length - skip,
                                    peek[skip:length])


def read_record(handle, offset):
    """(label, image bytes) of the record at ``offset`` (split records joined, IRHeader removed;
    the first label when the header carries several), or None when it is damaged."""
    walk = walk_record(handle, offset)
    parsed = None if walk.fault else parse_payload(joined(walk.parts))[0]
    return parsed and (parsed.labels[0], parsed.image)


def undecodable_records(rec_path, idx_path, threads=4, entries=None,
                        max_pixels=imagesize.MAX_PIXELS):
    """(key, byte offset) of every record (or of ``entries``, such pairs) whose image does not
    pass codec's quick decode check, in file order; images declaring more than ``max_pixels``
    pixels are counted among them, not decoded."""
    from . import codec    # OpenCV and libjpeg-turbo, only for commands that decode

    entries = sorted(set(read_idx(idx_path) if entries is None else entries),
                     key=lambda entry: entry[1])

    def check(entry):
        with open(rec_path, "rb") as handle:
            record = read_record(handle, entry[1])
        try:
            codec.check_image(record[1] if record else b"", codec.QUICK, max_pixels)
        except codec.DecodeError:
            return entry
        return None

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
