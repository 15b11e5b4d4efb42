"""Training checkpoints that resume bit-exactly, stored as data only: named arrays and JSON.

A checkpoint is a folder under ``root``: ``epoch-0007`` (7 epochs done), ``best``, or a checkpoint
within an epoch, ``epoch-0008-batch-000120`` (7 epochs and 120 batches of the 8th done; the
newest one is kept, see :func:`prune_within`). Format 2, the one this version writes and reads,
holds::

    model.params            net.save_parameters: the parameters (the devices' copies averaged,
                            as MXNet does), by structural name (``features.0.weight``)
    aux-ctx<i>.params       device i's own copy of the parameters without gradient (BatchNorm
                            running mean/var), which differ per device and which the average loses
    optimizer-ctx<i>.params device i's optimizer state, one array per parameter and slot, keyed
                            by the parameter's structural name: ``NAME`` when the state is one
                            array (the momentum of NAG/SGD), ``NAME#k`` for slot k of a tuple
                            (``NAME#k#m`` nested). NAG with multi_precision keeps a float16
                            parameter's state as ``NAME#0`` momentum (absent with momentum 0)
                            and ``NAME#1`` its float32 master weights. A parameter without a
                            state (not updated yet, or plain SGD) has no entry.
    optimizer.json          the optimizer's counters: ``num_update`` (what the lr schedule sees),
                            ``lr`` (its rate when no schedule is set) and ``update_counts``, for
                            device i the updates of each parameter so far, ``{NAME: count}``
    rng.json                the Python ``random`` state (``version``, the 625 ``state`` words,
                            ``gauss_next``) and NumPy's global MT19937 state (``kind``, the 624
                            ``key`` words, ``pos``, ``has_gauss``, ``cached_gaussian``)
    state.json              the training loop's ``state`` dict (epoch, best score, config, loss
                            scale, ...)
    checkpoint.json         written last: ``format`` (2), ``epoch`` (epochs done), ``batch``
                            (batches of the next epoch done; absent or 0 at an epoch's end), the
                            devices (``contexts``, ``device_ids``) and the list of ``files``

Loading reads these with ``mx.nd.load`` and ``json`` alone: nothing in a checkpoint can run
code. The optimizer state is rebuilt, not unpickled: each device's state of each parameter is
made by the optimizer's own ``create_state_multi_precision`` on that device, checked against the
file (slots, shapes, dtypes) and filled from it; the trainer keeps its own optimizer and lr
schedule. The update counts are restored by device position, so a run continues at update
K + 1 on other device ids as well (a Horovod rank, ``--gpus 2,3`` after ``--gpus 0,1``). Format 1
(rng.pkl and trainer-ctx<i>.states were Python pickles) is refused with one line: its
model.params can still start a new run (``--pretrained``). The state is a plain dict plus named
arrays; a checkpoint taken within an epoch keeps the loop's place in it there.

Why not ``Trainer.save_states``: besides pickling, with ``update_on_kvstore=False`` it writes the
first device's updater only and ``load_states`` gives every device that copy, which is exact
only while all devices hold equal states.

Each checkpoint is written into a staging folder under ``root`` and published under its final
name by a rename that replaces nothing (:mod:`gluon_tricks.atomic`), so a folder with a final
name is always complete; a checkpoint of the same name (``best``) is set aside into the staging
folder first and deleted with it. ``root/latest`` names the newest epoch checkpoint. A pruned
checkpoint is moved into a staging folder before it is deleted. :func:`remove_leftovers` tidies
what a killed run left: only staging folders (name and marker checked, their process gone); a
user's file in ``root`` is never deleted, whatever its name.
"""
import contextlib
import json
import os
import random
import re

import mxnet as mx
import numpy as np

from . import atomic, framework, textfile
from .errors import UsageError

