"""Test helper: write a small indexed RecordIO pair (.rec/.idx) of random JPEGs."""
import cv2
import mxnet as mx
import numpy as np


def write_rec(directory, count, size=(80, 64), classes=3, seed=0, images=None, name="data",
              img_fmt=".jpg", labels=None):
    """Pack ``count`` JPEGs (random blobs, or the given HxWx3 BGR ``images``) with labels i % classes
    (or ``labels``).

    Returns (rec_path, idx_path). ``size`` is (width, height) of the generated images;
    ``img_fmt=".png"`` stores them losslessly.
    """
    rng = np.random.RandomState(seed)
    rec_path = str(directory / (name + ".rec"))
    idx_path = str(directory / (name + ".idx"))
    writer = mx.recordio.MXIndexedRecordIO(idx_path, rec_path, "w")
    for i in range(count):
        if images is not None:
            img = images[i]
        else:
            small = rng.randint(0, 256, size=(4, 4, 3)).astype(np.uint8)
            img = cv2.resize(small, size, interpolation=cv2.INTER_LINEAR)
        label = i % classes if labels is None else labels[i]
        header = mx.recordio.IRHeader(0, float(label), i, 0)
        writer.write_idx(i, mx.recordio.pack_img(header, img, quality=95 if img_fmt == ".jpg" else 3, img_fmt=img_fmt))
    writer.close()
    return rec_path, idx_path
