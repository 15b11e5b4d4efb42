"""Test helper: turn a checkpoint folder into the pickled format 1 that gluon-tricks wrote before
checkpoints became data only, optionally with a poisoned pickle that writes a marker file when
it is unpickled (what a run folder from someone else could hold)."""
import json
import os
import pickle
import random

import numpy as np

import gluon_tricks  # noqa: F401  (restores NumPy aliases before mxnet loads)
import mxnet as mx

PICKLE_PLACES = ("rng.pkl", "trainer-ctx0.states", "trainer-ctx1.states")


class Poison:
    """A pickle that runs code: unpickling it writes ``marker``."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return eval, ("open(%r, 'w').write('a pickle ran code')" % self.marker,)


def make_pickled(path, poisoned=()):
    """Rewrite the checkpoint ``path`` in format 1: rng.pkl and trainer-ctx<i>.states (ctx 0's
    with an optimizer) as pickles; each file named in ``poisoned`` ({file: marker path}) holds
    a :class:`Poison` instead. Returns the checkpoint path."""
    with open(os.path.join(path, "checkpoint.json")) as f:
        meta = json.load(f)
    devices = len(meta["contexts"])
    for name in os.listdir(path):
        if name.startswith("optimizer") or name == "rng.json":
            os.remove(os.path.join(path, name))
    benign = {"rng.pkl": {"python": random.getstate(), "numpy": np.random.get_state()}}
    for i in range(devices):
        benign["trainer-ctx%d.states" % i] = ({}, mx.optimizer.NAG(momentum=0.9)) if i == 0 else {}
    for name, payload in benign.items():
        with open(os.path.join(path, name), "wb") as f:
            pickle.dump(Poison(poisoned[name]) if name in poisoned else payload, f)
    states = ["trainer-ctx%d.states" % i for i in range(devices)]
    meta.update(format=1, files=["model.params"] + ["aux-ctx%d.params" % i for i in range(devices)]
                + states + ["state.json", "rng.pkl"])
    with open(os.path.join(path, "checkpoint.json"), "w") as f:
        json.dump(meta, f)
    return path


def make_run_pickled(run_dir, poisoned=()):
    """Every checkpoint of the run folder ``run_dir`` in format 1 (see :func:`make_pickled`)."""
    root = os.path.join(run_dir, "checkpoints")
    for name in os.listdir(root):
        if os.path.isfile(os.path.join(root, name, "checkpoint.json")):
            make_pickled(os.path.join(root, name), poisoned)
