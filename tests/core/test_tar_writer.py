"""The shard tar writer writes the blocks ``tarfile`` would: same bytes, a fraction of the cost."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

from pipelines import sink, tar_writer
from pipelines.plan import ShardRef
from pipelines.tar_writer import TarShardWriter


def _tarfile_bytes(entries: list[tuple[str, bytes, bytes]]) -> bytes:
    """What the writer wrote before: tarfile's stream mode, GNU format, fixed member fields."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.GNU_FORMAT, bufsize=1 << 20) as tar:
        for key, flac, meta in entries:
            for suffix, data in (("flac", flac), ("json", meta)):
                tar.addfile(tar_writer._member(f"{key}.{suffix}", len(data)), io.BytesIO(data))
    return out.getvalue()


def test_tar_bytes_equal_tarfiles_stream_mode_for_any_sizes_and_names(tmp_path: Path) -> None:
    long_key = "clip_" + "é" * 80 + "_000_0"  # > 100 bytes: a GNU long-name member precedes it
    entries = [
        ("a_000_0", b"x" * 512, b"{}"),
        ("b_000_0", b"y" * 513, b'{"k":' + b"1" * 600 + b"}"),
        (long_key, bytes(range(256)) * 40, '{"t":"ü"}'.encode()),
        ("c_000_0", b"", b"{}"),
    ]
    for count in range(len(entries) + 1):  # the record padding at the end differs with the size
        writer = TarShardWriter(str(tmp_path / str(count)), ShardRef("train", 0, 1))
        for entry in entries[:count]:
            writer.add(*entry)
        size = writer.commit()
        written = (tmp_path / str(count) / "train" / "000000.tar").read_bytes()
        assert written == _tarfile_bytes(entries[:count])
        assert size == len(written) and size % tarfile.RECORDSIZE == 0


def test_a_samples_json_is_the_bytes_of_its_json_dict() -> None:
    from schemas import Augmentation, Caption, SampleMeta, WordAlignment

    captions = (
        Caption("A woman saying 'déjà vu' in a happy voice", "en", "template"),
        Caption("Une femme dit « déjà vu »", "fr", "translation"),
    )
    meta = SampleMeta(
        key="folder-a_000_1",
        text=tuple(c.text for c in captions),
        tag=("speech", "happy"),
        original_data={"language": "en", "labels": ["speech"], "decode": {"decoder": "x", "n": 1.5}, "none": None},
        captions=captions,
        duration_s=1.25,
        split="train",
        segment={"index": 0, "start_s": 0.0, "duration_s": 1.25, "source_duration_s": 3.0},
        alignment=(WordAlignment("déjà", 0.1, 0.3), WordAlignment("vu", 0.4, 0.2)),
        augmentations=(Augmentation("noise", {"snr_db": 12.5, "bank": ["a", "b"], "nested": {"k": (1, 2)}}),),
    )
    assert sink.record_json(meta) == sink.dumps(meta.to_json_dict())
