"""The adapter to MXNet's and GluonCV's private names: every access to a ``_private``
attribute of a Gluon Trainer, Optimizer, Updater or Block, and every private GluonCV class the
project builds on, lives here, so that an upgrade of either is checked in one file. New code adds
what it needs here rather than inline.

The facts these functions rely on (MXNet 1.9.1):

* With ``update_on_kvstore=False`` a Trainer keeps one ``Updater`` per device in
  ``_updaters`` (index ``j`` of ``Updater.states`` is parameter ``_params[j]``), all sharing one
  optimizer; the kvstore, and with it that choice, is only settled by ``_init_kvstore``.
* The optimizer counts the updates of each parameter index separately per device id, in
  ``_all_index_update_counts[device_id][index]``; ``_index_update_count`` points at the dict of
  the device being updated (``_set_current_context``). The lr schedule sees ``num_update``, the
  largest count so far.
* ``Block._collect_params_with_prefix`` gives the structural names (``features.0.weight``)
  that ``save_parameters`` writes and that do not depend on how many blocks a process made;
  ``Block._children`` holds the children by the name ``register_child`` gave them (dotted
  GluonCV paths such as ``features.4.0`` included).
* A KVStore's barrier across the workers of a dist kvstore is only ``KVStore._barrier``.
* GluonCV 0.11 has no public FCN head: ``gluoncv.model_zoo.fcn._FCNHead`` is the one its FCN
  uses (3×3 conv to a quarter of the channels, BN, ReLU, dropout 0.1, 1×1 conv).
"""


def structural_params(block):
    """{structural name: Parameter} of ``block``, as ``save_parameters`` names them."""
    return block._collect_params_with_prefix()


def child(block, name):
    """The child of ``block`` registered under ``name``."""
    return block._children[name]


def children(block):
    """The direct children of ``block``, in the order they were registered."""
    return list(block._children.values())


def fcn_head(in_channels, classes):
    """GluonCV's FCN head (:mod:`gluoncv.model_zoo.fcn`) from ``in_channels`` to ``classes``."""
    from gluoncv.model_zoo.fcn import _FCNHead
    return _FCNHead(in_channels, classes)


def barrier(kvstore):
    """Wait until every worker of the dist ``kvstore`` has reached this call."""
    kvstore._barrier()


def settle_kvstore(trainer):
    """Create the trainer's kvstore and its parameters' copies if its first step has not yet
    done so (as ``Trainer.load_states`` does), so that updaters and devices are final."""
    if not trainer._kv_initialized:
        trainer._init_kvstore()
    if trainer._params_to_init:
        trainer._init_params()


def updaters(trainer):
    """The trainer's per-device updaters, in device order (ValueError when it updates on the
    kvstore, where there are none to checkpoint)."""
    settle_kvstore(trainer)
    if trainer._update_on_kvstore:
        raise ValueError("checkpoints need a Trainer built with update_on_kvstore=False")
    return trainer._updaters


def params(trainer):
    """The trainer's parameters; the position of each is its index in the updaters' states."""
    return trainer._params


def contexts(trainer):
    """The trainer's devices, in the order of :func:`updaters`."""
    return trainer._contexts


def update_counts(optimizer, device_id):
    """{parameter index: updates so far} of the device ``device_id`` (a copy)."""
    return dict(optimizer._all_index_update_counts.get(device_id, {}))


def set_update_counts(optimizer, counts):
    """Make ``counts`` ({device id: {parameter index: updates}}) the optimizer's counts, so the
    next update of each parameter on each device is number count + 1."""
    restored = {0: {}}
    restored.update({device: dict(per_index) for device, per_index in counts.items()})
    optimizer._all_index_update_counts = restored
    optimizer._index_update_count = restored[next(iter(counts), 0)]
