"""``gluon-tricks launch``: a one-host MXNet parameter-server job (scheduler, servers, workers).

``gluon-tricks launch --workers 2 --servers 1 -- train --kvstore dist_sync ARGS...`` starts the
processes with the DMLC_* environment and relays their output behind "[worker 0] " and so on;
``gluon-tricks launch ... -- python SCRIPT ARGS...`` runs a Python script as the workers instead.

Several hosts: no launcher is needed. On every process set DMLC_PS_ROOT_URI and DMLC_PS_ROOT_PORT
(the scheduler's address), DMLC_NUM_SERVER and DMLC_NUM_WORKER (job totals), DMLC_NODE_HOST (the
host's own address) and DMLC_ROLE; run ``python -I -c "import mxnet"`` as the one scheduler and as
each server, and ``gluon-tricks train --kvstore dist_sync ...`` as each worker, by hand or with
dmlc-tracker's ssh launcher. The --help epilog spells it out.
"""
import argparse

from ..launch import EPILOG, launch

NAME = "launch"
HELP = "run a parameter-server (dist_sync) training job on this host: scheduler, servers, workers"


def configure(p):
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.usage = ("gluon-tricks launch [--workers N] [--servers M] [--scheduler-port P] [--host H] "
               "-- (train --kvstore dist_sync ARGS... | python SCRIPT ARGS...)")
    p.epilog = EPILOG
    p.add_argument("--workers", type=int, default=2, metavar="N", help="worker processes (default 2)")
    p.add_argument("--servers", type=int, default=1, metavar="M", help="parameter-server processes (default 1)")
    p.add_argument("--scheduler-port", type=int, default=None, metavar="P",
                   help="the scheduler's TCP port (default: a free one)")
    p.add_argument("--host", default="127.0.0.1", help="address the processes use (default 127.0.0.1)")
    p.add_argument("worker_command", nargs=argparse.REMAINDER, metavar="-- COMMAND",
                   help="the workers' command: train ARGS (with --kvstore dist_sync or "
                        "dist_device_sync) or python SCRIPT ARGS")


def run(args):
    return launch(args.worker_command, args.workers, args.servers, host=args.host,
                  port=args.scheduler_port)

