"""Benchmark: the Beam shard build vs a bare single-process loop vs one ffmpeg per file.

All three do the same work on the same files: decode a 44.1 kHz WAV, resample to 48 kHz mono,
encode 16-bit FLAC, write a tar. The files (``--hours`` of audio, ``--clip-seconds`` each)
are generated once into ``data/bench/wav`` before any timing. Figures are seconds of audio
per second of wall time, and ratios to the bare loop measured in the same run.

    python bench/shard_build.py [--hours 1] [--workers 2] [--shard-size 128]
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipelines.sources.base import SourceSettings, make_source  # noqa: E402


def generate(folder: Path, hours: float, clip_seconds: float, rate: int = 44_100) -> list[Path]:
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


def run_pipeline(paths: list[Path], out: Path, workers: int, shard_size: int) -> float:
    """The real build over the files' folder, read by the generic ``folder`` adapter."""
    from pipelines.cli import run_build
    from pipelines.options import config_from

    folder = paths[0].parent
    assert len(paths) == len(list(folder.glob("*.wav"))), f"{folder} must hold exactly the benchmark files"

    config = config_from(
        {"source": "bench", "split_fractions": (0.8, 0.1, 0.1), "shard_size": shard_size, "batch_items": 32,
         "overwrite": True, "workers": workers}
    )  # fmt: skip
    started = time.perf_counter()
    source = make_source("folder", SourceSettings(input=str(folder)))
    source.check()
    code = run_build(source, str(out), "bench", config, [])
    elapsed = time.perf_counter() - started
    card = json.loads((out / "dataset_card.json").read_text())
    if code != 0 or card["totals"]["samples"] != len(paths):
        raise SystemExit(f"pipeline run wrote {card['totals']['samples']} of {len(paths)} files")
    return elapsed


def bare_loop(paths: list[Path], out: Path) -> float:
    """The same decode -> resample -> FLAC -> tar, one process, no framework."""
    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    with tarfile.open(out / "bare.tar", "w") as tar:
        for path in paths:
            audio, rate = sf.read(path, dtype="float32", always_2d=True)
            audio = soxr.resample(audio.mean(axis=1), rate, 48_000, quality="HQ")
            buf = io.BytesIO()
            sf.write(buf, audio, 48_000, format="FLAC", subtype="PCM_16")
            data = buf.getvalue()
            info = tarfile.TarInfo(f"{path.stem}.flac")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return time.perf_counter() - started


def ffmpeg_per_file(paths: list[Path], out: Path) -> float | None:
    """The LAION scripts' way: one ffmpeg subprocess per file, then tar."""
    if shutil.which("ffmpeg") is None:
        return None
    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    with tarfile.open(out / "ffmpeg.tar", "w") as tar:
        for path in paths:
            flac = out / f"{path.stem}.flac"
            subprocess.run(
                [
                    "ffmpeg",
                    "-nostdin",
                    "-loglevel",
                    "error",
                    "-y",
                    "-i",
                    str(path),
                    "-ac",
                    "1",
                    "-ar",
                    "48000",
                    "-sample_fmt",
                    "s16",
                    str(flac),
                ],
                check=True,
            )
            tar.add(flac, arcname=flac.name)
            flac.unlink()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hours", type=float, default=1.0, help="hours of audio to convert (default 1)")
    parser.add_argument("--clip-seconds", type=float, default=4.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--shard-size", type=int, nargs="+", default=[128, 512])
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "bench" / "wav")
    args = parser.parse_args()

    paths = generate(args.data / f"{args.hours:g}h-{args.clip_seconds:g}s", args.hours, args.clip_seconds)
    seconds = len(paths) * args.clip_seconds
    rows: list[tuple[str, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        bare = bare_loop(paths, tmp_path / "bare")
        rows.append(("bare loop, 1 process", bare))
        for size in args.shard_size:
            t = run_pipeline(paths, tmp_path / f"beam{size}", args.workers, size)
            rows.append((f"clara shards, {args.workers} workers, {size}-item shards", t))
        ff = ffmpeg_per_file(paths, tmp_path / "ffmpeg")
        if ff is not None:
            rows.append(("ffmpeg subprocess per file", ff))
    print(f"\n{len(paths)} files, {seconds / 3600:.2f} h of 44.1 kHz WAV -> 48 kHz FLAC in tar shards")
    print(f"{'method':48s} {'wall s':>8s} {'audio s/s':>10s} {'vs bare':>8s}")
    for name, t in rows:
        print(f"{name:48s} {t:8.1f} {seconds / t:10.0f} {bare / t:7.2f}x")
    if ff is None:
        print("(ffmpeg not installed: its row is skipped)")


if __name__ == "__main__":
    main()
