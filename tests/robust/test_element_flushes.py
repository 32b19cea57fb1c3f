"""Threaded local workers never split an element between two data-plane flushes.

Beam's FnApiRunner starts threaded SDK workers (``--direct_running_mode=multi_threading``, what
``--workers 2..4`` runs) with a 1-s timer flush of their output streams; the timer also fires while
an element is half-encoded, and the runner decodes each flushed piece on its own before a
``GroupByKey``. Reproduced here with an element whose encoding takes longer than the timer: without
``transforms.internals.element_aligned_flushes`` the grouped values arrive as ``None`` (and in a shard
build a garbage window count grew the process to 18 GB). The pipeline runs in a child process with
its address space capped, so a regression fails the test instead of the machine.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PIPELINE = textwrap.dedent(
    """
    import resource, sys, time
    resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions
    from pipelines.local_shuffle import prepare_local_workers
    from pipelines.runner import runner_args

    class Slow:
        "A value whose encoding (pickling) takes longer than Beam's 1-s timer flush."
        def __init__(self, name):
            self.name = name
        def __reduce__(self):
            time.sleep(1.3)
            return (Slow, (self.name,))

    options = PipelineOptions(runner_args("direct", 2, []))
    assert options.get_all_options()["direct_running_mode"] == "multi_threading"
    if sys.argv[1] == "prepared":
        assert prepare_local_workers(options)
    with beam.Pipeline(options=options) as p:
        (p | beam.Create(["a", "b"]) | beam.Map(lambda k: (k, Slow(k * 3)))
           | beam.GroupByKey()
           | beam.Map(lambda kv: print("GROUP", kv[0], [v.name for v in kv[1]], flush=True)))
    print("DONE", flush=True)
    """
)


def run(mode: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", PIPELINE, mode], cwd=ROOT, capture_output=True, text=True, timeout=240)


def test_threaded_workers_deliver_slow_to_encode_elements_whole_through_a_group_by_key():
    done = run("prepared")
    assert done.returncode == 0, done.stderr[-2000:]
    groups = sorted(line for line in done.stdout.splitlines() if line.startswith("GROUP"))
    assert groups == ["GROUP a ['aaa']", "GROUP b ['bbb']"] and done.stdout.rstrip().endswith("DONE")
