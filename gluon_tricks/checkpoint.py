"""Training checkpoints that resume bit-exactly: parameters, every device's optimizer states, RNGs.

A checkpoint is a directory under ``root`` (``epoch-0007``, or ``best``)::

    model.params          net.save_parameters (the devices' copies averaged, as MXNet does)
    aux-ctx<i>.params     device i's own copy of the parameters without gradient (BatchNorm
                          running mean/var), which differ per device and which the average loses
    trainer-ctx<i>.states device i's updater states (momentum; the FP32 master weights of FP16
                          parameters); ctx 0's file also pickles the optimizer (update counts,
                          lr scheduler)
    state.json            the training loop's ``state`` dict
    rng.pkl               Python ``random`` and NumPy global RNG states
    checkpoint.json       written last: epoch, devices, list of files

Why not ``Trainer.save_states``: with ``update_on_kvstore=False`` it writes the first device's
updater only and ``load_states`` gives every device that copy, which is exact only while all
devices hold equal states (true with summed gradients, but not checked anywhere); saving each
device's states keeps the resume exact regardless. They are saved as CPU copies so that a
checkpoint loads on other device ids (Horovod ranks, ``--gpus 2,3`` after ``--gpus 0,1``);
``Updater.set_states`` moves them to each device on its next update.

Each checkpoint is written to ``<name>.tmp-<pid>`` and renamed into place, so a directory with
a final name is always complete; ``root/latest`` names the newest epoch checkpoint. A replaced
checkpoint is first set aside as ``<name>.old-<pid>`` and a pruned one renamed to
``<name>.del-<pid>`` before it is deleted; :func:`remove_stale` tidies what a killed run left.
"""
import contextlib
import json
import os
import pickle
import random
import re
import shutil

import mxnet as mx
import numpy as np

from .errors import UsageError

EPOCH_NAME = "epoch-%04d"
LATEST_FILE = "latest"
MODEL_FILE = "model.params"
STATE_FILE = "state.json"
RNG_FILE = "rng.pkl"
META_FILE = "checkpoint.json"
STATES_FILE = "trainer-ctx%d.states"
AUX_FILE = "aux-ctx%d.params"
FORMAT = 1

BEST_NAME = "best"

_EPOCH_DIR = re.compile(r"epoch-(\d+)")
_LEFTOVER = re.compile(r"(.+)\.(tmp|old|del)-(\d+)")


