"""The portable runner's workers share nothing with the launcher but object storage: another
working directory, another HOME and TMPDIR, input read from and shards written to S3 (moto).
Their shards are byte-identical to the DirectRunner's."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from pipelines.runner import worker_pool

ROOT = Path(__file__).resolve().parents[2]


def _wav(seconds: float, hz: float) -> bytes:
    t = np.arange(int(16000 * seconds)) / 16000
    buffer = io.BytesIO()
    sf.write(buffer, (0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32), 16000, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def _objects(client, prefix: str) -> dict[str, bytes]:
    listed = client.list_objects_v2(Bucket="corpus", Prefix=prefix).get("Contents", [])
    return {o["Key"][len(prefix) :]: client.get_object(Bucket="corpus", Key=o["Key"])["Body"].read() for o in listed}


@pytest.mark.slow
def test_isolated_portable_workers_on_s3_match_the_direct_runner(s3, tmp_path):
    client, flags = s3
    for i in range(6):
        client.put_object(Bucket="corpus", Key=f"in/clip{i}.wav", Body=_wav(1.0 + 0.5 * i, 220.0 * (i + 1)))
    common = [
        "shards",
        "--source",
        "folder",
        "--input",
        "s3://corpus/in",
        "--shard-size",
        "2",
        "--workers",
        "2",
        *flags,
    ]
    direct = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", *common, "--output", "s3://corpus/direct", "--runner", "direct"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert direct.returncode == 0, direct.stderr[-3000:]

    worker_env = dict(os.environ)
    for name in ("HOME", "TMPDIR"):
        (tmp_path / name).mkdir()
        worker_env[name] = str(tmp_path / name)
    worker_env.pop("PYTHONPATH", None)
    (tmp_path / "worker").mkdir()
    with worker_pool(cwd=str(tmp_path / "worker"), env=worker_env) as pool:
        portable = subprocess.run(
            [sys.executable, "-m", "pipelines.cli", *common, "--output", "s3://corpus/portable",
             "--runner", "portable", "--environment_config", pool],
            cwd=ROOT, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
    assert portable.returncode == 0, portable.stderr[-3000:]
    assert "reconciled       yes: 6 in = 6 written + 0 failed" in portable.stdout

    a, b = _objects(client, "direct/"), _objects(client, "portable/")
    tars = sorted(k for k in a if k.endswith(".tar"))
    assert len(tars) >= 2 and tars == sorted(k for k in b if k.endswith(".tar"))
    for key in tars:
        assert a[key] == b[key], key
    assert not any((tmp_path / "worker").iterdir())  # workers wrote nothing local where they ran