EPOCH_NAME = "epoch-%04d"
WITHIN_NAME = "epoch-%04d-batch-%06d"      # the epoch in progress (from 1), its batches done
BEST_NAME = "best"
LATEST_FILE = "latest"
MODEL_FILE = "model.params"
AUX_FILE = "aux-ctx%d.params"
STATES_FILE = "optimizer-ctx%d.params"
OPTIMIZER_FILE = "optimizer.json"
RNG_FILE = "rng.json"
STATE_FILE = "state.json"
META_FILE = "checkpoint.json"
FORMAT = 2
PICKLED_FORMAT = 1
SLOT = "#"

_EPOCH_DIR = re.compile(r"epoch-(\d+)")
_WITHIN_DIR = re.compile(r"epoch-(\d+)-batch-(\d+)")


class UnknownFormat(UsageError):
    """A checkpoint folder this version must not read (not merely an incomplete one)."""


def save(root, epoch, net, trainer, state, name=None, batch=0):
    """Write the checkpoint ``root/name`` (default ``epoch-%04d``, or with ``batch`` > 0 the
    checkpoint within the next epoch after that many batches) atomically; return its path.

    ``state`` must be JSON-serialisable. An existing checkpoint of the same name (e.g. "best")
    is replaced only once the new one is complete; anything else at that name is refused.
    ``root/latest`` is then updated.
    """
    name = name or (WITHIN_NAME % (epoch + 1, batch) if batch else EPOCH_NAME % epoch)
    state_text = json.dumps(state, indent=1, sort_keys=True)
    framework.updaters(trainer)
    atomic.make_folder(root)
    final = os.path.join(root, name)
    with atomic.staging(root, name) as stage:
        new = os.path.join(stage, name)
        os.mkdir(new)
        _write_contents(new, epoch, batch, net, trainer, state_text)
        atomic.fsync(new)
        if os.path.lexists(final):
            if os.path.islink(final) or not _is_complete(final):
                raise UsageError("%s is in the way of a checkpoint and is not one this program "
                                 "wrote; move it away and resume the run" % final)
            atomic.swap(new, final, stage)
        else:
            atomic.publish(new, final)
        atomic.fsync(root)
    _point_latest(root)
    return final


def latest(root):
    """Path of the complete ``epoch-N`` checkpoint under ``root`` with the largest N, or None."""
    found = _epoch_checkpoints(root)
    return found[max(found)] if found else None


def _epoch_checkpoints(root):
    """{epoch: path} of the complete ``epoch-N`` checkpoint folders under ``root`` (links to
    folders elsewhere are not checkpoints of this run)."""
    found = {}
    for entry in os.listdir(root) if os.path.isdir(root) else ():
        match = _EPOCH_DIR.fullmatch(entry)
        path = os.path.join(root, entry)
        if match and not os.path.islink(path) and _is_complete(path):
            found[int(match.group(1))] = path
    return found


def _is_complete(path):
    try:
        _check_complete(path)
    except UnknownFormat:
        raise
    except UsageError:
        return False
    return True


def _within_checkpoints(root):
    """{(epochs done, batches done): path} of the complete checkpoints within an epoch."""
    found = {}
    for entry in os.listdir(root) if os.path.isdir(root) else ():
        path = os.path.join(root, entry)
        if _WITHIN_DIR.fullmatch(entry) and not os.path.islink(path) and _is_complete(path):
            meta = _check_complete(path)
            found[(meta["epoch"], meta.get("batch", 0))] = path
    return found


def position(path):
    """(epochs done, batches of the next epoch done) of the complete checkpoint ``path``."""
    meta = _check_complete(path)
    return meta["epoch"], meta.get("batch", 0)


def newest(root):
    """The complete checkpoint under ``root`` furthest into the run, ``best`` and those within
    an epoch included (an epoch checkpoint wins a tie: it is the same state), or None: where
    ``--resume`` continues."""
    found = {(epoch, 0): path for epoch, path in _epoch_checkpoints(root).items()}
    for place, path in _within_checkpoints(root).items():
        found.setdefault(place, path)
    best = os.path.join(root, BEST_NAME)
    if not os.path.islink(best) and _is_complete(best):
        found.setdefault(position(best), best)
    return found[max(found)] if found else None


