"""Colour augmentation and normalization, paper §2.1 steps 4–6: the constants, the ``--aug``
choices and a batched block.

The constants are defined here once; ``record.py`` passes the same numbers to ``ImageRecordIter``
for the decoder path. ``RandomColorPCANormalize`` runs steps 4–6 for a whole batch on the device the
batch lives on; it is what ``--aug paper`` (the default) uses on every context.

``--aug`` choices (``PRESETS``; which is the paper and which GluonCV is said in the README):

* ``paper`` (default): the paper's ranges, steps 4–6 on the training device in float32 with this
  block, each coefficient uniform in its range, no clipping;
* ``paper-decoder``: the same ranges in ``ImageRecordIter``'s decoding threads, an approximation
  (uint8 with clipping after each step, a clamped and trapezoid-distributed hue shift, a
  BGR-weighted gray level; see ``record.py``);
* ``gluoncv``: GluonCV's published ImageNet setting, in ``ImageRecordIter`` as GluonCV runs it.

Coefficient conventions of the block (all per image, identity at 1.0 / 0.0):

* brightness b: ``x ← b·x``;
* contrast c: ``x ← c·x + (1 − c)·mean(luma(x))`` (a GluonCV option; the paper has no contrast);
* saturation s: ``x ← s·x + (1 − s)·luma(x)``, luma = 0.299 R + 0.587 G + 0.114 B;
* hue h: the paper says "scale hue by a coefficient in [0.6, 1.4]"; a hue is an angle, so h is
  read as a rotation of (h − 1)·180° (±72° for [0.6, 1.4]), the convention of MXNet's
  ``HueJitterAug(0.4)``. The block rotates the chroma plane (I, Q) of YIQ space about the luma
  axis Y by that angle, uniform in angle: a linear stand-in for rotating the HSV/HLS hue, exact
  in luma and in chroma magnitude, not identical to an HSV hue shift;
* PCA lighting (AlexNet): ``x ← x + V·(α ⊙ λ)``, α ~ N(0, σ²) per image and component, V and λ
  the ImageNet RGB eigenvectors (columns) and eigenvalues below;
* normalize: ``x ← (x − MEAN_RGB) / STD_RGB``.

Order. On floats, brightness, contrast, saturation and hue commute exactly: brightness is a
scalar, saturation and hue keep luma and keep gray pixels gray (the YIQ matrix below has the luma
as its Y row and I, Q rows summing to 0), and contrast only adds a gray level. So the block has no
order to pick among them (the paper lists hue, saturation, brightness; the tests check that other
orders agree); PCA noise follows, then normalization, with no clipping (as GluonCV's float
transforms). ``ImageRecordIter`` (decoder path) instead works on uint8 and clips after every step:
brightness/contrast/saturation in a random order per image, then its HLS hue shift, then PCA
noise; the differences are documented in ``record.py``.
"""
from dataclasses import dataclass

import numpy as np
from mxnet.gluon import HybridBlock

MEAN_RGB = (123.68, 116.779, 103.939)
STD_RGB = (58.393, 57.12, 57.375)

# ImageNet RGB covariance in [0, 255] units (AlexNet lighting noise), as MXNet and GluonCV use it:
# eigenvalues λ and eigenvectors as the columns of PCA_EIGVEC (rows are R, G, B).
PCA_EIGVAL = (55.46, 4.794, 1.148)
PCA_EIGVEC = ((-0.5675, 0.7192, 0.4009),
              (-0.5808, -0.0045, -0.8140),
              (-0.5836, -0.6948, 0.4203))

# RGB -> YIQ (FCC NTSC). Row 0 is the luma used by saturation and contrast.
YIQ = ((0.299, 0.587, 0.114),
       (0.5959, -0.2746, -0.3213),
       (0.2115, -0.5227, 0.3112))


@dataclass(frozen=True)
class Jitter:
    """Ranges of step 4–5: b, c, s, h coefficients ~ U[1 − r, 1 + r]; PCA α ~ N(0, pca_noise²).

    ``on_device``: steps 4–6 run in ``RandomColorPCANormalize`` on the training device; otherwise
    in ``ImageRecordIter``'s decoding threads.
    """

    brightness: float
    contrast: float
    saturation: float
    hue: float
    pca_noise: float
    on_device: bool = True


# Paper §2.1: brightness, saturation and hue coefficients in [0.6, 1.4], PCA σ = 0.1.
_PAPER = dict(brightness=0.4, contrast=0.0, saturation=0.4, hue=0.4, pca_noise=0.1)

PRESETS = {
    "paper": Jitter(**_PAPER),
    "paper-decoder": Jitter(on_device=False, **_PAPER),
    # GluonCV's published ImageNet runs: brightness/contrast/saturation 0.4, PCA 0.1, no hue.
    "gluoncv": Jitter(brightness=0.4, contrast=0.4, saturation=0.4, hue=0.0, pca_noise=0.1,
                      on_device=False),
}
AUGS = tuple(PRESETS)


