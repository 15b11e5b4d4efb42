"""Image dimensions read from the file header, and the pixel limit every image reader applies
before it decodes (``prepare``, ``check-rec``, the record checks of ``train``, ``eval``,
``zoo-check`` and ``figures``, and the VOC and ADE20K readers of ``detect``/``segment``).

A decoder allocates what the header declares: a 1.5 MB JPEG of 20000 × 20000 pixels takes 1.2 GB
as BGR, a 60000 × 60000 one 10 GB. The default limit is Pillow's (``PIL.Image.MAX_IMAGE_PIXELS``,
89,478,485 pixels, about 256 MB as BGR); ``--max-image-pixels N`` raises it on every command.
Sizes are read from JPEG's start-of-frame segment, PNG's IHDR, BMP's info header, PPM/PGM's text
header, WebP's VP8/VP8L/VP8X chunk and TIFF's first directory: the formats ``prepare`` packs.
"""
import argparse
import struct

from ..errors import UsageError, shown

MAX_PIXELS = 89_478_485
FLAG = "--max-image-pixels"
HELP = ("refuse, by name and before decoding, images whose header declares more pixels than N "
        "(default %s, Pillow's limit: about 256 MB decoded)" % format(MAX_PIXELS, ","))

# JPEG start-of-frame markers (baseline, progressive, lossless, arithmetic): every 0xC0-0xCF
# but DHT (0xC4), JPG (0xC8) and DAC (0xCC). Segments without a length: RST0-7, TEM.
SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
NO_LENGTH = frozenset(range(0xD0, 0xD8)) | {0x01}
MAX_SEGMENTS = 4096     # a real JPEG has a few dozen segments before its frame header
# Read at once: the frame header of the JPEGs prepare writes lies in the first few hundred
# bytes; a camera JPEG's EXIF block is skipped with one more read.
HEAD_BYTES = 2048