def prune_within(root, keep=1):
    """Delete the checkpoints within an epoch except the newest ``keep``, and those an epoch
    checkpoint has overtaken (renamed away first, as :func:`prune` does)."""
    found = _within_checkpoints(root)
    epochs = _epoch_checkpoints(root)
    last_epoch = max(epochs) if epochs else 0
    kept = sorted(found)[-keep:] if keep else []
    for place, path in found.items():
        if place not in kept or place[0] < last_epoch:
            _delete(path)


def prune(root, keep_last, keep_every=None):
    """Delete epoch checkpoints except the newest ``keep_last`` and every ``keep_every``-th
    epoch (kept for good; None keeps none for good)."""
    found = _epoch_checkpoints(root)
    recent = sorted(found)[-keep_last:]
    for epoch, path in found.items():
        if epoch not in recent and not (keep_every and epoch % keep_every == 0):
            _delete(path)
    _point_latest(root)


def _delete(path):
    """Delete a checkpoint folder, moved into a staging folder first so no final name is ever
    half deleted."""
    root, name = os.path.split(path)
    with atomic.staging(root, name) as stage:
        atomic.rename_noreplace(path, os.path.join(stage, name))


def _point_latest(root):
    """Make ``root/latest`` name the newest epoch checkpoint (when there is one)."""
    last = latest(root)
    if last is None:
        return
    with atomic.staging(root, LATEST_FILE) as stage:
        tmp = os.path.join(stage, LATEST_FILE)
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(os.path.basename(last) + "\n")
        atomic.replace_file(tmp, os.path.join(root, LATEST_FILE))


def remove_leftovers(root):
    """Tidy what killed runs left under ``root`` (see :func:`gluon_tricks.atomic.remove_leftovers`):
    a ``best`` set aside for a replacement that never arrived is put back. Returns the names."""
    return atomic.remove_leftovers(root, _is_complete)


def check_resumable(path):
    """The metadata of the complete checkpoint ``path`` if this version can resume from it;
    the one-line refusal of the pickled format 1 otherwise."""
    meta = _check_complete(path)
    if meta["format"] == PICKLED_FORMAT:
        raise UnknownFormat(
            "checkpoint %s is in the old format whose rng.pkl and trainer-ctx*.states are Python "
            "pickles, which can run any code when loaded, so it is not read; start a new run from "
            "its weights instead: --pretrained %s (its optimizer state and step count are not "
            "carried over)" % (path, os.path.join(path, MODEL_FILE)))
    return meta


def load(path, net, trainer, ctx):
    """Restore a checkpoint into ``net`` (on ``ctx``), ``trainer`` and the RNGs; return its state.

    Every file is read and checked before anything is changed: a missing or unreadable file, a
    state that does not fit this network or a different number of devices than at save time
    raises UsageError naming it.
    """
    meta = check_resumable(path)
    num_saved, num_devices = len(meta["contexts"]), len(framework.contexts(trainer))
    if num_saved != num_devices:
        raise UsageError("checkpoint %s was written with %d device(s), this run has %d; "
                         "resume with the same --gpus/--cpus" % (path, num_saved, num_devices))
    state = read_state(path)
    python_rng, numpy_rng = _read_rng(path)
    counters = _read_counters(path, num_saved)
    saved_states = [_read_arrays(path, STATES_FILE % i) for i in range(num_saved)]
    aux = [_read_arrays(path, AUX_FILE % i) for i in range(num_saved)]

    with _reading(path, MODEL_FILE):
        net.load_parameters(os.path.join(path, MODEL_FILE), ctx=ctx)
    framework.settle_kvstore(trainer)
    _restore_aux(path, net, aux)
    _restore_optimizer(path, net, trainer, saved_states, counters)
    random.setstate(python_rng)
    np.random.set_state(numpy_rng)
    return state


def read_state(path):
    """The ``state`` dict of a complete checkpoint, without loading anything (e.g. its config)."""
    _check_complete(path)
    with _reading(path, STATE_FILE):
        state = _read_json(path, STATE_FILE)
        if not isinstance(state, dict):
            raise ValueError("not a JSON object")
    return state


