"""Test set-up: make the tests folder importable for shared helpers."""
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def tiny_demo(tmp_path_factory):
    """A 3-class demo set small enough for a few training steps at 32 px."""
    from gluon_tricks.data.demo import make_demo_data
    out = tmp_path_factory.mktemp("tiny-demo")
    make_demo_data(str(out), classes=3, train_per_class=16, val_per_class=8)
    return out
