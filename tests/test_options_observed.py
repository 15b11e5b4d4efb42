"""The paper-vs-GluonCV options as a training run applies them (init, colour preset) and
``--preset gluoncv`` switching each one. Smoothing targets, distillation weights and mixup pairing
are observed in test_tricks_observed.py with the same preset cases.
"""
import math

import numpy as np
import pytest

from _records import write_rec
from loop import Recorder, make_run

# The paper's normalization (§2.1 step 6), written out here
# so that the test does not read the package's numbers.
MEAN = np.array([123.68, 116.779, 103.939])
STD = np.array([58.393, 57.12, 57.375])


def kurtosis(values):
    """Kurtosis E[(x−μ)⁴]/σ⁴: 1.8 for a uniform distribution, 3 for a Gaussian."""
    centred = values - values.mean()
    return float((centred ** 4).mean() / centred.var() ** 2)


@pytest.mark.parametrize("flags, kind", [((), "xavier"), (("--init", "msra"), "msra"),
                                         (("--preset", "gluoncv"), "msra")])
def test_init_distribution_of_the_students_convolutions(tmp_path, flags, kind):
    """xavier (paper §2.1): U[−a, a], a = √(6 / (d_in + d_out)), d = channels × kernel area.
    msra (GluonCV's MSRAPrelu): N(0, σ²), σ² = 2·(2 / (1 + 0.25²)) / (d_in + d_out).
    Checked on every conv with ≥ 30k weights and d_in ≠ d_out where one exists, so fan-in or
    fan-out alone (σ off by ≥ 15 %) fails the 3 % bound; the shape (kurtosis 1.8 vs 3) tells the
    uniform from the Gaussian."""
    run = make_run(tmp_path, *flags)
    checked = 0
    for name, param in run.net.collect_params().items():
        if len(param.shape) != 4 or np.prod(param.shape) < 30000:
            continue
        out_c, in_c, kh, kw = param.shape
        fan_in, fan_out = in_c * kh * kw, out_c * kh * kw
        w = param.data().asnumpy().ravel().astype(np.float64)
        if kind == "xavier":
            bound = math.sqrt(6.0 / (fan_in + fan_out))
            assert np.abs(w).max() <= bound * (1 + 1e-6), name
            assert w.std() == pytest.approx(bound / math.sqrt(3), rel=0.03), name
            assert kurtosis(w) < 2.0, name
        else:
            sigma = math.sqrt(2 * (2 / (1 + 0.25 ** 2)) / (fan_in + fan_out))
            assert w.std() == pytest.approx(sigma, rel=0.03), name
            assert 2.8 < kurtosis(w) < 3.2, name
        checked += fan_in != fan_out
    assert checked >= 2


# -- the colour preset: what reaches the network ------------------------------------------------

GREEN_RGB = (70, 170, 100)


@pytest.fixture(scope="module")
def solid_records(tmp_path_factory):
    """train/val .rec of 16 solid-green 40×40 images (PNG, lossless)."""
    folder = tmp_path_factory.mktemp("solid")
    image = np.zeros((40, 40, 3), np.uint8)
    image[:] = GREEN_RGB[::-1]                        # cv2 images are BGR
    for split in ("train", "val"):
        write_rec(folder, 16, images=[image] * 16, classes=4, name=split)
    (folder / "train.classes").write_text("a\nb\nc\nd\n")
    return folder


def hue_angle(rgb):
    """Hue in degrees of mean RGB rows (N, 3), from the hexagonal chroma (R − (G+B)/2, √3/2·(G − B))."""
    r, g, b = rgb[:, 0], rgb[:, 1], rgb[:, 2]
    return np.degrees(np.arctan2(math.sqrt(3) / 2 * (g - b), r - (g + b) / 2))


@pytest.mark.parametrize("flags, on_device, hue_jitter", [
    ((), True, True), (("--aug", "paper-decoder"), False, True), (("--aug", "gluoncv"), False, False),
    (("--preset", "gluoncv"), False, False)])
def test_colour_preset_reaches_the_network(tmp_path, solid_records, flags, on_device, hue_jitter):
    """--aug paper yields raw [0, 255] batches and the colour steps run on the device; the decoder
    presets yield normalized batches. Measured on what the network received (de-normalized):
    the paper's hue step (±72°) spreads a solid green over tens of degrees; GluonCV's preset has
    no hue step (brightness, contrast, saturation keep the hue; PCA noise moves it < 5°)."""
    run = make_run(tmp_path, "--data-dir", solid_records, *flags, data="rec", aug=None)
    assert (run.augmenters is not None) == on_device
    seen = Recorder(run.net)
    hues = []
    for epoch in range(2):                 # records in one batch slot share a draw per epoch
        batch = next(run.epoch_batches(epoch))
        data = batch.data[0].asnumpy()
        if on_device:
            assert data.min() >= 0 and data.max() > 20 and abs(data.mean() - np.mean(GREEN_RGB)) < 40
        else:
            assert data.min() < 0 and abs(data.mean()) < 2
        run.step(batch, False, np.random.RandomState(0))
        received = seen.inputs[-1].astype(np.float64)
        rgb = received.mean(axis=(2, 3)) * STD + MEAN
        hues.extend(hue_angle(rgb))
    base = hue_angle(np.array([GREEN_RGB], np.float64))[0]
    shift = (np.array(hues) - base + 180) % 360 - 180          # signed, in (−180°, 180°]
    if hue_jitter:
        assert np.abs(shift).max() > 30 and shift.max() - shift.min() > 50, shift
    else:
        assert np.abs(shift).max() < 5, shift


def test_gluoncv_preset_resolves_every_deviation(tmp_path):
    """--preset gluoncv sets the five options the tests above observe; a flag after it wins."""
    cfg = make_run(tmp_path, "--preset", "gluoncv", aug=None).cfg
    assert (cfg.aug, cfg.smoothing_style, cfg.init, cfg.mixup_pairing, cfg.hard_weight) == \
        ("gluoncv", "gluoncv", "msra", "reverse", 0.5)
    cfg = make_run(tmp_path / "b", "--preset", "gluoncv", "--init", "xavier", aug=None).cfg
    assert cfg.init == "xavier" and cfg.aug == "gluoncv"
