"""Shard planning at scale: the hash plan (count per split, key hash mod n) vs the old per-split sort.

    .venv/bin/python bench/plan_scale.py --items 1000000,5000000 [--workers 2] [--as-is] [--old]

Synthetic ``SourceItem``s are generated inside the workers (so the launcher holds nothing), go
through the planning part of the build (split, plan, group by shard, duplicates out) on the
DirectRunner with worker processes, and end in figures per shard. Printed per size: wall time, the
peak RSS of the largest worker process (``RUSAGE_CHILDREN``), the runner's own peak RSS (the
DirectRunner keeps shuffles in the launcher; on Dataflow/Flink that is the shuffle service), the
largest shard (records one step received at once) and the records planned (= items: none lost).

Why a worker's memory grew with the input on the plain local runner, and what the default run
changes (``runner`` in each row):

- Beam's FnApiRunner runs a stage as **one bundle per worker** holding that worker's whole share
  of the stage's input, sent over before the bundle starts, a grouped share as one byte string.
  Dataflow and Flink give bounded bundles. ``pipelines/local_shuffle.py`` makes the local runner
  do so too (bundles of ~32 MB of input, grouped data in ~32 MB pieces at group boundaries; the
  same elements, groups and order). Without it a worker held ~0.7 GB at 1 M items even with the
  allocator settings below.
- glibc's malloc keeps freed memory in per-thread arenas and raises its mmap threshold after a big
  buffer is freed, so the data plane's 10 MB messages (gRPC threads) leave RSS behind that grows
  with the bytes that passed. The workers run with ``MALLOC_ARENA_MAX=2`` and fixed mmap/trim
  thresholds of 256 KB (``pipelines.local_shuffle.ALLOCATOR``); without them a worker held ~1 GB at 1 M items even with
  bounded bundles.

``--as-is`` also runs Beam's local runner and allocator unchanged, for the comparison. ``--old``
also runs the previous plan (every (key, duration) of a split grouped onto one worker and sorted
there) for the ratio.

Measured 2026-11-29, 2 cores shared with other jobs (load 5-9), 2 worker processes:

    items      runner           wall s      worker peak RSS   launcher peak RSS   largest shard
    200,000    as is            15.3        468 MB            643 MB              584
    200,000    bounded bundles  14.4        316 MB            487 MB              584
    1,000,000  as is            72.2-97.0   966-1,153 MB      2,199-2,390 MB      604
    1,000,000  bounded bundles  80.4-106.1  339-343 MB        977-1,001 MB        604
    5,000,000  bounded bundles  523.3       389 MB            3,956 MB            601

Bounded bundles, 1 M -> 5 M: worker peak RSS x1.13 (within the 1.2 goal), every item planned, the
largest shard ~600 records. The launcher's RSS is the local runner's shuffle (all records, ~0.8 KB
an item); Dataflow's and Flink's shuffle is a service outside the workers. One of the two 1 M "as
is" runs planned 943,760 records, not 1,000,000 (largest shard 575; its log was not kept; the
rerun planned all): every bounded run planned every item. ``planned`` is printed for that reason.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CHUNK = 10_000


def _items(chunk: int):
    from schemas import SourceItem

    for i in range(chunk * CHUNK, (chunk + 1) * CHUNK):
        yield SourceItem(
            key=f"bench-{i:09d}",
            uri=f"s3://bucket/audio/{i:09d}.flac",
            dataset="bench",
            source_id=f"{i:09d}",
            language="en",
            duration_hint_s=6.0,
        )


def _old_plan(split, keyed):
    """The previous plan: every (key, duration) of a split sorted and chunked in one call."""
    ordered = sorted(keyed)
    for i, (key, _) in enumerate(ordered):
        yield key, (split, i // 512, (len(ordered) + 511) // 512)


def _group_size(kv) -> int:
    return len(list(kv[1]))


def _write_figures(sizes, path: str) -> None:
    sizes = list(sizes)
    Path(path).write_text(json.dumps({"largest": max(sizes, default=0), "planned": sum(sizes), "groups": len(sizes)}))


def run_once(n_items: int, workers: int, old: bool, bounded: bool, figures: str) -> dict:
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    from transforms import internals

    if bounded and not internals.bound_local_bundles():
        raise SystemExit("this Beam's local runner can't be given bounded bundles (transforms/internals.py)")
    from pipelines.plan import DEFAULT_SPLIT_FRACTIONS, PlanShards, drop_duplicates, split_of

    options = PipelineOptions(
        ["--runner=DirectRunner", "--direct_running_mode=multi_processing", f"--direct_num_workers={workers}"]
    )
    started = time.monotonic()
    with beam.Pipeline(options=options) as p:
        items = (
            p
            | beam.Create(list(range(n_items // CHUNK)))
            | "Reshuffle" >> beam.Reshuffle()
            | "Generate" >> beam.FlatMap(_items)
        )
        if old:
            # the previous plan, as build_shards had it: a split's keys on one worker, then a join
            split_groups = (
                items
                | beam.Map(lambda it: (split_of(it), (it.key, it.duration_hint_s)))
                | "GroupSplit" >> beam.GroupByKey()
            )
            plan = split_groups | beam.FlatMapTuple(lambda split, keyed: _old_plan(split, keyed))
            _ = (
                {"item": items | beam.Map(lambda it: (it.key, it)), "shard": plan}
                | "JoinPlan" >> beam.CoGroupByKey()
                | beam.FlatMap(lambda kv: [(tuple(kv[1]["shard"][0]), kv[1]["item"][0])] if kv[1]["shard"] else [])
                | "GroupByShard" >> beam.GroupByKey()
            )
            groups = split_groups | "SplitSize" >> beam.Map(_group_size)  # the hot key: a whole split
        else:
            groups = (
                items
                | PlanShards(DEFAULT_SPLIT_FRACTIONS, 512)
                | "GroupByShard" >> beam.GroupByKey()
                | beam.FlatMap(drop_duplicates).with_outputs("failures", main="shards")
            ).shards | beam.Map(_group_size)
        _ = groups | beam.combiners.ToList() | beam.Map(_write_figures, figures)
    wall = time.monotonic() - started
    return {
        "items": n_items,
        "plan": "old: per-split sort" if old else "hash plan",
        "runner": "bounded bundles" if bounded else "as is",
        "wall_s": round(wall, 1),
        "items_per_s": round(n_items / wall),
        "worker_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024),
        "launcher_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", default="1000000,5000000", help="comma-separated sizes (multiples of 10,000)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--as-is", action="store_true", help="also run Beam's local runner and allocator unchanged")
    parser.add_argument("--old", action="store_true", help="also run the old per-split plan")
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)  # internal: one run in a fresh process
    args = parser.parse_args()
    if args.one:
        n, old, runner, figures = args.one.split(":", 3)
        result = run_once(int(n), args.workers, old == "old", runner == "bounded", figures)
        print("RESULT " + json.dumps(result), flush=True)
        return
    rows = []
    runners = ["bounded", "as-is"] if args.as_is else ["bounded"]
    for n in [int(x) for x in args.items.split(",")]:
        for kind, runner in [(k, r) for k in (["new", "old"] if args.old else ["new"]) for r in runners]:
            # a fresh process per run: RUSAGE peaks are per process lifetime; the allocator is set at start
            from pipelines.local_shuffle import ALLOCATOR  # the launcher too: set before it starts

            env = {**os.environ, **(ALLOCATOR if runner == "bounded" else {})}
            with tempfile.TemporaryDirectory() as tmp:
                figures = os.path.join(tmp, "figures.json")
                done = subprocess.run(
                    [
                        sys.executable,
                        __file__,
                        "--one",
                        f"{n}:{kind}:{runner}:{figures}",
                        "--workers",
                        str(args.workers),
                    ],
                    capture_output=True,
                    text=True,
                    check=False,
                    env=env,
                )
                line = next((x for x in done.stdout.splitlines() if x.startswith("RESULT ")), None)
                if line is None or not os.path.exists(figures):
                    print(done.stdout[-2000:], done.stderr[-4000:], file=sys.stderr)
                    raise SystemExit(f"run {n}:{kind}:{runner} failed")
                row = {**json.loads(line[7:]), **json.loads(Path(figures).read_text())}
            rows.append(row)
            print(json.dumps(row), flush=True)
    for runner in ("bounded bundles", "as is"):
        new = [r for r in rows if r["plan"] == "hash plan" and r["runner"] == runner]
        if len(new) >= 2:
            a, b = new[0], new[-1]
            print(
                f"hash plan, {runner}, {a['items']:,} -> {b['items']:,} items: worker peak RSS "
                f"{a['worker_peak_rss_mb']} -> {b['worker_peak_rss_mb']} MB (x{b['worker_peak_rss_mb'] / a['worker_peak_rss_mb']:.2f}), "
                f"launcher {a['launcher_peak_rss_mb']} -> {b['launcher_peak_rss_mb']} MB, wall x{b['wall_s'] / a['wall_s']:.2f}, "
                f"largest shard {a['largest']} -> {b['largest']} records"
            )


if __name__ == "__main__":
    main()
