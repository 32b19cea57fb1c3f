"""Hostile files beside good ones through the folder pipeline, 2 workers, under a watchdog.

The job must exit 0, every good file must land, every hostile file must be a failure with a
reason or land bounded (a header that lied is recorded, never silently truncated), and the
whole process tree must stay under 6 GB of RSS. The measured peak is printed (``-s`` shows it).
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path

from tests.robust import hostile

RSS_LIMIT = 6 << 30
WALL_LIMIT_S = 280.0

GOOD = {
    "good_wav": lambda: hostile.encoded(hostile.speech_like(3.0, 44_100), 44_100, "WAV", "PCM_16"),
    "good_flac": lambda: hostile.encoded(hostile.speech_like(2.5, 16_000), 16_000, "FLAC"),
    "good_mp3": lambda: hostile.encoded(hostile.speech_like(4.0, 44_100), 44_100, "MP3"),
}
LANDS = {  # hostile, but the audio is real and bounded: lands, whole, with the header's claim noted
    "piped_flac": (lambda: hostile.with_flac_total(GOOD["good_flac"](), 0), 2.5, False),
    "understated_flac": (lambda: hostile.with_flac_total(GOOD["good_flac"](), 16_000), 2.5, True),
    "overstated_flac": (lambda: hostile.with_flac_total(GOOD["good_flac"](), 1 << 35), 2.5, True),
    "granule_lie_opus": (lambda: hostile.tiny_packet_opus(6.0, last_granule=48_000 * 3600 * 20), 6.0, True),
    "data_size_lie_wav": (lambda: hostile.wav_with_data_size(0x7FFFFFF0), 2.0, False),
    "replayed_frame_m4a": (lambda: hostile.replayed_frame_m4a(6000), 6000 * 1024 / 44_100, True),
}
FAILS = {  # name: (bytes, the reason(s) it may fail with)
    "constant_flac": (lambda: hostile.constant_flac(2.9 * 3600), {"suspicious_expansion", "too_long"}),
    "constant_192k_flac": (
        lambda: hostile.constant_flac(1800, rate=192_000, channels=2),
        {"suspicious_expansion", "too_long"},
    ),
    "tiny_packet_opus": (lambda: hostile.tiny_packet_opus(2 * 3600), {"suspicious_expansion", "too_long"}),
    "rate_8_wav": (lambda: hostile.wav_with_rate(8), {"bad_sample_rate"}),
    "rate_1_aiff": (lambda: hostile.aiff_with_rate(1.0), {"bad_sample_rate"}),
    "no_decoder_wav": (lambda: hostile.wav_without_decoder(), {"unsupported_codec"}),
}
EXTENSIONS = {"opus": ".opus", "m4a": ".m4a", "aiff": ".aiff", "wav": ".wav", "flac": ".flac", "mp3": ".mp3"}


def _path(folder: Path, name: str) -> Path:
    return folder / (name + EXTENSIONS[name.rsplit("_", 1)[1]])


def _tree_rss(root: int) -> int:
    """Resident bytes of ``root`` and all its descendants."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    parents[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    tree, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        for pid, ppid in parents.items():
            if ppid == parent and pid not in tree:
                tree.add(pid)
                frontier.append(pid)
    total = 0
    for pid in tree:
        try:
            with open(f"/proc/{pid}/statm") as f:
                total += int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except OSError:
            continue
    return total


class Watchdog(threading.Thread):
    """Samples the tree's RSS; kills the job past the RSS or wall limit."""

    def __init__(self, proc: subprocess.Popen, rss_limit: int = RSS_LIMIT, wall_limit_s: float = WALL_LIMIT_S) -> None:
        super().__init__(daemon=True)
        self.proc, self.peak, self.killed = proc, 0, ""
        self.rss_limit, self.wall_limit_s = rss_limit, wall_limit_s

    def run(self) -> None:
        started = time.monotonic()
        while self.proc.poll() is None:
            rss = _tree_rss(self.proc.pid)
            self.peak = max(self.peak, rss)
            if rss > self.rss_limit or time.monotonic() - started > self.wall_limit_s:
                self.killed = f"rss {rss / 2**30:.2f} GiB" if rss > self.rss_limit else "wall limit"
                os.killpg(self.proc.pid, 9)
                return
            time.sleep(0.1)


def _samples(out: Path) -> dict[str, dict]:
    found = {}
    for shard in out.glob("*/*/*.tar"):
        with tarfile.open(shard) as tar:
            for member in tar.getmembers():
                if member.name.endswith(".json"):
                    meta = json.load(io.TextIOWrapper(tar.extractfile(member)))
                    found[meta["key"].rsplit("_", 2)[0]] = meta  # the source item's key
    return found


def _failures(out: Path) -> dict[str, dict]:
    records = {}
    for path in out.glob("*/failures/*.jsonl"):
        for line in path.read_text().splitlines():
            record = json.loads(line)
            records[record.get("source_key") or record["key"]] = record
    return records


def test_hostile_files_beside_good_ones_fail_with_reasons_or_land_bounded_and_the_job_stays_small(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for name, make in GOOD.items():
        _path(folder, name).write_bytes(make())
    for name, (make, *_) in {**LANDS, **FAILS}.items():
        _path(folder, name).write_bytes(make())
    out = tmp_path / "out"
    command = [
        sys.executable, "-m", "pipelines.cli", "shards", "--source", "folder", "--input", str(folder),
        "--output", str(out), "--name", "hostile", "--runner", "direct", "--workers", "2", "--shard-size", "4",
        "--max-segment-s", "600",
    ]  # fmt: skip
    proc = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    watchdog = Watchdog(proc)
    watchdog.start()
    log, _ = proc.communicate()
    watchdog.join()
    print(f"\npeak RSS of the process tree: {watchdog.peak / 2**30:.2f} GiB")
    assert not watchdog.killed, f"killed by the watchdog ({watchdog.killed})\n{log[-3000:]}"
    assert proc.returncode == 0, log[-3000:]
    assert watchdog.peak < RSS_LIMIT

    samples, failures = _samples(out), _failures(out)
    for name in GOOD:
        assert f"folder-{name}" in samples, (name, failures.get(f"folder-{name}"))
    for name, (_, seconds, noted) in LANDS.items():
        meta = samples.get(f"folder-{name}")
        assert meta is not None, (name, failures.get(f"folder-{name}"))
        assert abs(meta["duration_s"] - seconds) < 0.1, (name, meta["duration_s"])
        assert ("decode" in meta["original_data"]) == noted, (name, meta["original_data"].get("decode"))
    for name, (_, reasons) in FAILS.items():
        record = failures.get(f"folder-{name}")
        assert record is not None and record["reason"] in reasons, (name, record)
    summary = json.loads(next(out.glob("*/dataset_card.json")).read_text())
    assert summary["totals"]["items_in"] == len(GOOD) + len(LANDS) + len(FAILS)
