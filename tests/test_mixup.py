"""Mixup (paper §5.4 eq. 7–8) against NumPy, and the on/off schedule of its final epochs."""
import mxnet as mx
import numpy as np
import pytest
from numpy.testing import assert_allclose

from gluon_tricks.data.mixup import mixup, mixup_active


def numpy_mixup(data, labels, classes, lam, order):
    onehot = np.eye(classes, dtype=np.float32)[labels.astype(int)]
    return lam * data + (1 - lam) * data[order], lam * onehot + (1 - lam) * onehot[order]


def batch(size=6, classes=5, seed=0):
    rng = np.random.RandomState(seed)
    return rng.randn(size, 3, 4, 4).astype(np.float32), rng.randint(0, classes, size).astype(np.float32)


@pytest.mark.parametrize("pairing", ["reverse", "random"])
def test_matches_numpy(pairing):
    data, labels = batch()
    mixed, targets = mixup(mx.nd.array(data), mx.nd.array(labels), 5, 0.2, pairing=pairing,
                           rng=np.random.RandomState(42))
    rng = np.random.RandomState(42)
    lam = rng.beta(0.2, 0.2)
    order = np.arange(6)[::-1] if pairing == "reverse" else rng.permutation(6)
    expected_data, expected_targets = numpy_mixup(data, labels, 5, lam, order)
    assert targets.dtype == np.float32 and targets.shape == (6, 5)
    assert_allclose(mixed.asnumpy(), expected_data, rtol=1e-5, atol=1e-6)
    assert_allclose(targets.asnumpy(), expected_targets, rtol=1e-6, atol=1e-7)
    assert_allclose(targets.asnumpy().sum(axis=1), 1.0, rtol=1e-6)


def test_device_slices_share_lambda_and_pair_within_slice():
    data, labels = batch(size=8)
    slices = [(mx.nd.array(data[:4], ctx=mx.cpu(0)), mx.nd.array(labels[:4], ctx=mx.cpu(0))),
              (mx.nd.array(data[4:], ctx=mx.cpu(1)), mx.nd.array(labels[4:], ctx=mx.cpu(1)))]
    mixed, targets = mixup([s[0] for s in slices], [s[1] for s in slices], 5, 0.2,
                           rng=np.random.RandomState(1))
    lam = np.random.RandomState(1).beta(0.2, 0.2)
    for k, (lo, hi) in enumerate([(0, 4), (4, 8)]):
        expected_data, expected_targets = numpy_mixup(data[lo:hi], labels[lo:hi], 5, lam,
                                                      np.arange(4)[::-1])
        assert mixed[k].context == mx.cpu(k)
        assert_allclose(mixed[k].asnumpy(), expected_data, rtol=1e-5, atol=1e-6)
        assert_allclose(targets[k].asnumpy(), expected_targets, rtol=1e-6, atol=1e-7)


def test_lambda_follows_beta():
    data, labels = batch(size=2, classes=2)
    labels[:] = [0, 1]
    rng = np.random.RandomState(0)
    lams = [mixup(mx.nd.array(data), mx.nd.array(labels), 2, 0.2, rng=rng)[1].asnumpy()[0, 0]
            for _ in range(400)]
    # Beta(0.2, 0.2) is U-shaped with mean 1/2 and variance 1/(4·1.4)
    assert abs(np.mean(lams) - 0.5) < 0.05
    assert abs(np.var(lams) - 1 / 5.6) < 0.03


def test_bad_arguments():
    data, labels = (mx.nd.array(a) for a in batch())
    with pytest.raises(ValueError, match="alpha"):
        mixup(data, labels, 5, 0.0)
    with pytest.raises(ValueError, match="pairing"):
        mixup(data, labels, 5, 0.2, pairing="shuffle")


def test_mixup_switches_off_for_the_last_epochs():
    assert [mixup_active(e, 10, 3) for e in range(10)] == [True] * 7 + [False] * 3
    assert all(mixup_active(e, 200, 0) for e in range(200))
