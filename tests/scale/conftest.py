"""An S3-compatible server (moto) for the object-storage tests."""

from __future__ import annotations

import pytest

from pipelines.runner import free_port


@pytest.fixture
def s3(monkeypatch):
    """A fresh bucket ``corpus`` on a local moto server: (boto3 client, Beam S3 flags)."""
    moto_server = pytest.importorskip("moto.server")
    boto3 = pytest.importorskip("boto3")
    port = free_port()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
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
    server.stop()
