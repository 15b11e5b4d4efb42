"""Where this process sits in a training job: its devices, its rank, and how gradients meet.

Three modes, all with ``update_on_kvstore=False`` so the loop can check reduced gradients for
FP16 overflow before applying them (``allreduce_grads`` then ``update``):

* one process, several devices: kvstore ``device``/``local``/``nccl`` sums the devices' gradients;
* MXNet's parameter server (``dist_sync``, ``dist_device_sync``, started by ``gluon-tricks
  launch``): gradients are summed over all workers, so the update divides by the global batch;
* Horovod (``horovod``, under ``horovodrun``): one device per process, gradients averaged by
  ``hvd.DistributedTrainer``, so the update divides by the local batch.
"""
import mxnet as mx
from mxnet import gluon

from . import framework
from .data import backends, dali
from .devices import check_gpus
from .errors import UsageError

# device/local/nccl: one process; dist_*: MXNet's parameter server; horovod: under horovodrun.
KVSTORES = ("device", "local", "nccl", "dist_sync", "dist_device_sync", "horovod")
# The parameter-server key of the workers' stop flag (the Trainer's keys count its parameters).
STOP_KEY = 1 << 20


class Distribution:
    """The process's contexts, rank and world size, and a trainer factory to match."""

    def __init__(self, cfg):
        self.kvstore_name = cfg.kvstore
        self.horovod = None
        self.kvstore = cfg.kvstore
        self.rank, self.size, self.local_rank = 0, 1, 0
        self._flag_key_ready = False
        contexts = cfg.contexts
        check_gpus(contexts)
        if cfg.kvstore == "horovod":
            self.horovod = _import_horovod(cfg.data_backend)
            self.horovod.init()
            self.rank, self.size = self.horovod.rank(), self.horovod.size()
            self.local_rank = self.horovod.local_rank()
            device = contexts[self.local_rank % len(contexts)]
            contexts = [mx.gpu(device.device_id) if device.device_type == "gpu" else mx.cpu(0)]
        elif cfg.kvstore.startswith("dist"):
            self.kvstore = mx.kv.create(cfg.kvstore)
            self.rank, self.size = self.kvstore.rank, self.kvstore.num_workers
        if self.size != cfg.num_workers:
            raise UsageError("the launcher started %d worker(s) but the configuration expects %d; "
                             "check the launcher's process count" % (self.size, cfg.num_workers))
        self.contexts = contexts

    @property
    def is_root(self):
        """Rank 0 alone logs, evaluates and saves."""
        return self.rank == 0

    def make_trainer(self, params, optimizer, optimizer_params):
        """A gluon Trainer that reduces gradients across devices and workers on ``allreduce_grads``."""
        if self.horovod:
            return self.horovod.DistributedTrainer(params, optimizer, optimizer_params)
        trainer = gluon.Trainer(params, optimizer, optimizer_params, kvstore=self.kvstore,
                                update_on_kvstore=False)
        if self.is_dist:
            # Send rank 0's weights to the servers and pull them back now, before any forward.
            # The Trainer would do it in the first allreduce_grads, where a key's pull can land
            # after that step's gradient round has replaced the servers' copy: the worker would
            # then take summed gradients for weights.
            framework.settle_kvstore(trainer)
            mx.nd.waitall()
        return trainer

    @property
    def is_dist(self):
        """True on MXNet's parameter server (``dist_sync``/``dist_device_sync``)."""
        return isinstance(self.kvstore, mx.kvstore.KVStore) and "dist" in self.kvstore.type

    def broadcast(self, net):
        """Make every worker start from rank 0's parameters (Horovod; :meth:`make_trainer` does
        it for the parameter server)."""
        if self.horovod and self.size > 1:
            self.horovod.broadcast_parameters(net.collect_params(), root_rank=0)

    def update_batch_size(self, local_batch):
        """The batch size to divide reduced gradients by so the update uses their mean."""
        if self.is_dist:
            return local_batch * self.size
        return local_batch

    def any(self, flag):
        """True on every worker when ``flag`` is true on any worker (their sum, one tiny
        allreduce or kvstore round trip): how all workers stop after the same update when a
        signal reached only some of them."""
        if self.size == 1:
            return flag
        value = mx.nd.array([1.0 if flag else 0.0])
        if self.horovod:
            return self.horovod.allreduce(value, op=self.horovod.Sum, name="stop").asscalar() > 0
        if not self._flag_key_ready:
            self.kvstore.init(STOP_KEY, mx.nd.zeros(1))
            self._flag_key_ready = True
        self.kvstore.push(STOP_KEY, value)
        self.kvstore.pull(STOP_KEY, out=value)
        return value.asscalar() > 0

    def barrier(self):
        """Wait for every worker (used before the final exit so rank 0's files are complete)."""
        if self.horovod and self.size > 1:
            self.horovod.allreduce(mx.nd.zeros(1), name="barrier").wait_to_read()
        elif self.is_dist:
            framework.barrier(self.kvstore)


def _import_horovod(data_backend):
    """``horovod.mxnet``, after DALI when the run decodes with it.

    Horovod loads its library with RTLD_GLOBAL, which puts libmxnet.so, and the libjpeg and
    libpng functions MXNet's wheels link in and export, into the process's global symbol scope.
    DALI's libraries bind those functions when they are loaded (Python loads extensions with
    RTLD_NOW); loaded after Horovod they would take MXNet's copies and abort in their first decode
    ("free(): invalid size"), so DALI is loaded first."""
    if data_backend in backends.DALI:
        dali.modules(data_backend)
    try:
        import horovod.mxnet as hvd
    except ImportError as err:
        raise UsageError("--kvstore horovod needs Horovod built for MXNet (%s); install it with "
                         "'bash tools/install.sh' and run under horovodrun" % err) from None
    return hvd
