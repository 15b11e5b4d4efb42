"""The augmentation settings measured (paper §2.1): crop area, aspect ratio and flip read off the
pixels of an image whose colours encode their coordinates, from the training batches of a real
Run (``--aug paper``, through ImageRecordIter and through DALI); and the device colour block
against a NumPy version whose constants are written out here again from their sources, not
imported from the package.
"""
import math

import mxnet as mx
import numpy as np
import pytest

from _records import write_rec
from loop import make_run

from gluon_tricks.data.augment import ColorPCANormalize

SIDE, S = 128, 32        # source image side, training crop side


@pytest.fixture(scope="module")
def coordinate_records(tmp_path_factory):
    """64 copies of a SIDE×SIDE PNG with R = 2x, G = 2y, B = 128 (x, y pixel coordinates)."""
    folder = tmp_path_factory.mktemp("coords")
    y, x = np.mgrid[0:SIDE, 0:SIDE]
    rgb = np.stack([2 * x, 2 * y, np.full_like(x, 128)], axis=-1).astype(np.uint8)
    image = np.ascontiguousarray(rgb[..., ::-1])                    # BGR for OpenCV
    for split, count in (("train", 64), ("val", 8)):
        write_rec(folder, count, images=[image] * count, classes=4, name=split, img_fmt=".png")
    return folder


def measure(crop):
    """(width, height, flipped) in source pixels of one raw (3, S, S) crop: the slope of R across
    columns and of G down rows is 2 × (source pixels per output pixel); a negative R slope is a flip.
    The border columns/rows are left out (bilinear sampling clamps there)."""
    inner = slice(2, S - 2)
    u = np.arange(S)[inner]
    r_slope = np.polyfit(u, crop[0].mean(axis=0)[inner], 1)[0]
    g_slope = np.polyfit(u, crop[1].mean(axis=1)[inner], 1)[0]
    return abs(r_slope) / 2 * S, abs(g_slope) / 2 * S, r_slope < 0


@pytest.mark.parametrize("backend", ["rec", "dali-cpu"])
def test_random_resized_crop_and_flip_as_the_paper_says(tmp_path, coordinate_records, backend):
    """§2.1 steps 2–3: area fraction uniform in [0.08, 1], aspect ratio in [3/4, 4/3], flip with
    p = 0.5, measured on 256 crops of four epochs. The bounds are checked with 3 % slack and the
    draws must reach near both ends, so a wrong range (min area 0.25, aspect [1/2, 2]) or no
    flip fails."""
    run = make_run(tmp_path, "--data-dir", coordinate_records, "--batch-size", "64",
                   data=backend, aug="paper")
    areas, aspects, flips = [], [], []
    for epoch in range(4):
        crops = next(run.epoch_batches(epoch)).data[0].asnumpy()
        assert crops.min() >= 0 and crops.max() <= 255 and abs(crops[:, 2].mean() - 128) < 1
        for crop in crops:
            w, h, flipped = measure(crop)
            areas.append(w * h / SIDE ** 2)
            aspects.append(w / h)
            flips.append(flipped)
    areas, aspects = np.array(areas), np.array(aspects)
    assert areas.min() > 0.08 * 0.97 and areas.max() < 1.03, (areas.min(), areas.max())
    assert areas.min() < 0.15 and areas.max() > 0.7
    assert aspects.min() > 0.75 * 0.97 and aspects.max() < 4 / 3 * 1.03, (aspects.min(), aspects.max())
    assert aspects.min() < 0.82 and aspects.max() > 1.22
    assert 0.35 < np.mean(flips) < 0.65


# -- the device colour block against NumPy ------------------------------------------------------

# AlexNet's ImageNet RGB PCA as fb.resnet.torch publishes it (pixels in [0, 1]): eigenvalues and
# eigenvectors as columns (rows R, G, B); ×255 for pixels in [0, 255].
EIGVAL = np.array([0.2175, 0.0188, 0.0045]) * 255
EIGVEC = np.array([[-0.5675, 0.7192, 0.4009],
                   [-0.5808, -0.0045, -0.8140],
                   [-0.5836, -0.6948, 0.4203]])
