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
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.scale.conftest import moto_s3, portable_matches_direct


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
        try:
            _ip("link", "add", host_if, "type", "veth", "peer", "name", ns_if)
            _ip("link", "set", ns_if, "netns", name)
            _ip("addr", "add", f"{launcher_ip}/30", "dev", host_if)
            _ip("link", "set", host_if, "up")
            _ip("addr", "add", f"{worker_ip}/30", "dev", ns_if, netns=name)
            _ip("link", "set", ns_if, "up", netns=name)
            _ip("link", "set", "lo", "up", netns=name)
            # The runner tells external workers to call back at socket.getfqdn(); on the worker host
            # that name must resolve to the launcher's address, as a cluster's DNS would (``ip netns
            # exec`` bind-mounts this file over /etc/hosts).
            hosts_dir.mkdir(parents=True, exist_ok=True)
            fqdn = socket.getfqdn()
            (hosts_dir / "hosts").write_text(f"127.0.0.1 localhost\n{launcher_ip} {fqdn} {fqdn.split('.')[0]}\n")
        except (subprocess.CalledProcessError, OSError) as error:  # a sandbox without veth or /etc/netns
            detail = getattr(error, "stderr", b"") or b""
            pytest.skip(f"cannot link a second network host here: {error} {detail.decode(errors='replace')}")
        yield name, launcher_ip, worker_ip
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=30)
        subprocess.run(["ip", "link", "del", host_if], capture_output=True, timeout=30)
        shutil.rmtree(hosts_dir, ignore_errors=True)


@pytest.mark.slow
def test_portable_worker_pool_on_its_own_network_host_matches_the_direct_runner(tmp_path, monkeypatch):
    with _second_host() as (netns, launcher_ip, worker_ip), moto_s3(monkeypatch, launcher_ip) as (client, flags):
        # The worker host is a different host: the launcher's loopback is out of its reach.
        port = int(flags[0].rsplit(":", 1)[1])
        probe = "import socket,sys; s=socket.socket(); s.settimeout(2); sys.exit(s.connect_ex(('127.0.0.1', %d)))"
        unreachable = subprocess.run(
            ["ip", "netns", "exec", netns, sys.executable, "-c", probe % port], capture_output=True, timeout=30
        )
        assert unreachable.returncode != 0, "the worker host reached the launcher's loopback"

        portable_matches_direct(
            client, flags, tmp_path, wrapper=("ip", "netns", "exec", netns), host=worker_ip, timeout_s=60
        )