# -- writing --------------------------------------------------------------------------------

def _write_contents(directory, epoch, batch, net, trainer, state_text):
    """Write every file of a checkpoint into ``directory`` (a new folder inside a staging
    folder), ``checkpoint.json`` last."""
    updaters = framework.updaters(trainer)
    names = _param_names(net, trainer)
    net.save_parameters(os.path.join(directory, MODEL_FILE))
    atomic.fsync(os.path.join(directory, MODEL_FILE))
    files = [MODEL_FILE]
    for i, arrays in enumerate(_aux_per_context(net, len(updaters))):
        _write_arrays(directory, AUX_FILE % i, arrays)
        files.append(AUX_FILE % i)
    for i, updater in enumerate(updaters):
        arrays = {key: array.as_in_context(mx.cpu()) for index, value in updater.states.items()
                  for key, array in _slots(names[index], value)}
        _write_arrays(directory, STATES_FILE % i, arrays)
        files.append(STATES_FILE % i)
    optimizer = trainer.optimizer
    device_ids = [c.device_id for c in framework.contexts(trainer)]
    counters = {"num_update": optimizer.num_update, "lr": optimizer.lr,
                "update_counts": [{names[index]: count for index, count
                                   in sorted(framework.update_counts(optimizer, device).items())}
                                  for device in device_ids]}
    _write_json(directory, OPTIMIZER_FILE, counters)
    _write_json(directory, RNG_FILE, _rng_state())
    _write_json(directory, STATE_FILE, state_text)
    files += [OPTIMIZER_FILE, RNG_FILE, STATE_FILE]
    _write_json(directory, META_FILE, {"format": FORMAT, "epoch": epoch, "batch": batch,
                                       "contexts": [str(c) for c in framework.contexts(trainer)],
                                       "device_ids": device_ids, "files": files})


def _write_arrays(directory, name, arrays):
    path = os.path.join(directory, name)
    mx.nd.save(path, arrays)
    atomic.fsync(path)


def _write_json(directory, name, value):
    """Write ``value`` (or already formatted JSON text) to ``directory/name`` and flush it."""
    text = value if isinstance(value, str) else json.dumps(value, indent=1)
    with open(os.path.join(directory, name), "x", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())


def _rng_state():
    """Python's and NumPy's global RNG states as plain JSON values."""
    version, words, gauss_next = random.getstate()
    kind, key, pos, has_gauss, cached_gaussian = np.random.get_state()
    return {"python": {"version": version, "state": list(words), "gauss_next": gauss_next},
            "numpy": {"kind": kind, "key": key.tolist(), "pos": int(pos),
                      "has_gauss": int(has_gauss), "cached_gaussian": float(cached_gaussian)}}


def _param_names(net, trainer):
    """{index in the trainer: structural name} of the trainer's parameters."""
    by_id = {id(param): name for name, param in framework.structural_params(net).items()}
    names = {}
    for index, param in enumerate(framework.params(trainer)):
        if id(param) not in by_id:
            raise ValueError("the trainer's parameter %s is not part of the network" % param.name)
        names[index] = by_id[id(param)]
    return names


def _slots(key, state):
    """(key, NDArray) of every array in an optimizer state: ``key`` for a single array,
    ``key#k`` for slot k of a tuple or list (None slots hold nothing)."""
    if state is None:
        return
    if isinstance(state, mx.nd.NDArray):
        yield key, state
    elif isinstance(state, (tuple, list)):
        for k, part in enumerate(state):
            yield from _slots("%s%s%d" % (key, SLOT, k), part)
    else:
        raise TypeError("the optimizer state %s is a %s; checkpoints hold arrays only"
                        % (key, type(state).__name__))


def _no_grad_params(net):
    """The parameters no optimizer updates (BatchNorm running stats), by structural name."""
    return {key: param for key, param in framework.structural_params(net).items()
            if param.grad_req == "null"}


