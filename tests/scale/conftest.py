"""An S3-compatible server (moto) for the object-storage tests."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest

from pipelines.runner import free_port


@contextlib.contextmanager
def moto_s3(monkeypatch: pytest.MonkeyPatch, ip: str = "127.0.0.1") -> Iterator[tuple[Any, list[str]]]:
    """A fresh bucket ``corpus`` on a moto server listening on ``ip``: (boto3 client, Beam S3 flags)."""
    moto_server = pytest.importorskip("moto.server")
    boto3 = pytest.importorskip("boto3")
    port = free_port()
    server = moto_server.ThreadedMotoServer(ip_address=ip, port=port)
    server.start()
    try:
        endpoint = f"http://{ip}:{port}"
        for name, value in (
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("AWS_DEFAULT_REGION", "us-east-1"),
        ):
            monkeypatch.setenv(name, value)
        import urllib.request

        # moto keeps its buckets in process memory across servers: start every test from an empty store
        urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"), timeout=10)
        client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
        client.create_bucket(Bucket="corpus")
        flags = [
            f"--s3_endpoint_url={endpoint}",
            "--s3_access_key_id=test",
            "--s3_secret_access_key=test",
            "--s3_region_name=us-east-1",
        ]
        yield client, flags
    finally:
        server.stop()


@pytest.fixture
def s3(monkeypatch):
    """A fresh bucket ``corpus`` on a local moto server: (boto3 client, Beam S3 flags)."""
    with moto_s3(monkeypatch) as value:
        yield value


def tone_wav(seconds: float, hz: float) -> bytes:
    """A 16 kHz 16-bit WAV of a sine tone."""
    import io

    import numpy as np
    import soundfile as sf

    t = np.arange(int(16000 * seconds)) / 16000
    buffer = io.BytesIO()
    sf.write(buffer, (0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32), 16000, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def assert_same_tars(client: Any, a: str, b: str) -> None:  # a boto3 client
    """The tars under bucket prefixes ``a`` and ``b`` have the same names and bytes (at least 2)."""

    def objects(prefix: str) -> dict[str, bytes]:
        listed = client.list_objects_v2(Bucket="corpus", Prefix=prefix).get("Contents", [])
        return {
            o["Key"][len(prefix) :]: client.get_object(Bucket="corpus", Key=o["Key"])["Body"].read() for o in listed
        }

    first, second = objects(a), objects(b)
    tars = sorted(k for k in first if k.endswith(".tar"))
    assert len(tars) >= 2 and tars == sorted(k for k in second if k.endswith(".tar"))
    for key in tars:
        assert first[key] == second[key], key


def portable_matches_direct(client: Any, flags: list[str], tmp_path: Any, **pool: Any) -> None:
    """Six clips on S3 -> shards by the DirectRunner and by the portable runner whose SDK worker pool
    shares nothing with the launcher but S3: its own working directory, ``HOME`` and ``TMPDIR``, no
    ``PYTHONPATH``, no AWS variables (``pool``: more of :func:`pipelines.runner.worker_pool`'s
    arguments, e.g. another network host). The tars must be byte-identical, the workers' directory empty."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from pipelines.runner import worker_pool

    root = Path(__file__).resolve().parents[2]
    for i in range(6):
        client.put_object(Bucket="corpus", Key=f"in/clip{i}.wav", Body=tone_wav(1.0 + 0.5 * i, 220.0 * (i + 1)))
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
        cwd=root, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert direct.returncode == 0, direct.stderr[-3000:]

    worker_env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k != "PYTHONPATH"}
    for name in ("HOME", "TMPDIR", "worker"):
        (tmp_path / name).mkdir()
    worker_env.update(HOME=str(tmp_path / "HOME"), TMPDIR=str(tmp_path / "TMPDIR"))
    with worker_pool(cwd=str(tmp_path / "worker"), env=worker_env, **pool) as address:
        portable = subprocess.run(
            [sys.executable, "-m", "pipelines.cli", *common, "--output", "s3://corpus/portable",
             "--runner", "portable", "--environment_config", address],
            cwd=root, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
    assert portable.returncode == 0, portable.stderr[-3000:]
    assert "reconciled       yes: 6 in = 6 written + 0 failed" in portable.stdout
    assert_same_tars(client, "direct/", "portable/")
    assert not any((tmp_path / "worker").iterdir())  # workers wrote nothing local where they ran
