"""Start one training process per device on this machine, without the ``torchrun`` CLI.

``python -m model.train --nproc-per-node 8 ...`` relaunches itself through torch's elastic
agent (what ``torchrun --standalone`` does: a c10d rendezvous on a free local port). Going
through the API rather than the ``torchrun`` command line also sidesteps its argument parser,
which rejects our ``--run`` as an ambiguous abbreviation of its own ``--run-path``.
"""

from __future__ import annotations

import logging
import os
import sys
import uuid

import torch

log = logging.getLogger(__name__)


def resolve_nproc(value: str) -> int:
    """``auto``/``gpu`` → one process per visible GPU (at least 1); else the integer given."""
    if value in ("auto", "gpu"):
        return max(1, torch.cuda.device_count())
    count = int(value)
    if count < 1:
        raise ValueError(f"--nproc-per-node must be ≥ 1, got {value}")
    return count


def already_launched() -> bool:
    return "WORLD_SIZE" in os.environ


def launch_local(nproc: int, argv: list[str]) -> int:
    """Run ``python -m model.train *argv`` in ``nproc`` local processes; 0 when all succeed."""
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    # Like torchrun: one intra-op thread per process unless the user chose otherwise.
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc)))
    config = LaunchConfig(
        min_nodes=1,
        max_nodes=1,
        nproc_per_node=nproc,
        run_id=str(uuid.uuid4()),
        rdzv_backend="c10d",
        rdzv_endpoint="localhost:0",
        max_restarts=0,
        monitor_interval=0.5,
        start_method="spawn",
    )
    log.info("launching %d local training processes", nproc)
    try:
        elastic_launch(config, entrypoint=sys.executable)("-m", "model.train", *argv)
    except ChildFailedError as error:
        log.error("a training process failed: %s", error)
        return 1
    return 0