def positive_count(text):
    """An argparse type: a whole number ≥ 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError("takes a whole number ≥ 1, got %s"
                                         % shown(text, quoted=True))
    return value


def add_argument(parser, default=MAX_PIXELS):
    """``--max-image-pixels N`` (into ``args.max_image_pixels``), the same on every command
    (``train`` takes ``default`` None, to tell a typed limit from a config file's)."""
    parser.add_argument(FLAG, type=positive_count, default=default, metavar="N", help=HELP)


def _jpeg(read, head):
    """The frame header's sides, found as libjpeg finds it: segment by segment, skipping stray
    bytes up to the next marker (libjpeg warns about them and goes on)."""
    def chunk(start, count):
        return head[start:start + count] if start + count <= len(head) else read(start, count)

    position = 2
    for _ in range(MAX_SEGMENTS):
        marker = chunk(position, 4)
        if len(marker) < 2:
            return None
        if marker[0] != 0xFF or marker[1] == 0x00:
            position = _next_marker(read, position + 1)
            if position is None:
                return None
        elif marker[1] == 0xFF:                     # fill byte before a marker
            position += 1
        elif marker[1] in NO_LENGTH:
            position += 2
        elif marker[1] in SOF_MARKERS:
            frame = chunk(position + 5, 4)
            return struct.unpack(">HH", frame) if len(frame) == 4 else None
        elif marker[1] in (0xDA, 0xD9) or len(marker) < 4:  # scan data or the end: no frame
            return None
        else:
            position += 2 + int.from_bytes(marker[2:4], "big")
    return None


def _next_marker(read, position, chunk=1 << 16):
    """The position of the next 0xFF byte at or after ``position``, or None."""
    while True:
        data = read(position, chunk)
        found = data.find(b"\xff")
        if found >= 0:
            return position + found
        if len(data) < chunk:
            return None
        position += chunk


def _png(read, head):
    ihdr = read(8, 16)
    if len(ihdr) < 16 or ihdr[4:8] != b"IHDR":
        return None
    width, height = struct.unpack(">II", ihdr[8:16])
    return height, width


def _bmp(read, head):
    info = read(14, 12)
    if len(info) < 12:
        return None
    if int.from_bytes(info[:4], "little") == 12:   # OS/2 1.x header: 16-bit sides
        width, height = struct.unpack("<HH", info[4:8])
    else:
        width, height = struct.unpack("<ii", info[4:12])
    return abs(height), abs(width)


def _pnm(read, head):
    words = []
    for line in head.split(b"\n"):
        words += line.split(b"#", 1)[0].split()
        if len(words) >= 3:
            break
    try:
        return int(words[2]), int(words[1])
    except (IndexError, ValueError):
        return None


def _webp(read, head):
    chunk = read(12, 20)
    kind, data = chunk[:4], chunk[8:]
    if kind == b"VP8 " and len(data) >= 10:
        width, height = struct.unpack("<HH", data[6:10])
        return height & 0x3FFF, width & 0x3FFF
    if kind == b"VP8L" and len(data) >= 5:
        bits = int.from_bytes(data[1:5], "little")
        return (bits >> 14 & 0x3FFF) + 1, (bits & 0x3FFF) + 1
    if kind == b"VP8X" and len(data) >= 10:
        return int.from_bytes(data[7:10], "little") + 1, int.from_bytes(data[4:7], "little") + 1
    return None


def _tiff(read, head):
    order = "<" if read(0, 2) == b"II" else ">"
    ifd = read(4, 4)
    ifd = struct.unpack(order + "I", ifd)[0] if len(ifd) == 4 else None
    count = read(ifd, 2) if ifd is not None else b""
    if len(count) < 2:
        return None
    entries = read(ifd + 2, 12 * struct.unpack(order + "H", count)[0])
    sides = {}
    for start in range(0, len(entries) - 11, 12):
        tag, kind = struct.unpack(order + "HH", entries[start:start + 4])
        if tag in (256, 257) and kind in (3, 4):
            value = entries[start + 8:start + (10 if kind == 3 else 12)]
            sides[tag] = struct.unpack(order + ("H" if kind == 3 else "I"), value)[0]
    return (sides[257], sides[256]) if len(sides) == 2 else None


FORMATS = ((b"\xff\xd8", _jpeg), (b"\x89PNG\r\n\x1a\n", _png), (b"BM", _bmp),
           (b"P1", _pnm), (b"P2", _pnm), (b"P3", _pnm), (b"P4", _pnm), (b"P5", _pnm),
           (b"P6", _pnm), (b"II*\0", _tiff), (b"MM\0*", _tiff))


def header_size(read):
    """(height, width) an image declares in its header, or None when the format is not one of
    those above or the header is cut short. ``read(start, count)`` returns the image's bytes
    from ``start`` (fewer at its end); the first HEAD_BYTES are read at once, and past them
    only the segments before the frame header."""
    head = read(0, HEAD_BYTES)
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return _webp(read, head)
    for signature, parse in FORMATS:
        if head.startswith(signature):
            return parse(read, head)
    return None


def size_of_bytes(data):
    """:func:`header_size` of an image held in memory."""
    return header_size(lambda start, count: bytes(data[start:start + count]))


def size_of_file(path):
    """:func:`header_size` of an image file (OSError if it cannot be read)."""
    with open(path, "rb") as handle:
        return size_of_stream(handle, 0, None)


def size_of_stream(handle, offset, length, head=b""):
    """:func:`header_size` of the image in the ``length`` bytes (None: up to the end) from byte
    ``offset`` of an open file; ``head``, the image's first bytes if already read, saves the
    reads it covers."""
    def read(start, count):
        if length is not None:
            count = max(0, min(count, length - start))
        if start + count <= len(head):
            return head[start:start + count]
        handle.seek(offset + start)
        return handle.read(count)
    return header_size(read)


def too_many_pixels(size, limit):
    """Why an image of ``size`` (height, width; None: unknown) is refused under ``limit``
    pixels ("declares W×H, ..."), or None when it is not."""
    if size is None or size[0] * size[1] <= limit:
        return None
    return ("its header declares %d×%d = %s pixels, more than %s %s; raise %s if it is meant "
            "to be read" % (size[1], size[0], format(size[0] * size[1], ","), FLAG,
                            format(limit, ","), FLAG))


def checked_file_size(path, limit):
    """(height, width) from the header of image file ``path``; a one-line UsageError when it
    cannot be read, its header tells no size, or it declares more than ``limit`` pixels."""
    try:
        size = size_of_file(path)
    except OSError as err:
        raise UsageError("cannot read %s (%s)" % (path, err.strerror or err)) from None
    if size is None:
        raise UsageError("%s is not a JPEG, PNG, BMP, PPM/PGM, WebP or TIFF image (its header "
                         "tells no size)" % path)
    problem = too_many_pixels(size, limit)
    if problem:
        raise UsageError("%s: %s" % (path, problem))
    return size
