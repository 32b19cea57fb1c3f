"""Benchmark: the Beam shard build vs a bare loop vs lhotse's Shar export vs one ffmpeg per file.

All do the same work on the same files: decode a 44.1 kHz WAV, resample to 48 kHz mono, encode
16-bit FLAC, write tar shards. The files (``--hours`` of audio, ``--clip-seconds`` each) are
generated once into ``data/bench/wav`` before any timing. Every row runs as its own process and
is timed end to end, from its start to its exit (interpreter, imports, workers, plan, the tail
of the last shard, the card: everything). Rows are interleaved in rounds (``--rounds``), each
round in another order; a row's figure is its best round, and the machine's load is printed with
each run. Figures: seconds of audio per second of wall time, CPU seconds of the process tree, and
ratios to the bare loop and to lhotse with the same shard size.

- bare loop: one process, ``sf.read`` -> ``soxr.resample`` (HQ) -> ``sf.write`` FLAC -> ``tarfile``;
- clara: ``python -m pipelines.cli shards --source folder`` with ``--workers`` workers;
- lhotse: ``CutSet.resample(48000).to_shar(fields={"recording": "flac"}, num_jobs=--workers)``
  (``bench/lhotse_shar.py``) in its own venv, found by ``--lhotse-python`` or
  ``$CLARA_BENCH_LHOTSE_PYTHON`` or ``.venv-lhotse/bin/python``; skipped, saying so, without one;
- ffmpeg: one ``ffmpeg`` subprocess per file (the LAION scripts' way) on the first
  ``--ffmpeg-files`` files (its rate is per file, so a subset tells it); skipped without ffmpeg.

    python bench/shard_build.py [--hours 4] [--workers 2] [--shard-size 128 512] [--rounds 1]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LHOTSE_ENV = "CLARA_BENCH_LHOTSE_PYTHON"


def generate(folder: Path, hours: float, clip_seconds: float, rate: int = 44_100) -> list[Path]:
    import numpy as np
    import soundfile as sf

    count = int(hours * 3600 / clip_seconds)
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"clip_{i:05d}.wav" for i in range(count)]
    missing = [p for p in paths if not p.exists()]
    if missing:
        print(f"generating {len(missing)} WAV files ({hours} h) in {folder} ...", flush=True)
    rng = np.random.default_rng(0)
    t = np.arange(int(clip_seconds * rate)) / rate
    for path in missing:
        freq = rng.uniform(100, 2000)
        wave = 0.2 * np.sin(2 * np.pi * freq * t) + 0.05 * rng.standard_normal(len(t))
        sf.write(path, wave.astype(np.float32), rate, subtype="PCM_16")
    return paths


def bare_loop(paths: list[str], out: Path) -> None:
    """The same decode -> resample -> FLAC -> tar, one process, no framework."""
    import soundfile as sf
    import soxr

    out.mkdir(parents=True, exist_ok=True)
    with tarfile.open(out / "bare.tar", "w") as tar:
        for path in paths:
            audio, rate = sf.read(path, dtype="float32", always_2d=True)
            audio = soxr.resample(audio.mean(axis=1), rate, 48_000, quality="HQ")
            buf = io.BytesIO()
            sf.write(buf, audio, 48_000, format="FLAC", subtype="PCM_16")
            data = buf.getvalue()
            info = tarfile.TarInfo(f"{Path(path).stem}.flac")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def ffmpeg_per_file(paths: list[str], out: Path) -> None:
    """The LAION scripts' way: one ffmpeg subprocess per file, then tar."""
    out.mkdir(parents=True, exist_ok=True)
    with tarfile.open(out / "ffmpeg.tar", "w") as tar:
        for path in paths:
            flac = out / f"{Path(path).stem}.flac"
            command = ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", path]
            subprocess.run([*command, "-ac", "1", "-ar", "48000", "-sample_fmt", "s16", str(flac)], check=True)
            tar.add(flac, arcname=flac.name)
            flac.unlink()


# ----------------------------------------------------------------------------- rows


@dataclass
class Row:
    name: str
    command: list[str]
    files: int
    shard_size: int | None = None
    kind: str = "clara"
    walls: list[float] = field(default_factory=list)
    cpus: list[float] = field(default_factory=list)
    loads: list[float] = field(default_factory=list)
    out: Path | None = None
    """Where the row writes: removed before each of its runs (untimed), so that no row pays for
    freeing the previous round's files (on a disk mounted with ``discard`` that is seconds)."""

    @property
    def best(self) -> int:
        return min(range(len(self.walls)), key=self.walls.__getitem__)


