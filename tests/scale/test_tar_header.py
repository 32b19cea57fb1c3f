"""The tar writer's member headers are tarfile's bytes (GNU format), the template path included."""

from __future__ import annotations

import random
import tarfile

from pipelines import tar_writer


def _tarfile(name: str, size: int) -> bytes:
    return tar_writer._member(name, size).tobuf(tarfile.GNU_FORMAT, tarfile.ENCODING, "surrogateescape")


def test_headers_are_tarfiles_bytes_for_every_name_length_and_size():
    names = ["a.flac", "x" * 100, "x" * 99 + "é", "é" * 50, "x" * 101, "ü" * 51, "", "a/b/c.json", "\udcff.flac"]
    sizes = [0, 1, 511, 512, 456_789, 8**11 - 1, 8**11, 10**12]
    for name in names:
        for size in sizes:
            assert tar_writer._header(name, size) == _tarfile(name, size), (name, size)
    rng = random.Random(0)
    for _ in range(2000):
        name = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789-_./é") for _ in range(rng.randint(1, 110)))
        size = rng.randint(0, 10**8)
        assert tar_writer._header(name, size) == _tarfile(name, size), (name, size)