def save(root, epoch, net, trainer, state, name=None):
    """Write the checkpoint ``root/name`` (default ``epoch-%04d``) atomically; return its path.

    ``state`` must be JSON-serialisable. An existing checkpoint of the same name (e.g. "best")
    is replaced only once the new one is complete. ``root/latest`` is then updated.
    """
    name = name or EPOCH_NAME % epoch
    state_text = json.dumps(state, indent=1, sort_keys=True)
    _init_kvstore(trainer)
    if trainer._update_on_kvstore:
        raise ValueError("checkpoint.save needs a Trainer built with update_on_kvstore=False")
    os.makedirs(root, exist_ok=True)
    final = os.path.join(root, name)
    tmp = "%s.tmp-%d" % (final, os.getpid())
    shutil.rmtree(tmp, ignore_errors=True)
    os.mkdir(tmp)
    try:
        _write_contents(tmp, epoch, net, trainer, state_text)
        _fsync(tmp)
        _move_into_place(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    last = latest(root)
    if last is not None:
        _write_atomically(os.path.join(root, LATEST_FILE), os.path.basename(last) + "\n")
    return final


def latest(root):
    """Path of the complete ``epoch-N`` checkpoint under ``root`` with the largest N, or None."""
    found = _epoch_checkpoints(root)
    return found[max(found)] if found else None


def _epoch_checkpoints(root):
    """{epoch: path} of the complete ``epoch-N`` checkpoints under ``root``."""
    found = {}
    for entry in os.listdir(root) if os.path.isdir(root) else ():
        match = _EPOCH_DIR.fullmatch(entry)
        if match and _is_complete(os.path.join(root, entry)):
            found[int(match.group(1))] = os.path.join(root, entry)
    return found


def _is_complete(path):
    try:
        _check_complete(path)
    except UsageError:
        return False
    return True


def newest(root):
    """The complete checkpoint under ``root`` with the most epochs done, ``best`` included (an
    epoch checkpoint wins a tie: it is the same state), or None: where ``--resume`` continues."""
    found = _epoch_checkpoints(root)
    best = os.path.join(root, BEST_NAME)
    if _is_complete(best):
        epoch = _check_complete(best)["epoch"]
        if epoch not in found and (not found or epoch > max(found)):
            return best
    return found[max(found)] if found else None


def prune(root, keep_last, keep_every):
    """Delete epoch checkpoints except the newest ``keep_last`` and every ``keep_every``-th
    epoch (kept for good); each is renamed before it is deleted, so no final name is partial."""
    found = _epoch_checkpoints(root)
    recent = sorted(found)[-keep_last:]
    for epoch, path in found.items():
        if epoch in recent or epoch % keep_every == 0:
            continue
        doomed = "%s.del-%d" % (path, os.getpid())
        os.rename(path, doomed)
        shutil.rmtree(doomed)
    newest_epoch = latest(root)
    if newest_epoch is not None:
        _write_atomically(os.path.join(root, LATEST_FILE), os.path.basename(newest_epoch) + "\n")


def remove_stale(root):
    """Tidy what killed runs (processes no longer alive) left under ``root``: partial
    ``*.tmp-PID`` and ``*.del-PID`` files and folders are deleted; a set-aside ``*.old-PID``
    is put back if its replacement never arrived, else deleted. Returns the names touched."""
    touched = []
    for entry in sorted(os.listdir(root)) if os.path.isdir(root) else ():
        match = _LEFTOVER.fullmatch(entry)
        if not match or _alive(int(match.group(3))):
            continue
        path, final = os.path.join(root, entry), os.path.join(root, match.group(1))
        if match.group(2) == "old" and not os.path.exists(final) and _is_complete(path):
            os.rename(path, final)
        elif os.path.isdir(path):
            shutil.rmtree(path)
        else:
            os.remove(path)
        touched.append(entry)
    return touched


def _alive(pid):
    """True when process ``pid`` exists (its temporary files may still be in use)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def load(path, net, trainer, ctx):
    """Restore a checkpoint into ``net`` (on ``ctx``), ``trainer`` and the RNGs; return its state.

    A missing file or a different number of devices than at save time raises UsageError before
    anything is changed; an unreadable file raises UsageError naming it.
    """
    meta = _check_complete(path)
    num_saved = len(meta["contexts"])
    if num_saved != len(trainer._updaters):
        raise UsageError("checkpoint %s was written with %d device(s), this run has %d; "
                         "resume with the same --gpus/--cpus"
                         % (path, num_saved, len(trainer._updaters)))
    state = read_state(path)
    with _reading(path, RNG_FILE):
        with open(os.path.join(path, RNG_FILE), "rb") as f:
            rng = pickle.load(f)
        python_rng, numpy_rng = rng["python"], rng["numpy"]
    blobs = []
    for i in range(num_saved):
        with _reading(path, STATES_FILE % i):
            with open(os.path.join(path, STATES_FILE % i), "rb") as f:
                blobs.append(f.read())
    aux = []
    for i in range(num_saved):
        with _reading(path, AUX_FILE % i):
            aux.append(mx.nd.load(os.path.join(path, AUX_FILE % i)))

    with _reading(path, MODEL_FILE):
        net.load_parameters(os.path.join(path, MODEL_FILE), ctx=ctx)
    _init_kvstore(trainer)
    if trainer._params_to_init:
        trainer._init_params()
    _restore_aux(path, net, aux)
    _restore_updaters(path, trainer, blobs, meta["device_ids"])
    with _reading(path, RNG_FILE):
        random.setstate(python_rng)
        np.random.set_state(numpy_rng)
    return state


def read_state(path):
    """The ``state`` dict of a complete checkpoint, without loading anything (e.g. its config)."""
    _check_complete(path)
    with _reading(path, STATE_FILE):
        with open(os.path.join(path, STATE_FILE)) as f:
            return json.load(f)


def _write_contents(directory, epoch, net, trainer, state_text):
    """Write every file of a checkpoint into ``directory``, ``checkpoint.json`` last."""
    rng = {"python": random.getstate(), "numpy": np.random.get_state()}
    model_path = os.path.join(directory, MODEL_FILE)
    net.save_parameters(model_path)
    _fsync(model_path)
    files = [MODEL_FILE]
    for i, arrays in enumerate(_aux_per_context(net, len(trainer._updaters))):
        aux_path = os.path.join(directory, AUX_FILE % i)
        mx.nd.save(aux_path, arrays)
        _fsync(aux_path)
        files.append(AUX_FILE % i)
    for i, updater in enumerate(trainer._updaters):
        states = _on_cpu(updater.states)
        payload = (states, trainer._optimizer) if i == 0 else states
        _write_file(os.path.join(directory, STATES_FILE % i), pickle.dumps(payload))
        files.append(STATES_FILE % i)
    _write_file(os.path.join(directory, STATE_FILE), state_text.encode("utf-8"))
    _write_file(os.path.join(directory, RNG_FILE), pickle.dumps(rng))
    files += [STATE_FILE, RNG_FILE]
    meta = {"format": FORMAT, "epoch": epoch,
            "contexts": [str(c) for c in trainer._contexts],
            "device_ids": [c.device_id for c in trainer._contexts],
            "files": files}
    _write_file(os.path.join(directory, META_FILE), json.dumps(meta, indent=1).encode("utf-8"))


def _no_grad_params(net):
    """The parameters no optimizer updates (BatchNorm running stats), by structural name."""
    return {key: param for key, param in net._collect_params_with_prefix().items()
            if param.grad_req == "null"}


def _aux_per_context(net, num_contexts):
    """For each device, a dict structural name -> CPU copy of that device's no-grad parameters."""
    params = _no_grad_params(net)
    return [{key: param.list_data()[i].as_in_context(mx.cpu()) for key, param in params.items()}
            for i in range(num_contexts)]


def _restore_aux(path, net, aux):
    """Copy each device's saved no-grad parameters onto that device's copy."""
    params = _no_grad_params(net)
    for i, arrays in enumerate(aux):
        if set(arrays) != set(params):
            raise UsageError("checkpoint %s: %s does not match this network (parameters %s)"
                             % (path, AUX_FILE % i,
                                ", ".join(sorted(set(arrays) ^ set(params))[:3])))
        for key, param in params.items():
            arrays[key].copyto(param.list_data()[i])


def _restore_updaters(path, trainer, blobs, saved_device_ids):
    """Load each device's updater states and make every updater share ctx 0's optimizer.

    The optimizer counts updates per device id; if this run's devices have other ids, the
    counts move to them so the next update is still number K + 1 for the lr schedule.
    """
    previous = trainer._optimizer
    for i, (updater, blob) in enumerate(zip(trainer._updaters, blobs)):
        with _reading(path, STATES_FILE % i):
            updater.set_states(blob)
    optimizer = trainer._updaters[0].optimizer
    if optimizer is previous or not isinstance(optimizer, mx.optimizer.Optimizer):
        raise UsageError("checkpoint %s: %s holds no optimizer" % (path, STATES_FILE % 0))
    for updater in trainer._updaters:
        updater.optimizer = optimizer
    trainer._optimizer = optimizer
    optimizer.param_dict = dict(enumerate(trainer._params))
    device_ids = [c.device_id for c in trainer._contexts]
    if device_ids != saved_device_ids:
        counts = optimizer._all_index_update_counts
        optimizer._all_index_update_counts = {new: counts.get(old, {}) for old, new
                                              in zip(saved_device_ids, device_ids)}
        optimizer._index_update_count = optimizer._all_index_update_counts[device_ids[0]]


def _check_complete(path):
    """Return the checkpoint's metadata; UsageError if it or any file it lists is missing."""
    meta_path = os.path.join(path, META_FILE)
    if not os.path.isfile(meta_path):
        raise UsageError("checkpoint %s is incomplete: %s is missing" % (path, META_FILE))
    with _reading(path, META_FILE):
        with open(meta_path) as f:
            meta = json.load(f)
        files, contexts, device_ids = meta["files"], meta["contexts"], meta["device_ids"]
        if len(contexts) != len(device_ids) or not contexts:
            raise ValueError("bad device list")
    required = [MODEL_FILE, STATE_FILE, RNG_FILE]
    required += [pattern % i for i in range(len(contexts)) for pattern in (AUX_FILE, STATES_FILE)]
    for name in required + files:
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
        reason = lines[-1] if lines else type(error).__name__
        raise UsageError("checkpoint %s: %s could not be read (%s)"
                         % (path, name, reason)) from error


def _on_cpu(states):
    """Updater states with every NDArray copied to the CPU (tuples and lists kept, None kept)."""
    if isinstance(states, mx.nd.NDArray):
        return states.as_in_context(mx.cpu())
    if isinstance(states, dict):
        return {key: _on_cpu(value) for key, value in states.items()}
    if isinstance(states, (tuple, list)):
        return type(states)(_on_cpu(value) for value in states)
    return states


def _init_kvstore(trainer):
    """Create the trainer's kvstore if its first step has not yet done so (as load_states does)."""
    if not trainer._kv_initialized:
        trainer._init_kvstore()


def _move_into_place(tmp, final):
    """Rename ``tmp`` to ``final``; an existing ``final`` is set aside first and removed after."""
    if os.path.exists(final):
        old = "%s.old-%d" % (final, os.getpid())
        shutil.rmtree(old, ignore_errors=True)
        os.rename(final, old)
        os.rename(tmp, final)
        shutil.rmtree(old)
    else:
        os.rename(tmp, final)
    _fsync(os.path.dirname(final) or ".")


def _write_file(path, data):
    """Write bytes to ``path`` and flush them to disk."""
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _write_atomically(path, text):
    """Replace the small text file ``path`` atomically (write a sibling, then os.replace)."""
    tmp = "%s.tmp-%d" % (path, os.getpid())
    _write_file(tmp, text.encode("utf-8"))
    os.replace(tmp, path)


def _fsync(path):
    """Flush a file or directory that another writer created to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