def timed(command: list[str], log: Path) -> tuple[float, float]:
    """(wall s, CPU s of the process and the children it waited for) of one run of ``command``."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    with open(log, "w") as out:
        started = time.perf_counter()
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
    if status != 0:
        tail = log.read_text(errors="replace")[-3000:]
        raise SystemExit(f"{' '.join(command[:4])} ... failed (status {status}):\n{tail}")
    return wall, usage.ru_utime + usage.ru_stime


def lhotse_python(given: str | None) -> str | None:
    for candidate in (given, os.environ.get(LHOTSE_ENV), str(ROOT / ".venv-lhotse" / "bin" / "python")):
        if candidate and Path(candidate).exists():
            return candidate
    return None


def make_rows(args: argparse.Namespace, paths: list[Path], tmp: Path) -> tuple[list[Row], list[str]]:
    folder, files = str(paths[0].parent), len(paths)
    listing = tmp / "files.txt"
    listing.write_text("\n".join(map(str, paths)) + "\n")
    me = [sys.executable, str(Path(__file__).resolve())]
    bare = Row("bare loop, 1 process", [*me, "--bare-loop", str(listing), str(tmp / "bare")], files, kind="bare")
    bare.out = tmp / "bare"
    rows = [bare]
    notes: list[str] = []
    lhotse = lhotse_python(args.lhotse_python)
    if lhotse is None:
        notes.append(
            f"lhotse: no venv found (--lhotse-python, ${LHOTSE_ENV} or .venv-lhotse/): its rows are skipped. "
            "Make one: python3 -m venv V && V/bin/pip install torch==2.13.0 && "
            "V/bin/pip install lhotse scipy urllib3 soundfile"
        )
    for size in args.shard_size:
        clara = [sys.executable, "-m", "pipelines.cli", "shards", "--source", "folder", "--input", folder]
        clara += ["--output", str(tmp / f"clara{size}"), "--name", "bench", "--workers", str(args.workers)]
        clara += ["--shard-size", str(size), "--split-fractions", "0.8,0.1,0.1", "--overwrite", *args.clara_args]
        rows.append(Row(f"clara shards, {args.workers} workers, {size}-item shards", clara, files, size))
        rows[-1].out = tmp / f"clara{size}"
        if lhotse:
            peer = [lhotse, str(ROOT / "bench" / "lhotse_shar.py"), "--list", str(listing)]
            peer += ["--out", str(tmp / f"lhotse{size}"), "--shard-size", str(size), "--jobs", str(args.workers)]
            rows.append(Row(f"lhotse to_shar, {args.workers} jobs, {size}-cut shards", peer, files, size, "lhotse"))
            rows[-1].out = tmp / f"lhotse{size}"
    if shutil.which("ffmpeg") is None:
        notes.append("ffmpeg: not installed (apt-get install -y ffmpeg): its row is skipped")
    elif args.ffmpeg_files > 0:
        subset = tmp / "ffmpeg-files.txt"
        count = min(args.ffmpeg_files, files)
        subset.write_text("\n".join(map(str, paths[:count])) + "\n")
        name = f"ffmpeg subprocess per file ({count} files)"
        rows.append(Row(name, [*me, "--ffmpeg-loop", str(subset), str(tmp / "ffmpeg")], count, kind="ffmpeg"))
        rows[-1].out = tmp / "ffmpeg"
    return rows, notes


def check_output(row: Row, tmp: Path) -> None:
    if row.kind == "clara":
        card = json.loads((tmp / f"clara{row.shard_size}" / "bench" / "dataset_card.json").read_text())
        if card["totals"]["samples"] != row.files:
            raise SystemExit(f"{row.name}: wrote {card['totals']['samples']} of {row.files} files")


def run_rounds(rows: list[Row], rounds: int, tmp: Path) -> None:
    for index in range(rounds):
        order = rows[index % len(rows) :] + rows[: index % len(rows)]  # each round starts elsewhere
        for row in order:
            if row.out is not None:
                shutil.rmtree(row.out, ignore_errors=True)
            os.sync()  # the previous rows' output written back now, not on this row's clock (either way round)
            time.sleep(0.5)
            load = os.getloadavg()[0]
            wall, cpu = timed(row.command, tmp / "row.log")
            check_output(row, tmp)
            row.walls.append(wall)
            row.cpus.append(cpu)
            row.loads.append(load)
            print(
                f"  round {index + 1}: {row.name:48s} {wall:7.1f} s wall {cpu:7.1f} s CPU (load {load:.1f})", flush=True
            )


def report(rows: list[Row], seconds_per_file: float, notes: list[str]) -> None:
    bare = next(r for r in rows if r.kind == "bare")
    lhotse = {r.shard_size: r for r in rows if r.kind == "lhotse"}

    def rate(row: Row, i: int) -> float:
        return row.files * seconds_per_file / row.walls[i]

    print(
        f"\n{bare.files} files, {bare.files * seconds_per_file / 3600:.2f} h of 44.1 kHz WAV -> 48 kHz FLAC in tar shards"
    )
    print(f"load average (1 min) during the rows: {min(min(r.loads) for r in rows):.1f}-{max(max(r.loads) for r in rows):.1f} "
          f"on {os.cpu_count()} cores; best of {len(bare.walls)} round(s) per row")  # fmt: skip
    print(f"{'method':48s} {'wall s':>7s} {'CPU s':>7s} {'audio s/s':>9s} {'vs bare':>8s} {'vs lhotse':>9s}")
    for row in rows:
        i = row.best
        vs_bare = rate(row, i) / rate(bare, bare.best)
        peer = lhotse.get(row.shard_size) if row.kind == "clara" else None
        vs_lhotse = f"{rate(row, i) / rate(peer, peer.best):8.2f}x" if peer else ""
        print(
            f"{row.name:48s} {row.walls[i]:7.1f} {row.cpus[i]:7.1f} {rate(row, i):9.0f} {vs_bare:7.2f}x {vs_lhotse:>9s}"
        )
    if len(bare.walls) > 1:  # the same ratios within each round: how much of the spread is the machine
        print("per round (clara vs bare, vs lhotse):")
        for row in (r for r in rows if r.kind == "clara"):
            peer = lhotse.get(row.shard_size)
            ratios = [
                f"{rate(row, i) / rate(bare, i):.2f}x" + (f"/{rate(row, i) / rate(peer, i):.2f}x" if peer else "")
                for i in range(len(row.walls))
            ]
            print(f"  {row.name:46s} {' '.join(ratios)}  (median vs bare "
                  f"{statistics.median(rate(row, i) / rate(bare, i) for i in range(len(row.walls))):.2f}x)")  # fmt: skip
    for note in notes:
        print(f"({note})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hours", type=float, default=1.0, help="hours of audio to convert (default 1)")
    parser.add_argument("--clip-seconds", type=float, default=6.0)
    parser.add_argument("--workers", type=int, default=2, help="clara workers and lhotse jobs")
    parser.add_argument("--shard-size", type=int, nargs="+", default=[128, 512])
    parser.add_argument("--rounds", type=int, default=1, help="interleaved rounds; each row's best is reported")
    parser.add_argument("--lhotse-python", help=f"python of a venv with lhotse (or ${LHOTSE_ENV})")
    parser.add_argument("--ffmpeg-files", type=int, default=200, help="files for the ffmpeg row (0: skip it)")
    parser.add_argument("--clara-args", nargs=argparse.REMAINDER, default=[], help="more flags for clara shards")
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "bench" / "wav")
    parser.add_argument("--bare-loop", nargs=2, metavar=("LIST", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument("--ffmpeg-loop", nargs=2, metavar=("LIST", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    for flag, loop in ((args.bare_loop, bare_loop), (args.ffmpeg_loop, ffmpeg_per_file)):
        if flag:  # a row's own process
            loop(Path(flag[0]).read_text().split(), Path(flag[1]))
            return

    paths = generate(args.data / f"{args.hours:g}h-{args.clip_seconds:g}s", args.hours, args.clip_seconds)
    for path in paths:  # into the page cache, untimed: no row pays for reading the input from disk
        path.read_bytes()
    with tempfile.TemporaryDirectory() as tmp:
        rows, notes = make_rows(args, paths, Path(tmp))
        run_rounds(rows, args.rounds, Path(tmp))
    report(rows, args.clip_seconds, notes)


if __name__ == "__main__":
    main()
