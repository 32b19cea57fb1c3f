"""Runner selection: the same pipeline on DirectRunner, the portable runner, Dataflow or Flink.

Any other Beam runner passes through as ``--runner``: a name Beam knows (``SparkRunner``,
``PrismRunner``, ``spark``: :func:`beam_runner_name`) or a class's dotted path
(``my.package.MyRunner``), with the user's own Beam flags.

``direct`` runs on this machine: its workers as threads of one process (up to
``THREADED_WORKERS_MAX``), or as processes. ``portable`` is the path Flink and Spark use:
Beam's ``PortableRunner`` with an embedded job service and an external Python SDK worker pool
(``apache_beam.runners.worker.worker_pool_main``, the sidecar a Flink deployment runs); when
no ``--environment_config`` is given we start that pool here and stop it afterwards.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

RUNNERS = ("direct", "portable", "dataflow", "flink")

THREADED_WORKERS_MAX = 4
"""Up to this many local workers, ``direct`` runs them as threads of one process, beyond it as
processes. Threads: no worker start (a fresh interpreter importing Beam: seconds of a short run),
no gRPC between processes, one Whisper/CoCa for all (``transforms/shared_models.py``); the heavy
per-item work runs outside the GIL (libsndfile, soxr, the decode child, model runtimes), ~10% of
an item's time holds it, so a few threads scale and many would queue on it. Measured on 2 cores
(bench/shard_build.py, ``make shards``): see deploy/README.md. ``--direct_running_mode`` wins."""


def beam_runner_name(runner: str) -> str:
    """The ``--runner`` value for a runner that is not one of :data:`RUNNERS`: a runner Beam
    knows by name (case-insensitive, ``Runner`` optional, as Beam's ``create_runner`` reads it) or
    an importable ``module.Class``; ValueError naming what is accepted otherwise."""
    from apache_beam.options.pipeline_options import StandardOptions

    known = {path.rsplit(".", 1)[1].lower(): path.rsplit(".", 1)[1] for path in StandardOptions.ALL_KNOWN_RUNNERS}
    short = known.get(runner.lower()) or known.get(runner.lower() + "runner")
    if short:
        return short
    if re.fullmatch(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)+", runner):
        module, name = runner.rsplit(".", 1)
        try:
            if isinstance(getattr(importlib.import_module(module), name), type):
                return runner
        except (ImportError, AttributeError):
            pass
        raise ValueError(f"runner {runner!r}: no class {name} in an importable module {module}")
    raise ValueError(
        f"unknown runner {runner!r}; expected one of {', '.join(RUNNERS)}, a Beam runner name "
        f"({', '.join(sorted(set(known.values())))}) or a runner class's dotted path"
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def _wait_for_port(port: int, timeout_s: float = 30.0, host: str = "localhost") -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as s:
            s.settimeout(1.0)
            if s.connect_ex((host, port)) == 0:
                return
        time.sleep(0.2)
    raise RuntimeError(f"the SDK worker pool did not open port {port} within {timeout_s:.0f} s")


@contextlib.contextmanager
def worker_pool(
    cwd: str | None = None,
    env: dict[str, str] | None = None,
    wrapper: tuple[str, ...] = (),
    host: str = "localhost",
    timeout_s: float = 30.0,
) -> Iterator[str]:
    """Start a local Beam Python SDK worker pool; yields its ``host:port``.

    ``cwd`` and ``env`` (replacing the launcher's environment, e.g. another ``HOME``/``TMPDIR``)
    let a test run the workers as a cluster would: nothing shared with the launcher but storage.
    ``wrapper`` prefixes the command (e.g. ``ip netns exec NAME``: the pool on another network
    host), reached at ``host``.
    """
    port = free_port()
    env = dict(os.environ if env is None else env)
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")  # the pool spawns `python`
    if cwd is None:  # the launcher's checkout on the path; an isolated pool relies on the installed package
        env["PYTHONPATH"] = os.pathsep.join([os.getcwd(), env.get("PYTHONPATH", "")])
    proc = subprocess.Popen(
        [*wrapper, sys.executable, "-m", "apache_beam.runners.worker.worker_pool_main", f"--service_port={port}"],
        env=env,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for_port(port, timeout_s, host)
        yield f"{host}:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def runner_args(runner: str, workers: int, beam_args: list[str], environment_config: str | None = None) -> list[str]:
    """Beam flags for a runner name; flags the user gave in ``beam_args`` win."""
    given = {a.split("=", 1)[0] for a in beam_args if a.startswith("--")}
    extra: list[str] = []

    def add(flag: str, value: str) -> None:
        if flag not in given:
            extra.append(f"{flag}={value}")

    add("--default_sdk_harness_log_level", "ERROR")
    if runner == "direct":
        add("--runner", "DirectRunner")
        if workers > 1:
            add("--direct_running_mode", "multi_threading" if workers <= THREADED_WORKERS_MAX else "multi_processing")
            add("--direct_num_workers", str(workers))
        else:
            add("--direct_running_mode", "in_memory")
    elif runner == "portable":
        add("--runner", "PortableRunner")
        add("--job_endpoint", "embed")
        add("--environment_type", "EXTERNAL")
        if environment_config:
            add("--environment_config", environment_config)
        add("--sdk_worker_parallelism", str(max(1, workers)))
        add("--direct_num_workers", str(max(1, workers)))
    elif runner == "dataflow":
        add("--runner", "DataflowRunner")
        if "--sdk_container_image" not in given:  # the worker image already holds the code and its packages
            root = Path(__file__).resolve().parents[1]
            add("--setup_file", str(root / "setup.py"))
            # setup.py's base requirements are minimal (extras hold the rest): the workers need the pipeline's
            add("--requirements_file", str(root / "requirements-pipeline.txt"))
    elif runner == "flink":
        add("--runner", "FlinkRunner")
        add("--environment_type", "EXTERNAL")
        add("--environment_config", environment_config or "localhost:50000")
    else:
        add("--runner", beam_runner_name(runner))
    return extra + beam_args
