"""Decode and encode the images prepare and check-rec handle, fast and with every fault named.

JPEGs go through libjpeg-turbo (``simplejpeg``): it decodes at 1/2, 1/4 or 1/8 scale in the DCT
when the image is at least twice the size asked for, reports libjpeg's warnings (truncated or
corrupt data) as errors we can attribute to a file or record instead of printing them, and
encodes several times faster than OpenCV's wheels. Other formats, CMYK/YCCK JPEGs and JPEGs
with an EXIF rotation are decoded by OpenCV, which converts and rotates them. Nothing is decoded
whose header declares more pixels than the limit (see imagesize), or whose size the header does
not tell.
"""
import cv2
import numpy as np
import simplejpeg

from . import imagesize

JPEG_SIGNATURE = b"\xff\xd8\xff"
TRUNCATED = "Premature end of JPEG file"
# Scales 1/2, 1/4 and 1/8 only: libjpeg-turbo's other ones (3/8, 3/4...) are slower than a full
# decode on small images and farther from an area-averaged result (benchmarks/README.md).
DCT_SCALES = (8, 4, 2)


class DecodeError(ValueError):
    """Bytes that do not decode to an image; the message says why."""


def truncated_jpeg(data):
    """True for JPEG data cut short: no end-of-image marker after the last start-of-scan.

    libjpeg decodes such files with a warning and grey filler, so decoding alone misses them.
    """
    if not data.startswith(b"\xff\xd8"):
        return False
    return data.find(b"\xff\xd9", max(0, data.rfind(b"\xff\xda"))) == -1


def jpeg_size(data):
    """(height, width) of a JPEG as decoded (EXIF rotation applied) from its header alone, or
    None for other data."""
    size = stored_size(data) if data.startswith(JPEG_SIGNATURE) else None
    if size is None:
        return None
    return size[::-1] if exif_orientation(data) >= TRANSPOSED else size


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def stored_size(data):
    """(height, width) of a JPEG or PNG as its pixels are stored (EXIF orientation not applied),
    from the header alone; None for other or damaged data."""
    if data.startswith(PNG_SIGNATURE) and data[12:16] == b"IHDR":
        return int.from_bytes(data[20:24], "big"), int.from_bytes(data[16:20], "big")
    if not data.startswith(JPEG_SIGNATURE):
        return None
    try:
        return tuple(simplejpeg.decode_jpeg_header(data)[:2])
    except ValueError:
        return None


# EXIF orientations 5-8 turn the image by 90°; OpenCV's imdecode applies every orientation.
TRANSPOSED = 5


def exif_orientation(data):
    """The EXIF orientation (1-8) in a JPEG's APP1 segment, 1 when there is none."""
    position = 2
    while position + 4 <= len(data) and data[position] == 0xFF:
        marker = data[position + 1]
        if marker in (0xDA, 0xD9):        # start of scan, end of image: no more header segments
            break
        length = int.from_bytes(data[position + 2:position + 4], "big")
        if marker == 0xE1 and data[position + 4:position + 10] == b"Exif\0\0":
            return tiff_orientation(data[position + 10:position + 2 + length])
        position += 2 + length
    return 1


def tiff_orientation(tiff):
    """Tag 0x0112 of the first IFD of an EXIF TIFF block, 1 when absent or malformed."""
    order = {b"II": "little", b"MM": "big"}.get(tiff[:2])
    if order is None or len(tiff) < 8:
        return 1
    ifd = int.from_bytes(tiff[4:8], order)
    count = int.from_bytes(tiff[ifd:ifd + 2], order) if ifd + 2 <= len(tiff) else 0
    for entry in range(ifd + 2, min(ifd + 2 + 12 * count, len(tiff) - 11), 12):
        if int.from_bytes(tiff[entry:entry + 2], order) == 0x0112:
            value = int.from_bytes(tiff[entry + 8:entry + 10], order)
            return value if 1 <= value <= 8 else 1
    return 1


def decode_opencv(data):
    """BGR image of any format OpenCV reads; DecodeError if it cannot, or if JPEG data is cut short."""
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise DecodeError("not a decodable image")
    if truncated_jpeg(data):
        raise DecodeError("truncated JPEG (no end-of-image marker)")
    return image


def check_size(data, max_pixels):
    """DecodeError unless ``data``'s header declares its size, at most ``max_pixels`` pixels."""
    size = imagesize.size_of_bytes(data)
    if size is None:
        raise DecodeError("not a decodable image (no JPEG, PNG, BMP, PPM/PGM, WebP or TIFF "
                          "header)")
    problem = imagesize.too_many_pixels(size, max_pixels)
    if problem:
        raise DecodeError(problem)


