"""Shard planning at scale: the hash plan (count per split, key hash mod n) vs the old per-split sort.

    .venv/bin/python bench/plan_scale.py --items 1000000,5000000 [--workers 2] [--old]

Synthetic ``SourceItem``s are generated inside the workers (so the launcher holds nothing), go
through the planning part of the build (split, plan, group by shard, duplicates out) on the
DirectRunner with worker processes, and end in a count. Printed per size: wall time, the peak
RSS of the largest worker process (``RUSAGE_CHILDREN``), the runner's own peak RSS (the
DirectRunner keeps shuffles in the launcher; on Dataflow/Flink that is the shuffle service), and
the largest number of records any one step received at once. ``--old`` also runs the previous
plan (every (key, duration) of a split grouped onto one worker and sorted there) for the ratio.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CHUNK = 10_000


def _items(chunk: int):  # noqa: ANN202
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


def _old_plan(split, keyed):  # noqa: ANN001, ANN202
    """The previous plan: every (key, duration) of a split sorted and chunked in one call."""
    ordered = sorted(keyed)
    for i, (key, _) in enumerate(ordered):
        yield key, (split, i // 512, (len(ordered) + 511) // 512)


def _largest_group(kv) -> int:  # noqa: ANN001
    return len(list(kv[1]))


def run_once(n_items: int, workers: int, old: bool) -> dict:
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipelines import sink
    from pipelines.plan import PlanShards, drop_duplicates

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
                | beam.Map(lambda it: (sink.split_of(it), (it.key, it.duration_hint_s)))
                | "GroupSplit" >> beam.GroupByKey()
            )
            plan = split_groups | beam.FlatMapTuple(lambda split, keyed: _old_plan(split, keyed))
            _ = (
                {"item": items | beam.Map(lambda it: (it.key, it)), "shard": plan}
                | "JoinPlan" >> beam.CoGroupByKey()
                | beam.FlatMap(lambda kv: [(tuple(kv[1]["shard"][0]), kv[1]["item"][0])] if kv[1]["shard"] else [])
                | "GroupByShard" >> beam.GroupByKey()
            )
            groups = split_groups | "SplitSize" >> beam.Map(_largest_group)  # the hot key: a whole split
        else:
            groups = (
                items
                | PlanShards((0.8, 0.1, 0.1), 512)
                | "GroupByShard" >> beam.GroupByKey()
                | beam.FlatMap(drop_duplicates).with_outputs("failures", main="shards")
            ).shards | beam.Map(_largest_group)
        _ = groups | beam.combiners.Top.Largest(1) | beam.Map(lambda top: print(json.dumps({"largest": top[0]})))
    wall = time.monotonic() - started
    return {
        "items": n_items,
        "plan": "old: per-split sort" if old else "hash plan",
        "wall_s": round(wall, 1),
        "items_per_s": round(n_items / wall),
        "worker_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024),
        "launcher_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", default="1000000,5000000", help="comma-separated sizes (multiples of 10,000)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--old", action="store_true", help="also run the old per-split plan")
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)  # internal: one run in a fresh process
    args = parser.parse_args()
    if args.one:
        n, old = args.one.split(":")
        print("RESULT " + json.dumps(run_once(int(n), args.workers, old == "old")), flush=True)
        return
    rows = []
    for n in [int(x) for x in args.items.split(",")]:
        for kind in ["new", "old"] if args.old else ["new"]:
            # a fresh process per run: RUSAGE peaks are per process lifetime
            done = subprocess.run(
                [sys.executable, __file__, "--one", f"{n}:{kind}", "--workers", str(args.workers)],
                capture_output=True,
                text=True,
                check=False,
            )
            line = next((x for x in done.stdout.splitlines() if x.startswith("RESULT ")), None)
            largest = next((x for x in done.stdout.splitlines() if x.startswith('{"largest"')), "{}")
            if line is None:
                print(done.stdout[-2000:], done.stderr[-4000:], file=sys.stderr)
                raise SystemExit(f"run {n}:{kind} failed")
            row = {**json.loads(line[7:]), **json.loads(largest)}
            rows.append(row)
            print(json.dumps(row), flush=True)
    new = [r for r in rows if r["plan"] == "hash plan"]
    if len(new) >= 2:
        a, b = new[0], new[-1]
        print(
            f"hash plan, {a['items']:,} -> {b['items']:,} items: worker peak RSS x{b['worker_peak_rss_mb'] / a['worker_peak_rss_mb']:.2f}, "
            f"wall x{b['wall_s'] / a['wall_s']:.2f}, largest group {a.get('largest')} -> {b.get('largest')} records"
        )


if __name__ == "__main__":
    main()
