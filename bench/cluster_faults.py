"""Benchmark: issue #30's own statement at full size, on a local disk and on S3 (moto).

"A 2,000-item folder build exits 0, every item lands or is a failure with a reason, counts
reconcile, and the shards are byte-identical to a fault-free run", with a seeded 2 % of storage
calls failing (exists, size, listings, opens, reads, creates, writes, renames, deletes).
``tests/scale/test_cluster_faults.py`` checks the same at 200 items to keep CI fast; this runs it
at ``--items`` with the test's own pieces (its clips, build flags and readers,
``tests/scale/faults.py``'s ``FaultyStorage``, ``tests/scale/conftest.py``'s moto server).

Per store: a fault-free build, then the faulty build into a fresh folder of the same store, then
one more whose first listing of each pattern fails once (a build lists a few times only, so the seeded
2 % may hit no listing at all; ``--no-listing-run`` leaves it out). Each faulty build prints items
in / ok / failed, whether the counts reconcile, whether the tars are byte-identical to the
fault-free build's (and to the local fault-free build's: the bytes do not depend on the
store), the faults injected and the retries made per kind of call, and the faulty build's wall
time as a ratio to the fault-free one's (same store, same process). Exits 1 when a build fails or
a check does not hold.

    .venv/bin/python bench/cluster_faults.py [--items 2000] [--stores local s3] [--rate 0.02] [--seed 7]
        [--no-listing-run] [--retry-base-s S] [--json rows.json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pytest

from pipelines import commit
from pipelines.validate import main as validate
from tests.scale import test_cluster_faults as case
from tests.scale.conftest import moto_s3
from tests.scale.faults import FaultyStorage
from transforms import storage


def write_clips(folder: Path, items: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(items):
        (folder / f"clip{i:04d}.wav").write_bytes(case._clip(i))


def timed_build(input_: str, output: str, name: str, flags: list[str]) -> tuple[int, float]:
    started = time.monotonic()
    code = case._build(input_, output, name, *flags)
    return code, time.monotonic() - started


def leftover_temps(root: str) -> list[str]:
    return [p for pattern in commit.TEMP_PATTERNS for p in storage.list_files(storage.join(root, pattern))]


def scenarios(args: argparse.Namespace) -> list[tuple[str, FaultyStorage]]:
    """The faulty builds of each store: the statement's, and one whose listing of each pattern fails its first
    attempt, since a build lists only a few times and 2 % of a few calls is often none."""
    runs = [(f"{args.rate:.0%} of every call", FaultyStorage(args.rate, seed=args.seed))]
    if args.listing_run:
        runs.append(("the first attempt of each listed pattern", FaultyStorage(0.0, args.seed, ("list",), first=True)))
    return runs


def run_store(store: str, clips: Path, scratch: Path, args: argparse.Namespace, local_clean: dict | None) -> list:
    """The fault-free build and the faulty ones on one store: one row of figures and checks each."""
    with contextlib.ExitStack() as stack:
        mp = stack.enter_context(pytest.MonkeyPatch.context())
        s3 = stack.enter_context(moto_s3(mp)) if store == "s3" else None
        if store == "s3":
            client, flags = s3
            for path in sorted(clips.iterdir()):
                client.put_object(Bucket="corpus", Key=f"in/{path.name}", Body=path.read_bytes())
            storage.configure(flags)
            input_, out = "s3://corpus/in", "s3://corpus/out"
        else:
            flags, input_, out = [], str(clips), str(scratch / "out")
        build = list(flags)
        if args.retry_base_s is not None:  # after the test's flags: the last one wins
            build += ["--storage-retry-base-s", str(args.retry_base_s), "--storage-retry-max-s", "10"]
        real_call, real_count = storage._call, storage._count_retry
        retries: Counter = Counter()

        def count_retry(what: str) -> None:
            retries[what] += 1
            real_count(what)

        mp.setattr(storage, "_count_retry", count_retry)
        code_clean, clean_s = timed_build(input_, out, "clean", build)
        clean = case._tars(storage.join(out, "clean"))
        clean_retries = sum(retries.values())  # a fault-free build should need none
        rows = []
        for n, (what, faults) in enumerate(scenarios(args)):
            retries.clear()
            faults.install(mp)
            code, faulty_s = timed_build(input_, out, f"faulty{n}", build)
            mp.setattr(storage, "_call", real_call)
            root = storage.join(out, f"faulty{n}")
            tars = case._tars(root)
            totals = case._card(root)["totals"] if code == 0 else {}
            rows.append(
                {
                    "store": store,
                    "faults": what,
                    "exit": code,
                    "exit_clean": code_clean,
                    "items_in": totals.get("items_in"),
                    "items_ok": totals.get("items_ok"),
                    "items_failed": totals.get("items_failed"),
                    "reconciled": bool(totals.get("reconciled")) and totals.get("items_in") == args.items,
                    "shards": len(tars),
                    "identical": bool(tars) and tars == clean,
                    "identical_to_local": None if local_clean is None else tars == local_clean,
                    "valid": code == 0 and validate([root, "--no-audio", *flags]) == 0,
                    "temps_left": len(leftover_temps(root)),
                    "calls": dict(faults.calls),
                    "injected": dict(faults.injected),
                    "retries": dict(retries),
                    "clean_retries": clean_retries,
                    "clean_s": clean_s,
                    "faulty_s": faulty_s,
                    "tars": clean,
                }
            )
        return rows


def ok(row: dict) -> bool:
    return (
        row["exit"] == 0
        and row["exit_clean"] == 0
        and row["reconciled"]
        and row["identical"]
        and row["identical_to_local"] in (None, True)
        and row["valid"]
        and not row["temps_left"]
    )


def show(row: dict) -> None:
    yes = {True: "yes", False: "NO", None: "-"}
    kinds = sorted(set(row["calls"]) | set(row["injected"]) | set(row["retries"]))
    print(f"\n== {row['store']}: {row['faults']} failing ==")
    print(
        f"items in {row['items_in']} / ok {row['items_ok']} / failed {row['items_failed']}; "
        f"reconciled {yes[row['reconciled']]}; exit {row['exit']} (fault-free build: exit {row['exit_clean']})"
    )
    print(
        f"{row['shards']} tars byte-identical to the fault-free build: {yes[row['identical']]}; "
        f"to the local fault-free build: {yes[row['identical_to_local']]}; "
        f"clara validate: {yes[row['valid']]}; temporaries left: {row['temps_left']}"
    )
    print(f"{'call':<8} {'calls':>8} {'faults':>7} {'retries':>8}")
    for kind in kinds:
        print(
            f"{kind:<8} {row['calls'].get(kind, 0):>8} {row['injected'].get(kind, 0):>7} {row['retries'].get(kind, 0):>8}"
        )
    total, injected = sum(row["calls"].values()), sum(row["injected"].values())
    print(
        f"{'all':<8} {total:>8} {injected:>7} {sum(row['retries'].values()):>8}"
        f"   ({100 * injected / max(total, 1):.2f} % of calls failed)"
    )
    print(
        f"wall: fault-free {row['clean_s']:.1f} s, faulty {row['faulty_s']:.1f} s: "
        f"{row['faulty_s'] / row['clean_s']:.2f}x (retries in the fault-free build: {row['clean_retries']})"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--stores", nargs="+", choices=("local", "s3"), default=["local", "s3"])
    parser.add_argument("--rate", type=float, default=0.02, help="share of storage calls that fail")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--no-listing-run",
        dest="listing_run",
        action="store_false",
        help="leave out the second faulty build (the first listing of each pattern failing once)",
    )
    parser.add_argument(
        "--retry-base-s",
        type=float,
        help="the builds' first backoff (s; the test's 0.001 by default, the CLI's own is 0.2, up to 10 s)",
    )
    parser.add_argument("--json", help="also write the rows (less the tars) to this file")
    args = parser.parse_args(argv)

    case.ITEMS = args.items
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server logs every request
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"cluster faults: {args.items} items, {args.rate:.0%} of storage calls failing (seed {args.seed}), "
        f"build flags {' '.join(case.FAST)}"
        + (f" --storage-retry-base-s {args.retry_base_s} --storage-retry-max-s 10" if args.retry_base_s else "")
        + f"; {os.cpu_count()} CPUs, load {load:.2f}",
        flush=True,
    )
    # a fixed folder: the injected faults depend on the paths, so the same seed hits the same calls
    scratch = Path(tempfile.gettempdir()) / f"clara-cluster-faults-{args.seed}"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir()
    rows, local_clean = [], None
    try:
        clips = scratch / "clips"
        write_clips(clips, args.items)
        for store in args.stores:
            work = scratch / store
            work.mkdir()
            for row in run_store(store, clips, work, args, local_clean):
                if store == "local":
                    local_clean = row["tars"]
                show(row)
                rows.append(row)
            shutil.rmtree(work, ignore_errors=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if args.json:
        Path(args.json).write_text(json.dumps([{k: v for k, v in r.items() if k != "tars"} for r in rows], indent=1))
    verdict = all(ok(r) for r in rows)
    print(f"\nthe statement holds on {', '.join(r['store'] for r in rows)}: {'yes' if verdict else 'NO'}")
    return 0 if verdict else 1


if __name__ == "__main__":
    sys.exit(main())
