"""A build killed mid-run, then rerun, gives the same complete output as one clean run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARGS = [
    "shards",
    "--lang",
    "en",
    "--demo-items",
    "24",
    "--shard-size",
    "2",
    "--workers",
    "1",
    "--split-fractions",
    "1,0,0",
]


def _clara(out: Path, wait: bool = True) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipelines.cli", *ARGS, "--output", str(out)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    if wait:
        proc.wait(timeout=600)
    return proc


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.slow
def test_killed_build_resumes_to_identical_output(tmp_path):
    clean = _clara(tmp_path / "clean")
    assert clean.returncode == 0, clean.stdout.read()[-2000:]

    killed_out = tmp_path / "killed"
    proc = _clara(killed_out, wait=False)
    markers = killed_out / "demo-en" / "train"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and len(list(markers.glob("*.stats.json"))) < 3:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = len(list(markers.glob("*.stats.json")))
    assert 3 <= done_before < 12, "the kill should land mid-run"
    assert not (killed_out / "demo-en" / "dataset_card.json").exists()

    rerun = _clara(killed_out)
    output = rerun.stdout.read()
    assert rerun.returncode == 0, output[-2000:]
    assert f"{done_before} skipped as already complete" in output
    assert _files(killed_out / "demo-en") == _files(tmp_path / "clean" / "demo-en")