def _aux_per_context(net, num_contexts):
    """For each device, a dict structural name -> CPU copy of that device's no-grad parameters."""
    params = _no_grad_params(net)
    return [{key: param.list_data()[i].as_in_context(mx.cpu()) for key, param in params.items()}
            for i in range(num_contexts)]


# -- reading --------------------------------------------------------------------------------

def _read_json(path, name):
    """The JSON object of ``path/name``, read within :mod:`textfile`'s bounds (a checkpoint's JSON
    files are a few KB)."""
    return textfile.load_json(os.path.join(path, name), os.path.join(path, name))


def _read_arrays(path, name):
    """The named arrays of ``path/name`` (an empty file of arrays is an empty dict)."""
    with _reading(path, name):
        arrays = mx.nd.load(os.path.join(path, name))
        if arrays == []:
            return {}
        if not isinstance(arrays, dict):
            raise ValueError("not a file of named arrays")
    return arrays


def _words(values, count, bits=32):
    """``values`` checked to be a list of ``count`` integers in [0, 2**bits)."""
    if (not isinstance(values, list) or len(values) != count
            or not all(type(v) is int and 0 <= v < 2 ** bits for v in values)):
        raise ValueError("not a list of %d %d-bit integers" % (count, bits))
    return values


def _read_rng(path):
    """(Python state, NumPy state) of ``rng.json``, each checked by loading it into a new RNG."""
    with _reading(path, RNG_FILE):
        rng = _read_json(path, RNG_FILE)
        python, numpy = rng["python"], rng["numpy"]
        if python["gauss_next"] is not None and type(python["gauss_next"]) is not float:
            raise ValueError("gauss_next is not a number")
        python_state = (python["version"], tuple(_words(python["state"], 625)),
                        python["gauss_next"])
        numpy_state = (numpy["kind"], np.array(_words(numpy["key"], 624), dtype=np.uint32),
                       _words([numpy["pos"]], 1)[0], _words([numpy["has_gauss"]], 1, 1)[0],
                       float(numpy["cached_gaussian"]))
        random.Random().setstate(python_state)
        np.random.RandomState().set_state(numpy_state)
    return python_state, numpy_state


def _read_counters(path, num_devices):
    """``optimizer.json``, checked: a count ≥ 0 for the whole run and per device and name."""
    with _reading(path, OPTIMIZER_FILE):
        counters = _read_json(path, OPTIMIZER_FILE)
        counts, lr = counters["update_counts"], counters["lr"]
        _words([counters["num_update"]], 1, 62)
        if lr is not None and (type(lr) not in (int, float) or not lr >= 0):
            raise ValueError("lr is not a number")
        if not isinstance(counts, list) or len(counts) != num_devices:
            raise ValueError("update_counts is not a list of %d device(s)" % num_devices)
        for per_name in counts:
            if not isinstance(per_name, dict):
                raise ValueError("update_counts holds something other than {name: count}")
            _words(list(per_name.values()), len(per_name), 62)
    return counters


def _mismatch(path, name, keys):
    return UsageError("checkpoint %s: %s does not match this network (parameters %s)"
                      % (path, name, ", ".join(sorted(keys)[:3])[:300]))


def _restore_aux(path, net, aux):
    """Copy each device's saved no-grad parameters onto that device's copy."""
    params = _no_grad_params(net)
    for i, arrays in enumerate(aux):
        if set(arrays) != set(params):
            raise _mismatch(path, AUX_FILE % i, set(arrays) ^ set(params))
        for key, param in params.items():
            if arrays[key].shape != param.shape:
                raise _mismatch(path, AUX_FILE % i, [key])
            arrays[key].copyto(param.list_data()[i])


