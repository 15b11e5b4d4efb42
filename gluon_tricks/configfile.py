"""``train --config FILE``: a run's settings read back from what ``--print-config`` printed (or a
run's ``config.json``), JSON, or YAML for ``.yaml``/``.yml`` files (PyYAML comes with GluonCV).

The file holds *resolved* values. Those that :func:`gluon_tricks.config.resolve` computes from
others (the total batch, device and worker counts, the lr under ``lr_per_256``, record paths
from ``data_dir``, default input size and class count) are dropped and computed again, so a flag
given with the file changes them consistently; every other value is used unless a flag is given.
"""
import dataclasses
import json
import os
import typing

from .config import TrainConfig, classes_from_records
from .data.recordfile import index_path
from .errors import UsageError
from .models import default_input_size

# Fields resolve() always recomputes, and the one fixed optimizer (§2.1).
DERIVED = ("num_devices", "num_workers", "total_batch_size", "optimizer")
FIELDS = {f.name: f for f in dataclasses.fields(TrainConfig)}


def read(path):
    """The settings of configuration file ``path`` (a dict keyed by TrainConfig field), derived
    values left out; a one-line UsageError for an unreadable file, unknown keys or wrong types."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as err:
        raise UsageError("cannot read --config %s (%s)" % (path, err.strerror)) from None
    values = _parse(path, text)
    unknown = sorted(set(values) - set(FIELDS))
    if unknown:
        raise UsageError("--config %s has unknown keys: %s; it takes what train --print-config "
                         "prints" % (path, ", ".join(unknown)))
    for key, value in values.items():
        if not _fits(value, FIELDS[key].type):
            raise UsageError("--config %s: %s is %r, which is not %s"
                             % (path, key, value, _type_name(FIELDS[key].type)))
    return _without_derived(values)


def merge(saved, given):
    """The options of a run from a file's ``saved`` values under the flags ``given``: a given
    --lr or --lr-per-256 replaces both of the file's."""
    if "lr" in given or "lr_per_256" in given:
        saved = {k: v for k, v in saved.items() if k not in ("lr", "lr_per_256")}
    return dict(saved, **given)


def _parse(path, text):
    if path.endswith((".yaml", ".yml")):
        import yaml
        try:
            values = yaml.safe_load(text)
        except yaml.YAMLError as err:
            raise UsageError("--config %s is not valid YAML (%s)"
                             % (path, str(err).splitlines()[0])) from None
    else:
        try:
            values = json.loads(text)
        except ValueError as err:
            raise UsageError("--config %s is not valid JSON (%s); train --print-config writes "
                             "one (YAML: name the file .yaml)" % (path, err)) from None
    if not isinstance(values, dict):
        raise UsageError("--config %s must hold one mapping of settings, as train --print-config "
                         "prints" % path)
    return values


def _without_derived(values):
    out = {k: v for k, v in values.items() if k not in DERIVED}
    if out.get("lr_per_256") is not None:
        out.pop("lr", None)
    data_dir = out.get("data_dir")
    for split in ("train", "val"):
        rec, idx = "rec_%s" % split, "rec_%s_idx" % split
        if data_dir and out.get(rec) == os.path.join(data_dir, split + ".rec"):
            out.pop(rec)
        if out.get(idx) and out.get(idx) in (index_path(values.get(rec) or ""),
                                             os.path.join(data_dir or "", split + ".idx")):
            out.pop(idx)
    if "model" in out and out.get("input_size") == default_input_size(out["model"]):
        out.pop("input_size")
    if out.get("classes") == (classes_from_records(values.get("rec_train"))[0] or 1000):
        out.pop("classes")
    samples, total = values.get("num_training_samples"), values.get("total_batch_size")
    if samples and total and out.get("batches_per_epoch") == max(1, samples // total):
        out.pop("batches_per_epoch")
    return out


def _fits(value, annotation):
    """True if a JSON value ``value`` is of the field type ``annotation``."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) is typing.Union:
        return value is None or _fits(value, args[0])
    if typing.get_origin(annotation) in (list, typing.List):
        return isinstance(value, list) and all(_fits(v, args[0]) for v in value)
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, annotation)


def _type_name(annotation):
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) is typing.Union:
        return _type_name(args[0]) + " or null"
    if typing.get_origin(annotation) in (list, typing.List):
        return "a list of " + _type_name(args[0]).split(" ", 1)[1] + "s"
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false"}[annotation]
