"""The colour/PCA/normalize block (paper §2.1 steps 4–6) against NumPy and MXNet's augmenters."""
import random

import mxnet as mx
import numpy as np
import pytest
from numpy.testing import assert_allclose

from gluon_tricks.data import augment

MEAN = np.array([123.68, 116.779, 103.939])
STD = np.array([58.393, 57.12, 57.375])
LUMA = np.array([0.299, 0.587, 0.114])


def reference(img, b, c, s, h, alpha, order=("hue", "saturation", "brightness", "contrast")):
    """Steps 4–6 for one HWC float image, one operation at a time, in the given colour order."""
    yiq = np.array(augment.YIQ)
    theta = (h - 1.0) * np.pi
    cos, sin = np.cos(theta), np.sin(theta)
    rotation = np.array([[1, 0, 0], [0, cos, -sin], [0, sin, cos]])
    ops = {
        "hue": lambda x: x @ (np.linalg.inv(yiq) @ rotation @ yiq).T,
        "saturation": lambda x: s * x + (1 - s) * (x @ LUMA)[..., None],
        "brightness": lambda x: b * x,
        "contrast": lambda x: c * x + (1 - c) * (x @ LUMA).mean(),
    }
    x = img.astype(np.float64)
    for name in order:
        x = ops[name](x)
    eigvec, eigval = np.array(augment.PCA_EIGVEC), np.array(augment.PCA_EIGVAL)
    x = x + eigvec @ (alpha * eigval)
    return (x - MEAN) / STD


def run_block(images, coefficients, hybridize=False, ctx=mx.cpu()):
    """ColorPCANormalize on NHWC images with per-image (b, c, s, h, alpha); returns NHWC."""
    block = augment.ColorPCANormalize()
    block.initialize(ctx=ctx)
    if hybridize:
        block.hybridize()
    b, c, s, h, alpha = (np.array(v, dtype=np.float32) for v in zip(*coefficients))
    args = [mx.nd.array(v, ctx=ctx) for v in (images.transpose(0, 3, 1, 2), b, c, s, h, alpha)]
    return block(*args).asnumpy().transpose(0, 2, 3, 1)


def random_images(count, seed=0, size=(6, 5)):
    return np.random.RandomState(seed).uniform(0, 255, size=(count,) + size + (3,)).astype(np.float32)


def random_coefficients(count, seed=1):
    rng = np.random.RandomState(seed)
    return [(rng.uniform(0.6, 1.4), rng.uniform(0.6, 1.4), rng.uniform(0.6, 1.4), rng.uniform(0.6, 1.4),
             rng.normal(0, 0.1, size=3)) for _ in range(count)]


def test_constants_match_paper_and_mxnet():
    assert augment.MEAN_RGB == (123.68, 116.779, 103.939)
    assert augment.STD_RGB == (58.393, 57.12, 57.375)
    lighting = [a for a in mx.image.CreateAugmenter((3, 8, 8), pca_noise=0.1)
                if isinstance(a, mx.image.LightingAug)][0]
    assert_allclose(augment.PCA_EIGVAL, lighting.eigval)
    assert_allclose(augment.PCA_EIGVEC, lighting.eigvec)
    yiq = np.array(augment.YIQ)
    assert_allclose(yiq[0], LUMA)
    assert_allclose(yiq[1:].sum(axis=1), 0, atol=1e-12)   # gray stays gray under chroma ops
    assert augment.PRESETS["paper"] == augment.Jitter(0.4, 0.0, 0.4, 0.4, 0.1, on_device=True)
    assert augment.PRESETS["paper-decoder"] == augment.Jitter(0.4, 0.0, 0.4, 0.4, 0.1,
                                                              on_device=False)
    assert augment.PRESETS["gluoncv"] == augment.Jitter(0.4, 0.4, 0.4, 0.0, 0.1, on_device=False)


