"""Rendezvous for tests that spawn gloo ranks themselves.

The test's own process serves the ranks' TCPStore on a port the OS assigns and that stays bound
from the moment it is picked until every rank has exited, as torch's elastic agent does for
``torchrun``. Picking a "free" port, closing it and letting rank 0 bind it later leaves a window
in which another process (another test's ranks, gloo's own connections) takes it, and makes rank 1
depend on rank 0's lifetime for every store call, teardown included.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import torch.distributed as dist


@contextmanager
def rendezvous(world_size: int, timeout_s: float = 120.0) -> Iterator[dict[str, str]]:
    """Serve a TCPStore here; yields the environment a rank sets before ``init_process_group``
    (``env://``): every rank, rank 0 included, connects to this store as a client."""
    store = dist.TCPStore(
        "127.0.0.1", 0, world_size, is_master=True, timeout=timedelta(seconds=timeout_s), wait_for_workers=False
    )
    try:
        yield {
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(store.port),
            "TORCHELASTIC_USE_AGENT_STORE": "True",
        }
    finally:
        del store