# How thoroughly :func:`check_image` looks at an image: its header alone (a known format that
# declares its size), a quick OpenCV decode at a quarter of the size (libjpeg still reads every
# byte, so it fails where MXNet's full decode fails; keeps a pass over a validation set short),
# or libjpeg-turbo's strict decode, which also refuses what libjpeg only warns about.
HEADER, QUICK, STRICT = "header", "quick", "strict"


def check_image(data, level, max_pixels=imagesize.MAX_PIXELS):
    """DecodeError unless ``data`` passes the check of ``level`` (above); an image declaring
    more than ``max_pixels`` pixels fails each without being decoded."""
    if not data:
        raise DecodeError("not a decodable image: empty image data")
    if level == HEADER:
        check_size(data, max_pixels)
    elif level == STRICT:   # at the smallest scale: all entropy-coded data is still read
        decode(data, 1, 1, max_pixels=max_pixels)
    else:
        problem = imagesize.too_many_pixels(imagesize.size_of_bytes(data), max_pixels)
        if problem:
            raise DecodeError(problem)
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_REDUCED_COLOR_4)
        if image is None or image.size == 0:
            raise DecodeError("not a decodable image")


def decode(data, min_height=0, min_width=0, strict=True, max_pixels=imagesize.MAX_PIXELS):
    """(BGR image, warning or None) of encoded bytes; DecodeError when they are not an image.

    A JPEG is decoded at the smallest of 1, 1/2, 1/4, 1/8 scale that keeps it at least
    ``min_height`` × ``min_width`` (0: full size). Truncated JPEGs are errors; other libjpeg
    warnings (corrupt data) are errors when ``strict``, else returned beside the image. Images
    that :func:`check_size` refuses are not decoded.
    """
    check_size(data, max_pixels)
    if not data.startswith(JPEG_SIGNATURE):
        return decode_opencv(data), None
    try:
        height, width, colorspace, _ = simplejpeg.decode_jpeg_header(data)
    except ValueError as err:
        raise DecodeError("not a decodable image (%s)" % err) from None
    if colorspace in ("YCbCr", "Gray") and exif_orientation(data) == 1:
        factor = dct_factor(height, width, min_height, min_width)
        return decode_jpeg(data, "BGR", -(-height // factor), -(-width // factor), strict)
    # libjpeg-turbo can neither turn CMYK/YCCK into BGR nor apply EXIF orientations: it checks
    # the data at 1/8 scale, OpenCV decodes (as before, at full size).
    _, warning = decode_jpeg(data, "CMYK" if colorspace in ("CMYK", "YCCK") else "BGR", 1, 1, strict)
    return decode_opencv(data), warning


def dct_factor(height, width, min_height, min_width):
    """The largest of 8, 4, 2, 1 that divides height × width to at least min_height × min_width
    (1 when either minimum is 0: full size)."""
    if min_height <= 0 or min_width <= 0:
        return 1
    return next((factor for factor in DCT_SCALES
                 if height / factor >= min_height and width / factor >= min_width), 1)


def decode_jpeg(data, colorspace, min_height, min_width, strict):
    """(image, warning or None) from libjpeg-turbo at its smallest scale that keeps at least
    min_height × min_width; DecodeError as described in ``decode``."""
    scale = dict(min_height=min_height, min_width=min_width)
    try:
        return simplejpeg.decode_jpeg(data, colorspace, **scale), None
    except ValueError as err:
        warning = str(err)
    if TRUNCATED in warning:
        raise DecodeError("truncated JPEG (%s)" % warning)
    if strict:
        raise DecodeError("corrupt JPEG data (%s)" % warning)
    try:
        return simplejpeg.decode_jpeg(data, colorspace, strict=False, **scale), warning
    except ValueError as err:
        raise DecodeError("not a decodable image (%s)" % err) from None


def shorter_side_size(height, width, size):
    """(width, height) with the shorter side ``size`` and the aspect ratio of height × width."""
    scale = size / min(height, width)
    return max(1, round(width * scale)), max(1, round(height * scale))


def resize(image, new_size):
    """``image`` at ``new_size`` (width, height): area averaging down, bicubic up."""
    height, width = image.shape[:2]
    if (width, height) == tuple(new_size):
        return image
    shrinking = new_size[0] <= width and new_size[1] <= height
    return cv2.resize(image, tuple(new_size), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC)


def encode_jpeg(image, quality):
    """JPEG bytes of a BGR image, 4:2:0 chroma and the accurate DCT (as OpenCV's imencode)."""
    return simplejpeg.encode_jpeg(np.ascontiguousarray(image), quality, "BGR", "420", fastdct=False)