def test_identity_coefficients_give_plain_normalization():
    images = random_images(3)
    out = run_block(images, [(1.0, 1.0, 1.0, 1.0, np.zeros(3))] * 3)
    assert_allclose(out, (images - MEAN) / STD, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("hybridize", [False, True])
def test_matches_numpy_reference(hybridize):
    images, coefficients = random_images(4), random_coefficients(4)
    out = run_block(images, coefficients, hybridize=hybridize)
    expected = np.stack([reference(img, *co) for img, co in zip(images, coefficients)])
    assert_allclose(out, expected, rtol=1e-4, atol=1e-4)


def test_block_agrees_with_every_colour_order():
    """The block has no order among the colour steps (they commute without clipping): its output
    equals the step-by-step reference in the paper's order and in two others."""
    img, co = random_images(1)[0], random_coefficients(1)[0]
    out = run_block(img[None], [co])[0]
    for order in [("hue", "saturation", "brightness", "contrast"),
                  ("brightness", "contrast", "saturation", "hue"),
                  ("contrast", "hue", "brightness", "saturation")]:
        assert_allclose(out, reference(img, *co, order=order), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name, aug, slot", [
    ("brightness", mx.image.BrightnessJitterAug(0.4), 0),
    ("contrast", mx.image.ContrastJitterAug(0.4), 1),
    ("saturation", mx.image.SaturationJitterAug(0.4), 2),
    ("hue", mx.image.HueJitterAug(0.4), 3),
])
def test_each_colour_step_follows_mxnet_convention(name, aug, slot):
    """Coefficient 1 + u of ours equals MXNet's augmenter drawing u = random.uniform(-0.4, 0.4)."""
    img = random_images(1, seed=3)[0]
    random.seed(7)
    u = random.uniform(-0.4, 0.4)
    random.seed(7)
    expected = aug(mx.nd.array(img)).asnumpy()
    co = [1.0, 1.0, 1.0, 1.0, np.zeros(3)]
    co[slot] = 1.0 + u
    out = run_block(img[None], [tuple(co)])[0] * STD + MEAN
    # MXNet's YIQ matrices are rounded to 3 digits; ours is exact, hence the looser hue tolerance.
    assert_allclose(out, expected, atol=1.0 if name == "hue" else 1e-3, rtol=1e-5)


def test_pca_noise_follows_mxnet_lighting():
    img = random_images(1, seed=4)[0]
    np.random.seed(11)
    alpha = np.random.normal(0, 0.1, size=(3,))
    np.random.seed(11)
    expected = mx.image.LightingAug(0.1, np.array(augment.PCA_EIGVAL),
                                    np.array(augment.PCA_EIGVEC))(mx.nd.array(img)).asnumpy()
    out = run_block(img[None], [(1.0, 1.0, 1.0, 1.0, alpha)])[0] * STD + MEAN
    assert_allclose(out, expected, atol=1e-3)


def sample(jitter, images, seed=0):
    """RandomColorPCANormalize on NHWC images, returned NHWC in [0, 255] units."""
    mx.random.seed(seed)
    block = augment.RandomColorPCANormalize(jitter)
    block.initialize()
    block.hybridize()
    out = block(mx.nd.array(images.transpose(0, 3, 1, 2))).asnumpy().transpose(0, 2, 3, 1)
    return out * STD + MEAN


def test_random_brightness_is_uniform_06_14_per_image():
    gray = np.full((4000, 1, 1, 3), 100.0, dtype=np.float32)
    b = sample(augment.Jitter(0.4, 0.0, 0.0, 0.0, 0.0), gray)[:, 0, 0, :] / 100.0
    assert_allclose(b, b[:, :1].repeat(3, axis=1), rtol=1e-5)      # one factor per image
    b = b[:, 0]
    assert b.min() >= 0.6 - 1e-5 and b.max() <= 1.4 + 1e-5
    assert abs(b.mean() - 1.0) < 0.015
    assert abs(b.std() - 0.8 / np.sqrt(12)) < 0.01


def test_random_hue_rotates_up_to_72_degrees():
    colour = np.tile(np.array([200.0, 80.0, 40.0], dtype=np.float32), (4000, 1, 1, 1))
    out = sample(augment.Jitter(0.0, 0.0, 0.0, 0.4, 0.0), colour)[:, 0, 0, :]
    yiq = np.array(augment.YIQ)
    before, after = colour[0, 0, 0] @ yiq.T, out @ yiq.T
    turn = np.degrees(np.arctan2(after[:, 2], after[:, 1]) - np.arctan2(before[2], before[1]))
    turn = (turn + 180) % 360 - 180
    assert_allclose(after[:, 0], before[0], rtol=1e-4)                # luma kept
    assert turn.min() >= -72.01 and turn.max() <= 72.01
    assert abs(turn.std() - 144 / np.sqrt(12)) < 2.0


def test_random_pca_alpha_has_std_01():
    zeros = np.zeros((4000, 1, 1, 3), dtype=np.float32)
    offset = sample(augment.Jitter(0.0, 0.0, 0.0, 0.0, 0.1), zeros)[:, 0, 0, :]
    basis = np.array(augment.PCA_EIGVEC) * np.array(augment.PCA_EIGVAL)
    alpha = np.linalg.solve(basis, offset.T).T
    assert_allclose(alpha.std(axis=0), 0.1, rtol=0.05)
    assert_allclose(alpha.mean(axis=0), 0.0, atol=0.01)


def test_device_augmenter_runs_on_every_context():
    block = augment.device_augmenter("paper", [mx.cpu(0), mx.cpu(1)])
    for ctx in (mx.cpu(0), mx.cpu(1)):
        out = block(mx.nd.random.uniform(0, 255, shape=(2, 3, 8, 8), ctx=ctx))
        assert out.context == ctx and out.shape == (2, 3, 8, 8)
        assert np.isfinite(out.asnumpy()).all()
