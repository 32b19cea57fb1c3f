"""One list of accepted media extensions (schemas.media), used by every reader."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from schemas.media import AUDIO_EXTENSIONS, MEDIA_EXTENSIONS, VIDEO_EXTENSIONS, extension, is_audio_path, is_video_path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("schemas", "transforms", "augment", "pipelines", "model")


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("a/B.WAV", ".wav"),
        ("gs://bucket/clip.webm?generation=3", ".webm"),
        ("s3://b/dir.v2/file", ""),
        ("noext", ""),
        ("archive.tar.gz", ".gz"),
    ],
)
def test_extension_is_lower_case_and_ignores_folders_and_queries(path: str, expected: str) -> None:
    assert extension(path) == expected


def test_media_is_audio_then_video_without_duplicates() -> None:
    assert set(MEDIA_EXTENSIONS) == set(AUDIO_EXTENSIONS) | set(VIDEO_EXTENSIONS)
    assert len(MEDIA_EXTENSIONS) == len(set(MEDIA_EXTENSIONS))
    assert is_audio_path("x.flac") and is_video_path("x.MKV") and not is_video_path("x.gif")


def _extension_lists(tree: ast.AST) -> int:
    """How many tuple/list/set literals hold two or more media extensions."""
    media = set(MEDIA_EXTENSIONS)
    found = 0
    for node in ast.walk(tree):
        if isinstance(node, ast.Tuple | ast.List | ast.Set):
            words = [e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
            found += sum(w.lower() in media for w in words) >= 2
    return found


def test_no_module_keeps_its_own_list_of_extensions() -> None:
    owners = set()
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if _extension_lists(ast.parse(path.read_text(encoding="utf-8"))):
                owners.add(str(path.relative_to(ROOT)))
    assert sorted(owners) == ["schemas/media.py"]