# FCC NTSC YIQ: Y = 0.299 R + 0.587 G + 0.114 B; I = 0.5959 R − 0.2746 G − 0.3213 B;
# Q = 0.2115 R − 0.5227 G + 0.3112 B.
Y_ROW = np.array([0.299, 0.587, 0.114])
I_ROW = np.array([0.5959, -0.2746, -0.3213])
Q_ROW = np.array([0.2115, -0.5227, 0.3112])
# The paper's §2.1 step 6: subtract 123.68, 116.779, 103.939, divide by 58.393, 57.12, 57.375.
MEAN = np.array([123.68, 116.779, 103.939])
STD = np.array([58.393, 57.12, 57.375])


def numpy_colour(img, b, c, s, h, alpha, eigval=EIGVAL, eigvec=EIGVEC, turn=math.pi):
    """Steps 4–6 on one (H, W, 3) RGB image, one step after another in float64: brightness, contrast
    towards the mean luma, saturation towards each pixel's luma, hue as a rotation of the (I, Q)
    chroma by (h − 1)·180° (complex multiplication), PCA noise V·(α ⊙ λ), normalize."""
    x = img.astype(np.float64) * b
    x = c * x + (1 - c) * (x @ Y_ROW).mean()
    x = s * x + (1 - s) * (x @ Y_ROW)[..., None]
    yiq = np.stack([x @ Y_ROW, x @ I_ROW, x @ Q_ROW], axis=-1)
    chroma = (yiq[..., 1] + 1j * yiq[..., 2]) * np.exp(1j * (h - 1) * turn)
    yiq = np.stack([yiq[..., 0], chroma.real, chroma.imag], axis=-1)
    x = yiq @ np.linalg.inv(np.stack([Y_ROW, I_ROW, Q_ROW])).T
    x = x + eigvec @ (alpha * eigval)
    return (x - MEAN) / STD


def test_device_block_matches_an_independent_numpy_version():
    """ColorPCANormalize (what --aug paper runs on the device) equals numpy_colour to 1e-4 in
    normalized units (float32 rounding; fb.resnet.torch's eigenvalues ×255 differ from MXNet's
    rounded 55.46, 4.794, 1.148 by < 0.001).
    The nearest wrong versions (eigenvalues not ×255, the eigenvector matrix transposed, a hue
    turn of (h − 1)·90°) differ by more than 100 times that (asserted)."""
    rng = np.random.RandomState(5)
    images = rng.uniform(0, 255, (6, 7, 5, 3))
    coeffs = [(*rng.uniform(0.6, 1.4, 4), rng.normal(0, 0.5, 3)) for _ in images]
    block = ColorPCANormalize()
    block.initialize()
    block.hybridize()
    b, c, s, h, alpha = (mx.nd.array(np.array(v, dtype=np.float32)) for v in zip(*coeffs))
    out = block(mx.nd.array(images.transpose(0, 3, 1, 2)), b, c, s, h, alpha).asnumpy()
    out = out.transpose(0, 2, 3, 1)
    expected = np.stack([numpy_colour(img, *co) for img, co in zip(images, coeffs)])
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-4)
    for wrong in (dict(eigval=EIGVAL / 255), dict(eigvec=EIGVEC.T), dict(turn=math.pi / 2)):
        other = np.stack([numpy_colour(img, *co, **wrong) for img, co in zip(images, coeffs)])
        assert np.abs(other - out).max() > 100e-4, wrong


def test_numpy_version_is_the_identity_at_identity_coefficients():
    """A check of the reference itself: coefficients 1 and α = 0 leave only normalization."""
    img = np.random.RandomState(0).uniform(0, 255, (4, 4, 3))
    np.testing.assert_allclose(numpy_colour(img, 1, 1, 1, 1, np.zeros(3)), (img - MEAN) / STD,
                               atol=1e-9)
