"""Test images whose header declares many pixels while the file stays small: what a decoder
would allocate comes from the header, so these test the pixel limit without a test ever holding
a large image."""
import struct
import zlib


def _segment(marker, payload):
    return b"\xff" + bytes([marker]) + struct.pack(">H", len(payload) + 2) + payload


def flat_jpeg(width, height):
    """A valid baseline greyscale JPEG, mid-grey everywhere: its Huffman tables hold one 1-bit
    code each, so every 8×8 block is two zero bits (20000×20000 pixels in 1.6 MB). libjpeg,
    OpenCV and Pillow decode it."""
    one_code = bytes([1] + [0] * 15) + b"\x00"           # one code of length 1, for symbol 0
    blocks = -(-width // 8) * -(-height // 8)
    return (b"\xff\xd8" + _segment(0xDB, b"\x00" + b"\x01" * 64)
            + _segment(0xC0, struct.pack(">BHHB", 8, height, width, 1) + b"\x01\x11\x00")
            + _segment(0xC4, b"\x00" + one_code + b"\x10" + one_code)
            + _segment(0xDA, b"\x01\x01\x00\x00\x3f\x00")
            + b"\x00" * -(-2 * blocks // 8) + b"\xff\xd9")


def _chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_header(width, height):
    """A greyscale PNG that declares ``width`` × ``height`` and holds one empty data chunk:
    enough for anything that reads the size from the header."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header)
            + _chunk(b"IDAT", zlib.compress(b"")) + _chunk(b"IEND", b""))
