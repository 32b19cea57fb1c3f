"""The portable runner's worker pool on a second network host: its own network namespace, joined to
this one by a veth pair, with its own loopback and its own ``/etc/hosts``.

The job service, the runner's control/data/logging servers and the object store (moto) are on the
"launcher host" (the default namespace); the SDK worker pool and every worker it starts are on the
"worker host". Nothing may reach the other side through ``localhost``: the test first checks that the
worker host cannot see the launcher's loopback. The shards the isolated workers write to S3 must be
byte-identical to the DirectRunner's.

Needs root (``ip netns``, a veth pair, ``/etc/netns``); skipped where that is not allowed (most CI).
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from pipelines.runner import free_port

ROOT = Path(__file__).resolve().parents[2]


def _ip(*args: str, netns: str | None = None) -> None:
    command = ["ip", "netns", "exec", netns, "ip", *args] if netns else ["ip", *args]
    subprocess.run(command, check=True, capture_output=True, timeout=30)


@contextlib.contextmanager
def _second_host():
    """A network namespace with a veth link to this one: yields (name, launcher_ip, worker_ip)."""
    if sys.platform != "linux" or shutil.which("ip") is None:
        pytest.skip("needs Linux and iproute2")
    tag = f"{os.getpid() % 100000}"
    name, host_if, ns_if = f"clara{tag}", f"cva{tag}", f"cvb{tag}"
    octet = 16 + os.getpid() % 200
    launcher_ip, worker_ip = f"10.213.{octet}.1", f"10.213.{octet}.2"
    try:
        subprocess.run(["ip", "netns", "add", name], check=True, capture_output=True, timeout=30)
    except (subprocess.CalledProcessError, OSError) as error:
        pytest.skip(f"cannot create a network namespace here: {error}")
    hosts_dir = Path("/etc/netns") / name
    try:
        _ip("link", "add", host_if, "type", "veth", "peer", "name", ns_if)
        _ip("link", "set", ns_if, "netns", name)
        _ip("addr", "add", f"{launcher_ip}/30", "dev", host_if)
        _ip("link", "set", host_if, "up")
        _ip("addr", "add", f"{worker_ip}/30", "dev", ns_if, netns=name)
        _ip("link", "set", ns_if, "up", netns=name)
        _ip("link", "set", "lo", "up", netns=name)
        # The runner tells external workers to call back at socket.getfqdn(); on the worker host that
        # name must resolve to the launcher's address, as a cluster's DNS would (``ip netns exec``
        # bind-mounts this file over /etc/hosts).
        hosts_dir.mkdir(parents=True, exist_ok=True)
        fqdn = socket.getfqdn()
        (hosts_dir / "hosts").write_text(f"127.0.0.1 localhost\n{launcher_ip} {fqdn} {fqdn.split('.')[0]}\n")
        yield name, launcher_ip, worker_ip
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=30)
        subprocess.run(["ip", "link", "del", host_if], capture_output=True, timeout=30)
        shutil.rmtree(hosts_dir, ignore_errors=True)


def _wait_for(host: str, port: int, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as s:
            s.settimeout(1.0)
            if s.connect_ex((host, port)) == 0:
                return
        time.sleep(0.2)
    raise RuntimeError(f"nothing listens on {host}:{port} after {timeout_s:.0f} s")


def _wav(seconds: float, hz: float) -> bytes:
    t = np.arange(int(16000 * seconds)) / 16000
    buffer = io.BytesIO()
    sf.write(buffer, (0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32), 16000, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


@pytest.mark.slow
def test_portable_worker_pool_on_its_own_network_host_matches_the_direct_runner(tmp_path, monkeypatch):
    moto_server = pytest.importorskip("moto.server")
    boto3 = pytest.importorskip("boto3")
    with _second_host() as (netns, launcher_ip, worker_ip):
        port = free_port()
        server = moto_server.ThreadedMotoServer(ip_address=launcher_ip, port=port)
        server.start()
        try:
            endpoint = f"http://{launcher_ip}:{port}"
            for name, value in (
                ("AWS_ACCESS_KEY_ID", "test"),
                ("AWS_SECRET_ACCESS_KEY", "test"),
                ("AWS_DEFAULT_REGION", "us-east-1"),
            ):
                monkeypatch.setenv(name, value)
            urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"), timeout=10)
            client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
            client.create_bucket(Bucket="corpus")
            for i in range(6):
                client.put_object(Bucket="corpus", Key=f"in/clip{i}.wav", Body=_wav(1.0 + 0.5 * i, 220.0 * (i + 1)))

            # The worker host is a different host: the launcher's loopback is out of its reach.
            probe = "import socket,sys; s=socket.socket(); s.settimeout(2); sys.exit(s.connect_ex(('127.0.0.1', %d)))"
            unreachable = subprocess.run(
                ["ip", "netns", "exec", netns, sys.executable, "-c", probe % port], capture_output=True, timeout=30
            )
            assert unreachable.returncode != 0, "the worker host reached the launcher's loopback"

            common = [
                "shards", "--source", "folder", "--input", "s3://corpus/in", "--shard-size", "2", "--workers", "2",
                f"--s3_endpoint_url={endpoint}", "--s3_access_key_id=test", "--s3_secret_access_key=test",
                "--s3_region_name=us-east-1",
            ]  # fmt: skip
            direct = subprocess.run(
                [sys.executable, "-m", "pipelines.cli", *common, "--output", "s3://corpus/direct", "--runner", "direct"],
                cwd=ROOT, capture_output=True, text=True, timeout=600,
            )  # fmt: skip
            assert direct.returncode == 0, direct.stderr[-3000:]

            worker_env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k != "PYTHONPATH"}
            for name in ("HOME", "TMPDIR", "worker"):
                (tmp_path / name).mkdir()
            worker_env.update(HOME=str(tmp_path / "HOME"), TMPDIR=str(tmp_path / "TMPDIR"))
            worker_env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + worker_env.get("PATH", "")
            pool_port = free_port()
            pool = subprocess.Popen(
                ["ip", "netns", "exec", netns, sys.executable, "-m",
                 "apache_beam.runners.worker.worker_pool_main", f"--service_port={pool_port}"],
                cwd=tmp_path / "worker", env=worker_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            try:
                _wait_for(worker_ip, pool_port)
                portable = subprocess.run(
                    [sys.executable, "-m", "pipelines.cli", *common, "--output", "s3://corpus/portable",
                     "--runner", "portable", "--environment_config", f"{worker_ip}:{pool_port}"],
                    cwd=ROOT, capture_output=True, text=True, timeout=600,
                )  # fmt: skip
            finally:
                pool.terminate()
                try:
                    pool.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    pool.kill()
            assert portable.returncode == 0, portable.stderr[-3000:]
            assert "reconciled       yes: 6 in = 6 written + 0 failed" in portable.stdout

            def objects(prefix: str) -> dict[str, bytes]:
                listed = client.list_objects_v2(Bucket="corpus", Prefix=prefix).get("Contents", [])
                return {
                    o["Key"][len(prefix) :]: client.get_object(Bucket="corpus", Key=o["Key"])["Body"].read()
                    for o in listed
                }

            a, b = objects("direct/"), objects("portable/")
            tars = sorted(k for k in a if k.endswith(".tar"))
            assert len(tars) >= 2 and tars == sorted(k for k in b if k.endswith(".tar"))
            for key in tars:
                assert a[key] == b[key], key
            assert not any((tmp_path / "worker").iterdir())
        finally:
            server.stop()
