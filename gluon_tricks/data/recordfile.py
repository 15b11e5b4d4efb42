"""MXNet RecordIO file facts and helpers: the framing, atomic writing, and quick .rec/.idx checks.

The framing (dmlc-core's RecordIO) is parsed here in plain Python so damaged files can be
reported precisely instead of crashing the C++ reader.
"""
import contextlib
import glob
import os
import struct
import zlib

from ..errors import UsageError

MAGIC = 0xCED7230A
FRAME_HEADER = struct.Struct("<II")      # magic, lrecord (cflag in the top 3 bits, length below)
IMAGE_HEADER = struct.Struct("<IfQQ")    # MXNet IRHeader: flag, label, id, id2
LENGTH_MASK = (1 << 29) - 1
MAGIC_BYTES = struct.pack("<I", MAGIC)

# cflag values: a whole record, or the first / a middle / the last part of a split record.
WHOLE, FIRST, MIDDLE, LAST = 0, 1, 2, 3

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


def temp_name(path):
    """The name ``path`` is written under until it is complete."""
    return "%s.tmp-%d" % (path, os.getpid())


def leftover_temps(paths):
    """Temporary files of ``paths`` left by other (e.g. killed) runs."""
    own = {temp_name(path) for path in paths}
    found = (name for path in paths for name in glob.glob(glob.escape(path) + ".tmp-*"))
    return sorted(name for name in found if name not in own)


@contextlib.contextmanager
def atomic_outputs(paths):
    """Yield temporary names for ``paths``; rename them all into place only if the block succeeds.

    Old finished files are removed before the renames and the first path is renamed last, so a
    crash at any point never leaves a new/old mixture that looks complete (pass the .rec first).
    """
    temps = [temp_name(p) for p in paths]
    for path in paths:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    try:
        yield temps
    except BaseException:
        for temp in temps:
            with contextlib.suppress(FileNotFoundError):
                os.remove(temp)
        raise
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)
    for temp, path in reversed(list(zip(temps, paths))):
        os.replace(temp, path)


def write_atomic_text(path, text):
    """Write a small text file under a temporary name, then rename it into place."""
    with atomic_outputs([path]) as (temp,):
        with open(temp, "w", encoding="utf-8") as handle:
            handle.write(text)


def read_idx(idx_path):
    """The (key, byte offset) pairs of an MXNet .idx file, in file order."""
    entries = []
    with open(idx_path, encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            parts = line.split("\t")
            try:
                entries.append((int(parts[0]), int(parts[1])))
            except (IndexError, ValueError):
                raise UsageError("%s line %d is not 'key<TAB>offset' (%r); %s"
                                 % (idx_path, number, line.strip()[:60], FIX_HINT)) from None
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