def on_device(aug):
    """Whether ``--aug aug`` runs steps 4–6 on the training device (raw [0, 255] batches in)."""
    return PRESETS[aug].on_device


class ColorPCANormalize(HybridBlock):
    """Steps 4–6 with given per-image coefficients, as one affine map per image (§2.1).

    ``forward(x, brightness, contrast, saturation, hue, alpha)``: x (B, 3, H, W) float RGB in
    [0, 255]; the four coefficients (B,), identity 1.0; alpha (B, 3) PCA weights, identity 0.
    Returns the normalized batch. Call ``initialize(ctx=...)`` to place the constants.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        yiq = np.array(YIQ)
        pca = np.array(PCA_EIGVEC) * np.array(PCA_EIGVAL)          # V·diag(λ): α ↦ V(α ⊙ λ)
        with self.name_scope():
            self.yiq = self.params.get_constant("yiq", yiq)
            self.yiq_inv = self.params.get_constant("yiq_inv", np.linalg.inv(yiq))
            self.pca = self.params.get_constant("pca", pca)
            self.mean = self.params.get_constant("mean", np.array(MEAN_RGB).reshape(1, 3))
            self.inv_std = self.params.get_constant("inv_std", 1.0 / np.array(STD_RGB).reshape(3, 1))

    def hybrid_forward(self, F, x, brightness, contrast, saturation, hue, alpha,
                       yiq, yiq_inv, pca, mean, inv_std):
        flat = F.reshape(x, (0, 3, -1))                                        # (B, 3, HW)
        # Chroma scaling (saturation) and rotation (hue) in YIQ: K = [[1,0,0],[0,sC,-sS],[0,sS,sC]].
        angle = (hue - 1.0) * np.pi
        s_cos, s_sin = saturation * F.cos(angle), saturation * F.sin(angle)
        one, zero = F.ones_like(hue), F.zeros_like(hue)
        chroma = F.reshape(F.stack(one, zero, zero, zero, s_cos, -s_sin, zero, s_sin, s_cos,
                                   axis=1), (-1, 3, 3))
        scale = F.reshape(brightness * contrast, (-1, 1, 1))
        colour = F.broadcast_mul(scale, F.dot(F.dot(yiq_inv, chroma.transpose((1, 0, 2))),
                                              yiq).transpose((1, 0, 2)))        # (B, 3, 3)
        # Contrast pulls towards the mean luma of the brightness-scaled image. (Global average
        # pooling is ~10x faster than F.mean over the pixels on CPU.)
        mean_rgb = F.reshape(F.Pooling(x, kernel=(1, 1), global_pool=True, pool_type="avg"), (0, 3))
        mean_luma = F.dot(mean_rgb, F.slice_axis(yiq, axis=0, begin=0, end=1),
                          transpose_b=True)                                     # (B, 1)
        gray = F.broadcast_mul(mean_luma, F.reshape((1.0 - contrast) * brightness, (-1, 1)))
        offset = F.broadcast_add(gray, F.dot(alpha, pca, transpose_b=True))    # (B, 3)
        # Normalization folded in: (M x + t − mean) / std.
        matrix = F.broadcast_mul(colour, F.reshape(inv_std, (1, 3, 1)))
        bias = F.broadcast_mul(F.broadcast_sub(offset, mean), F.reshape(inv_std, (1, 3)))
        out = F.broadcast_add(F.batch_dot(matrix, flat), F.expand_dims(bias, axis=2))
        return F.reshape_like(out, x)


class RandomColorPCANormalize(HybridBlock):
    """Steps 4–6 for a batch with coefficients drawn on the batch's device (§2.1, ``--aug paper``).

    b, c, s, h ~ U[1 − r, 1 + r] per image (r from ``jitter``), α ~ N(0, pca_noise²) per image
    and component, then ``ColorPCANormalize``.
    """

    def __init__(self, jitter, **kwargs):
        super().__init__(**kwargs)
        self.jitter = jitter
        with self.name_scope():
            self.transform = ColorPCANormalize()

    def hybrid_forward(self, F, x):
        flat = F.reshape(x, (0, -1))
        per_image = F.reshape(F.slice_axis(flat, axis=1, begin=0, end=1), (-1,))   # (B,) template
        per_channel = F.slice_axis(flat, axis=1, begin=0, end=3)                   # (B, 3) template

        def coefficient(spread):
            return F.random.uniform_like(per_image, low=1.0 - spread, high=1.0 + spread)

        j = self.jitter
        if j.pca_noise > 0:
            alpha = F.random.normal_like(per_channel, loc=0.0, scale=j.pca_noise)
        else:
            alpha = F.zeros_like(per_channel)
        return self.transform(x, coefficient(j.brightness), coefficient(j.contrast),
                              coefficient(j.saturation), coefficient(j.hue), alpha)


def device_augmenter(aug, ctx):
    """The initialized, hybridized steps 4–6 block for preset ``aug`` on context(s) ``ctx``."""
    block = RandomColorPCANormalize(PRESETS[aug])
    block.initialize(ctx=ctx)
    block.hybridize(static_alloc=True)
    return block