def _restore_optimizer(path, net, trainer, saved_states, counters):
    """Rebuild every device's optimizer state from the saved arrays, then the update counts
    (by device position: this run's device ids may differ) and the optimizer's counters."""
    names = _param_names(net, trainer)
    index_of = {name: index for index, name in names.items()}
    params, optimizer = framework.params(trainer), trainer.optimizer
    rebuilt = []
    for i, arrays in enumerate(saved_states):
        per_param = {}
        for key in arrays:
            per_param.setdefault(key.split(SLOT, 1)[0], set()).add(key)
        unknown = set(per_param) - set(index_of)
        if unknown:
            raise _mismatch(path, STATES_FILE % i, unknown)
        states = {}
        for name, keys in per_param.items():
            index = index_of[name]
            state = optimizer.create_state_multi_precision(index, params[index].list_data()[i])
            slots = dict(_slots(name, state))
            if set(slots) != keys or any(arrays[k].shape != slots[k].shape or
                                         arrays[k].dtype != slots[k].dtype for k in keys):
                raise _mismatch(path, STATES_FILE % i, [name])
            for key, target in slots.items():
                arrays[key].copyto(target)
            states[index] = state
        rebuilt.append(states)
    counts = {}
    for context, per_name in zip(framework.contexts(trainer), counters["update_counts"]):
        if set(per_name) - set(index_of):
            raise _mismatch(path, OPTIMIZER_FILE, set(per_name) - set(index_of))
        counts[context.device_id] = {index_of[name]: n for name, n in per_name.items()}
    for updater, states in zip(framework.updaters(trainer), rebuilt):
        updater.states = states
        updater.states_synced = dict.fromkeys(states, True)
    framework.set_update_counts(optimizer, counts)
    optimizer.num_update = counters["num_update"]
    if optimizer.lr_scheduler is None and counters["lr"] is not None:
        trainer.set_learning_rate(counters["lr"])


def _check_meta(meta):
    """Raise ValueError unless ``meta`` has the fields and types of a checkpoint.json."""
    if not isinstance(meta, dict):
        raise ValueError("not a JSON object")
    contexts, device_ids, files = meta["contexts"], meta["device_ids"], meta["files"]
    if (type(meta["format"]) is not int or type(meta["epoch"]) is not int
            or type(meta.get("batch", 0)) is not int or meta.get("batch", 0) < 0):
        raise ValueError("format, epoch and batch must be integers")
    if (not isinstance(contexts, list) or not contexts or not isinstance(device_ids, list)
            or len(contexts) != len(device_ids)):
        raise ValueError("bad device list")
    if not isinstance(files, list) or not all(
            isinstance(name, str) and name and os.path.basename(name) == name
            and name not in (".", "..") for name in files):
        raise ValueError("bad file list")


def _check_complete(path):
    """Return the checkpoint's metadata; UsageError if it or any file it needs is missing, and
    UnknownFormat for a format this version does not know."""
    meta_path = os.path.join(path, META_FILE)
    if not os.path.isfile(meta_path):
        raise UsageError("checkpoint %s is incomplete: %s is missing" % (path, META_FILE))
    with _reading(path, META_FILE):
        meta = _read_json(path, META_FILE)
        _check_meta(meta)
    if meta["format"] not in (FORMAT, PICKLED_FORMAT):
        raise UnknownFormat("checkpoint %s has format %d, which this version of gluon-tricks "
                            "does not know (it reads format %d); use the version that wrote it"
                            % (path, meta["format"], FORMAT))
    required = []
    if meta["format"] == FORMAT:
        required = [MODEL_FILE, OPTIMIZER_FILE, RNG_FILE, STATE_FILE]
        required += [pattern % i for i in range(len(meta["contexts"]))
                     for pattern in (AUX_FILE, STATES_FILE)]
    for name in required + meta["files"]:
        if not os.path.isfile(os.path.join(path, name)):
            raise UsageError("checkpoint %s is incomplete: %s is missing" % (path, name))
    return meta


@contextlib.contextmanager
def _reading(path, name):
    """Turn any error while reading ``path/name`` into a one-line UsageError naming the file."""
    try:
        yield
    except UsageError:
        raise
    except Exception as error:
        lines = [line.strip() for line in str(error).splitlines() if line.strip()]
        reason = lines[-1][:200] if lines else type(error).__name__
        raise UsageError("checkpoint %s: %s could not be read (%s)"
                         % (path, name, reason)) from error
